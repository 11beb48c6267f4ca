// SPDX-License-Identifier: MIT
/*
 * The shim's descriptor table: descriptor number -> shim file. Lookups of
 * descriptors that are not ours (nearly every call) read a hint without a
 * lock; everything else runs under one mutex with signals blocked.
 * Arrays the table outgrows are kept, never freed, so a lock-free reader
 * holding an old one stays safe.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "preload/shim.h"

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;
static _Atomic(struct shim_file *) *_Atomic slots;
static atomic_uint nr_slots;

/* Free shim files, under map_lock. */
static struct shim_file *free_files;

#define POOL_CHUNK (64 * 1024)

void shim_block_signals(sigset_t *old)
{
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, SIGSEGV);
	sigdelset(&set, SIGBUS);
	sigdelset(&set, SIGILL);
	sigdelset(&set, SIGFPE);
	sigdelset(&set, SIGTRAP);
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

void shim_restore_signals(const sigset_t *old)
{
	pthread_sigmask(SIG_SETMASK, old, NULL);
}

bool fd_map_maybe(int fd)
{
	_Atomic(struct shim_file *) *s = atomic_load(&slots);

	if (fd < 0 || (unsigned int)fd >= atomic_load(&nr_slots) || !s)
		return false;
	return atomic_load_explicit(&s[fd], memory_order_relaxed) != NULL;
}

/*
 * A fork copies the table into the child, which keeps working on its
 * copy: the lock must not be held by some other thread at that moment.
 */
static void fork_prepare(void)
{
	pthread_mutex_lock(&map_lock);
}

static void fork_parent(void)
{
	pthread_mutex_unlock(&map_lock);
}

/*
 * The forking thread holds the table's lock in the child too: it lets
 * go of it, as in the parent (a normal mutex checks no owner, so the
 * child's new thread id does not matter, and a race checker sees the
 * lock released). The files' position and share locks and the directory
 * streams' locks start afresh: a thread that does not exist in the child
 * may have held them (a read in progress), and it is gone.
 */
static void fork_child(void)
{
	_Atomic(struct shim_file *) *s = atomic_load(&slots);
	unsigned int n = atomic_load(&nr_slots);

	pthread_mutex_unlock(&map_lock);
	/*
	 * A broker the library forks is not the program: its descriptors
	 * are the library's, which the shim must not take for the program's
	 * (a memfd received at a number the program's context had). The
	 * files stay allocated: putting one could run its context's close.
	 */
	if (shim_forking_broker()) {
		for (unsigned int fd = 0; s && fd != n; fd++)
			atomic_store(&s[fd], NULL);
		trace_forget();
		debugfs_dir_fork_child();
		return;
	}
	for (unsigned int fd = 0; s && fd != n; fd++) {
		struct shim_file *file = atomic_load(&s[fd]);

		if (file) {
			pthread_mutex_init(&file->pos_lock, NULL);
			pthread_rwlock_init(&file->share_lock, NULL);
		}
	}
	debugfs_dir_fork_child();
}

static void fork_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static void lock_map(sigset_t *old)
{
	pthread_once(&fork_once, fork_init);
	shim_block_signals(old);
	pthread_mutex_lock(&map_lock);
}

static void unlock_map(const sigset_t *old)
{
	pthread_mutex_unlock(&map_lock);
	shim_restore_signals(old);
}

void shim_lock(sigset_t *old)
{
	lock_map(old);
}

void shim_unlock(const sigset_t *old)
{
	unlock_map(old);
}

/* Memory straight from the kernel: safe to ask for in a signal handler. */
static void *pages_alloc(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct shim_file *shim_file_new(enum shim_kind kind)
{
	struct shim_file *file;
	sigset_t old;

	lock_map(&old);
	if (!free_files) {
		struct shim_file *chunk = pages_alloc(POOL_CHUNK);

		for (size_t i = 0; chunk && i != POOL_CHUNK / sizeof(*chunk);
		     i++) {
			chunk[i].next_free = free_files;
			free_files = &chunk[i];
		}
	}
	file = free_files;
	if (file)
		free_files = file->next_free;
	unlock_map(&old);
	if (!file)
		return NULL;
	memset(file, 0, sizeof(*file));
	file->kind = kind;
	atomic_init(&file->refs, 1);
	pthread_mutex_init(&file->pos_lock, NULL);
	pthread_rwlock_init(&file->share_lock, NULL);
	return file;
}

struct uiommufd_ctx *shim_file_ctx(struct shim_file *file)
{
	struct uiommufd_ctx *ctx = atomic_load(&file->ctx), *none = NULL;

	if (ctx)
		return ctx;
	ctx = uiommufd_ctx_open(file->vfio ? UIOMMUFD_CTX_VFIO : 0);
	if (!ctx)
		return NULL;
	/* Two first calls at once: one context wins, the other goes. */
	if (!atomic_compare_exchange_strong(&file->ctx, &none, ctx)) {
		uiommufd_ctx_close(ctx);
		ctx = none;
	}
	return ctx;
}

/* The file of @fd: with a new reference, or taken out of the table. */
static struct shim_file *slot_take(int fd, bool remove)
{
	struct shim_file *file = NULL;
	sigset_t old;

	if (!fd_map_maybe(fd))
		return NULL;
	lock_map(&old);
	if ((unsigned int)fd < atomic_load(&nr_slots)) {
		_Atomic(struct shim_file *) *slot = &atomic_load(&slots)[fd];

		if (remove)
			file = atomic_exchange(slot, NULL);
		else if ((file = atomic_load(slot)))
			atomic_fetch_add(&file->refs, 1);
	}
	unlock_map(&old);
	return file;
}

struct shim_file *fd_map_get(int fd)
{
	return slot_take(fd, false);
}

void shim_file_put(struct shim_file *file)
{
	sigset_t old;

	if (atomic_fetch_sub(&file->refs, 1) != 1)
		return;
	/* The last descriptor and the last call are gone. */
	if (atomic_load(&file->ctx)) {
		shim_block_signals(&old);
		uiommufd_ctx_close(atomic_load(&file->ctx));
		shim_restore_signals(&old);
	}
	pthread_mutex_destroy(&file->pos_lock);
	pthread_rwlock_destroy(&file->share_lock);
	lock_map(&old);
	file->next_free = free_files;
	free_files = file;
	unlock_map(&old);
}

/* Make room for descriptor @fd; with map_lock held. */
static int grow(unsigned int fd)
{
	unsigned int n = atomic_load(&nr_slots), new_n = n ? n : 64;
	_Atomic(struct shim_file *) *s, *old = atomic_load(&slots);

	if (fd < n)
		return 0;
	while (new_n <= fd)
		new_n *= 2;
	/*
	 * From the kernel, not malloc (signal handlers); the old array is
	 * never unmapped, since a lock-free reader may still hold it.
	 */
	s = pages_alloc(new_n * sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (unsigned int i = 0; i != n; i++)
		atomic_init(&s[i], atomic_load(&old[i]));
	atomic_store(&slots, s);
	atomic_store(&nr_slots, new_n);
	return 0;
}

int fd_map_install(int fd, struct shim_file *file)
{
	struct shim_file *prev = NULL;
	sigset_t old;
	int rc;

	lock_map(&old);
	rc = grow(fd);
	if (!rc) {
		prev = atomic_exchange(&atomic_load(&slots)[fd], file);
		atomic_fetch_add(&file->refs, 1);
	}
	unlock_map(&old);
	/* A number the kernel handed out again was closed behind our back. */
	if (prev)
		shim_file_put(prev);
	return rc;
}

struct shim_file *fd_map_remove(int fd)
{
	return slot_take(fd, true);
}

struct shim_file *fd_map_peek(int fd)
{
	_Atomic(struct shim_file *) *s = atomic_load(&slots);

	if (fd < 0 || (unsigned int)fd >= atomic_load(&nr_slots) || !s)
		return NULL;
	return atomic_load(&s[fd]);
}

unsigned int fd_map_limit(void)
{
	return atomic_load(&nr_slots);
}
