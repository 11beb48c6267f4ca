// SPDX-License-Identifier: MIT
/*
 * A line of /proc/self/maps:
 *	start-end perms offset major:minor inode   path
 * with start, end, offset, major and minor in hex. The kernel writes the
 * lines in address order, so the walk stops at the first VMA past the range.
 */
#include "iopt/proc_maps.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/overflow.h"
#include "base/process.h"

#define PROC_MAPS_PATH "/proc/self/maps"

/* The kernel's PROCMAP_QUERY interface (linux/fs.h, Linux 6.11). */
struct procmap_query {
	u64 size;
	u64 query_flags;
	u64 query_addr;
	u64 vma_start;
	u64 vma_end;
	u64 vma_flags;
	u64 vma_page_size;
	u64 vma_offset;
	u64 inode;
	u32 dev_major;
	u32 dev_minor;
	u32 vma_name_size;
	u32 build_id_size;
	u64 vma_name_addr;
	u64 build_id_addr;
};

#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define PROCMAP_QUERY_VMA_READABLE 0x01
#define PROCMAP_QUERY_VMA_WRITABLE 0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10

/* Cleared the first time the kernel says it has no PROCMAP_QUERY. */
static bool query_supported = true;
static bool force_text;

void proc_maps_force_text(bool on)
{
	__atomic_store_n(&force_text, on, __ATOMIC_RELAXED);
}

/*
 * The VMA holding @addr or the next one above it: 1, 0 when there is
 * none, -ENOTTY (or -EINVAL) when the kernel lacks the ioctl.
 */
static int query_vma(int fd, u64 addr, struct proc_maps_vma *vma)
{
	struct procmap_query q = {
		.size = sizeof(q),
		.query_flags = PROCMAP_QUERY_COVERING_OR_NEXT_VMA,
		.query_addr = addr,
	};

	if (ioctl(fd, PROCMAP_QUERY, &q))
		return errno == ENOENT ? 0 : -errno;
	vma->start = q.vma_start;
	vma->end = q.vma_end;
	vma->offset = q.vma_offset;
	vma->dev = makedev(q.dev_major, q.dev_minor);
	vma->ino = q.inode;
	vma->prot = (q.vma_flags & PROCMAP_QUERY_VMA_READABLE ? PROT_READ : 0) |
		    (q.vma_flags & PROCMAP_QUERY_VMA_WRITABLE ? PROT_WRITE : 0) |
		    (q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE ? PROT_EXEC : 0);
	vma->shared = q.vma_flags & PROCMAP_QUERY_VMA_SHARED;
	return 1;
}

/*
 * PROCMAP_QUERY needs no file position, so one descriptor serves every
 * walk of the process: opening /proc/self/maps costs more than the query.
 * A child after fork() holds its parent's, so it opens its own; a
 * descriptor the program closed or reused is noticed when the kernel
 * rejects the query, and replaced (never closed: it is not ours then).
 */
static pthread_mutex_t query_fd_lock = PTHREAD_MUTEX_INITIALIZER;
static int query_fd = -1;
static pid_t query_fd_pid;
static dev_t query_fd_dev;
static ino_t query_fd_ino;

/* Whether @fd is still the maps file query_fd was opened as. */
static bool query_fd_same(int fd)
{
	struct stat st;

	return !fstat(fd, &st) && st.st_dev == query_fd_dev &&
	       st.st_ino == query_fd_ino;
}

static int query_fd_get(bool fresh)
{
	pid_t self = process_self();
	struct stat st;
	int fd;

	pthread_mutex_lock(&query_fd_lock);
	if (query_fd >= 0 && query_fd_pid != self) {
		/*
		 * Our copy of the parent's: close it, it is no use here,
		 * unless the number is another file by now (a broker closes
		 * what it inherits and reuses the numbers).
		 */
		if (query_fd_same(query_fd))
			close(query_fd);
		query_fd = -1;
	}
	if (query_fd < 0 || fresh) {
		query_fd = open(PROC_MAPS_PATH, O_RDONLY | O_CLOEXEC);
		query_fd_pid = self;
		if (query_fd >= 0 && !fstat(query_fd, &st)) {
			query_fd_dev = st.st_dev;
			query_fd_ino = st.st_ino;
		}
	}
	fd = query_fd;
	pthread_mutex_unlock(&query_fd_lock);
	return fd;
}

/* The maps file of @it's process (this one's when pid is 0). */
static int open_maps_text(const struct proc_maps_iter *it)
{
	char path[32];

	if (!it->pid)
		return open(PROC_MAPS_PATH, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)it->pid);
	return open(path, O_RDONLY | O_CLOEXEC);
}

int proc_maps_open_pid(struct proc_maps_iter *it, pid_t pid, u64 start,
		       u64 last)
{
	if (pid == process_self())
		return proc_maps_open(it, start, last);
	it->pid = pid;
	it->start = start;
	it->last = last;
	it->head = 0;
	it->tail = 0;
	it->eof = false;
	it->skipping = false;
	it->query = false;
	it->next_addr = start;
	it->own_fd = true;
	it->fd = open_maps_text(it);
	if (it->fd < 0)
		return err_reason(-EFAULT, "cannot read the maps of process %d: %s",
				  (int)pid, strerror(errno));
	return 0;
}

int proc_maps_open(struct proc_maps_iter *it, u64 start, u64 last)
{
	it->pid = 0;
	it->start = start;
	it->last = last;
	it->head = 0;
	it->tail = 0;
	it->eof = false;
	it->skipping = false;
	it->query = __atomic_load_n(&query_supported, __ATOMIC_RELAXED) &&
		    !__atomic_load_n(&force_text, __ATOMIC_RELAXED);
	it->next_addr = start;
	it->own_fd = !it->query;
	it->fd = it->query ? query_fd_get(false) :
			     open(PROC_MAPS_PATH, O_RDONLY | O_CLOEXEC);
	if (it->fd < 0)
		return err_reason(-EFAULT, "cannot open %s: %s", PROC_MAPS_PATH,
				  strerror(errno));
	return 0;
}

/* Leave the shared descriptor for a walk of our own over the text. */
static int switch_to_text(struct proc_maps_iter *it)
{
	it->query = false;
	it->eof = false;
	it->own_fd = true;
	it->fd = open_maps_text(it);
	if (it->fd < 0)
		return err_reason(-EFAULT, "cannot open %s: %s", PROC_MAPS_PATH,
				  strerror(errno));
	return 0;
}

void proc_maps_close(struct proc_maps_iter *it)
{
	if (it->own_fd && it->fd >= 0)
		close(it->fd);
	it->fd = -1;
}

/* Move the unparsed bytes to the front and read more after them. */
static int fill(struct proc_maps_iter *it)
{
	ssize_t n;

	if (it->head) {
		memmove(it->buf, it->buf + it->head, it->tail - it->head);
		it->tail -= it->head;
		it->head = 0;
	}
	do {
		n = read(it->fd, it->buf + it->tail,
			 sizeof(it->buf) - it->tail);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return err_reason(-EFAULT, "cannot read %s: %s", PROC_MAPS_PATH,
				  strerror(errno));
	if (!n)
		it->eof = true;
	it->tail += n;
	return 0;
}

static char *find_newline(struct proc_maps_iter *it)
{
	return memchr(it->buf + it->head, '\n', it->tail - it->head);
}

/* Drop the rest of a line that did not fit in the buffer. */
static int skip_rest_of_line(struct proc_maps_iter *it)
{
	char *nl;
	int rc;

	while (!(nl = find_newline(it))) {
		it->head = it->tail = 0;
		if (it->eof)
			return 0;
		rc = fill(it);
		if (rc)
			return rc;
	}
	it->head = nl + 1 - it->buf;
	it->skipping = false;
	return 0;
}

/*
 * The next line, without its newline, in [*line, *line + *len): 1, 0 at the
 * end of the file, or -EFAULT. A line longer than the buffer comes back cut
 * to the buffer's length; it stays valid until the next call.
 */
static int next_line(struct proc_maps_iter *it, const char **line,
		     size_t *len)
{
	char *nl;
	int rc;

	if (it->skipping) {
		rc = skip_rest_of_line(it);
		if (rc)
			return rc;
	}
	while (!(nl = find_newline(it))) {
		if (it->eof || it->tail - it->head == sizeof(it->buf))
			break;
		rc = fill(it);
		if (rc)
			return rc;
	}
	if (!nl && it->head == it->tail)
		return 0;
	*line = it->buf + it->head;
	if (nl) {
		*len = nl - *line;
		it->head = nl + 1 - it->buf;
	} else {
		/* Cut short (or unterminated at the end of the file). */
		*len = it->tail - it->head;
		it->head = it->tail;
		it->skipping = !it->eof;
	}
	return 1;
}

static int digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static bool parse_num(const char **p, const char *end, unsigned int base,
		      u64 *val)
{
	const char *s = *p;
	u64 v = 0;
	int d;

	for (; s != end && (d = digit_value(*s)) >= 0 && d < (int)base; s++) {
		if (check_mul_overflow(v, (u64)base, &v) ||
		    check_add_overflow(v, (u64)d, &v))
			return false;
	}
	if (s == *p)
		return false;
	*p = s;
	*val = v;
	return true;
}

static bool parse_char(const char **p, const char *end, char c)
{
	if (*p == end || **p != c)
		return false;
	(*p)++;
	return true;
}

static bool parse_perms(const char **p, const char *end,
			struct proc_maps_vma *vma)
{
	const char *s = *p;

	if (end - s < 4)
		return false;
	vma->prot = (s[0] == 'r' ? PROT_READ : 0) |
		    (s[1] == 'w' ? PROT_WRITE : 0) |
		    (s[2] == 'x' ? PROT_EXEC : 0);
	vma->shared = s[3] == 's';
	*p = s + 4;
	return true;
}

static bool parse_line(const char *p, const char *end,
		       struct proc_maps_vma *vma)
{
	u64 major, minor, ino;

	if (!parse_num(&p, end, 16, &vma->start) || !parse_char(&p, end, '-') ||
	    !parse_num(&p, end, 16, &vma->end) || !parse_char(&p, end, ' ') ||
	    !parse_perms(&p, end, vma) || !parse_char(&p, end, ' ') ||
	    !parse_num(&p, end, 16, &vma->offset) ||
	    !parse_char(&p, end, ' ') || !parse_num(&p, end, 16, &major) ||
	    !parse_char(&p, end, ':') || !parse_num(&p, end, 16, &minor) ||
	    !parse_char(&p, end, ' ') || !parse_num(&p, end, 10, &ino))
		return false;
	if (vma->start >= vma->end || major > 0xffffffffULL ||
	    minor > 0xffffffffULL)
		return false;
	vma->dev = makedev(major, minor);
	vma->ino = ino;
	return true;
}

static int query_next(struct proc_maps_iter *it, struct proc_maps_vma *vma)
{
	int rc;

	if (it->eof)
		return 0;
	rc = query_vma(it->fd, it->next_addr, vma);
	if (rc < 0)
		return rc;
	if (!rc || vma->start > it->last || vma->end <= vma->start) {
		it->eof = true;
		return 0;
	}
	if (vma->end - 1 >= it->last)
		it->eof = true;
	else
		it->next_addr = vma->end;
	return 1;
}

int proc_maps_next(struct proc_maps_iter *it, struct proc_maps_vma *vma)
{
	const char *line = NULL;
	size_t len = 0;
	int rc;

	if (it->query) {
		rc = query_next(it, vma);
		if (rc == -EBADF || rc == -ENOTTY || rc == -EINVAL) {
			/* Maybe not our descriptor any more: try a new one. */
			it->fd = query_fd_get(true);
			if (it->fd >= 0)
				rc = query_next(it, vma);
		}
		if (rc == -ENOTTY || rc == -EINVAL) {
			/* An older kernel: read the text from here on. */
			__atomic_store_n(&query_supported, false,
					 __ATOMIC_RELAXED);
			rc = switch_to_text(it);
			if (rc)
				return rc;
		} else if (rc < 0) {
			return err_reason(-EFAULT,
					  "PROCMAP_QUERY on %s failed: %s",
					  PROC_MAPS_PATH, strerror(-rc));
		} else {
			return rc;
		}
	}
	for (;;) {
		rc = next_line(it, &line, &len);
		if (rc <= 0)
			return rc;
		if (!parse_line(line, line + len, vma))
			return err_reason(-EFAULT,
					  "cannot parse %s line \"%.*s\"",
					  PROC_MAPS_PATH, (int)min(len, 80ul),
					  line);
		if (vma->start > it->last) {
			/* Address order: nothing later can intersect. */
			it->eof = true;
			it->head = it->tail = 0;
			it->skipping = false;
			return 0;
		}
		if (vma->end - 1 >= it->start)
			return 1;
	}
}

int proc_maps_find(u64 addr, struct proc_maps_vma *vma)
{
	struct proc_maps_iter it;
	int rc;

	rc = proc_maps_open(&it, addr, addr);
	if (rc)
		return rc;
	rc = proc_maps_next(&it, vma);
	proc_maps_close(&it);
	if (rc < 0)
		return rc;
	if (!rc || vma->start > addr)
		return err_reason(-EFAULT, "address %#llx is not mapped",
				  (unsigned long long)addr);
	return 0;
}
