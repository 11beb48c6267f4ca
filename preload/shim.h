/* SPDX-License-Identifier: MIT */
/*
 * The preload shim's pieces: the descriptor table, the real libc calls
 * and the trace.
 */
#ifndef UIOMMUFD_PRELOAD_SHIM_H
#define UIOMMUFD_PRELOAD_SHIM_H

#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/uio.h>

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
	pid_t (*fork)(void);
	int (*execve)(const char *path, char *const argv[],
		      char *const envp[]);
	int (*execveat)(int dirfd, const char *path, char *const argv[],
			char *const envp[], int flags);
	int (*fexecve)(int fd, char *const argv[], char *const envp[]);
	int (*execv)(const char *path, char *const argv[]);
	int (*execvp)(const char *file, char *const argv[]);
	int (*execvpe)(const char *file, char *const argv[],
		       char *const envp[]);
	int (*posix_spawn)(pid_t *pid, const char *path,
			   const posix_spawn_file_actions_t *actions,
			   const posix_spawnattr_t *attr, char *const argv[],
			   char *const envp[]);
	int (*posix_spawnp)(pid_t *pid, const char *file,
			    const posix_spawn_file_actions_t *actions,
			    const posix_spawnattr_t *attr, char *const argv[],
			    char *const envp[]);
	ssize_t (*sendmsg)(int fd, const struct msghdr *msg, int flags);
	int (*sendmmsg)(int fd, struct mmsghdr *msgvec, unsigned int vlen,
			int flags);
	int (*fcntl)(int fd, int cmd, ...);
	int (*fcntl64)(int fd, int cmd, ...);
	ssize_t (*read)(int fd, void *buf, size_t count);
	ssize_t (*write)(int fd, const void *buf, size_t count);
	ssize_t (*readv)(int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*writev)(int fd, const struct iovec *iov, int iovcnt);
	ssize_t (*pread)(int fd, void *buf, size_t count, off_t offset);
	ssize_t (*pwrite)(int fd, const void *buf, size_t count, off_t offset);
	ssize_t (*pread64)(int fd, void *buf, size_t count, off_t offset);
	ssize_t (*pwrite64)(int fd, const void *buf, size_t count,
			    off_t offset);
	ssize_t (*__read_chk)(int fd, void *buf, size_t count, size_t room);
	ssize_t (*__pread_chk)(int fd, void *buf, size_t count, off_t offset,
			       size_t room);
	ssize_t (*__pread64_chk)(int fd, void *buf, size_t count,
				 off_t offset, size_t room);
	/* struct stat64 is struct stat on the 64-bit targets built for. */
	int (*stat)(const char *path, struct stat *st);
	int (*stat64)(const char *path, struct stat *st);
	int (*lstat)(const char *path, struct stat *st);
	int (*lstat64)(const char *path, struct stat *st);
	int (*fstat)(int fd, struct stat *st);
	int (*fstat64)(int fd, struct stat *st);
	int (*fstatat)(int dirfd, const char *path, struct stat *st, int flags);
	int (*fstatat64)(int dirfd, const char *path, struct stat *st,
			 int flags);
	int (*statx)(int dirfd, const char *path, int flags, unsigned int mask,
		     struct statx *stx);
	/* The stat calls of binaries built before glibc 2.33. */
	int (*__xstat)(int ver, const char *path, struct stat *st);
	int (*__xstat64)(int ver, const char *path, struct stat *st);
	int (*__lxstat)(int ver, const char *path, struct stat *st);
	int (*__lxstat64)(int ver, const char *path, struct stat *st);
	int (*__fxstat)(int ver, int fd, struct stat *st);
	int (*__fxstat64)(int ver, int fd, struct stat *st);
	int (*__fxstatat)(int ver, int dirfd, const char *path, struct stat *st,
			  int flags);
	int (*__fxstatat64)(int ver, int dirfd, const char *path,
			    struct stat *st, int flags);
	int (*access)(const char *path, int mode);
	int (*faccessat)(int dirfd, const char *path, int mode, int flags);
	int (*euidaccess)(const char *path, int mode);
	int (*eaccess)(const char *path, int mode);
	int (*statfs)(const char *path, struct statfs *sfs);
	int (*statfs64)(const char *path, struct statfs *sfs);
	int (*fstatfs)(int fd, struct statfs *sfs);
	int (*fstatfs64)(int fd, struct statfs *sfs);
	DIR *(*opendir)(const char *path);
	DIR *(*fdopendir)(int fd);
	struct dirent *(*readdir)(DIR *dir);
	struct dirent64 *(*readdir64)(DIR *dir);
	int (*readdir_r)(DIR *dir, struct dirent *entry,
			 struct dirent **result);
	int (*readdir64_r)(DIR *dir, struct dirent64 *entry,
			   struct dirent64 **result);
	int (*closedir)(DIR *dir);
	int (*dirfd)(DIR *dir);
	void (*rewinddir)(DIR *dir);
	long (*telldir)(DIR *dir);
	void (*seekdir)(DIR *dir, long pos);
};

extern struct real_libc real;
/* Resolve every real function (idempotent, thread safe). */
void real_init(void);

/* ---- shim files and the descriptor table (fd_map.c) ---- */

enum shim_kind {
	SHIM_IOMMUFD,	/* /dev/iommu or /dev/vfio/vfio: a context */
	SHIM_ACCESS,	/* the library's: a test-module access or dma-buf */
	SHIM_FAULTQ,	/* the library's: a fault queue, read and written by it */
	SHIM_VEVENTQ,	/* the library's: a vEVENTQ, read by it */
	SHIM_FAILNTH,	/* /proc/.../fail-nth of one thread */
	SHIM_DEBUGFS,	/* a file or directory of the emulated debugfs */
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
	/*
	 * SHIM_IOMMUFD: served by a broker process for every holder (the
	 * context was promoted before a fork; ctx is then NULL). Commands
	 * hold share_lock for reading, a promotion for writing.
	 */
	atomic_bool shared;
	pthread_rwlock_t share_lock;
	struct shim_file *next_free;	/* in the pool */
	pid_t tid;		/* SHIM_FAILNTH: whose counter */
	off_t pos;		/* SHIM_FAILNTH: read position */
	pthread_mutex_t pos_lock;	/* and SHIM_DEBUGFS: its reads */
	unsigned int node;	/* SHIM_DEBUGFS: which file (debugfs.c's) */
	int flags;		/* SHIM_DEBUGFS: the open's flags */
	unsigned int type;	/* SHIM_VEVENTQ: the queue's type */
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
/* The file of @fd, no reference taken: with shim_lock() held. */
struct shim_file *fd_map_peek(int fd);
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
/*
 * The table's lock, for the few other things that need one (signals
 * blocked while held; fork-safe). Nothing else may be locked inside it.
 */
void shim_lock(sigset_t *old);
void shim_unlock(const sigset_t *old);

/* Whether @kind is a descriptor the library handed out and tracks. */
static inline bool shim_kind_library(enum shim_kind kind)
{
	return kind == SHIM_ACCESS || kind == SHIM_FAULTQ ||
	       kind == SHIM_VEVENTQ;
}

/* Whether @kind is an event queue, whose reads and writes are the library's. */
static inline bool shim_kind_eventq(enum shim_kind kind)
{
	return kind == SHIM_FAULTQ || kind == SHIM_VEVENTQ;
}

/* ---- the entry points' common steps (shim.c) ---- */

/* close() of a descriptor that may be ours. */
int shim_close(int fd);
/* A descriptor libc just handed out: forget a stale entry of its number. */
int shim_fresh_fd(int fd);

/* ---- contexts shared between processes (share.c) ---- */

/*
 * @fd, not in the table, is a shared context's descriptor this process
 * was given (over a socket, across exec): now in the table, with a
 * reference for the caller; NULL if it is not one. errno is kept.
 */
struct shim_file *shim_adopt(int fd);
/* Whether the calling thread is forking a broker (the library's fork). */
bool shim_forking_broker(void);

/* ---- the emulated debugfs (debugfs.c) ---- */

/*
 * Where the real debugfs is not mounted at /sys/kernel/debug, or not
 * writable, the shim answers the kernel's fault-injection files there
 * (UIOMMUFD_DEBUGFS=emulate|host|auto chooses). Each call below returns
 * true when it answered (the result in *rc, errno set as the kernel
 * would), false when libc must run the call unchanged. Paths are those
 * of the libc calls: absolute, or relative to a directory descriptor
 * of the emulated tree.
 */
bool debugfs_open(int dirfd, const char *path, int flags, mode_t mode,
		  int *rc);
bool debugfs_stat(int dirfd, const char *path, struct stat *st, int flags,
		  int *rc);
bool debugfs_statx(int dirfd, const char *path, int flags, unsigned int mask,
		   struct statx *stx, int *rc);
bool debugfs_access(int dirfd, const char *path, int mode, int flags,
		    int *rc);
bool debugfs_statfs(const char *path, struct statfs *sfs, int *rc);
bool debugfs_fstat(int fd, struct stat *st, int *rc);
bool debugfs_fstatfs(int fd, struct statfs *sfs, int *rc);
/* read, pread (@offset non-NULL) and write on one of its files. */
ssize_t debugfs_read(struct shim_file *file, int fd, void *buf, size_t count,
		     const off_t *offset);
ssize_t debugfs_write(struct shim_file *file, int fd, const void *buf,
		      size_t count);

/* Directory streams of the emulated directories (debugfs_dir.c). */
struct debugfs_dir;
bool debugfs_opendir(const char *path, DIR **dir);
bool debugfs_fdopendir(int fd, DIR **dir);
/* @dir as one of ours, or NULL (a glibc stream). */
struct debugfs_dir *debugfs_dir_of(DIR *dir);
/* In the child of a fork: every stream's lock starts afresh. */
void debugfs_dir_fork_child(void);
struct dirent *debugfs_readdir(struct debugfs_dir *dir);
struct dirent64 *debugfs_readdir64(struct debugfs_dir *dir);
int debugfs_readdir_r(struct debugfs_dir *dir, struct dirent *entry,
		      struct dirent **result);
int debugfs_closedir(struct debugfs_dir *dir);
int debugfs_dirfd(struct debugfs_dir *dir);
long debugfs_telldir(struct debugfs_dir *dir);
void debugfs_seekdir(struct debugfs_dir *dir, long pos);

/* Between debugfs.c and debugfs_dir.c. */
/* The node @fd names (and the flags it was opened with), or -1. */
int debugfs_node_of(int fd, int *flags);
bool debugfs_node_is_dir(unsigned int node);
/* The @i-th entry of directory @node after "." and "..": false past the end. */
bool debugfs_child(unsigned int node, unsigned int i, const char **name,
		   unsigned int *child);
/* The inode number of @node, and that of its parent. */
unsigned long debugfs_ino(unsigned int node);
unsigned long debugfs_parent_ino(unsigned int node);
/* Copy to a program's buffer: -EFAULT where it cannot be written. */
int debugfs_copy_out(void *dst, const void *src, size_t len);

/* ---- the trace (trace.c) ---- */

/* Set from UIOMMUFD_TRACE: a path, or "-" for standard error. */
bool trace_enabled(void);
void trace_init(void);
/* In a broker: the trace is the program's, not ours to write. */
void trace_forget(void);
void trace_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * The inputs of an ioctl, copied right before it runs on this thread:
 * some fields are both input and output (HWPT_INVALIDATE's entry_num,
 * GET_HW_INFO's data_len), so the trace_ioctl() that follows shows them
 * as IN->OUT.
 */
void trace_ioctl_enter(unsigned long request, const void *arg);
/*
 * A read (@is_read) or write of a fault queue's descriptor, with the
 * records that moved, decoded after it ran.
 */
void trace_fault_rw(int fd, bool is_read, const void *buf, size_t count,
		    ssize_t rc, int err);
/* One ioctl on a context, decoded after it ran. */
void trace_ioctl(int fd, unsigned long request, const void *arg, int rc,
		 int err);
/*
 * A read of a vEVENTQ's descriptor of @type (IOMMU_VEVENTQ_ALLOC's; the
 * payload's length and layout depend on it), the events that moved
 * decoded after it ran.
 */
void trace_vevent_read(int fd, unsigned int type, const void *buf,
		       size_t count, ssize_t rc, int err);
/*
 * mmap of a shim descriptor, after it ran: @map is the result (or
 * MAP_FAILED with @err), @reason the refusal's when the library gave none.
 * A region mapped is remembered, so that its munmap is traced too.
 */
void trace_mmap(void *addr, size_t length, int prot, int flags, int fd,
		off_t offset, void *map, int err, const char *reason);
/* munmap, after it ran: traced when it touched a region trace_mmap saw. */
void trace_munmap(void *addr, size_t length, int rc, int err);
/* mremap, after it ran (@map its result): traced as munmap is. */
void trace_mremap(void *old_address, size_t old_size, size_t new_size,
		  int flags, void *new_address, void *map, int err);

#endif
