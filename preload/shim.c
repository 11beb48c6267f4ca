// SPDX-License-Identifier: MIT
/*
 * The preload shim: an unmodified, dynamically linked program that opens
 * /dev/iommu (or /dev/vfio/vfio) gets a real descriptor of ours, and its
 * ioctls on it run the library's context. The descriptors follow dup,
 * dup2, dup3, fcntl(F_DUPFD*) and close; the test module's access
 * descriptors are followed the same way. /proc/.../fail-nth of the
 * calling thread arms the library's fault injection, the kernel's way,
 * and the fault-injection files of debugfs are emulated where the real
 * ones are missing (debugfs.c): opens, reads, writes, stats, access
 * checks and directory streams of /sys/kernel/debug come here first.
 * Every other call goes straight to libc, errno untouched.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/shim.h"
#include "uiommufd/iommufd_test_uapi.h"
#include "uiommufd/iommufd_uapi.h"

#define SHIM_EXPORT __attribute__((visibility("default")))

/* glibc's _FORTIFY_SOURCE entry points, declared by no public header. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t count, size_t room);
ssize_t __pread_chk(int fd, void *buf, size_t count, off_t offset,
		    size_t room);
ssize_t __pread64_chk(int fd, void *buf, size_t count, off_t offset,
		      size_t room);
/* The stat calls of binaries built before glibc 2.33. */
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st,
	       int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st,
		 int flags);

_Static_assert(sizeof(struct stat) == sizeof(struct stat64) &&
		       sizeof(struct statfs) == sizeof(struct statfs64),
	       "the 64-bit calls take the same structures (64-bit targets)");

/* ---- which paths are ours ---- */

enum shim_path {
	PATH_OTHER,
	PATH_IOMMU,
	PATH_VFIO,
	PATH_FAILNTH,
};

static pid_t self_tid(void)
{
	return syscall(SYS_gettid);
}

/* "/proc/thread-self/fail-nth", "/proc/{self,<pid>}/task/<tid>/fail-nth" */
static bool failnth_path(const char *path, pid_t *tid)
{
	const char *p;
	char *end;
	long n;

	if (!strcmp(path, "/proc/thread-self/fail-nth")) {
		*tid = self_tid();
		return true;
	}
	if (strncmp(path, "/proc/", 6))
		return false;
	p = path + 6;
	if (!strncmp(p, "self/", 5)) {
		p += 5;
	} else {
		n = strtol(p, &end, 10);
		if (end == p || *end != '/' || n != getpid())
			return false;
		p = end + 1;
	}
	if (strncmp(p, "task/", 5))
		return false;
	p += 5;
	n = strtol(p, &end, 10);
	if (end == p || strcmp(end, "/fail-nth"))
		return false;
	*tid = n;
	return true;
}

/*
 * @path with repeated slashes, "." and ".." taken out, as text: "//dev/./
 * iommu" is "/dev/iommu". (Symbolic links are not followed.) False when
 * it does not fit.
 */
static bool normalize(const char *path, char *out, size_t room)
{
	size_t len = 0;
	const char *p = path;

	while (*p) {
		const char *start, *end;
		size_t n;

		while (*p == '/')
			p++;
		start = p;
		while (*p && *p != '/')
			p++;
		end = p;
		n = end - start;
		if (!n || (n == 1 && start[0] == '.'))
			continue;
		if (n == 2 && start[0] == '.' && start[1] == '.') {
			while (len && out[len - 1] != '/')
				len--;
			if (len)
				len--;
			continue;
		}
		if (len + 1 + n + 1 > room)
			return false;
		out[len++] = '/';
		memcpy(out + len, start, n);
		len += n;
	}
	if (!len)
		out[len++] = '/';
	out[len] = 0;
	return true;
}

static enum shim_path classify(const char *path, pid_t *tid)
{
	char name[128];

	/* Absolute names only (any directory fd is then ignored, as by
	 * openat); a relative name is never taken for /dev/iommu. */
	if (!path || path[0] != '/' || !normalize(path, name, sizeof(name)))
		return PATH_OTHER;
	if (!strcmp(name, "/dev/iommu"))
		return PATH_IOMMU;
	if (!strcmp(name, "/dev/vfio/vfio"))
		return PATH_VFIO;
	if (failnth_path(name, tid))
		return PATH_FAILNTH;
	return PATH_OTHER;
}

/* ---- open ---- */

static int open_ours(enum shim_path kind, const char *path, int flags,
		     pid_t tid)
{
	struct shim_file *file;
	int fd, err;

	file = shim_file_new(kind == PATH_FAILNTH ? SHIM_FAILNTH :
						    SHIM_IOMMUFD);
	if (!file) {
		errno = ENOMEM;
		return -1;
	}
	/* A real descriptor of its own, so poll, fstat and close behave. */
	fd = memfd_create(kind == PATH_FAILNTH ? "fail-nth" : "iommufd",
			  flags & O_CLOEXEC ? MFD_CLOEXEC : 0);
	if (fd < 0)
		goto err_free;
	file->tid = tid;
	file->vfio = kind == PATH_VFIO;
	if (fd_map_install(fd, file)) {
		errno = ENOMEM;
		goto err_close;
	}
	shim_file_put(file);
	if (trace_enabled())
		trace_printf("open(\"%s\", %#x) = %d\n", path, flags, fd);
	return fd;

err_close:
	err = errno;
	real.close(fd);
	errno = err;
err_free:
	err = errno;
	shim_file_put(file);
	errno = err;
	return -1;
}

static bool needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/*
 * A descriptor libc just handed out cannot be ours: an entry still under
 * its number was closed behind our back (a raw system call). Let it go.
 */
int shim_fresh_fd(int fd)
{
	struct shim_file *file;
	int err = errno;

	if (fd < 0 || !fd_map_maybe(fd) || !(file = fd_map_remove(fd)))
		return fd;
	if (shim_kind_library(file->kind))
		uiommufd_fd_release(fd);
	shim_file_put(file);
	errno = err;
	return fd;
}

/* An open of one of our paths: true, with *fd the result (or -1). */
static bool open_if_ours(int dirfd, const char *path, int flags, mode_t mode,
			 int *fd)
{
	enum shim_path kind;
	pid_t tid = 0;

	real_init();
	kind = classify(path, &tid);
	if (kind == PATH_OTHER)
		return debugfs_open(dirfd, path, flags, mode, fd);
	*fd = open_ours(kind, path, flags, tid);
	return true;
}

/* The mode argument, which only creating opens pass. */
#define OPEN_MODE(mode, flags)                                              \
	do {                                                                \
		if (needs_mode(flags)) {                                    \
			va_list ap;                                         \
			va_start(ap, flags);                                \
			mode = va_arg(ap, mode_t);                          \
			va_end(ap);                                         \
		}                                                           \
	} while (0)

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	OPEN_MODE(mode, flags);
	if (open_if_ours(AT_FDCWD, path, flags, mode, &fd))
		return fd;
	return shim_fresh_fd(real.open(path, flags, mode));
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	OPEN_MODE(mode, flags);
	if (open_if_ours(AT_FDCWD, path, flags, mode, &fd))
		return fd;
	return shim_fresh_fd(real.open64(path, flags, mode));
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	OPEN_MODE(mode, flags);
	if (open_if_ours(dirfd, path, flags, mode, &fd))
		return fd;
	return shim_fresh_fd(real.openat(dirfd, path, flags, mode));
}

SHIM_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int fd;

	OPEN_MODE(mode, flags);
	if (open_if_ours(dirfd, path, flags, mode, &fd))
		return fd;
	return shim_fresh_fd(real.openat64(dirfd, path, flags, mode));
}

/* The _FORTIFY_SOURCE entry points: no mode argument. */
SHIM_EXPORT int __open_2(const char *path, int flags)
{
	int fd;

	return open_if_ours(AT_FDCWD, path, flags, 0, &fd) ?
		       fd : shim_fresh_fd(real.__open_2(path, flags));
}

SHIM_EXPORT int __open64_2(const char *path, int flags)
{
	int fd;

	return open_if_ours(AT_FDCWD, path, flags, 0, &fd) ?
		       fd : shim_fresh_fd(real.__open64_2(path, flags));
}

SHIM_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	int fd;

	return open_if_ours(dirfd, path, flags, 0, &fd) ?
		       fd : shim_fresh_fd(real.__openat_2(dirfd, path, flags));
}

SHIM_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	int fd;

	return open_if_ours(dirfd, path, flags, 0, &fd) ?
		       fd : shim_fresh_fd(real.__openat64_2(dirfd, path,
							  flags));
}

/* ---- ioctl ---- */

/*
 * After a test command that made a library descriptor (CREATE_ACCESS's,
 * or DMABUF_GET's, which is the command's result @rc): follow it too.
 */
static void follow_new_file(const void *arg, int rc)
{
	const struct iommu_test_cmd *cmd = arg;
	struct shim_file *file;
	int fd;

	if (cmd->op == IOMMU_TEST_OP_CREATE_ACCESS)
		fd = cmd->create_access.out_access_fd;
	else if (cmd->op == IOMMU_TEST_OP_DMABUF_GET)
		fd = rc;
	else
		return;
	file = shim_file_new(SHIM_ACCESS);
	if (!file)
		return;	/* still closed right by the library's fd check */
	fd_map_install(fd, file);
	shim_file_put(file);
}

/*
 * After IOMMU_FAULT_QUEUE_ALLOC or IOMMU_VEVENTQ_ALLOC: follow the event
 * queue's descriptor.
 */
static void follow_eventq(unsigned int cmd, const void *arg)
{
	const struct iommu_fault_alloc *fault = arg;
	const struct iommu_veventq_alloc *veventq = arg;
	bool is_fault = cmd == IOMMU_FAULT_QUEUE_ALLOC;
	struct shim_file *file;

	file = shim_file_new(is_fault ? SHIM_FAULTQ : SHIM_VEVENTQ);
	if (!file)
		return;	/* reads then reach the pipe, not the queue */
	if (!is_fault)
		file->type = veventq->type;
	fd_map_install(is_fault ? fault->out_fault_fd :
				  veventq->out_veventq_fd, file);
	shim_file_put(file);
}

SHIM_EXPORT int ioctl(int fd, unsigned long request, ...)
{
	struct uiommufd_ctx *ctx;
	struct shim_file *file;
	unsigned int cmd;
	sigset_t old;
	va_list ap;
	void *arg;
	int rc, err;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	real_init();
	if ((!fd_map_maybe(fd) || !(file = fd_map_get(fd))) &&
	    (_IOC_TYPE(request) != IOMMUFD_TYPE || !(file = shim_adopt(fd))))
		return real.ioctl(fd, request, arg);
	if (file->kind != SHIM_IOMMUFD) {
		shim_file_put(file);
		/* Access and fail-nth files have no ioctls, as in the kernel. */
		errno = ENOTTY;
		return -1;
	}
	/* The kernel takes the request as 32 bits: callers passing an int. */
	cmd = request;
	shim_block_signals(&old);
	pthread_rwlock_rdlock(&file->share_lock);
	/* The inputs, before the command overwrites its in-out fields. */
	if (trace_enabled())
		trace_ioctl_enter(cmd, arg);
	if (file->shared) {
		rc = uiommufd_remote_ioctl(fd, cmd, arg);
		err = errno;
	} else {
		ctx = shim_file_ctx(file);
		rc = ctx ? uiommufd_ioctl(ctx, cmd, arg) : -1;
		err = errno;
		if (rc >= 0 && cmd == IOMMU_TEST_CMD)
			follow_new_file(arg, rc);
		if (rc >= 0 && (cmd == IOMMU_FAULT_QUEUE_ALLOC ||
				cmd == IOMMU_VEVENTQ_ALLOC))
			follow_eventq(cmd, arg);
	}
	pthread_rwlock_unlock(&file->share_lock);
	if (trace_enabled())
		trace_ioctl(fd, cmd, arg, rc, err);
	shim_restore_signals(&old);
	shim_file_put(file);
	errno = err;
	return rc;
}

/* ---- mmap and munmap ---- */

/*
 * The next mmap and munmap (libc's, or a sanitizer's in front of it),
 * found on first use. A lookup that itself maps memory on this thread
 * gets the system calls meanwhile.
 */
static void *(*_Atomic next_mmap)(void *, size_t, int, int, int, off_t);
static int (*_Atomic next_munmap)(void *, size_t);
static void *(*_Atomic next_mremap)(void *, size_t, size_t, int, ...);
static __thread bool resolving_mm;
/* Whether a region of a context was ever mapped through the shim. */
static atomic_bool mapped_regions;

/*
 * The mmap entry points run before a sanitizer's runtime is up (its own
 * start maps memory through them): nothing there is instrumented.
 */
#define SHIM_MM __attribute__((no_sanitize("address", "thread", "undefined")))

/*
 * Looked up once the shim has resolved libc for another call (so after
 * any sanitizer started); system calls until then.
 */
SHIM_MM static void resolve_mm(void)
{
	if (resolving_mm || (next_mmap && next_munmap && next_mremap) ||
	    !real.ioctl)
		return;
	resolving_mm = true;
	*(void **)&next_munmap = dlsym(RTLD_NEXT, "munmap");
	*(void **)&next_mmap = dlsym(RTLD_NEXT, "mmap");
	*(void **)&next_mremap = dlsym(RTLD_NEXT, "mremap");
	resolving_mm = false;
}

SHIM_MM static void *shim_mmap(void *addr, size_t length, int prot,
				int flags, int fd, off_t offset)
{
	struct uiommufd_ctx *ctx;
	struct shim_file *file;
	sigset_t old;
	void *map;
	int err;

	/* No descriptor is ours before the shim's first call resolved libc. */
	if (fd < 0 || !real.ioctl || !fd_map_maybe(fd) ||
	    !(file = fd_map_get(fd))) {
		resolve_mm();
		if (next_mmap)
			return next_mmap(addr, length, prot, flags, fd, offset);
		return (void *)syscall(SYS_mmap, addr, length, prot, flags, fd,
				       offset);
	}
	if (file->kind != SHIM_IOMMUFD) {
		/* The library's other descriptors map nothing, as the kernel's. */
		if (trace_enabled() && shim_kind_library(file->kind))
			trace_mmap(addr, length, prot, flags, fd, offset,
				   MAP_FAILED, ENODEV,
				   "the descriptor has no mmap");
		shim_file_put(file);
		errno = ENODEV;
		return MAP_FAILED;
	}
	shim_block_signals(&old);
	atomic_store(&mapped_regions, true);
	pthread_rwlock_rdlock(&file->share_lock);
	if (file->shared) {
		/* The regions are the broker's, not yet reachable from here. */
		map = MAP_FAILED;
		errno = ENODEV;
	} else {
		ctx = shim_file_ctx(file);
		map = ctx ? uiommufd_ctx_mmap(ctx, addr, length, prot, flags,
					      offset) :
			    MAP_FAILED;
	}
	err = errno;
	/* Past the checks above, so after init: the trace may run. */
	if (trace_enabled())
		trace_mmap(addr, length, prot, flags, fd, offset, map, err,
			   file->shared ?
				   "not yet in a context shared between processes" :
				   NULL);
	pthread_rwlock_unlock(&file->share_lock);
	shim_restore_signals(&old);
	shim_file_put(file);
	errno = err;
	return map;
}

SHIM_MM SHIM_EXPORT void *mmap(void *addr, size_t length, int prot,
			       int flags, int fd, off_t offset)
{
	return shim_mmap(addr, length, prot, flags, fd, offset);
}

SHIM_MM SHIM_EXPORT void *mmap64(void *addr, size_t length, int prot,
				 int flags, int fd, off_t offset)
{
	return shim_mmap(addr, length, prot, flags, fd, offset);
}

/* Unmapping part of a region's mapping lets go of that part. */
SHIM_MM SHIM_EXPORT int munmap(void *addr, size_t length)
{
	sigset_t old;
	int rc, err;

	if (!atomic_load(&mapped_regions)) {
		resolve_mm();
		if (next_munmap)
			return next_munmap(addr, length);
		return syscall(SYS_munmap, addr, length);
	}
	shim_block_signals(&old);
	rc = uiommufd_munmap(addr, length);
	err = errno;
	/* Set only by an mmap of ours, so after init: the trace may run. */
	if (trace_enabled())
		trace_munmap(addr, length, rc, err);
	shim_restore_signals(&old);
	errno = err;
	return rc;
}

/*
 * Moving or shrinking a region's mapping moves or lets go of what it
 * holds; growing one is EFAULT, as the kernel's VM_DONTEXPAND mapping.
 */
SHIM_MM SHIM_EXPORT void *mremap(void *old_address, size_t old_size,
				 size_t new_size, int flags, ...)
{
	void *new_address = NULL, *rc;
	sigset_t old;
	va_list ap;
	int err;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_address = va_arg(ap, void *);
		va_end(ap);
	}
	if (!atomic_load(&mapped_regions)) {
		resolve_mm();
		if (next_mremap)
			return next_mremap(old_address, old_size, new_size,
					   flags, new_address);
		return (void *)syscall(SYS_mremap, old_address, old_size,
				       new_size, flags, new_address);
	}
	shim_block_signals(&old);
	rc = uiommufd_mremap(old_address, old_size, new_size, flags,
			     new_address);
	err = errno;
	if (trace_enabled())
		trace_mremap(old_address, old_size, new_size, flags,
			     new_address, rc, err);
	shim_restore_signals(&old);
	errno = err;
	return rc;
}

/* ---- close and dup ---- */

/* @fd was closed (or replaced by a dup): let go of what it named. */
static void release_fd(int fd, struct shim_file *file)
{
	sigset_t old;

	if (shim_kind_library(file->kind)) {
		shim_block_signals(&old);
		uiommufd_fd_release(fd);
		shim_restore_signals(&old);
	}
	shim_file_put(file);
}

/*
 * Close @fd, one of ours already out of the table, and let go of @file.
 * An access descriptor is closed by the library, which forgets the
 * number before it is free for another thread's open.
 */
static int close_ours(int fd, struct shim_file *file)
{
	sigset_t old;
	int rc, err;

	if (shim_kind_library(file->kind)) {
		shim_block_signals(&old);
		rc = uiommufd_fd_close(fd);
		err = errno;
		shim_restore_signals(&old);
	} else {
		/* A shared context's channel goes (another number makes one). */
		if (file->kind == SHIM_IOMMUFD && file->shared)
			uiommufd_remote_forget(fd);
		rc = real.close(fd);
		err = errno;
	}
	shim_file_put(file);
	if (trace_enabled())
		trace_printf("close(%d) = %d\n", fd, rc);
	errno = err;
	return rc;
}

/*
 * The library's own descriptors (uiommufd_fd_private_next()) are numbers
 * the program never got: the kernel has no such descriptor to close.
 */
static bool library_private(int fd)
{
	return fd >= 0 && uiommufd_fd_private_next(fd) == fd;
}

int shim_close(int fd)
{
	struct shim_file *file;

	real_init();
	if (!fd_map_maybe(fd) || !(file = fd_map_remove(fd))) {
		if (library_private(fd)) {
			errno = EBADF;
			return -1;
		}
		return real.close(fd);
	}
	return close_ours(fd, file);
}

SHIM_EXPORT int close(int fd)
{
	return shim_close(fd);
}

/* Ours in [first, last] are closed first, one by one, the proper way. */
static void close_ours_in_range(unsigned int first, unsigned int last)
{
	unsigned int limit = fd_map_limit();

	for (unsigned int fd = first; fd < limit && fd <= last; fd++) {
		struct shim_file *file = fd_map_remove(fd);

		if (file)
			close_ours(fd, file);
	}
}

static int real_close_range(unsigned int first, unsigned int last, int flags)
{
	if (real.close_range)
		return real.close_range(first, last, flags);
	return syscall(SYS_close_range, first, last, flags);
}

/*
 * close_range() in the pieces between the library's own descriptors
 * (CLOSE_RANGE_CLOEXEC marks them too: they are close-on-exec already).
 */
static int close_range_around_private(unsigned int first, unsigned int last,
				      int flags)
{
	unsigned int lo = first;
	int rc = 0;

	if (first > last || (flags & CLOSE_RANGE_CLOEXEC))
		return real_close_range(first, last, flags);
	for (;;) {
		int next = lo > INT_MAX ? -1 : uiommufd_fd_private_next(lo);

		if (next < 0 || (unsigned int)next > last)
			return real_close_range(lo, last, flags);
		if ((unsigned int)next > lo)
			rc = real_close_range(lo, next - 1, flags);
		if (rc || (unsigned int)next == last)
			return rc;
		lo = next + 1;
	}
}

SHIM_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int err = errno;

	real_init();
	/* CLOSE_RANGE_CLOEXEC only marks them. */
	if (first <= last && !(flags & CLOSE_RANGE_CLOEXEC)) {
		close_ours_in_range(first, last);
		errno = err;
	}
	return close_range_around_private(first, last, flags);
}

SHIM_EXPORT void closefrom(int lowfd)
{
	int err = errno;
	unsigned int first = lowfd < 0 ? 0 : lowfd;

	real_init();
	close_ours_in_range(first, ~0u);
	errno = err;
	/* glibc's own falls back to /proc; so does ours where it must. */
	if (close_range_around_private(first, ~0u, 0))
		real.closefrom(lowfd);
	errno = err;
}

/* @newfd (returned by a dup of ours) now names what @oldfd names. */
static int follow_dup(int oldfd, int newfd, struct shim_file *file)
{
	struct shim_file *replaced;
	sigset_t old;
	int rc = 0;

	/* What @newfd named before the dup closed it. */
	replaced = fd_map_remove(newfd);
	if (replaced)
		release_fd(newfd, replaced);
	if (shim_kind_library(file->kind)) {
		shim_block_signals(&old);
		rc = uiommufd_fd_dup(oldfd, newfd);
		shim_restore_signals(&old);
	}
	if (!rc)
		rc = fd_map_install(newfd, file);
	if (trace_enabled())
		trace_printf("dup(%d) = %d\n", oldfd, newfd);
	return rc;
}

/* Run a dup-like call; follow it when @oldfd is ours. */
#define DUP_BODY(call_real, oldfd, target)                                  \
	do {                                                                \
		struct shim_file *file, *replaced;                          \
		int newfd, err;                                             \
		real_init();                                                \
		file = fd_map_get(oldfd);                                   \
		newfd = call_real;                                          \
		err = errno;                                                \
		if (newfd >= 0 && newfd != (oldfd)) {                       \
			if (file) {                                         \
				follow_dup(oldfd, newfd, file);             \
			} else if ((target) >= 0 &&                         \
				   (replaced = fd_map_remove(newfd))) {     \
				/* dup2 over one of ours closed it. */      \
				release_fd(newfd, replaced);                \
			}                                                   \
		}                                                           \
		if (file)                                                   \
			shim_file_put(file);                                \
		errno = err;                                                \
		return newfd;                                               \
	} while (0)

SHIM_EXPORT int dup(int fd)
{
	DUP_BODY(real.dup(fd), fd, -1);
}

/*
 * A dup2 or dup3 onto one of the library's own numbers: the program
 * thinks it free, so the library's descriptor moves out of the way.
 */
static void move_private_aside(int fd, int fd2)
{
	if (fd2 != fd && library_private(fd2))
		uiommufd_fd_private_move(fd2);
}

SHIM_EXPORT int dup2(int fd, int fd2)
{
	move_private_aside(fd, fd2);
	DUP_BODY(real.dup2(fd, fd2), fd, fd2);
}

SHIM_EXPORT int dup3(int fd, int fd2, int flags)
{
	move_private_aside(fd, fd2);
	DUP_BODY(real.dup3(fd, fd2, flags), fd, fd2);
}

/*
 * F_GETFL of a vEVENTQ: the kernel's file is O_RDWR; ours is the read
 * end alone, so that poll never says POLLOUT (the kernel's does not).
 */
static int getfl_as_kernel(int fd, int rc)
{
	struct shim_file *file;

	if (rc < 0 || !fd_map_maybe(fd) || !(file = fd_map_get(fd)))
		return rc;
	if (file->kind == SHIM_VEVENTQ)
		rc = (rc & ~O_ACCMODE) | O_RDWR;
	shim_file_put(file);
	return rc;
}

static int do_fcntl(int (*fn)(int, int, ...), int fd, int cmd, va_list ap)
{
	void *arg = va_arg(ap, void *);

	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		DUP_BODY(fn(fd, cmd, arg), fd, -1);
	if (cmd == F_GETFL)
		return getfl_as_kernel(fd, fn(fd, cmd, arg));
	return fn(fd, cmd, arg);
}

SHIM_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	int rc;

	real_init();
	va_start(ap, cmd);
	rc = do_fcntl(real.fcntl, fd, cmd, ap);
	va_end(ap);
	return rc;
}

SHIM_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	int rc;

	real_init();
	va_start(ap, cmd);
	rc = do_fcntl(real.fcntl64 ? real.fcntl64 : real.fcntl, fd, cmd, ap);
	va_end(ap);
	return rc;
}

/* ---- fail-nth files ---- */

static ssize_t failnth_read(struct shim_file *file, void *buf, size_t count,
			    off_t *pos)
{
	char num[16];
	size_t len;

	if (file->tid != self_tid()) {
		errno = EPERM;	/* the counter is the calling thread's */
		return -1;
	}
	len = snprintf(num, sizeof(num), "%u\n", uiommufd_fail_nth_get());
	if (*pos >= (off_t)len)
		return 0;
	len -= *pos;
	if (len > count)
		len = count;
	memcpy(buf, num + *pos, len);
	*pos += len;
	return len;
}

static ssize_t failnth_write(struct shim_file *file, const void *buf,
			     size_t count)
{
	char num[32];
	unsigned long n;
	char *end;

	if (file->tid != self_tid()) {
		errno = EPERM;
		return -1;
	}
	if (!count || count >= sizeof(num)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(num, buf, count);
	num[count] = 0;
	if (num[count - 1] == '\n')
		num[count - 1] = 0;
	/* As kstrtouint(): base 0, no sign, ERANGE past UINT_MAX. */
	errno = 0;
	n = strtoul(num, &end, 0);
	if (end == num || *end || num[0] == '-' || num[0] == '+') {
		errno = EINVAL;
		return -1;
	}
	if (errno == ERANGE || n > UINT_MAX) {
		errno = ERANGE;
		return -1;
	}
	uiommufd_fail_nth_set(n);
	return count;
}

/*
 * read or write of an event queue's descriptor (@file's): the library's
 * records, never the pipe's byte. Signals wait, as the library holds
 * locks.
 */
static ssize_t eventq_rw(int fd, const struct shim_file *file, bool is_read,
			 const void *buf, size_t count)
{
	sigset_t old;
	ssize_t rc;
	int err;

	shim_block_signals(&old);
	rc = is_read ? uiommufd_fd_read(fd, (void *)buf, count) :
		       uiommufd_fd_write(fd, buf, count);
	err = errno;
	if (trace_enabled() && file->kind == SHIM_VEVENTQ && is_read)
		trace_vevent_read(fd, file->type, buf, count, rc, err);
	else if (trace_enabled())
		trace_fault_rw(fd, is_read, buf, count, rc, err);
	shim_restore_signals(&old);
	errno = err;
	return rc;
}

/* A read or write on @fd: ours by kind, or the real call. */
/*
 * A context has no read or write, as the kernel's file (its descriptor
 * is a memfd or, shared, a socket, which would answer otherwise).
 */
static ssize_t context_rw(void)
{
	errno = EINVAL;
	return -1;
}

#define RW_BODY(call_real, failnth, debugfs, eventq)                        \
	do {                                                                \
		struct shim_file *file;                                     \
		ssize_t rc;                                                 \
		real_init();                                                \
		if (!fd_map_maybe(fd) || !(file = fd_map_get(fd)))          \
			return call_real;                                   \
		if (file->kind == SHIM_FAILNTH) {                           \
			failnth;                                            \
		} else if (file->kind == SHIM_DEBUGFS) {                    \
			debugfs;                                            \
		} else if (shim_kind_eventq(file->kind)) {                  \
			eventq;                                             \
		} else if (file->kind == SHIM_IOMMUFD) {                    \
			rc = context_rw();                                  \
		} else {                                                    \
			shim_file_put(file);                                \
			return call_real;                                   \
		}                                                           \
		shim_file_put(file);                                        \
		return rc;                                                  \
	} while (0)

static ssize_t do_read(int fd, void *buf, size_t count)
{
	RW_BODY(real.read(fd, buf, count), {
		pthread_mutex_lock(&file->pos_lock);
		rc = failnth_read(file, buf, count, &file->pos);
		pthread_mutex_unlock(&file->pos_lock);
	}, rc = debugfs_read(file, fd, buf, count, NULL),
	   rc = eventq_rw(fd, file, true, buf, count));
}

static ssize_t do_pread(int fd, void *buf, size_t count, off_t offset,
			ssize_t (*fn)(int, void *, size_t, off_t))
{
	RW_BODY(fn(fd, buf, count, offset),
		rc = failnth_read(file, buf, count, &offset),
		rc = debugfs_read(file, fd, buf, count, &offset),
		/* Not seekable: the pipe says ESPIPE, as the kernel's file. */
		rc = fn(fd, buf, count, offset));
}

static ssize_t do_write(int fd, const void *buf, size_t count,
			ssize_t (*fn)(int, const void *, size_t, off_t),
			off_t offset)
{
	RW_BODY(fn ? fn(fd, buf, count, offset) : real.write(fd, buf, count),
		rc = failnth_write(file, buf, count),
		rc = debugfs_write(file, fd, buf, count),
		rc = fn ? fn(fd, buf, count, offset) :
			  eventq_rw(fd, file, false, buf, count));
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	return do_read(fd, buf, count);
}

SHIM_EXPORT ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
	real_init();
	return do_pread(fd, buf, count, offset, real.pread);
}

SHIM_EXPORT ssize_t pread64(int fd, void *buf, size_t count, off_t offset)
{
	real_init();
	return do_pread(fd, buf, count, offset, real.pread64);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	return do_write(fd, buf, count, NULL, 0);
}

SHIM_EXPORT ssize_t pwrite(int fd, const void *buf, size_t count,
			   off_t offset)
{
	real_init();
	return do_write(fd, buf, count, real.pwrite, offset);
}

SHIM_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count,
			     off_t offset)
{
	real_init();
	return do_write(fd, buf, count, real.pwrite64, offset);
}

/*
 * readv and writev of an event queue: its file has read (and a fault
 * queue's write) but no iterators, so the kernel runs them once per
 * vector, stopping at the first short or failed one (an error only when
 * nothing moved yet).
 */
static ssize_t eventq_rwv(int fd, const struct shim_file *file, bool is_read,
			  const struct iovec *uiov, int iovcnt)
{
	struct iovec iov[64], remote;
	struct iovec local = { iov, 0 };
	ssize_t done = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (int i = 0; i < iovcnt; i += 64) {
		int n = iovcnt - i < 64 ? iovcnt - i : 64;

		/* The vectors themselves may be a bad pointer: EFAULT. */
		local.iov_len = n * sizeof(iov[0]);
		remote.iov_base = (void *)(uiov + i);
		remote.iov_len = local.iov_len;
		if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) !=
		    (ssize_t)local.iov_len) {
			if (done)
				return done;
			errno = EFAULT;
			return -1;
		}
		for (int j = 0; j != n; j++) {
			ssize_t rc = eventq_rw(fd, file, is_read,
					       iov[j].iov_base, iov[j].iov_len);

			if (rc < 0)
				return done ? done : -1;
			done += rc;
			if ((size_t)rc != iov[j].iov_len)
				return done;
		}
	}
	return done;
}

#define RWV_BODY(is_read, call_real)                                        \
	do {                                                                \
		struct shim_file *file;                                     \
		ssize_t rc;                                                 \
		real_init();                                                \
		if (!fd_map_maybe(fd) || !(file = fd_map_get(fd)))          \
			return call_real;                                   \
		if (file->kind == SHIM_IOMMUFD) {                           \
			rc = context_rw();                                  \
		} else if (!shim_kind_eventq(file->kind)) {                 \
			shim_file_put(file);                                \
			return call_real;                                   \
		} else {                                                    \
			rc = eventq_rwv(fd, file, is_read, iov, iovcnt);    \
		}                                                           \
		shim_file_put(file);                                        \
		return rc;                                                  \
	} while (0)

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
	RWV_BODY(true, real.readv(fd, iov, iovcnt));
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
	RWV_BODY(false, real.writev(fd, iov, iovcnt));
}

/*
 * _FORTIFY_SOURCE's reads, for a buffer of known size @room: glibc's
 * would read through its internal call, past the shim. An overflow
 * still aborts in glibc's.
 */
SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t count, size_t room)
{
	real_init();
	if (count > room)
		return real.__read_chk(fd, buf, count, room);
	return do_read(fd, buf, count);
}

SHIM_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t count, off_t offset,
				size_t room)
{
	real_init();
	if (count > room)
		return real.__pread_chk(fd, buf, count, offset, room);
	return do_pread(fd, buf, count, offset, real.pread);
}

SHIM_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t count,
				  off_t offset, size_t room)
{
	real_init();
	if (count > room)
		return real.__pread64_chk(fd, buf, count, offset, room);
	return do_pread(fd, buf, count, offset, real.pread64);
}

/* ---- stat, access, statfs: debugfs.c answers for its tree ---- */

/* A stat-like call: debugfs's answer, or @call_real. */
#define FS_BODY(ours, call_real)                                            \
	do {                                                                \
		int rc;                                                     \
		real_init();                                                \
		if (ours)                                                   \
			return rc;                                          \
		return call_real;                                           \
	} while (0)

/* glibc's x86-64 __xstat takes versions 0 and 1, both struct stat. */
#define STAT_VER_OK(ver) ((ver) == 0 || (ver) == 1)

SHIM_EXPORT int stat(const char *path, struct stat *st)
{
	FS_BODY(debugfs_stat(AT_FDCWD, path, st, 0, &rc),
		real.stat(path, st));
}

SHIM_EXPORT int stat64(const char *path, struct stat64 *st)
{
	FS_BODY(debugfs_stat(AT_FDCWD, path, (struct stat *)st, 0, &rc),
		real.stat64(path, (struct stat *)st));
}

SHIM_EXPORT int lstat(const char *path, struct stat *st)
{
	FS_BODY(debugfs_stat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW, &rc),
		real.lstat(path, st));
}

SHIM_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	FS_BODY(debugfs_stat(AT_FDCWD, path, (struct stat *)st,
			     AT_SYMLINK_NOFOLLOW, &rc),
		real.lstat64(path, (struct stat *)st));
}

SHIM_EXPORT int fstat(int fd, struct stat *st)
{
	FS_BODY(debugfs_fstat(fd, st, &rc), real.fstat(fd, st));
}

SHIM_EXPORT int fstat64(int fd, struct stat64 *st)
{
	FS_BODY(debugfs_fstat(fd, (struct stat *)st, &rc),
		real.fstat64(fd, (struct stat *)st));
}

SHIM_EXPORT int fstatat(int dirfd, const char *path, struct stat *st,
			int flags)
{
	FS_BODY(debugfs_stat(dirfd, path, st, flags, &rc),
		real.fstatat(dirfd, path, st, flags));
}

SHIM_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st,
			  int flags)
{
	FS_BODY(debugfs_stat(dirfd, path, (struct stat *)st, flags, &rc),
		real.fstatat64(dirfd, path, (struct stat *)st, flags));
}

SHIM_EXPORT int statx(int dirfd, const char *path, int flags,
		      unsigned int mask, struct statx *stx)
{
	FS_BODY(debugfs_statx(dirfd, path, flags, mask, stx, &rc),
		real.statx(dirfd, path, flags, mask, stx));
}

SHIM_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	FS_BODY(STAT_VER_OK(ver) && debugfs_stat(AT_FDCWD, path, st, 0, &rc),
		real.__xstat(ver, path, st));
}

SHIM_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	FS_BODY(STAT_VER_OK(ver) &&
			debugfs_stat(AT_FDCWD, path, (struct stat *)st, 0, &rc),
		real.__xstat64(ver, path, (struct stat *)st));
}

SHIM_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	FS_BODY(STAT_VER_OK(ver) &&
			debugfs_stat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW,
				     &rc),
		real.__lxstat(ver, path, st));
}

SHIM_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	FS_BODY(STAT_VER_OK(ver) &&
			debugfs_stat(AT_FDCWD, path, (struct stat *)st,
				     AT_SYMLINK_NOFOLLOW, &rc),
		real.__lxstat64(ver, path, (struct stat *)st));
}

SHIM_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	FS_BODY(STAT_VER_OK(ver) && debugfs_fstat(fd, st, &rc),
		real.__fxstat(ver, fd, st));
}

SHIM_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	FS_BODY(STAT_VER_OK(ver) && debugfs_fstat(fd, (struct stat *)st, &rc),
		real.__fxstat64(ver, fd, (struct stat *)st));
}

SHIM_EXPORT int __fxstatat(int ver, int dirfd, const char *path,
			   struct stat *st, int flags)
{
	FS_BODY(STAT_VER_OK(ver) &&
			debugfs_stat(dirfd, path, st, flags, &rc),
		real.__fxstatat(ver, dirfd, path, st, flags));
}

SHIM_EXPORT int __fxstatat64(int ver, int dirfd, const char *path,
			     struct stat64 *st, int flags)
{
	FS_BODY(STAT_VER_OK(ver) &&
			debugfs_stat(dirfd, path, (struct stat *)st, flags,
				     &rc),
		real.__fxstatat64(ver, dirfd, path, (struct stat *)st, flags));
}

SHIM_EXPORT int access(const char *path, int mode)
{
	FS_BODY(debugfs_access(AT_FDCWD, path, mode, 0, &rc),
		real.access(path, mode));
}

SHIM_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	FS_BODY(debugfs_access(dirfd, path, mode, flags, &rc),
		real.faccessat(dirfd, path, mode, flags));
}

SHIM_EXPORT int euidaccess(const char *path, int mode)
{
	FS_BODY(debugfs_access(AT_FDCWD, path, mode, AT_EACCESS, &rc),
		real.euidaccess(path, mode));
}

SHIM_EXPORT int eaccess(const char *path, int mode)
{
	FS_BODY(debugfs_access(AT_FDCWD, path, mode, AT_EACCESS, &rc),
		real.eaccess(path, mode));
}

SHIM_EXPORT int statfs(const char *path, struct statfs *sfs)
{
	FS_BODY(debugfs_statfs(path, sfs, &rc), real.statfs(path, sfs));
}

SHIM_EXPORT int statfs64(const char *path, struct statfs64 *sfs)
{
	FS_BODY(debugfs_statfs(path, (struct statfs *)sfs, &rc),
		real.statfs64(path, (struct statfs *)sfs));
}

SHIM_EXPORT int fstatfs(int fd, struct statfs *sfs)
{
	FS_BODY(debugfs_fstatfs(fd, sfs, &rc), real.fstatfs(fd, sfs));
}

SHIM_EXPORT int fstatfs64(int fd, struct statfs64 *sfs)
{
	FS_BODY(debugfs_fstatfs(fd, (struct statfs *)sfs, &rc),
		real.fstatfs64(fd, (struct statfs *)sfs));
}

/* ---- directory streams: debugfs_dir.c's, or glibc's ---- */

SHIM_EXPORT DIR *opendir(const char *path)
{
	DIR *dir;

	real_init();
	return debugfs_opendir(path, &dir) ? dir : real.opendir(path);
}

SHIM_EXPORT DIR *fdopendir(int fd)
{
	DIR *dir;

	real_init();
	return debugfs_fdopendir(fd, &dir) ? dir : real.fdopendir(fd);
}

/* @call on one of ours, else the real call on a glibc stream. */
#define DIR_BODY(call_ours, call_real)                                      \
	do {                                                                \
		struct debugfs_dir *d;                                      \
		real_init();                                                \
		d = debugfs_dir_of(dir);                                    \
		return d ? call_ours : call_real;                           \
	} while (0)

SHIM_EXPORT struct dirent *readdir(DIR *dir)
{
	DIR_BODY(debugfs_readdir(d), real.readdir(dir));
}

SHIM_EXPORT struct dirent64 *readdir64(DIR *dir)
{
	DIR_BODY(debugfs_readdir64(d), real.readdir64(dir));
}

SHIM_EXPORT int readdir_r(DIR *dir, struct dirent *entry,
			  struct dirent **result)
{
	DIR_BODY(debugfs_readdir_r(d, entry, result),
		 real.readdir_r(dir, entry, result));
}

SHIM_EXPORT int readdir64_r(DIR *dir, struct dirent64 *entry,
			    struct dirent64 **result)
{
	DIR_BODY(debugfs_readdir_r(d, (struct dirent *)entry,
				   (struct dirent **)result),
		 real.readdir64_r(dir, entry, result));
}

SHIM_EXPORT int closedir(DIR *dir)
{
	DIR_BODY(debugfs_closedir(d), real.closedir(dir));
}

SHIM_EXPORT int dirfd(DIR *dir)
{
	DIR_BODY(debugfs_dirfd(d), real.dirfd(dir));
}

SHIM_EXPORT long telldir(DIR *dir)
{
	DIR_BODY(debugfs_telldir(d), real.telldir(dir));
}

SHIM_EXPORT void seekdir(DIR *dir, long pos)
{
	struct debugfs_dir *d;

	real_init();
	d = debugfs_dir_of(dir);
	if (d)
		debugfs_seekdir(d, pos);
	else
		real.seekdir(dir, pos);
}

SHIM_EXPORT void rewinddir(DIR *dir)
{
	struct debugfs_dir *d;

	real_init();
	d = debugfs_dir_of(dir);
	if (d)
		debugfs_seekdir(d, 0);
	else
		real.rewinddir(dir);
}

/* ---- start-up ---- */

/*
 * Settings uiommufd-run did not check (the shim preloaded by hand) are
 * checked here: a bad one makes every context fail to open, so every
 * /dev/iommu command fails; say so once, where the user looks.
 */
static void check_settings(void)
{
	static const char *const vars[][2] = {
		{ "UIOMMUFD_KERNEL", "kernel" },
		{ "UIOMMUFD_CAPS", "caps" },
		{ "UIOMMUFD_MEMLOCK", "memlock" },
	};

	for (unsigned int i = 0; i != sizeof(vars) / sizeof(vars[0]); i++) {
		struct uiommufd_ctx_attr attr = { .size = sizeof(attr) };
		const char *value = getenv(vars[i][0]);

		if (value && *value &&
		    uiommufd_ctx_attr_parse(&attr, vars[i][1], value))
			dprintf(STDERR_FILENO,
				"uiommufd: %s: %s; every /dev/iommu command will fail with EINVAL\n",
				vars[i][0], uiommufd_last_reason());
	}
}

__attribute__((constructor)) static void shim_init(void)
{
	const char *ready = getenv("UIOMMUFD_RUN_READY_FD");

	real_init();
	check_settings();
	trace_init();
	/* Tell uiommufd-run the shim is in; only the first program does. */
	if (ready) {
		int fd = atoi(ready);

		unsetenv("UIOMMUFD_RUN_READY_FD");
		real.write(fd, "1", 1);
		real.close(fd);
	}
}
