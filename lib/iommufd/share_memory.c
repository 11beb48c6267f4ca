// SPDX-License-Identifier: MIT
/*
 * Memory a shared context maps (docs/design.md 8.1, "Memory"). A broker
 * cannot keep another process's private memory alive, so before a command
 * maps a range of the calling process into a shared context, the process
 * moves the range's private memory into a memfd of the library's, mapped
 * back in place (MAP_SHARED, same address, same protection), and the
 * memfd goes to the broker with the command: pages pinned through it stay
 * readable and writable after the process is gone, as the kernel's page
 * references keep them.
 *
 * While a piece is copied it is read-only; a thread writing to it
 * meanwhile faults, and the fault handler installed for the move waits
 * for the move to end and lets the write run again, now on the file.
 * A fork() child gets private copies of every moved range (the kernel
 * gives a child copies of pinned pages), so memory stays private across
 * fork. Memory no shared context maps is never touched.
 *
 * Not moved (reached through process_vm while the process lives): shared
 * mappings (they are files already), the stacks of the calling thread and
 * of the main thread, memory that cannot be read.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/overflow.h"
#include "base/page.h"
#include "base/private_fd.h"
#include "iommufd/share_proto.h"
#include "base/process.h"
#include "iopt/pages.h"
#include "iopt/pfn_source.h"
#include "iopt/proc_maps.h"

/* The VMA pieces one move handles, at most (the rest stay). */
#define MOVE_PIECES_MAX 32

/*
 * A range this process moved into a memfd of ours, at file offset 0. The
 * record lives as long as the memory maps the file (pruned at the next
 * move once it does not), across commands: it is allocated with malloc,
 * outside the library's per-command allocation counts.
 */
struct moved_range {
	struct moved_range *next;
	u64 start, end;
	atomic_int fd;		/* private_fd.h */
	dev_t dev;
	ino_t ino;
	/* Commands using it that have not ended; one of them succeeded. */
	unsigned int pending;
	bool used;
};

static pthread_mutex_t moved_lock = PTHREAD_MUTEX_INITIALIZER;
static struct moved_range *moved;
static pthread_once_t moved_once = PTHREAD_ONCE_INIT;

/* ---- the fault handler of a move ---- */

static atomic_bool moving;
static _Atomic u64 moving_start, moving_end;
static struct sigaction program_segv;

static void move_fault(int sig, siginfo_t *si, void *uc)
{
	u64 addr = (u64)(uintptr_t)si->si_addr;

	if (addr >= atomic_load(&moving_start) &&
	    addr < atomic_load(&moving_end)) {
		/* A write to a piece being copied: it runs again after. */
		while (atomic_load(&moving))
			sched_yield();
		return;
	}
	/* Not ours: what the program asked for. */
	if (program_segv.sa_flags & SA_SIGINFO) {
		program_segv.sa_sigaction(sig, si, uc);
	} else if (program_segv.sa_handler == SIG_DFL ||
		   program_segv.sa_handler == SIG_IGN) {
		/* The fault comes again, and kills as it would have. */
		sigaction(SIGSEGV, &program_segv, NULL);
	} else {
		program_segv.sa_handler(sig);
	}
}

static void move_begin(u64 start, u64 end)
{
	struct sigaction sa = { .sa_sigaction = move_fault,
				.sa_flags = SA_SIGINFO };

	atomic_store(&moving_start, start);
	atomic_store(&moving_end, end);
	atomic_store(&moving, true);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &program_segv);
}

/*
 * The range stays set: a handler still running for a fault of the move
 * must see it as ours (and return, the write then running on the file),
 * not pass it to the program's handler.
 */
static void move_end(void)
{
	atomic_store(&moving, false);
	sigaction(SIGSEGV, &program_segv, NULL);
}

/*
 * Copy whole pages that other threads of the program may be writing to:
 * they are write-protected meanwhile (a writer waits in move_fault()),
 * which a race checker cannot know, so the copy is not shown to it (word
 * by word through volatile, so that no memcpy it intercepts stands in).
 */
__attribute__((no_sanitize("thread")))
static void copy_pages(void *dst, const void *src, size_t len)
{
	volatile u64 *d = dst;
	const volatile u64 *s = src;

	for (size_t i = 0; i != len / sizeof(u64); i++)
		d[i] = s[i];
}

/* ---- fork: the child's own copies ---- */

/* Set while the library forks a broker, which needs no copies. */
static bool forking_broker;

void share_memory_forking_broker(bool on)
{
	forking_broker = on;
}

/*
 * Replace the memfd pages of @r by private copies of them. @threads: other
 * threads may write meanwhile, so each piece is read-only while copied
 * (a writer waits in the fault handler, as during a move).
 */
static void privatize(const struct moved_range *r, bool threads)
{
	struct proc_maps_iter it;
	struct proc_maps_vma vma;
	struct {
		u64 start, end;
		int prot;
	} piece[MOVE_PIECES_MAX];
	unsigned int n = 0;

	if (proc_maps_open(&it, r->start, r->end - 1))
		return;
	while (n != MOVE_PIECES_MAX && proc_maps_next(&it, &vma) == 1) {
		if (!vma.shared || vma.dev != r->dev || vma.ino != r->ino)
			continue;
		piece[n].start = vma.start > r->start ? vma.start : r->start;
		piece[n].end = vma.end < r->end ? vma.end : r->end;
		piece[n++].prot = vma.prot;
	}
	proc_maps_close(&it);
	if (threads)
		move_begin(r->start, r->end);
	for (unsigned int i = 0; i != n; i++) {
		u64 len = piece[i].end - piece[i].start;
		void *at = (void *)(uintptr_t)piece[i].start;
		void *copy = mmap(NULL, len, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (copy == MAP_FAILED)
			continue;
		if (threads && (piece[i].prot & PROT_WRITE))
			mprotect(at, len, piece[i].prot & ~PROT_WRITE);
		if (piece[i].prot & PROT_READ)
			copy_pages(copy, at, len);
		mprotect(copy, len, piece[i].prot);
		if (mremap(copy, len, len, MREMAP_MAYMOVE | MREMAP_FIXED,
			   at) == MAP_FAILED) {
			munmap(copy, len);
			mprotect(at, len, piece[i].prot);
		}
	}
	if (threads)
		move_end();
}

/*
 * The child has no moved memory: private copies, and the files go. Moves
 * run inside the library, which a fork waits to be empty of other
 * threads (api_enter()), so no move is half done and the lock is free.
 */
static void moved_child(void)
{
	struct moved_range *r = moved;

	moved = NULL;
	pthread_mutex_init(&moved_lock, NULL);
	while (r) {
		struct moved_range *next = r->next;

		if (!forking_broker)
			privatize(r, false);
		private_fd_close(&r->fd);
		free(r);
		r = next;
	}
}

static void moved_init(void)
{
	pthread_atfork(NULL, NULL, moved_child);
}

/* ---- moving ---- */

struct piece {
	u64 start, end;
	int prot;
	bool to_move;
	struct moved_range *in;	/* already moved there, or NULL */
	/* A shared mapping of a file of the program's: which, and where. */
	bool program_file;
	dev_t dev;
	ino_t ino;
	u64 offset;
};

extern void *__libc_stack_end;

/* Stacks are not moved: a thread faulting on its own stack cannot wait. */
static bool is_stack(u64 start, u64 end)
{
	u64 here = (u64)(uintptr_t)&start;
	u64 main_stack = (u64)(uintptr_t)__libc_stack_end;

	return (here >= start && here < end) ||
	       (main_stack >= start && main_stack < end);
}

/*
 * Ranges whose pages may be pinned under the identity of their address
 * (section 5): mapped by a context of this process, or by one promoted
 * from here (share_memory_keep()). Moving them would give their pages
 * another identity than the one pinned: they stay, reached while this
 * process lives.
 */
#define KEPT_MAX 64
static struct {
	u64 start, end;
} kept[KEPT_MAX];
static unsigned int nkept;

void share_memory_keep(u64 start, u64 end)
{
	pthread_once(&moved_once, moved_init);
	pthread_mutex_lock(&moved_lock);
	if (nkept != KEPT_MAX) {
		kept[nkept].start = start;
		kept[nkept++].end = end;
	}
	pthread_mutex_unlock(&moved_lock);
}

struct overlap {
	u64 start, end;
	bool found;
};

static void pages_overlap(struct iopt_pages *pages, void *arg)
{
	struct overlap *o = arg;
	u64 end = pages->source_addr + (pages->npages << PAGE_SHIFT);

	if (pages->type == IOPT_ADDRESS_USER && pages->source &&
	    pages->source->pid == process_self() &&
	    pages->source_addr < o->end && o->start < end)
		o->found = true;
}

static bool pinned_by_address(u64 start, u64 end)
{
	struct overlap o = { start, end, false };

	for (unsigned int i = 0; i != nkept; i++)
		if (kept[i].start < end && start < kept[i].end)
			return true;
	iopt_pages_for_each_live(pages_overlap, &o);
	return o.found;
}

static struct moved_range *moved_find(dev_t dev, ino_t ino)
{
	for (struct moved_range *r = moved; r; r = r->next)
		if (r->dev == dev && r->ino == ino)
			return r;
	return NULL;
}

/*
 * The pieces of [start, end): moved already (in a file of ours), to move
 * (private and readable), or neither (left out). How many.
 */
static unsigned int find_pieces(u64 start, u64 end, struct piece *p,
				bool *to_move)
{
	struct proc_maps_iter it;
	struct proc_maps_vma vma;
	unsigned int n = 0;

	*to_move = false;
	if (proc_maps_open(&it, start, end - 1))
		return 0;
	while (n != MOVE_PIECES_MAX && proc_maps_next(&it, &vma) == 1) {
		struct piece *pc = &p[n];

		pc->start = vma.start > start ? vma.start : start;
		pc->end = vma.end < end ? vma.end : end;
		pc->prot = vma.prot;
		pc->to_move = false;
		pc->program_file = false;
		pc->in = vma.shared && vma.ino ? moved_find(vma.dev, vma.ino) :
						 NULL;
		if (pc->in) {
			n++;
			continue;
		}
		if (vma.shared && vma.ino) {
			/* Its file goes along, if the program holds it open. */
			pc->program_file = true;
			pc->dev = vma.dev;
			pc->ino = vma.ino;
			pc->offset = vma.offset + (pc->start - vma.start);
			n++;
			continue;
		}
		if (vma.shared || !(vma.prot & PROT_READ) ||
		    is_stack(vma.start, vma.end) ||
		    pinned_by_address(pc->start, pc->end))
			continue;
		pc->to_move = true;
		*to_move = true;
		n++;
	}
	proc_maps_close(&it);
	return n;
}

/*
 * Move the pieces marked in @p into a new memfd holding [start, end) at
 * offset 0. The moved range, or NULL (pieces not yet replaced stay).
 */
static struct moved_range *move_pieces(u64 start, u64 end, struct piece *p,
				       unsigned int n)
{
	struct moved_range *r;
	struct stat st;
	char *view;
	int fd;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	fd = memfd_create("uiommufd-memory", MFD_CLOEXEC);
	if (fd < 0)
		goto err_free;
	if (ftruncate(fd, end - start) || fstat(fd, &st))
		goto err_close;
	view = mmap(NULL, end - start, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		    0);
	if (view == MAP_FAILED)
		goto err_close;
	move_begin(start, end);
	for (unsigned int i = 0; i != n; i++) {
		u64 len = p[i].end - p[i].start;
		int prot = p[i].prot;
		void *at = (void *)(uintptr_t)p[i].start;

		if (!p[i].to_move)
			continue;
		if ((prot & PROT_WRITE) && mprotect(at, len, prot & ~PROT_WRITE))
			continue;
		copy_pages(view + (p[i].start - start), at, len);
		if (mmap(at, len, prot, MAP_SHARED | MAP_FIXED, fd,
			 p[i].start - start) == MAP_FAILED) {
			mprotect(at, len, prot);
			continue;
		}
		p[i].in = r;
	}
	move_end();
	munmap(view, end - start);
	atomic_init(&r->fd, fd);
	if (private_fd_register(&r->fd))
		goto err_close;
	r->start = start;
	r->end = end;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->next = moved;
	moved = r;
	return r;

err_close:
	/* Pieces already mapped keep the file alive through their mapping. */
	close(fd);
err_free:
	free(r);
	return NULL;
}

/* Forget the ranges no part of which maps their file any more. */
static void moved_prune(void)
{
	struct moved_range *r, **pos = &moved;

	while ((r = *pos)) {
		struct proc_maps_iter it;
		struct proc_maps_vma vma;
		bool used = false;

		if (!proc_maps_open(&it, r->start, r->end - 1)) {
			while (!used && proc_maps_next(&it, &vma) == 1)
				used = vma.shared && vma.dev == r->dev &&
				       vma.ino == r->ino;
			proc_maps_close(&it);
		} else {
			used = true;
		}
		/* A command in flight still names it. */
		if (used || r->pending) {
			pos = &r->next;
			continue;
		}
		*pos = r->next;
		private_fd_close(&r->fd);
		free(r);
	}
}

/* Take @r off the list and free it. With moved_lock held. */
static void moved_unlink(struct moved_range *r)
{
	for (struct moved_range **pos = &moved; *pos; pos = &(*pos)->next) {
		if (*pos == r) {
			*pos = r->next;
			break;
		}
	}
	private_fd_close(&r->fd);
	free(r);
}

/*
 * A descriptor of the program's that is the file (@dev, @ino), duplicated
 * for the command (close-on-exec), or -1: the program's shared mapping
 * of a file (its own memfd, say) is reached through it after it exits.
 */
static int program_file_fd(dev_t dev, ino_t ino)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	if (!dir)
		return -1;
	while (found < 0 && (de = readdir(dir))) {
		struct stat st;
		char *end;
		long fd = strtol(de->d_name, &end, 10);

		if (*end || fd < 0 || fd == dirfd(dir) || fstat(fd, &st) ||
		    !S_ISREG(st.st_mode) || st.st_dev != dev ||
		    st.st_ino != ino)
			continue;
		/* Writes through it must reach the file: readable and writable. */
		if ((fcntl(fd, F_GETFL) & O_ACCMODE) != O_RDWR)
			continue;
		found = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	}
	closedir(dir);
	return found;
}

void share_memory_finish(struct share_memory_use *use, bool ok)
{
	struct moved_range *fresh = use->fresh;

	if (!use->n)
		return;
	pthread_mutex_lock(&moved_lock);
	for (unsigned int i = 0; i != use->n; i++) {
		use->r[i]->pending--;
		use->r[i]->used |= ok;
	}
	/*
	 * A map that failed leaves the memory it moved as it was: private
	 * again, unless another command uses the file meanwhile.
	 */
	if (fresh && !fresh->used && !fresh->pending) {
		privatize(fresh, true);
		moved_unlink(fresh);
	}
	pthread_mutex_unlock(&moved_lock);
	use->n = 0;
}

void share_memory_prune(void)
{
	pthread_once(&moved_once, moved_init);
	pthread_mutex_lock(&moved_lock);
	moved_prune();
	pthread_mutex_unlock(&moved_lock);
}

/* A piece of a file of the program's: the file goes along with it. */
static void add_program_file(const struct piece *pc, struct share_mem *mem,
			     unsigned int *nmem, int *fds, unsigned int *nfds)
{
	int fd;

	if (!pc->program_file || *nfds == SHARE_FDS_MAX - 1 ||
	    *nmem == SHARE_MEM_MAX)
		return;
	fd = program_file_fd(pc->dev, pc->ino);
	if (fd < 0)
		return;
	fds[*nfds] = fd;
	mem[(*nmem)++] = (struct share_mem){
		.addr = pc->start, .len = pc->end - pc->start,
		.offset = pc->offset, .fd_index = *nfds,
	};
	(*nfds)++;
}

void share_memory_prepare(u64 uptr, u64 length, struct share_mem *mem,
			  unsigned int *nmem, int *fds, unsigned int *nfds,
			  struct share_memory_use *use)
{
	struct moved_range **file = use->r;
	unsigned int fidx[SHARE_FDS_MAX];	/* file[k]'s descriptor */
	struct piece p[MOVE_PIECES_MAX];
	unsigned int n;
	u64 start, end;
	bool to_move;

	*nmem = *nfds = 0;
	use->n = 0;
	use->fresh = NULL;
	/* A range the kernel refuses is the broker's to refuse. */
	if (check_add_overflow(uptr, length, &end) || !length ||
	    check_align_up_overflow(end, PAGE_SIZE, &end))
		return;
	start = align_down(uptr, PAGE_SIZE);
	pthread_once(&moved_once, moved_init);
	pthread_mutex_lock(&moved_lock);
	n = find_pieces(start, end, p, &to_move);
	if (to_move) {
		moved_prune();
		use->fresh = move_pieces(start, end, p, n);
	}
	for (unsigned int i = 0; i != n && *nmem != SHARE_MEM_MAX; i++) {
		struct moved_range *r = p[i].in;
		struct share_mem *m = *nmem ? &mem[*nmem - 1] : NULL;
		unsigned int f, k;

		if (!r) {
			add_program_file(&p[i], mem, nmem, fds, nfds);
			continue;
		}
		for (k = 0; k != use->n && file[k] != r; k++)
			;
		f = k != use->n ? fidx[k] : *nfds;
		/* A piece that goes on from the last one, in the same file. */
		if (m && k != use->n && m->fd_index == f &&
		    m->addr + m->len == p[i].start) {
			m->len += p[i].end - p[i].start;
			continue;
		}
		if (k == use->n) {
			int fd;

			if (*nfds == SHARE_FDS_MAX - 1)
				continue;
			fd = fcntl(private_fd_get(&r->fd), F_DUPFD_CLOEXEC, 3);
			private_fd_put();
			if (fd < 0)
				continue;
			fidx[use->n] = f;
			file[use->n++] = r;
			r->pending++;
			fds[(*nfds)++] = fd;
		}
		mem[(*nmem)++] = (struct share_mem){
			.addr = p[i].start, .len = p[i].end - p[i].start,
			.offset = p[i].start - r->start, .fd_index = f,
		};
	}
	pthread_mutex_unlock(&moved_lock);
}
