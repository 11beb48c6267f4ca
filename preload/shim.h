/* SPDX-License-Identifier: MIT */
/*
 * The preload shim's pieces: the descriptor table, the real libc calls
 * and the trace.
 */
#ifndef UIOMMUFD_PRELOAD_SHIM_H
#define UIOMMUFD_PRELOAD_SHIM_H

#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "uiommufd/uiommufd.h"

/* ---- the libc functions the shim stands in front of (real.c) ---- */

struct real_libc {
	int (*open)(const char *path, int flags, ...);
	int (*open64)(const char *path, int flags, ...);
	int (*openat)(int dirfd, const char *path, int flags, ...);
	int (*openat64)(int dirfd, const char *path, int flags, ...);
	int (*__open_2)(const char *path, int flags);
	int (*__open64_2)(const char *path, int flags);
	int (*__openat_2)(int dirfd, const char *path, int flags);
	int (*__openat64_2)(int dirfd, const char *path, int flags);
	int (*ioctl)(int fd, unsigned long request, ...);
	int (*close)(int fd);
	int (*close_range)(unsigned int first, unsigned int last, int flags);
	void (*closefrom)(int lowfd);
	int (*dup)(int fd);
	int (*dup2)(int fd, int fd2);
	int (*dup3)(int fd, int fd2, int flags);
	int (*fcntl)(int fd, int cmd, ...);
	int (*fcntl64)(int fd, int cmd, ...);
	ssize_t (*read)(int fd, void *buf, size_t count);
	ssize_t (*write)(int fd, const void *buf, size_t count);
	ssize_t (*pread)(int fd, void *buf, size_t count, off_t offset);
	ssize_t (*pwrite)(int fd, const void *buf, size_t count, off_t offset);
	ssize_t (*pread64)(int fd, void *buf, size_t count, off_t offset);
	ssize_t (*pwrite64)(int fd, const void *buf, size_t count,
			    off_t offset);
};

extern struct real_libc real;
/* Resolve every real function (idempotent, thread safe). */
void real_init(void);

/* ---- shim files and the descriptor table (fd_map.c) ---- */

enum shim_kind {
	SHIM_IOMMUFD,	/* /dev/iommu or /dev/vfio/vfio: a context */
	SHIM_ACCESS,	/* a test-module access descriptor (the library's) */
	SHIM_FAILNTH,	/* /proc/.../fail-nth of one thread */
};

/* What one open file description is; shared by its dup'd descriptors. */
struct shim_file {
	enum shim_kind kind;
	atomic_uint refs;	/* descriptors + calls in progress */
	/*
	 * SHIM_IOMMUFD: made at the first ioctl, so open, dup and close of a
	 * descriptor that ran no command allocate and free nothing (they
	 * stay async-signal-safe, as the kernel's are).
	 */
	struct uiommufd_ctx *_Atomic ctx;
	bool vfio;	/* opened as /dev/vfio/vfio */
	struct shim_file *next_free;	/* in the pool */
	pid_t tid;		/* SHIM_FAILNTH: whose counter */
	off_t pos;		/* SHIM_FAILNTH: read position */
	pthread_mutex_t pos_lock;
};

/*
 * Whether @fd may be one of ours: a lock-free hint for the fast path of
 * calls on every other descriptor. A false "maybe" is checked under the
 * lock; a descriptor is never ours without the hint.
 */
bool fd_map_maybe(int fd);
/* The file of @fd with a reference, or NULL. */
struct shim_file *fd_map_get(int fd);
void shim_file_put(struct shim_file *file);
/* Record @fd as a descriptor of @file (takes a reference). */
int fd_map_install(int fd, struct shim_file *file);
/* Forget @fd and return the file it named (its reference), or NULL. */
struct shim_file *fd_map_remove(int fd);
/* No descriptor at or above this number is ours. */
unsigned int fd_map_limit(void);
/*
 * A new file of @kind holding one reference, the caller's. Files come
 * from a pool of pages mapped for it, never from malloc, so a signal
 * handler may open and close /dev/iommu whatever the program was doing.
 */
struct shim_file *shim_file_new(enum shim_kind kind);
/* The context of a /dev/iommu file, made on first use; NULL with errno. */
struct uiommufd_ctx *shim_file_ctx(struct shim_file *file);

/*
 * Signals that could run a handler calling back into the shim are blocked
 * while the shim holds a lock or runs a command, as a system call is
 * atomic for the thread's handlers. Synchronous faults stay deliverable.
 */
void shim_block_signals(sigset_t *old);
void shim_restore_signals(const sigset_t *old);

/* ---- the trace (trace.c) ---- */

/* Set from UIOMMUFD_TRACE: a path, or "-" for standard error. */
bool trace_enabled(void);
void trace_init(void);
void trace_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* One ioctl on a context, decoded after it ran. */
void trace_ioctl(int fd, unsigned long request, const void *arg, int rc,
		 int err);

#endif
