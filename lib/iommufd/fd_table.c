// SPDX-License-Identifier: MIT
/*
 * The table of descriptors the library hands out (see fd_table.h).
 */
#include <errno.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/private_fd.h"
#include "base/process.h"
#include "base/index_store.h"
#include "base/warn.h"
#include "iommufd/fd_table.h"
#include "iommufd/iommufd_private.h"
#include "uiommufd/uiommufd.h"

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct index_store table = INDEX_STORE_INIT;

/* Drop the table's reference to a file; with table_lock held. */
static struct iommufd_file *unpublish_locked(int fd)
{
	struct iommufd_file *file = index_store_load(&table, fd);

	if (!file || file == INDEX_STORE_RESERVED)
		return NULL;
	index_store_erase(&table, fd);
	return file;
}

int iommufd_file_open(struct iommufd_file *file,
		      const struct iommufd_file_ops *ops)
{
	struct iommufd_file *stale;
	struct stat st;
	int fd, rc;

	if (ops->make_fd) {
		fd = ops->make_fd(file);
		if (fd < 0)
			return fd;
	} else {
		fd = memfd_create(ops->name, MFD_CLOEXEC);
		if (fd < 0)
			return err_reason(-errno,
					  "cannot create a descriptor: %m");
	}
	if (fstat(fd, &st)) {
		rc = err_reason(-errno, "fstat of a new descriptor: %m");
		close(fd);
		return rc;
	}
	file->ops = ops;
	atomic_init(&file->refs, 1);
	file->fd = fd;
	file->dev = st.st_dev;
	file->ino = st.st_ino;

	pthread_mutex_lock(&table_lock);
	/*
	 * The number was free, so a file still recorded under it had its
	 * descriptor closed behind our back: release it now.
	 */
	stale = unpublish_locked(fd);
	rc = index_store_store(&table, fd, INDEX_STORE_RESERVED);
	pthread_mutex_unlock(&table_lock);
	if (stale)
		iommufd_file_put(stale);
	if (rc) {
		close(fd);
		return rc;
	}
	return 0;
}

void iommufd_file_install(struct iommufd_file *file)
{
	pthread_mutex_lock(&table_lock);
	WARN_ON(index_store_store(&table, file->fd, file));
	pthread_mutex_unlock(&table_lock);
	/* Run for another process: it gets a descriptor of its own. */
	process_user_fd_out(file->fd);
}

void iommufd_file_abort(struct iommufd_file *file)
{
	pthread_mutex_lock(&table_lock);
	index_store_erase(&table, file->fd);
	pthread_mutex_unlock(&table_lock);
	close(file->fd);
}

void iommufd_file_put(struct iommufd_file *file)
{
	if (atomic_fetch_sub(&file->refs, 1) == 1)
		file->ops->release(file);
}

/*
 * Whether descriptor @fd still names @file. Asked of @fd itself: a file
 * may have several descriptors (dup), and the one it was opened as may
 * be gone while a copy lives on.
 */
static bool still_open(const struct iommufd_file *file, int fd)
{
	struct stat st;

	return !fstat(fd, &st) && st.st_dev == file->dev &&
	       st.st_ino == file->ino;
}

struct iommufd_file *iommufd_file_get(int fd,
				      const struct iommufd_file_ops *ops)
{
	struct iommufd_file *file, *stale = NULL;
	int number = fd;

	/* The caller's number, which may be another process's. */
	fd = process_user_fd(fd);
	if (fd < 0)
		return ERR_PTR(err_reason(-EBADFD, "fd %d is not a %s", number,
					  ops ? ops->name : "library descriptor"));
	pthread_mutex_lock(&table_lock);
	file = index_store_load(&table, fd);
	if (file == INDEX_STORE_RESERVED)
		file = NULL;
	if (file && !still_open(file, fd)) {
		stale = unpublish_locked(fd);
		file = NULL;
	}
	if (file && ops && file->ops != ops)
		file = NULL;
	if (file)
		atomic_fetch_add(&file->refs, 1);
	pthread_mutex_unlock(&table_lock);
	if (stale)
		iommufd_file_put(stale);
	if (!file)
		return ERR_PTR(err_reason(-EBADFD, "fd %d is not a %s", number,
					  ops ? ops->name :
						"library descriptor"));
	return file;
}

void iommufd_files_sweep_stale(void)
{
	for (;;) {
		struct iommufd_file *file, *stale = NULL;
		u64 fd;

		pthread_mutex_lock(&table_lock);
		index_store_for_each(&table, fd, file) {
			if (file != INDEX_STORE_RESERVED && !still_open(file, fd)) {
				stale = unpublish_locked(fd);
				break;
			}
		}
		if (index_store_empty(&table))
			index_store_destroy(&table);
		pthread_mutex_unlock(&table_lock);
		if (!stale)
			return;
		iommufd_file_put(stale);
	}
}

UIOMMUFD_EXPORT int uiommufd_fd_close(int fd)
{
	struct iommufd_file *file = NULL;
	int rc;

	err_reason_clear();
	api_enter();
	if (fd >= 0) {
		pthread_mutex_lock(&table_lock);
		file = unpublish_locked(fd);
		pthread_mutex_unlock(&table_lock);
	}
	/* Close first, as the kernel's release runs after the fd is gone. */
	rc = close(fd);
	if (file)
		iommufd_file_put(file);
	api_exit();
	return rc;
}

/*
 * read(2) or write(2) of library descriptor @fd: the file's own, EINVAL
 * for a file without one (as the kernel's), EBADF for any other number.
 */
static ssize_t fd_rw(int fd, bool is_read, void *rbuf, const void *wbuf,
		     size_t count)
{
	struct iommufd_file *file;
	ssize_t rc;

	err_reason_clear();
	api_enter();
	file = iommufd_file_get(fd, NULL);
	if (IS_ERR(file)) {
		rc = err_reason(-EBADF, "fd %d is not a library descriptor",
				fd);
	} else {
		if (is_read && file->ops->read)
			rc = file->ops->read(file, rbuf, count);
		else if (!is_read && file->ops->write)
			rc = file->ops->write(file, wbuf, count);
		else
			rc = err_reason(-EINVAL, "a %s cannot be %s",
					file->ops->name,
					is_read ? "read" : "written");
		iommufd_file_put(file);
	}
	api_exit();
	if (rc < 0) {
		errno = -rc;
		return -1;
	}
	return rc;
}

UIOMMUFD_EXPORT ssize_t uiommufd_fd_read(int fd, void *buf, size_t count)
{
	return fd_rw(fd, true, buf, NULL, count);
}

UIOMMUFD_EXPORT ssize_t uiommufd_fd_write(int fd, const void *buf,
					  size_t count)
{
	return fd_rw(fd, false, NULL, buf, count);
}

UIOMMUFD_EXPORT int uiommufd_fd_release(int fd)
{
	struct iommufd_file *file = NULL;

	api_enter();
	if (fd >= 0) {
		pthread_mutex_lock(&table_lock);
		file = unpublish_locked(fd);
		pthread_mutex_unlock(&table_lock);
	}
	if (file)
		iommufd_file_put(file);
	api_exit();
	return file != NULL;
}

UIOMMUFD_EXPORT int uiommufd_fd_dup(int oldfd, int newfd)
{
	struct iommufd_file *file, *replaced = NULL;
	int rc = 0;

	err_reason_clear();
	if (oldfd < 0 || newfd < 0 || oldfd == newfd)
		return err_reason(-EINVAL, "cannot record fd %d as a copy of %d",
				  newfd, oldfd);
	api_enter();
	pthread_mutex_lock(&table_lock);
	file = index_store_load(&table, oldfd);
	if (!file || file == INDEX_STORE_RESERVED) {
		rc = err_reason(-EBADF, "fd %d is not a library descriptor",
				oldfd);
		goto out_unlock;
	}
	/* @newfd was closed by the dup: whatever it named is released. */
	replaced = unpublish_locked(newfd);
	rc = index_store_store(&table, newfd, file);
	if (!rc)
		atomic_fetch_add(&file->refs, 1);
out_unlock:
	pthread_mutex_unlock(&table_lock);
	if (replaced)
		iommufd_file_put(replaced);
	api_exit();
	return rc;
}

UIOMMUFD_EXPORT int uiommufd_fd_owned(int fd)
{
	struct iommufd_file *file;

	if (fd < 0)
		return 0;
	api_enter();
	pthread_mutex_lock(&table_lock);
	file = index_store_load(&table, fd);
	pthread_mutex_unlock(&table_lock);
	api_exit();
	return file && file != INDEX_STORE_RESERVED;
}

UIOMMUFD_EXPORT int uiommufd_fd_private_next(int fd)
{
	int next;

	/* Inside the library: a fork must not copy the registry mid-use. */
	api_enter();
	next = private_fd_next(fd);
	api_exit();
	return next;
}

UIOMMUFD_EXPORT int uiommufd_fd_private_move(int fd)
{
	int rc;

	err_reason_clear();
	api_enter();
	rc = private_fd_move(fd);
	api_exit();
	return rc;
}

bool iommufd_files_any(void)
{
	bool any;

	pthread_mutex_lock(&table_lock);
	any = !index_store_empty(&table);
	pthread_mutex_unlock(&table_lock);
	return any;
}
