// SPDX-License-Identifier: MIT
/*
 * The registry of the library's own descriptors (private_fd.h): number ->
 * the owner's slot, under a read-write lock that uses take shared and
 * registration and moves take exclusive. A count lets the common case,
 * a program's close of its own descriptor, skip the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/index_store.h"
#include "base/private_fd.h"
#include "base/warn.h"

static pthread_rwlock_t registry_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct index_store registry;	/* fd -> atomic_int *slot */
static atomic_uint registered;

int private_fd_register(atomic_int *slot)
{
	int rc;

	pthread_rwlock_wrlock(&registry_lock);
	rc = index_store_store(&registry, atomic_load(slot), slot);
	if (!rc)
		atomic_fetch_add(&registered, 1);
	pthread_rwlock_unlock(&registry_lock);
	if (rc)
		return err_reason(rc, "no memory to record a descriptor of the library's");
	return 0;
}

void private_fd_close(atomic_int *slot)
{
	int fd;

	pthread_rwlock_wrlock(&registry_lock);
	fd = atomic_exchange(slot, -1);
	if (fd >= 0) {
		WARN_ON(index_store_erase(&registry, fd) != slot);
		atomic_fetch_sub(&registered, 1);
		/* Past any preload shim, which would refuse it as private. */
		syscall(SYS_close, fd);
	}
	if (!atomic_load(&registered))
		index_store_destroy(&registry);
	pthread_rwlock_unlock(&registry_lock);
}

int private_fd_get(atomic_int *slot)
{
	pthread_rwlock_rdlock(&registry_lock);
	return atomic_load(slot);
}

void private_fd_put(void)
{
	pthread_rwlock_unlock(&registry_lock);
}

int private_fd_next(int fd)
{
	u64 index = fd < 0 ? 0 : (u64)fd;
	int next = -1;

	if (!atomic_load(&registered))
		return -1;
	pthread_rwlock_rdlock(&registry_lock);
	if (index_store_find(&registry, &index, INT32_MAX))
		next = (int)index;
	pthread_rwlock_unlock(&registry_lock);
	return next;
}

int private_fd_move(int fd)
{
	atomic_int *slot;
	int newfd, rc = 0;

	if (fd < 0 || !atomic_load(&registered))
		return 0;
	pthread_rwlock_wrlock(&registry_lock);
	slot = index_store_load(&registry, fd);
	if (!slot)
		goto out_unlock;
	/* Above the old number: the program's usual ones are lower. */
	newfd = syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
	if (newfd < 0) {
		rc = err_reason(-errno,
				"cannot move descriptor %d of the library's aside: %m",
				fd);
		goto out_unlock;
	}
	rc = index_store_store(&registry, newfd, slot);
	if (rc) {
		syscall(SYS_close, newfd);
		rc = err_reason(rc, "no memory to move descriptor %d of the library's",
				fd);
		goto out_unlock;
	}
	index_store_erase(&registry, fd);
	atomic_store(slot, newfd);
	syscall(SYS_close, fd);
out_unlock:
	pthread_rwlock_unlock(&registry_lock);
	return rc;
}
