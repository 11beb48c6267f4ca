/* SPDX-License-Identifier: MIT */
/*
 * Descriptors the library hands out, process wide: each is a real
 * descriptor (an empty memfd, so it has an inode of its own) standing for
 * a library file, such as a test-module access. Closing it through
 * uiommufd_fd_close() releases the file once no command is using it. A
 * descriptor closed behind the library's back is noticed by its inode
 * when it is next named, or at the next context close, and released then.
 */
#ifndef UIOMMUFD_IOMMUFD_FD_TABLE_H
#define UIOMMUFD_IOMMUFD_FD_TABLE_H

#include <stdatomic.h>
#include <sys/types.h>

#include "base/common.h"

struct iommufd_file;

struct iommufd_file_ops {
	const char *name;
	/*
	 * The descriptor to hand out (NULL: an empty memfd). It must have an
	 * inode of its own, which tells it from a reused number. fd or -errno.
	 */
	int (*make_fd)(struct iommufd_file *file);
	/* read(2) and write(2) of it (NULL: EINVAL, as a file without them). */
	ssize_t (*read)(struct iommufd_file *file, void *buf, size_t count);
	ssize_t (*write)(struct iommufd_file *file, const void *buf,
			 size_t count);
	/* The last reference is gone. Cannot fail. */
	void (*release)(struct iommufd_file *file);
};

struct iommufd_file {
	const struct iommufd_file_ops *ops;
	atomic_uint refs;
	int fd;
	dev_t dev;
	ino_t ino;
};

/*
 * Open an O_CLOEXEC descriptor for @file and reserve its table slot; the
 * descriptor finds nothing until iommufd_file_install(). 0 or -errno.
 */
int iommufd_file_open(struct iommufd_file *file,
		      const struct iommufd_file_ops *ops);
/* Publish: the descriptor now names @file. Cannot fail. */
void iommufd_file_install(struct iommufd_file *file);
/* Undo an open that was never installed: closes the descriptor. */
void iommufd_file_abort(struct iommufd_file *file);

/*
 * The file behind @fd with a reference (of @ops, or any with NULL), or
 * ERR_PTR(-EBADFD).
 */
struct iommufd_file *iommufd_file_get(int fd,
				      const struct iommufd_file_ops *ops);
void iommufd_file_put(struct iommufd_file *file);

/* Release the files whose descriptors were closed behind our back. */
void iommufd_files_sweep_stale(void);
/* Whether the process holds any library file (after a sweep). */
bool iommufd_files_any(void);

#endif
