// SPDX-License-Identifier: MIT
/*
 * Per-user locked pages counted across the processes of one session
 * (user_locked.h). The session file is a memfd uiommufd-run makes and
 * every process of the session inherits (UIOMMUFD_ACCOUNT_FD): a table of
 * slots, one per process that charges, each holding its process's pid,
 * user and pages. A process holds a record lock on its slot while it
 * lives: the kernel drops the lock when the process dies, however it
 * dies, so a dead process's pages are told from a live one's without a
 * word from it. Charges are made under a lock on the header, so the
 * limit holds across processes; refunds are an atomic subtraction.
 */
#include "base/user_locked.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/private_fd.h"
#include "base/process.h"

#define SESSION_MAGIC 0x75696c6bu	/* "uilk" */
#define SESSION_SLOTS 1024

struct session_slot {
	_Atomic s32 pid;	/* 0: free */
	u32 uid;
	_Atomic u64 locked;
};

struct session_file {
	u32 magic;
	u32 nr_slots;
	u64 pad;
	struct session_slot slot[SESSION_SLOTS];
};

static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t session_once = PTHREAD_ONCE_INIT;
static atomic_int session_fd = -1;	/* private_fd.h */
static struct session_file *session;
/* This process's slot, and the process it was claimed by. */
static int my_slot = -1;
static pid_t my_pid;

static off_t slot_offset(int i)
{
	return offsetof(struct session_file, slot) +
	       (off_t)i * sizeof(struct session_slot);
}

/* Whether a live process holds slot @i's record lock. */
static bool slot_held(int fd, int i)
{
	struct flock fl = {
		.l_type = F_WRLCK, .l_whence = SEEK_SET,
		.l_start = slot_offset(i),
		.l_len = sizeof(struct session_slot),
	};

	if (fcntl(fd, F_GETLK, &fl))
		return true;	/* cannot tell: count it */
	return fl.l_type != F_UNLCK;
}

static void session_init(void)
{
	const char *env = getenv("UIOMMUFD_ACCOUNT_FD");
	struct session_file *map;
	struct stat st;
	char *end;
	long fd;

	if (!env || !*env)
		return;
	fd = strtol(env, &end, 10);
	if (*end || fd < 0 || fd > INT32_MAX || fstat(fd, &st) ||
	    st.st_size < (off_t)sizeof(*map))
		return;
	map = mmap(NULL, sizeof(*map), PROT_READ | PROT_WRITE, MAP_SHARED,
		   fd, 0);
	if (map == MAP_FAILED)
		return;
	if (map->magic != SESSION_MAGIC || map->nr_slots != SESSION_SLOTS) {
		munmap(map, sizeof(*map));
		return;
	}
	atomic_store(&session_fd, (int)fd);
	if (private_fd_register(&session_fd)) {
		atomic_store(&session_fd, -1);
		munmap(map, sizeof(*map));
		return;
	}
	session = map;
}

bool user_locked_shared(void)
{
	pthread_once(&session_once, session_init);
	return session;
}

/*
 * This process's slot (claimed at its first charge: a fork child claims
 * its own), or -1. Called with session_lock and the header lock held.
 */
static int claim_slot(int fd, uid_t uid)
{
	pid_t self = process_self();

	if (my_slot >= 0 && my_pid == self)
		return my_slot;
	for (int i = 0; i != SESSION_SLOTS; i++) {
		struct flock fl = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET,
			.l_start = slot_offset(i),
			.l_len = sizeof(struct session_slot),
		};
		struct session_slot *s = &session->slot[i];

		/*
		 * A slot of ours from before an exec holds pages of an image
		 * that is gone (F_GETLK does not see our own lock): take it.
		 */
		if (atomic_load(&s->pid) && atomic_load(&s->pid) != self &&
		    slot_held(fd, i))
			continue;
		/* Free, or its process is gone: its pages with it. */
		if (fcntl(fd, F_SETLK, &fl))
			continue;
		atomic_store(&s->locked, 0);
		s->uid = uid;
		atomic_store(&s->pid, self);
		my_slot = i;
		my_pid = self;
		return i;
	}
	return -1;
}

/* The pages of live processes of @uid; dead ones' slots are freed. */
static u64 live_total(int fd, uid_t uid)
{
	u64 total = 0;

	for (int i = 0; i != SESSION_SLOTS; i++) {
		struct session_slot *s = &session->slot[i];
		u64 locked = atomic_load(&s->locked);

		if (!atomic_load(&s->pid) || s->uid != uid || !locked)
			continue;
		if (i != my_slot && !slot_held(fd, i)) {
			atomic_store(&s->locked, 0);
			atomic_store(&s->pid, 0);
			continue;
		}
		total += locked;
	}
	return total;
}

int user_locked_charge(uid_t uid, u64 npages, u64 limit, u64 *total)
{
	int fd, slot, rc = 0;
	u64 sum;

	if (!user_locked_shared())
		return -ENOENT;
	pthread_mutex_lock(&session_lock);
	fd = private_fd_get(&session_fd);
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	slot = claim_slot(fd, uid);
	if (slot < 0) {
		rc = err_reason(-ENOMEM,
				"no room in the session's accounting for another process");
		goto out;
	}
	sum = live_total(fd, uid);
	if (__builtin_add_overflow(sum, npages, total) || *total > limit) {
		*total = sum + npages < sum ? U64_MAX : sum + npages;
		rc = -ENOMEM;
		goto out;
	}
	atomic_fetch_add(&session->slot[slot].locked, npages);
out:
	flock(fd, LOCK_UN);
	private_fd_put();
	pthread_mutex_unlock(&session_lock);
	return rc;
}

void user_locked_adopt(uid_t uid, u64 npages)
{
	int fd;

	if (!npages || !user_locked_shared())
		return;
	pthread_mutex_lock(&session_lock);
	fd = private_fd_get(&session_fd);
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	if (claim_slot(fd, uid) >= 0)
		atomic_fetch_add(&session->slot[my_slot].locked, npages);
	flock(fd, LOCK_UN);
	private_fd_put();
	pthread_mutex_unlock(&session_lock);
}

void user_locked_uncharge(uid_t uid, u64 npages)
{
	if (!user_locked_shared())
		return;
	pthread_mutex_lock(&session_lock);
	if (my_slot >= 0 && my_pid == process_self())
		atomic_fetch_sub(&session->slot[my_slot].locked, npages);
	pthread_mutex_unlock(&session_lock);
}

u64 user_locked_total(uid_t uid)
{
	u64 total;
	int fd;

	if (!user_locked_shared())
		return 0;
	pthread_mutex_lock(&session_lock);
	fd = private_fd_get(&session_fd);
	while (flock(fd, LOCK_EX) && errno == EINTR)
		;
	total = live_total(fd, uid);
	flock(fd, LOCK_UN);
	private_fd_put();
	pthread_mutex_unlock(&session_lock);
	return total;
}

int user_locked_session_create(void)
{
	struct session_file *map;
	int fd = memfd_create("uiommufd-accounting", 0);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, sizeof(*map))) {
		close(fd);
		return -errno;
	}
	map = mmap(NULL, sizeof(*map), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (map == MAP_FAILED) {
		close(fd);
		return -errno;
	}
	map->nr_slots = SESSION_SLOTS;
	map->magic = SESSION_MAGIC;
	munmap(map, sizeof(*map));
	return fd;
}
