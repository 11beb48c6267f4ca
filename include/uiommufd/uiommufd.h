/* SPDX-License-Identifier: MIT */
/*
 * uiommufd public API.
 *
 * Everything declared here is exported from libuiommufd; nothing else is.
 */
#ifndef UIOMMUFD_UIOMMUFD_H
#define UIOMMUFD_UIOMMUFD_H

#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- contexts: what one open /dev/iommu is ---- */

struct uiommufd_ctx;

/* uiommufd_ctx_open() flags */
#define UIOMMUFD_CTX_VFIO (1u << 0)	/* opened as /dev/vfio/vfio */

/*
 * A new context, empty; NULL with errno set (ENOMEM, EINVAL for unknown
 * flags or a bad environment value). Thread safe: commands may run on it
 * from several threads. The same as uiommufd_ctx_open_attr() with only
 * @flags given.
 */
struct uiommufd_ctx *uiommufd_ctx_open(unsigned int flags);

/* ---- what the context answers as: kernel release, capabilities, limits ---- */

/* A kernel release, as the kernel's own KERNEL_VERSION(major, minor, 0). */
#define UIOMMUFD_KERNEL_VERSION(major, minor) (((major) << 16) | ((minor) << 8))
/* The releases uiommufd answers as; the newest is the default. */
#define UIOMMUFD_KERNEL_6_2 UIOMMUFD_KERNEL_VERSION(6, 2)
#define UIOMMUFD_KERNEL_7_2 UIOMMUFD_KERNEL_VERSION(7, 2)
#define UIOMMUFD_KERNEL_NEWEST UIOMMUFD_KERNEL_7_2

/* uiommufd_ctx_attr.set: which fields the caller gives. */
#define UIOMMUFD_ATTR_KERNEL (1u << 0)
#define UIOMMUFD_ATTR_CAPS (1u << 1)
#define UIOMMUFD_ATTR_MEMLOCK (1u << 2)

/* uiommufd_ctx_attr.memlock: no limit. */
#define UIOMMUFD_MEMLOCK_UNLIMITED UINT64_MAX

/*
 * How a context answers. A field not named in @set comes from the
 * environment (UIOMMUFD_KERNEL, UIOMMUFD_CAPS, UIOMMUFD_MEMLOCK, in the
 * syntax of uiommufd_ctx_attr_parse()), and failing that from the
 * defaults: the newest release; the capabilities the opening thread holds
 * in effect (read once, as the context opens: the kernel asks its caller
 * at each command, which here would cost a system call per map); the
 * process's own RLIMIT_MEMLOCK, read at each charge.
 */
struct uiommufd_ctx_attr {
	uint32_t size;		/* sizeof(struct uiommufd_ctx_attr) */
	uint32_t flags;		/* UIOMMUFD_CTX_VFIO */
	uint32_t set;		/* UIOMMUFD_ATTR_* */
	uint32_t kernel;	/* UIOMMUFD_KERNEL_VERSION(6, 2), ... */
	uint64_t caps;		/* held: bit N is capability N (CAP_IPC_LOCK...) */
	uint64_t memlock;	/* bytes pinned pages may lock, per user or
				   process as the accounting mode says */
};

/*
 * A new context answering as @attr says; NULL with errno set: EINVAL
 * (unknown flags or release, bad environment value; the reason says
 * which), E2BIG (@attr->size larger than this library knows with non-zero
 * bytes past it), ENOMEM.
 */
struct uiommufd_ctx *uiommufd_ctx_open_attr(const struct uiommufd_ctx_attr *attr);

/*
 * Set one field of @attr from text, as uiommufd-run's options and the
 * environment give it: @key "kernel" (a release, "6.2" or "7.2", with an
 * optional "v" and patch level), "caps" ("all", "none", or a comma-
 * separated list of capabilities(7) names without "CAP_", in any case:
 * "ipc_lock,sys_resource") or "memlock" (bytes with an optional K, M, G or
 * T suffix, powers of 1024, or "unlimited"). Marks the field in @attr->set.
 * 0, or -1 with errno EINVAL and uiommufd_last_reason() saying why.
 */
int uiommufd_ctx_attr_parse(struct uiommufd_ctx_attr *attr, const char *key,
			    const char *value);

/*
 * What @ctx answers as, every field filled and named in @attr->set (caps
 * and memlock only when given, not when they follow the process), as far
 * as @attr->size goes (the rest of a larger struct zeroed); @attr->size
 * becomes the size filled. 0, or -1 with errno EINVAL when @attr->size
 * does not reach @caps.
 */
int uiommufd_ctx_get_attr(struct uiommufd_ctx *ctx,
			  struct uiommufd_ctx_attr *attr);

/*
 * Let go of the context: everything in it is destroyed, dependents first,
 * once no access (uiommufd_access_create(), or a test-module access
 * descriptor) still holds it, as an open access file holds /dev/iommu
 * open. Cannot fail. No command may be running on it.
 */
void uiommufd_ctx_close(struct uiommufd_ctx *ctx);

/*
 * Issue one command as ioctl(2) would on /dev/iommu: @request is the
 * kernel's request number (IOMMU_IOAS_MAP, ...), @arg its struct. Returns
 * what ioctl returns: >= 0, or -1 with errno set; then
 * uiommufd_last_reason() says why. A bad pointer anywhere in the
 * command gives EFAULT, never a crash.
 */
int uiommufd_ioctl(struct uiommufd_ctx *ctx, unsigned long request,
		   void *arg);

/*
 * mmap(2) of the context as of the kernel's /dev/iommu file: @offset and
 * @length name a region a command returned (a selftest vIOMMU's
 * out_mmap_offset and out_mmap_length), mapped whole with MAP_SHARED and
 * without PROT_EXEC. The mapping keeps the region's owner (its destroy is
 * EBUSY) and the context alive until uiommufd_munmap(). Returns the
 * address, or MAP_FAILED with errno (ENXIO: no such region, or not the
 * whole of one; EINVAL: not MAP_SHARED, or a bad offset or length;
 * EPERM: PROT_EXEC) and uiommufd_last_reason().
 */
void *uiommufd_ctx_mmap(struct uiommufd_ctx *ctx, void *addr, size_t length,
			int prot, int flags, off_t offset);

/*
 * munmap(2) that also lets go of whatever uiommufd_ctx_mmap() mappings
 * the range covers (any part of one drops that part, as the kernel's
 * VMAs). For any other memory it is munmap(2). 0, or -1 with errno.
 */
int uiommufd_munmap(void *addr, size_t length);
/*
 * mremap(2) that follows uiommufd_ctx_mmap() mappings: as the kernel's
 * region mappings, one may move (MREMAP_MAYMOVE, MREMAP_FIXED) or shrink
 * from within a single mapping, never grow (EFAULT), and not with
 * MREMAP_DONTUNMAP (EINVAL); what moved keeps the owner and the context
 * alive from its new place. For any other memory it is mremap(2). The
 * new address, or MAP_FAILED with errno.
 */
void *uiommufd_mremap(void *old_address, size_t old_size, size_t new_size,
		      int flags, void *new_address);

/*
 * Descriptors the library hands out (the test module's access
 * descriptors) are real descriptors whose closing releases what they
 * hold. Close them with uiommufd_fd_close(): it releases the object, then
 * closes the descriptor; for any other descriptor it is close(2). A
 * descriptor closed with close(2) instead is noticed, and its object
 * released, the next time a command names it, or when its context goes.
 */
int uiommufd_fd_close(int fd);
/*
 * read(2) and write(2) of a library descriptor with the kernel file's
 * semantics (a fault queue's struct iommu_hwpt_pgfault records and
 * struct iommu_hwpt_page_response answers): bytes done, or -1 with errno
 * (EINVAL for a descriptor that cannot be read or written, EBADF for
 * one that is not the library's) and uiommufd_last_reason(). poll,
 * select and epoll work on the descriptor itself.
 */
ssize_t uiommufd_fd_read(int fd, void *buf, size_t count);
ssize_t uiommufd_fd_write(int fd, const void *buf, size_t count);
/* Whether @fd is a descriptor the library handed out and still holds. */
int uiommufd_fd_owned(int fd);
/*
 * For a layer that follows descriptors (the preload shim): @newfd is now
 * a copy of library descriptor @oldfd (after dup2/dup3/F_DUPFD), so the
 * object lives until both are closed; what @newfd named before is
 * released. 0 or a negative errno.
 */
int uiommufd_fd_dup(int oldfd, int newfd);
/*
 * For a layer that follows descriptors: the library keeps descriptors of
 * its own (an event queue's readiness pipe, a vIOMMU's pages), where the
 * kernel keeps no descriptor a program could close.
 * uiommufd_fd_private_next() gives the lowest of them at or above @fd
 * (-1: none), so that a close(2), close_range(2) or closefrom(3) can leave
 * them out (the program never had those numbers);
 * uiommufd_fd_private_move() moves @fd, if it is one, to another number
 * before a dup2(2) or dup3(2) takes it: 0, or a negative errno. A program
 * using the library directly must not close descriptors it did not open.
 */
int uiommufd_fd_private_next(int fd);
int uiommufd_fd_private_move(int fd);

/*
 * Contexts shared between processes, for a layer that hands out context
 * descriptors (the preload shim). uiommufd_ctx_share() promotes @ctx,
 * which only the caller's reference may hold: a broker process, forked
 * from the caller, serves it from then on on @home, one end of a
 * SOCK_SEQPACKET socket pair whose other end is the descriptor every
 * holder uses; the broker destroys it when the last copy of that
 * descriptor anywhere is closed. @home is closed in the caller, whatever
 * the result; on success the caller drops its reference. 0, or a
 * negative errno (EOPNOTSUPP: the context holds descriptors or mappings,
 * which cannot be shared yet). uiommufd_remote_ioctl() runs a command on
 * the shared context of descriptor @fd, as ioctl(2) on it; the command's
 * memory is the calling process's. uiommufd_remote_forget() lets go of
 * the calling process's channel for @fd before its last copy here is
 * closed. uiommufd_remote_is_context() tells whether @fd, a descriptor
 * the process was given (inherited across exec, received over a socket),
 * is a shared context's: 1 or 0.
 */
int uiommufd_ctx_share(struct uiommufd_ctx *ctx, int home);
int uiommufd_remote_ioctl(int fd, unsigned long request, void *arg);
void uiommufd_remote_forget(int fd);
int uiommufd_remote_is_context(int fd);
/*
 * @fd was already closed (or replaced): release what the library recorded
 * for it, without closing anything. Returns whether there was anything.
 */
int uiommufd_fd_release(int fd);

/* ---- accesses: CPU-side users of an IOAS, such as emulated devices ---- */

struct uiommufd_access;

/* uiommufd_access_ops.flags */
#define UIOMMUFD_ACCESS_NEEDS_PIN_PAGES (1u << 0)

struct uiommufd_access_ops {
	unsigned int flags;
	/*
	 * [iova, iova + length) is being unmapped: unpin every pin of this
	 * access that intersects it before returning. Required when the
	 * access pins pages. Runs on the unmapping thread with no library
	 * lock held, so it may call uiommufd_access_unpin_pages().
	 */
	void (*unmap)(void *data, uint64_t iova, uint64_t length);
};

/* Access flags for pin and rw. */
#define UIOMMUFD_ACCESS_RW_WRITE (1u << 0)

/*
 * An access on IOAS @ioas_id of @ctx. Its object ID goes in *out_id (may
 * be NULL); the IOAS cannot be destroyed while the access exists. NULL
 * with errno set: ENOENT (no such IOAS), EINVAL (pinning without an unmap
 * callback), ENOMEM, EADDRINUSE (existing maps break the alignment pinning
 * needs).
 */
struct uiommufd_access *
uiommufd_access_create(struct uiommufd_ctx *ctx, uint32_t ioas_id,
		       const struct uiommufd_access_ops *ops, void *data,
		       uint32_t *out_id);
/* Unpins what the access still holds and frees it. Cannot fail. */
void uiommufd_access_destroy(struct uiommufd_access *access);

/*
 * Pin the pages behind [iova, iova + length): the range must start on a
 * page of the mapped memory and end on one (or at the end of a mapping).
 * One entry per page goes into each array that is not NULL: out_pfns[]
 * gets the page's identity (its PFN), out_pages[] where this process can
 * read and write the page (NULL for memory of another process). The pages
 * stay put until unpinned. 0 or a negative errno: -EINVAL, -ENOENT (not
 * all mapped), -EPERM (a write pin of read-only IOVA), -EFAULT, -ENOMEM.
 */
int uiommufd_access_pin_pages(struct uiommufd_access *access, uint64_t iova,
			      uint64_t length, uint64_t *out_pfns,
			      void **out_pages, unsigned int flags);
/* Undo one earlier pin of exactly [iova, iova + length): 0, or -EINVAL
 * when there is no such pin. */
int uiommufd_access_unpin_pages(struct uiommufd_access *access,
				uint64_t iova, uint64_t length);
/*
 * Copy @length bytes between @data and IOVA, into the IOVA with
 * UIOMMUFD_ACCESS_RW_WRITE. 0 or a negative errno (-ENOENT, -EPERM,
 * -EINVAL, -EFAULT).
 */
int uiommufd_access_rw(struct uiommufd_access *access, uint64_t iova,
		       void *data, uint64_t length, unsigned int flags);
/*
 * Move the access to IOAS @ioas_id: its unmap callback is first told the
 * whole IOVA space goes (so it unpins everything), then pins and copies
 * go to the new IOAS. 0 (also when already there) or a negative errno:
 * -ENOENT (no such IOAS, or a move already under way), -ENOMEM,
 * -EADDRINUSE (the new IOAS's maps break the alignment pinning needs).
 * On failure the access stays where it was. Pins and copies made while
 * a move is under way fail with -ENOENT.
 */
int uiommufd_access_replace(struct uiommufd_access *access, uint32_t ioas_id);

/* One row of the release table: what came in which kernel release. */
struct uiommufd_release_row {
	const char *what;	/* "IOMMU_IOAS_MAP", "...: MOCK_FLAGS_ACCESS_SYZ" */
	uint32_t since;		/* UIOMMUFD_KERNEL_VERSION() */
	const char *note;	/* NULL, or what is known and what is not */
};

/*
 * Row @i of the release table (from 0, oldest first): 0, or -1 with errno
 * ENOENT past the last row. The strings live as long as the library.
 */
int uiommufd_release_row(unsigned int i, struct uiommufd_release_row *row);

/* ---- diagnostics and fault injection ---- */

/*
 * Why the last failing call on this thread failed, in a short sentence, or
 * NULL when no reason was recorded. The string stays valid until the next
 * call into the library on this thread.
 */
const char *uiommufd_last_reason(void);

/*
 * Fault injection, the kernel's fail-nth protocol for the calling thread:
 * uiommufd_fail_nth_set(N) makes the Nth failure point reached from now on
 * fail (0 disarms); uiommufd_fail_nth_get() is the count still to go, so 0
 * once the fault has fired.
 */
void uiommufd_fail_nth_set(unsigned int nth);
unsigned int uiommufd_fail_nth_get(void);

#ifdef __cplusplus
}
#endif

#endif
