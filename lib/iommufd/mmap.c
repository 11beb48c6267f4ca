// SPDX-License-Identifier: MIT
/*
 * mmap() of a context, as of the kernel's iommufd file: an object (a
 * vIOMMU) publishes a region at an offset, and a shared, non-executable
 * mapping of exactly that offset and length reaches the region's memory.
 * Each mapping holds a users reference on the region's owner (so the
 * owner's destroy is EBUSY while it is mapped) and a reference on the
 * context (as a VMA holds the kernel's file), until it is unmapped.
 *
 * The regions are memfds: mapping one maps its descriptor. Mappings are
 * kept process-wide, since munmap() names no context.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "base/warn.h"
#include "base/private_fd.h"
#include "iommufd/iommufd_private.h"

/* A region: pages [pgoff, pgoff + npages) of the context's offsets. */
struct iommufd_mmap {
	struct iommufd_object *owner;
	u64 pgoff;
	u64 npages;
	atomic_int *fd;		/* the owner's (private_fd.h) */
};

/* One mapping of a region, as a VMA. */
struct mmap_vma {
	struct mmap_vma *next;
	uintptr_t start;
	uintptr_t end;
	struct uiommufd_ctx *ctx;	/* holds a reference */
	struct iommufd_object *owner;	/* holds a users reference */
};

static pthread_mutex_t vmas_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mmap_vma *vmas;
static atomic_uint nr_vmas;

int iommufd_mmap_alloc(struct uiommufd_ctx *ctx, struct iommufd_object *owner,
		       atomic_int *fd, u64 length, u64 *offset)
{
	struct iommufd_mmap *immap, *pos;
	u64 pgoff = 1, idx = 0;
	int rc;

	if (!length || length % PAGE_SIZE)
		return err_reason(-EINVAL, "an mmap region of %#llx bytes",
				  (unsigned long long)length);
	immap = mem_zalloc(sizeof(*immap));
	if (!immap)
		return -ENOMEM;
	immap->owner = owner;
	immap->npages = length / PAGE_SIZE;
	immap->fd = fd;

	pthread_mutex_lock(&ctx->lock);
	/* The lowest gap from the second page on, as the kernel's. */
	index_store_for_each(&ctx->mmaps, idx, pos) {
		if (pos->pgoff >= pgoff + immap->npages)
			break;
		pgoff = pos->pgoff + pos->npages;
	}
	immap->pgoff = pgoff;
	rc = index_store_store(&ctx->mmaps, pgoff, immap);
	pthread_mutex_unlock(&ctx->lock);
	if (rc) {
		mem_free(immap);
		return rc;
	}
	*offset = pgoff * PAGE_SIZE;
	return 0;
}

void iommufd_mmap_destroy(struct uiommufd_ctx *ctx, u64 offset)
{
	struct iommufd_mmap *immap;

	pthread_mutex_lock(&ctx->lock);
	immap = index_store_erase(&ctx->mmaps, offset / PAGE_SIZE);
	pthread_mutex_unlock(&ctx->lock);
	WARN_ON(!immap);
	mem_free(immap);
}

/*
 * The region holding page @pgoff, its owner's users count raised, when
 * the owner is still in the table (not being destroyed). ctx->lock held.
 */
static struct iommufd_mmap *mmap_get_locked(struct uiommufd_ctx *ctx,
					    u64 pgoff)
{
	struct iommufd_mmap *immap, *found = NULL;
	u64 idx = 0;

	index_store_for_each(&ctx->mmaps, idx, immap) {
		if (immap->pgoff > pgoff)
			break;
		if (pgoff < immap->pgoff + immap->npages)
			found = immap;
	}
	if (!found ||
	    index_store_load(&ctx->objects, found->owner->id) != found->owner)
		return NULL;
	iommufd_object_hold_users(found->owner);
	return found;
}

static void *ctx_mmap(struct uiommufd_ctx *ctx, void *addr, size_t length,
		      int prot, int flags, off_t offset)
{
	struct iommufd_mmap *immap;
	struct mmap_vma *vma;
	void *map;
	u64 len;
	int rc;

	/* What mmap(2) checks before the file sees the call. */
	if (!length || offset % PAGE_SIZE)
		return ERR_PTR(err_reason(-EINVAL,
					  "mmap of %#zx bytes at offset %#llx",
					  length, (unsigned long long)offset));
	if (check_align_up_overflow(length, PAGE_SIZE, &len))
		return ERR_PTR(err_reason(-ENOMEM, "mmap length %#zx wraps",
					  length));
	length = len;
	/* A negative offset is a page offset that wraps. */
	if (offset < 0)
		return ERR_PTR(err_reason(-EOVERFLOW,
					  "mmap offset %#llx wraps",
					  (unsigned long long)offset));
	/* A file without mmap, after those. */
	if (!iommufd_release_new(iommufd_release(ctx), IOMMUFD_NEW_MMAP))
		return ERR_PTR(err_reason(-ENODEV,
					  "/dev/iommu had no mmap in Linux %s",
					  iommufd_release(ctx)->name));
	/* Then the kernel's iommufd_fops_mmap. */
	if ((flags & MAP_TYPE) != MAP_SHARED &&
	    (flags & MAP_TYPE) != MAP_SHARED_VALIDATE)
		return ERR_PTR(err_reason(-EINVAL,
					  "the iommufd regions map only MAP_SHARED"));
	if (prot & PROT_EXEC)
		return ERR_PTR(err_reason(-EPERM,
					  "the iommufd regions are not executable"));

	vma = mem_zalloc(sizeof(*vma));
	if (!vma)
		return ERR_PTR(-ENOMEM);
	pthread_mutex_lock(&ctx->lock);
	immap = mmap_get_locked(ctx, offset / PAGE_SIZE);
	pthread_mutex_unlock(&ctx->lock);
	if (!immap) {
		rc = err_reason(-ENXIO, "no region at offset %#llx",
				(unsigned long long)offset);
		goto out_free;
	}
	/* Only a whole region, mapped from its start. */
	if (offset / PAGE_SIZE != immap->pgoff ||
	    length != immap->npages * PAGE_SIZE) {
		rc = err_reason(-ENXIO,
				"the region at offset %#llx is %#llx bytes at %#llx",
				(unsigned long long)offset,
				(unsigned long long)(immap->npages * PAGE_SIZE),
				(unsigned long long)(immap->pgoff * PAGE_SIZE));
		goto out_drop;
	}
	/* The owner's reference keeps immap->fd open. */
	map = mmap(addr, length, prot, flags, private_fd_get(immap->fd), 0);
	private_fd_put();
	if (map == MAP_FAILED) {
		rc = err_reason(-errno, "mmap of the region: %m");
		goto out_drop;
	}
	vma->start = (uintptr_t)map;
	vma->end = vma->start + length;
	vma->ctx = ctx;
	vma->owner = immap->owner;
	iommufd_ctx_get(ctx);
	pthread_mutex_lock(&vmas_lock);
	vma->next = vmas;
	vmas = vma;
	atomic_fetch_add(&nr_vmas, 1);
	pthread_mutex_unlock(&vmas_lock);
	return map;

out_drop:
	iommufd_object_drop_users(immap->owner);
out_free:
	mem_free(vma);
	return ERR_PTR(rc);
}

UIOMMUFD_EXPORT void *uiommufd_ctx_mmap(struct uiommufd_ctx *ctx, void *addr,
					size_t length, int prot, int flags,
					off_t offset)
{
	void *map;

	err_reason_clear();
	if (!ctx) {
		errno = EBADF;
		err_reason(-EBADF, "no context");
		return MAP_FAILED;
	}
	api_enter();
	map = ctx_mmap(ctx, addr, length, prot, flags, offset);
	api_exit();
	if (IS_ERR(map)) {
		errno = -PTR_ERR(map);
		return MAP_FAILED;
	}
	return map;
}

/*
 * Forget [start, end) of the mappings: whole ones go on *gone, a cut one
 * keeps its ends (the middle of one needs *spare). vmas_lock held.
 */
static void vmas_cut(uintptr_t start, uintptr_t end, struct mmap_vma **spare,
		     struct mmap_vma **gone)
{
	struct mmap_vma **pos = &vmas, *vma;

	while ((vma = *pos)) {
		if (vma->end <= start || vma->start >= end) {
			pos = &vma->next;
		} else if (start <= vma->start && end >= vma->end) {
			*pos = vma->next;
			vma->next = *gone;
			*gone = vma;
			atomic_fetch_sub(&nr_vmas, 1);
		} else if (start > vma->start && end < vma->end) {
			/* Split in two, each a mapping of its own. */
			struct mmap_vma *rhs = *spare;

			*spare = NULL;
			*rhs = *vma;
			rhs->start = end;
			vma->end = start;
			vma->next = rhs;
			iommufd_ctx_get(rhs->ctx);
			iommufd_object_hold_users(rhs->owner);
			atomic_fetch_add(&nr_vmas, 1);
			pos = &rhs->next;
		} else {
			if (start <= vma->start)
				vma->start = end;
			else
				vma->end = start;
			pos = &vma->next;
		}
	}
}

/* Let go of mappings taken off the list. */
static void vmas_free(struct mmap_vma *gone)
{
	while (gone) {
		struct mmap_vma *vma = gone;

		gone = vma->next;
		iommufd_object_drop_users(vma->owner);
		iommufd_ctx_put(vma->ctx);
		mem_free(vma);
	}
}

UIOMMUFD_EXPORT int uiommufd_munmap(void *addr, size_t length)
{
	uintptr_t start = (uintptr_t)addr, end;
	struct mmap_vma *spare, *gone = NULL;
	int rc;

	/* The common case (no region mapped) is munmap(2) alone. */
	if (!atomic_load(&nr_vmas))
		return syscall(SYS_munmap, addr, length);
	err_reason_clear();
	api_enter();
	/* A cut in the middle of a mapping cannot fail once done. */
	spare = mem_zalloc(sizeof(*spare));
	if (!spare) {
		api_exit();
		errno = ENOMEM;
		return -1;
	}
	pthread_mutex_lock(&vmas_lock);
	/* munmap(2) itself, not an interposed one (which calls us). */
	rc = syscall(SYS_munmap, addr, length);
	if (!rc) {
		/* munmap(2) succeeded: length is not 0 and does not wrap. */
		end = start + align_down(length + PAGE_SIZE - 1, PAGE_SIZE);
		vmas_cut(start, end, &spare, &gone);
	}
	pthread_mutex_unlock(&vmas_lock);
	rc = rc ? -errno : 0;
	mem_free(spare);
	vmas_free(gone);
	api_exit();
	if (rc) {
		errno = -rc;
		return -1;
	}
	return 0;
}

/* The mapping holding @addr, if any; vmas_lock held. */
static struct mmap_vma *vma_find(uintptr_t addr)
{
	struct mmap_vma *vma;

	for (vma = vmas; vma; vma = vma->next)
		if (addr >= vma->start && addr < vma->end)
			return vma;
	return NULL;
}

/* Whether any mapping overlaps [start, end); vmas_lock held. */
static bool vmas_overlap(uintptr_t start, uintptr_t end)
{
	struct mmap_vma *vma;

	for (vma = vmas; vma; vma = vma->next)
		if (vma->start < end && vma->end > start)
			return true;
	return false;
}

/*
 * mremap() where a region may be involved; vmas_lock held. A region's
 * mapping is the kernel's VM_PFNMAP | VM_DONTEXPAND VMA: it may move or
 * shrink, never grow, and only from within one mapping.
 */
static void *mremap_locked(uintptr_t start, size_t old_size, size_t new_size,
			   int flags, void *new_address, struct mmap_vma **spare,
			   struct mmap_vma **moved, struct mmap_vma **gone)
{
	struct mmap_vma *vma = vma_find(start);
	uintptr_t old_end, map;
	void *rc;

	if (!vma && !vmas_overlap(start, start + (old_size ? old_size : 1)))
		vma = NULL;
	else if (!vma || old_size > vma->end - start || new_size > old_size)
		return ERR_PTR(err_reason(-EFAULT,
					  "a region's mapping moves or shrinks from within one mapping, and never grows"));
	else if (flags & MREMAP_DONTUNMAP)
		return ERR_PTR(err_reason(-EINVAL,
					  "MREMAP_DONTUNMAP of a region's mapping"));
	rc = (void *)syscall(SYS_mremap, start, old_size, new_size, flags,
			     new_address);
	if (rc == MAP_FAILED)
		return ERR_PTR(-errno);
	map = (uintptr_t)rc;
	/* MREMAP_FIXED unmapped whatever was at the target. */
	if (map != start || !vma)
		vmas_cut(map, map + new_size, &spare[0], gone);
	if (!vma)
		return rc;
	old_end = start + align_down(old_size + PAGE_SIZE - 1, PAGE_SIZE);
	if (map == start) {
		/* Shrunk in place: the tail is gone. */
		vmas_cut(start + align_down(new_size + PAGE_SIZE - 1, PAGE_SIZE),
			 old_end, &spare[1], gone);
		return rc;
	}
	/* Moved: the part that moved is a mapping of its own there. */
	**moved = *vma;
	(*moved)->start = map;
	(*moved)->end = map + align_down(new_size + PAGE_SIZE - 1, PAGE_SIZE);
	iommufd_ctx_get((*moved)->ctx);
	iommufd_object_hold_users((*moved)->owner);
	vmas_cut(start, old_end, &spare[1], gone);
	(*moved)->next = vmas;
	vmas = *moved;
	*moved = NULL;
	atomic_fetch_add(&nr_vmas, 1);
	return rc;
}

UIOMMUFD_EXPORT void *uiommufd_mremap(void *old_address, size_t old_size,
				      size_t new_size, int flags,
				      void *new_address)
{
	struct mmap_vma *spare[2], *moved, *gone = NULL;
	void *rc;

	/* The common case (no region mapped) is mremap(2) alone. */
	if (!atomic_load(&nr_vmas))
		return (void *)syscall(SYS_mremap, old_address, old_size,
				       new_size, flags, new_address);
	err_reason_clear();
	api_enter();
	/* Cuts and a move cannot fail once the mappings changed. */
	spare[0] = mem_zalloc(sizeof(*spare[0]));
	spare[1] = mem_zalloc(sizeof(*spare[1]));
	moved = mem_zalloc(sizeof(*moved));
	if (!spare[0] || !spare[1] || !moved) {
		rc = ERR_PTR(err_reason(-ENOMEM, "no memory to follow mremap"));
		goto out_free;
	}
	pthread_mutex_lock(&vmas_lock);
	rc = mremap_locked((uintptr_t)old_address, old_size, new_size, flags,
			   new_address, spare, &moved, &gone);
	pthread_mutex_unlock(&vmas_lock);
	vmas_free(gone);
out_free:
	mem_free(spare[0]);
	mem_free(spare[1]);
	mem_free(moved);
	api_exit();
	if (IS_ERR(rc)) {
		errno = -PTR_ERR(rc);
		return MAP_FAILED;
	}
	return rc;
}

void iommufd_mmap_forget_all(void)
{
	struct mmap_vma *vma;

	pthread_mutex_lock(&vmas_lock);
	vma = vmas;
	vmas = NULL;
	atomic_store(&nr_vmas, 0);
	pthread_mutex_unlock(&vmas_lock);
	/* The contexts go whole (iommufd_ctx_forget_others()): no put. */
	while (vma) {
		struct mmap_vma *next = vma->next;

		iommufd_object_drop_users(vma->owner);
		mem_free(vma);
		vma = next;
	}
}
