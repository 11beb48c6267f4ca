// SPDX-License-Identifier: MIT
/*
 * The kernel's fault-injection files in debugfs, answered by the shim
 * where the real debugfs cannot answer them. Programs that test error
 * paths (the kernel's iommufd fail_nth selftest is the model) open
 * /sys/kernel/debug, write "N" to failslab/ignore-gfp-wait and friends
 * and "0" to every fail*\/verbose before they arm fail-nth, and take
 * fault injection to be off when any step fails; in a container debugfs
 * is rarely mounted.
 *
 * The tree is fixed: failslab and fail_page_alloc, the two kinds of
 * failure the library's fail-nth points stand for (allocations; pinning
 * and mapping pages), each with the attribute files the kernel's
 * Documentation/fault-injection/fault-injection.rst lists, at the
 * kernel's defaults, in the kernel's formats, parsed as debugfs parses
 * them. Values are the process's own and live in memory: nothing is
 * created on disk, so nothing can be left behind, however the program
 * ends. They are what was last written; the library's fault injection
 * follows fail-nth alone, as the kernel's does once ignore-gfp-wait and
 * ignore-gfp-highmem are N (which is what such programs write).
 *
 * Every descriptor is a real one, a memfd, so close, dup and poll behave;
 * directories and files are told apart by the shim's table, which fstat
 * and the other calls here consult. A file's memfd holds the text of its
 * value as of the last read from offset 0 (or the open, or a write), so
 * even a read the shim does not see reads the value.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "preload/shim.h"

#define DEBUGFS_MAGIC 0x64626720
/* statfs: f_flags is filled in (the kernel's, not in glibc's headers). */
#define ST_VALID 0x0020
/* An anonymous device number (major 0) that no mount is likely to hold. */
#define DEBUGFS_DEV_MINOR 0xdebf5

/* ---- the tree ---- */

enum node_kind {
	N_DIR,
	A_ULONG,	/* debugfs_create_ul: "%llu\n", kstrtoull */
	A_ATOMIC,	/* debugfs_create_atomic_t: an int, "%d\n", kstrtoll */
	A_U32,		/* debugfs_create_u32: "%llu\n", kstrtoull, 32 bits kept */
	A_BOOL,		/* debugfs_create_bool: "Y\n" or "N\n", kstrtobool */
	A_DEPTH,	/* stacktrace-depth: as A_ULONG, at most 32 */
	A_X64,		/* debugfs_create_xul: "0x%016llx\n", kstrtoull */
};

struct node {
	const char *name;
	unsigned char parent;
	unsigned char kind;
	uint64_t def;		/* the kernel's default */
};

#define ROOT 0
#define NR_COMMON 13
#define FAILSLAB 1
#define PAGE_ALLOC (FAILSLAB + 1 + NR_COMMON + 2)
#define NR_NODES (PAGE_ALLOC + 1 + NR_COMMON + 3)
#define MAX_STACK_TRACE_DEPTH 32

/* Every fault attribute's files (the kernel's fault_attr, its defaults). */
#define COMMON_ATTRS(dir)                                                  \
	{ "probability", dir, A_ULONG, 0 },                                \
	{ "interval", dir, A_ULONG, 1 },                                   \
	{ "times", dir, A_ATOMIC, 1 },                                     \
	{ "space", dir, A_ATOMIC, 0 },                                     \
	{ "verbose", dir, A_ULONG, 2 },                                    \
	{ "verbose_ratelimit_interval_ms", dir, A_U32, 0 },                \
	{ "verbose_ratelimit_burst", dir, A_U32, 10 },                     \
	{ "task-filter", dir, A_BOOL, 0 },                                 \
	{ "stacktrace-depth", dir, A_DEPTH, MAX_STACK_TRACE_DEPTH },       \
	{ "require-start", dir, A_X64, 0 },                                \
	{ "require-end", dir, A_X64, UINT64_MAX },                         \
	{ "reject-start", dir, A_X64, 0 },                                 \
	{ "reject-end", dir, A_X64, 0 }

static const struct node tree[] = {
	[ROOT] = { "debug", ROOT, N_DIR, 0 },
	[FAILSLAB] = { "failslab", ROOT, N_DIR, 0 },
	COMMON_ATTRS(FAILSLAB),
	{ "ignore-gfp-wait", FAILSLAB, A_BOOL, 1 },
	{ "cache-filter", FAILSLAB, A_BOOL, 0 },
	[PAGE_ALLOC] = { "fail_page_alloc", ROOT, N_DIR, 0 },
	COMMON_ATTRS(PAGE_ALLOC),
	{ "ignore-gfp-wait", PAGE_ALLOC, A_BOOL, 1 },
	{ "ignore-gfp-highmem", PAGE_ALLOC, A_BOOL, 1 },
	{ "min-order", PAGE_ALLOC, A_U32, 1 },
};

_Static_assert(sizeof(tree) / sizeof(tree[0]) == NR_NODES,
	       "NR_NODES counts the tree");

/*
 * Each value XOR its default: the zeroed array starts at the defaults,
 * with no initialisation for a signal handler or a thread to race with.
 */
static _Atomic uint64_t values[NR_NODES];

static uint64_t value_get(unsigned int node)
{
	return atomic_load(&values[node]) ^ tree[node].def;
}

static void value_set(unsigned int node, uint64_t val)
{
	atomic_store(&values[node], val ^ tree[node].def);
}

bool debugfs_node_is_dir(unsigned int node)
{
	return tree[node].kind == N_DIR;
}

bool debugfs_child(unsigned int node, unsigned int i, const char **name,
		   unsigned int *child)
{
	for (unsigned int n = 1; n != NR_NODES; n++) {
		if (tree[n].parent != node || i--)
			continue;
		*name = tree[n].name;
		*child = n;
		return true;
	}
	return false;
}

unsigned long debugfs_ino(unsigned int node)
{
	return node + 1;	/* the root of a debugfs mount is inode 1 */
}

unsigned long debugfs_parent_ino(unsigned int node)
{
	/* The root's ".." is itself: it is the root of its mount. */
	return debugfs_ino(tree[node].parent);
}

static unsigned int subdirs(unsigned int node)
{
	unsigned int n = 0;

	for (unsigned int i = 1; i != NR_NODES; i++)
		n += tree[i].parent == node && debugfs_node_is_dir(i);
	return n;
}

/* ---- emulate or not ---- */

enum { MODE_UNKNOWN, MODE_EMULATE, MODE_HOST };

static atomic_int chosen;
static _Atomic int64_t epoch_ns;	/* the files' times */

/*
 * UIOMMUFD_DEBUGFS=emulate or host forces the choice; otherwise (auto)
 * the kernel's debugfs is used where it is mounted at /sys/kernel/debug
 * and this process may write its failslab directory.
 */
static int choose(void)
{
	const char *want = getenv("UIOMMUFD_DEBUGFS");
	struct statfs sfs;

	if (want && !strcmp(want, "emulate"))
		return MODE_EMULATE;
	if (want && !strcmp(want, "host"))
		return MODE_HOST;
	/*
	 * A debugfs the program may write is the kernel's own, whole: one
	 * without failslab (a kernel built without it) stays so, and its
	 * other files stay reachable.
	 */
	if (!real.statfs("/sys/kernel/debug", &sfs) &&
	    sfs.f_type == DEBUGFS_MAGIC &&
	    !real.faccessat(AT_FDCWD, "/sys/kernel/debug", W_OK, AT_EACCESS))
		return MODE_HOST;
	return MODE_EMULATE;
}

/* Decided at the first call that reaches the tree, then kept. */
static bool emulating(void)
{
	int m = atomic_load(&chosen), none = MODE_UNKNOWN, err = errno;
	int64_t zero = 0;
	struct timespec now;

	if (m != MODE_UNKNOWN)
		return m == MODE_EMULATE;
	m = choose();
	clock_gettime(CLOCK_REALTIME, &now);
	atomic_compare_exchange_strong(&epoch_ns, &zero,
				       now.tv_sec * 1000000000LL + now.tv_nsec);
	if (!atomic_compare_exchange_strong(&chosen, &none, m))
		m = none;
	errno = err;
	return m == MODE_EMULATE;
}

/* ---- names ---- */

enum walk_end {
	WALK_OTHER,	/* not ours: libc runs the call as it was */
	WALK_NODE,	/* a node of the tree */
	WALK_ERROR,	/* the kernel's errno for it */
	WALK_REAL,	/* from a directory of ours out of the tree: w->rest */
};

/* Small: every open() of the program comes through here, handlers too. */
struct walk {
	unsigned int node;
	int err;
	bool missing_last;	/* ENOENT for the last name, in a directory */
	/* WALK_REAL: what follows the last ".." out, from /sys/kernel */
	const char *rest;
};

static bool lookup(unsigned int dir, const char *name, size_t len,
		   unsigned int *child)
{
	for (unsigned int n = 1; n != NR_NODES; n++) {
		if (tree[n].parent == dir && strlen(tree[n].name) == len &&
		    !memcmp(tree[n].name, name, len)) {
			*child = n;
			return true;
		}
	}
	return false;
}

static const char *next_name(const char *p)
{
	while (*p == '/')
		p++;
	return p;
}

/*
 * Follow @path name by name from node @start, or from "/" (@start < 0),
 * as the kernel would. Out of the tree only the depth counts, and
 * whether the first three names are sys, kernel, debug (symbolic links
 * are not followed there); in it names are looked up.
 */
static enum walk_end walk(int start, const char *path, struct walk *w)
{
	static const char *const way_in[] = { "sys", "kernel", "debug" };
	bool in_tree = start >= 0, slash = false;
	unsigned int node = in_tree ? start : ROOT, child;
	unsigned int depth = 0, match = 0;	/* bit i: name i is way_in[i] */
	const char *p = path;

	while (*p) {
		const char *name;
		size_t n;

		p = next_name(p);
		if (!*p) {
			slash = true;
			break;
		}
		name = p;
		while (*p && *p != '/')
			p++;
		n = p - name;
		if (in_tree && !debugfs_node_is_dir(node)) {
			w->err = ENOTDIR;
			return WALK_ERROR;
		}
		if (in_tree && n > NAME_MAX) {
			w->err = ENAMETOOLONG;
			return WALK_ERROR;
		}
		if (n == 1 && name[0] == '.')
			continue;
		if (n == 2 && name[0] == '.' && name[1] == '.') {
			if (in_tree && node != ROOT) {
				node = tree[node].parent;
			} else if (in_tree) {
				in_tree = false;	/* to /sys/kernel */
				depth = 2;
				match = 3;
				w->rest = p;
			} else if (depth) {
				depth--;
				/* Only the first three names can match. */
				if (depth < 3)
					match &= (1u << depth) - 1;
			}
			continue;
		}
		if (in_tree) {
			if (!lookup(node, name, n, &child)) {
				w->err = ENOENT;
				w->missing_last = !*next_name(p);
				return WALK_ERROR;
			}
			node = child;
			continue;
		}
		if (depth < 3 && strlen(way_in[depth]) == n &&
		    !memcmp(way_in[depth], name, n))
			match |= 1u << depth;
		if (++depth == 3 && match == 7) {
			in_tree = true;
			node = ROOT;
		}
	}
	if (in_tree) {
		if (slash && !debugfs_node_is_dir(node)) {
			w->err = ENOTDIR;
			return WALK_ERROR;
		}
		w->node = node;
		return WALK_NODE;
	}
	return start < 0 ? WALK_OTHER : WALK_REAL;
}

/*
 * For WALK_REAL: a descriptor of the real /sys/kernel and the name to
 * follow from it, for the real *at() call; the kernel resolves the rest
 * (-1 with errno where /sys/kernel cannot be opened, as the walk would
 * fail there too).
 */
static int real_start(const struct walk *w, const char **name)
{
	*name = *next_name(w->rest) ? next_name(w->rest) : ".";
	return real.open("/sys/kernel", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void real_end(int dirfd)
{
	int err = errno;

	real.close(dirfd);
	errno = err;
}

/* *@rc = @call, a real *at() call on dfd and name, for a WALK_REAL. */
#define ON_REAL(w, rc, call)                                               \
	do {                                                               \
		const char *name;                                          \
		int dfd = real_start(w, &name);                            \
		*(rc) = -1;                                                \
		if (dfd >= 0) {                                            \
			*(rc) = (call);                                    \
			real_end(dfd);                                     \
		}                                                          \
	} while (0)

/* The node of descriptor @fd when it is one of ours (and its flags). */
static int node_of(int fd, int *flags)
{
	struct shim_file *file;
	int node = -1;

	if (!fd_map_maybe(fd) || !(file = fd_map_get(fd)))
		return -1;
	if (file->kind == SHIM_DEBUGFS) {
		node = file->node;
		if (flags)
			*flags = file->flags;
	}
	shim_file_put(file);
	return node;
}

/*
 * Where @path leads from @dirfd. @flags may hold AT_EMPTY_PATH. Cheap
 * for what is not ours: an absolute name without "debug" in it, or a
 * relative one from a descriptor that is not in the shim's table.
 */
static enum walk_end resolve(int dirfd, const char *path, int flags,
			     struct walk *w)
{
	enum walk_end end;
	int start;

	w->err = 0;
	w->missing_last = false;
	if (!path)
		return WALK_OTHER;
	if (path[0] == '/') {
		if (!strstr(path, "debug"))
			return WALK_OTHER;
		end = walk(-1, path, w);
		return end == WALK_OTHER || !emulating() ? WALK_OTHER : end;
	}
	if (dirfd == AT_FDCWD || (start = node_of(dirfd, NULL)) < 0)
		return WALK_OTHER;
	if (!path[0]) {
		if (!(flags & AT_EMPTY_PATH)) {
			w->err = ENOENT;
			return WALK_ERROR;
		}
		w->node = start;
		return WALK_NODE;
	}
	if (!debugfs_node_is_dir(start)) {
		w->err = ENOTDIR;
		return WALK_ERROR;
	}
	return walk(start, path, w);
}

/* ---- copies to and from the program, which may pass bad pointers ---- */

/*
 * The kernel copies for us, on this process: a bad pointer of the
 * program's is EFAULT, not a crash (as lib/iommufd/user_copy.c's
 * syscall way; the program's side is the "remote" one, which tools such
 * as valgrind leave unchecked). Where the calls are refused (seccomp), a
 * plain copy.
 */
static int copy(void *dst, const void *src, size_t len, bool out)
{
	struct iovec ours = { out ? (void *)src : dst, len };
	struct iovec theirs = { out ? dst : (void *)src, len };
	int err = errno;
	ssize_t n;

	if (!len)
		return 0;
	if (out)
		n = process_vm_writev(getpid(), &ours, 1, &theirs, 1, 0);
	else
		n = process_vm_readv(getpid(), &ours, 1, &theirs, 1, 0);
	if (n < 0 && (errno == ENOSYS || errno == EPERM))
		n = len;
	errno = err;
	if (n != (ssize_t)len)
		return -EFAULT;
	/* Again where a tool watching memory sees it, now it is known good. */
	memcpy(dst, src, len);
	return 0;
}

int debugfs_copy_out(void *dst, const void *src, size_t len)
{
	return copy(dst, src, len, true);
}

static int copy_in(void *dst, const void *src, size_t len)
{
	return copy(dst, src, len, false);
}

/* The call was ours: *rc is 0, or -1 with errno @err. */
static bool answer(int *rc, int err)
{
	if (err)
		errno = err;
	*rc = err ? -1 : 0;
	return true;
}

/* ---- values: the kernel's text, the kernel's parsing ---- */

static int format_value(unsigned int node, char *text, size_t room)
{
	uint64_t val = value_get(node);

	switch (tree[node].kind) {
	case A_BOOL:
		return snprintf(text, room, "%c\n", val ? 'Y' : 'N');
	case A_ATOMIC:
		return snprintf(text, room, "%d\n", (int)(uint32_t)val);
	case A_X64:
		return snprintf(text, room, "0x%016llx\n",
				(unsigned long long)val);
	default:
		return snprintf(text, room, "%llu\n", (unsigned long long)val);
	}
}

static int digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 99;
}

/*
 * kstrtoull(text, 0): a "0x" prefix (before a hex digit) is base 16, a
 * leading 0 base 8, else base 10; at least one digit; one newline may
 * end it; ERANGE past 64 bits (even with junk after), else EINVAL.
 */
static int parse_u64_unsigned(const char *s, uint64_t *res)
{
	unsigned int base = 10;
	bool any = false, over = false;
	uint64_t val = 0;
	int d;

	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digit(s[2]) < 16) {
		base = 16;
		s += 2;
	} else if (s[0] == '0') {
		base = 8;
	}
	for (; (d = digit(*s)) < (int)base; s++) {
		if (val > (UINT64_MAX - d) / base)
			over = true;
		val = val * base + d;
		any = true;
	}
	if (over)
		return ERANGE;
	if (!any)
		return EINVAL;
	if (*s == '\n')
		s++;
	if (*s)
		return EINVAL;
	*res = val;
	return 0;
}

static int parse_u64(const char *s, uint64_t *res)
{
	return parse_u64_unsigned(s[0] == '+' ? s + 1 : s, res);
}

/* kstrtoll(text, 0). */
static int parse_s64(const char *s, int64_t *res)
{
	uint64_t val;
	int err;

	if (s[0] == '-') {
		err = parse_u64_unsigned(s + 1, &val);
		if (err)
			return err;
		if (val > (uint64_t)INT64_MAX + 1)
			return ERANGE;
		*res = (int64_t)(0 - val);
		return 0;
	}
	err = parse_u64(s, &val);
	if (err)
		return err;
	if (val > INT64_MAX)
		return ERANGE;
	*res = val;
	return 0;
}

/* kstrtobool: the first letters decide (y/t/1/e, n/f/0/d, on, off). */
static int parse_bool(const char *s, bool *res)
{
	switch (s[0]) {
	case 'y': case 'Y': case 't': case 'T': case '1': case 'e': case 'E':
		*res = true;
		return 0;
	case 'n': case 'N': case 'f': case 'F': case '0': case 'd': case 'D':
		*res = false;
		return 0;
	case 'o': case 'O':
		if (s[1] == 'n' || s[1] == 'N')
			*res = true;
		else if (s[1] == 'f' || s[1] == 'F')
			*res = false;
		else
			return EINVAL;
		return 0;
	}
	return EINVAL;
}

/* Store @text in @node, as its debugfs file's write would: an errno. */
static int store(unsigned int node, const char *text)
{
	uint64_t val = 0;
	int64_t sval = 0;
	bool b = false;
	int err;

	switch (tree[node].kind) {
	case A_BOOL:
		err = parse_bool(text, &b);
		val = b;
		break;
	case A_ATOMIC:
		err = parse_s64(text, &sval);
		val = (uint32_t)sval;	/* atomic_set() of an int */
		break;
	case A_U32:
		err = parse_u64(text, &val);
		val = (uint32_t)val;
		break;
	case A_DEPTH:
		err = parse_u64(text, &val);
		if (val > MAX_STACK_TRACE_DEPTH)
			val = MAX_STACK_TRACE_DEPTH;
		break;
	default:
		err = parse_u64(text, &val);
		break;
	}
	if (!err)
		value_set(node, val);
	return err;
}

/* The file's memfd holds its current text. */
static void materialize(int fd, unsigned int node)
{
	char text[32];
	int len = format_value(node, text, sizeof(text));

	/* Best effort: where this fails, the last text made stays. */
	if (real.pwrite(fd, text, len, 0) != len || ftruncate(fd, len))
		return;
}

/* ---- open ---- */

/* The kernel's open flag checks that come before the name is looked up. */
static int flags_error(int flags)
{
	if (flags & O_PATH)
		return 0;
	if ((flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
		return EINVAL;
	if ((flags & O_TMPFILE) == O_TMPFILE && (flags & O_ACCMODE) == O_RDONLY)
		return EINVAL;
	return 0;
}

static int open_error(unsigned int node, int flags)
{
	bool dir = debugfs_node_is_dir(node);

	if (flags & O_PATH)
		return (flags & O_DIRECTORY) && !dir ? ENOTDIR : 0;
	if ((flags & O_TMPFILE) == O_TMPFILE)
		return dir ? EOPNOTSUPP : ENOTDIR;
	if (dir) {
		/* O_TRUNC asks to write, as O_WRONLY and O_RDWR do. */
		if ((flags & (O_CREAT | O_TRUNC)) ||
		    (flags & O_ACCMODE) != O_RDONLY)
			return EISDIR;
		return 0;
	}
	if (flags & O_DIRECTORY)
		return ENOTDIR;
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return EEXIST;
	return 0;
}

static int open_node(unsigned int node, int flags, const char *path)
{
	struct shim_file *file;
	int fd, err;

	if (flags & O_PATH)
		flags &= O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	err = open_error(node, flags);
	if (err) {
		errno = err;
		return -1;
	}
	file = shim_file_new(SHIM_DEBUGFS);
	if (!file) {
		errno = ENOMEM;
		return -1;
	}
	fd = memfd_create(node == ROOT ? "debugfs" : tree[node].name,
			  flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0)
		goto err_free;
	file->node = node;
	file->flags = flags;
	if (!debugfs_node_is_dir(node))
		materialize(fd, node);
	if (fd_map_install(fd, file)) {
		real.close(fd);
		errno = ENOMEM;
		goto err_free;
	}
	shim_file_put(file);
	if (trace_enabled())
		trace_printf("open(\"%s\", %#x) = %d\n", path, flags, fd);
	return fd;

err_free:
	err = errno;
	shim_file_put(file);
	errno = err;
	return -1;
}

bool debugfs_open(int dirfd, const char *path, int flags, mode_t mode,
		  int *rc)
{
	struct walk w;
	int err;

	switch (resolve(dirfd, path, 0, &w)) {
	case WALK_OTHER:
		return false;
	case WALK_REAL:
		ON_REAL(&w, rc, shim_fresh_fd(real.openat(dfd, name, flags,
							  mode)));
		return true;
	case WALK_ERROR:
		err = flags_error(flags);
		if (!err && w.missing_last && (flags & O_CREAT) &&
		    !(flags & O_PATH))
			err = EACCES;	/* debugfs makes no files for us */
		return answer(rc, err ? err : w.err);
	case WALK_NODE:
		err = flags_error(flags);
		if (err)
			return answer(rc, err);
		*rc = open_node(w.node, flags, path);
		return true;
	}
	return false;
}

/* ---- read and write ---- */

static bool readable(int flags)
{
	return !(flags & O_PATH) && ((flags & O_ACCMODE) == O_RDONLY ||
				     (flags & O_ACCMODE) == O_RDWR);
}

static bool writable(int flags)
{
	return !(flags & O_PATH) && ((flags & O_ACCMODE) == O_WRONLY ||
				     (flags & O_ACCMODE) == O_RDWR);
}

ssize_t debugfs_read(struct shim_file *file, int fd, void *buf, size_t count,
		     const off_t *offset)
{
	char text[64];	/* more than any value's text */
	sigset_t old;
	ssize_t n;
	off_t pos;
	int err = 0;

	if (!readable(file->flags)) {
		errno = EBADF;
		return -1;
	}
	if (debugfs_node_is_dir(file->node)) {
		errno = EISDIR;
		return -1;
	}
	if (count > sizeof(text))
		count = sizeof(text);
	shim_block_signals(&old);
	pthread_mutex_lock(&file->pos_lock);
	/*
	 * The value is read at offset 0; a read further on goes on with the
	 * same text, as debugfs's does. The position is the memfd's, so
	 * lseek works as on any file.
	 */
	pos = offset ? *offset : lseek(fd, 0, SEEK_CUR);
	if (!pos)
		materialize(fd, file->node);
	n = real.pread(fd, text, count, pos);
	if (n < 0)
		err = errno;
	else if (debugfs_copy_out(buf, text, n))
		err = EFAULT;
	else if (!offset)
		lseek(fd, pos + n, SEEK_SET);
	pthread_mutex_unlock(&file->pos_lock);
	shim_restore_signals(&old);
	if (err) {
		errno = err;
		return -1;
	}
	return n;
}

ssize_t debugfs_write(struct shim_file *file, int fd, const void *buf,
		      size_t count)
{
	/* What debugfs reads of a write: 23 bytes, 3 for a boolean. */
	size_t room = tree[file->node].kind == A_BOOL ? 3 : 23;
	char text[24];
	sigset_t old;
	int err;

	if (!writable(file->flags) || debugfs_node_is_dir(file->node)) {
		errno = EBADF;
		return -1;
	}
	if (count < room)
		room = count;
	if (copy_in(text, buf, room)) {
		errno = EFAULT;
		return -1;
	}
	text[room] = 0;
	err = store(file->node, text);
	if (err) {
		errno = err;
		return -1;
	}
	shim_block_signals(&old);
	pthread_mutex_lock(&file->pos_lock);
	materialize(fd, file->node);
	pthread_mutex_unlock(&file->pos_lock);
	shim_restore_signals(&old);
	return count;	/* the whole input, as debugfs claims */
}

/* ---- stat, statx, access, statfs ---- */

static struct timespec epoch(void)
{
	int64_t ns = atomic_load(&epoch_ns);

	return (struct timespec){ ns / 1000000000, ns % 1000000000 };
}

static unsigned int mode_of(unsigned int node)
{
	if (node == ROOT)
		return S_IFDIR | 0700;
	return debugfs_node_is_dir(node) ? S_IFDIR | 0755 : S_IFREG | 0600;
}

/* The caller owns the files: it may do with them what root may. */
static void fill_stat(unsigned int node, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_dev = makedev(0, DEBUGFS_DEV_MINOR);
	st->st_ino = debugfs_ino(node);
	st->st_mode = mode_of(node);
	st->st_nlink = debugfs_node_is_dir(node) ? 2 + subdirs(node) : 1;
	st->st_uid = geteuid();
	st->st_gid = getegid();
	st->st_blksize = 4096;
	st->st_atim = st->st_mtim = st->st_ctim = epoch();
}

static bool stat_out(unsigned int node, struct stat *st, int *rc)
{
	struct stat local;

	fill_stat(node, &local);
	return answer(rc, debugfs_copy_out(st, &local, sizeof(local)) ? EFAULT : 0);
}

bool debugfs_stat(int dirfd, const char *path, struct stat *st, int flags,
		  int *rc)
{
	struct walk w;

	switch (resolve(dirfd, path, flags, &w)) {
	case WALK_OTHER:
		return false;
	case WALK_REAL:
		ON_REAL(&w, rc, real.fstatat(dfd, name, st, flags));
		return true;
	case WALK_ERROR:
	case WALK_NODE:
		break;
	}
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH))
		return answer(rc, EINVAL);
	return w.err ? answer(rc, w.err) : stat_out(w.node, st, rc);
}

bool debugfs_fstat(int fd, struct stat *st, int *rc)
{
	int node = node_of(fd, NULL);

	return node >= 0 && stat_out(node, st, rc);
}

static struct statx_timestamp stx_time(struct timespec ts)
{
	return (struct statx_timestamp){ .tv_sec = ts.tv_sec,
					 .tv_nsec = ts.tv_nsec };
}

bool debugfs_statx(int dirfd, const char *path, int flags, unsigned int mask,
		   struct statx *stx, int *rc)
{
	struct statx local;
	struct stat st;
	struct walk w;

	switch (resolve(dirfd, path, flags, &w)) {
	case WALK_OTHER:
		return false;
	case WALK_REAL:
		ON_REAL(&w, rc, real.statx(dfd, name, flags, mask, stx));
		return true;
	case WALK_ERROR:
	case WALK_NODE:
		break;
	}
	if ((flags & ~(AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_EMPTY_PATH |
		       AT_STATX_SYNC_TYPE)) ||
	    (flags & AT_STATX_SYNC_TYPE) == AT_STATX_SYNC_TYPE ||
	    (mask & STATX__RESERVED))
		return answer(rc, EINVAL);
	if (w.err)
		return answer(rc, w.err);
	fill_stat(w.node, &st);
	memset(&local, 0, sizeof(local));
	local.stx_mask = STATX_BASIC_STATS;
	local.stx_blksize = st.st_blksize;
	local.stx_nlink = st.st_nlink;
	local.stx_uid = st.st_uid;
	local.stx_gid = st.st_gid;
	local.stx_mode = st.st_mode;
	local.stx_ino = st.st_ino;
	local.stx_atime = local.stx_ctime = local.stx_mtime =
		stx_time(st.st_mtim);
	local.stx_dev_major = major(st.st_dev);
	local.stx_dev_minor = minor(st.st_dev);
	return answer(rc, debugfs_copy_out(stx, &local, sizeof(local)) ? EFAULT : 0);
}

bool debugfs_access(int dirfd, const char *path, int mode, int flags,
		    int *rc)
{
	struct walk w;

	switch (resolve(dirfd, path, flags, &w)) {
	case WALK_OTHER:
		return false;
	case WALK_REAL:
		ON_REAL(&w, rc, real.faccessat(dfd, name, mode, flags));
		return true;
	case WALK_ERROR:
	case WALK_NODE:
		break;
	}
	if ((mode & ~(R_OK | W_OK | X_OK)) ||
	    (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)))
		return answer(rc, EINVAL);
	if (w.err)
		return answer(rc, w.err);
	/* The owner may read and write everything; only directories run. */
	if ((mode & X_OK) && !debugfs_node_is_dir(w.node))
		return answer(rc, EACCES);
	return answer(rc, 0);
}

static bool statfs_out(struct statfs *sfs, int *rc)
{
	struct statfs local;

	memset(&local, 0, sizeof(local));
	local.f_type = DEBUGFS_MAGIC;
	local.f_bsize = 4096;
	local.f_frsize = 4096;
	local.f_namelen = NAME_MAX;
	/* How debugfs is mounted: nosuid, nodev, noexec, relatime. */
	local.f_flags = ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC |
			ST_RELATIME;
	return answer(rc, debugfs_copy_out(sfs, &local, sizeof(local)) ? EFAULT : 0);
}

bool debugfs_statfs(const char *path, struct statfs *sfs, int *rc)
{
	struct walk w;

	switch (resolve(AT_FDCWD, path, 0, &w)) {
	case WALK_OTHER:
	case WALK_REAL:
		return false;
	case WALK_ERROR:
		return answer(rc, w.err);
	case WALK_NODE:
		break;
	}
	return statfs_out(sfs, rc);
}

bool debugfs_fstatfs(int fd, struct statfs *sfs, int *rc)
{
	return node_of(fd, NULL) >= 0 && statfs_out(sfs, rc);
}

int debugfs_node_of(int fd, int *flags)
{
	return node_of(fd, flags);
}
