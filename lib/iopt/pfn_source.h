/* SPDX-License-Identifier: MIT */
/*
 * PFN sources: where the pages of an iopt_pages object come from.
 *
 * A source spans npages CPU pages. Pinning a range makes its pages present
 * for the access asked for and returns their PFNs; unpinning gives them
 * back; CPU access copies bytes in and out of pinned pages.
 *
 * A PFN is the identity of a page, the same however the page is reached:
 *  - private or anonymous process memory: its address >> PAGE_SHIFT;
 *  - shared file memory (memfd, shmem, a MAP_SHARED file, whether reached
 *    through a user mapping or a file source):
 *	PFN_FILE_BIT | file id << PFN_FILE_PGOFF_BITS | page offset in file,
 *    where the file id names the (device, inode) pair process wide.
 * A "physical address" for a domain is PFN_PHYS(pfn) + an offset.
 *
 * A file id lives while a PFN naming it can be held: each pinned page holds
 * a reference on it, and so does each file source. A file with no id has no
 * page pinned anywhere; identify() names its pages with PFN_FILE_ID_NONE,
 * which no pinned page ever has. Page offsets stop at 2^32 pages (16 TiB).
 */
#ifndef UIOMMUFD_IOPT_PFN_SOURCE_H
#define UIOMMUFD_IOPT_PFN_SOURCE_H

#include <sys/types.h>

#include "base/page.h"

#define PFN_FILE_BIT (1ULL << 51)
#define PFN_FILE_PGOFF_BITS 32
#define PFN_FILE_ID_BITS 19
#define PFN_FILE_ID_MAX ((1u << PFN_FILE_ID_BITS) - 1)
/* The file id of a file that has none yet (see identify()). */
#define PFN_FILE_ID_NONE 0u

static inline bool pfn_is_file(u64 pfn)
{
	return pfn & PFN_FILE_BIT;
}

static inline u64 pfn_make_file(u32 file_id, u64 pgoff)
{
	return PFN_FILE_BIT | ((u64)file_id << PFN_FILE_PGOFF_BITS) | pgoff;
}

static inline u32 pfn_file_id(u64 pfn)
{
	return (pfn & ~PFN_FILE_BIT) >> PFN_FILE_PGOFF_BITS;
}

static inline u64 pfn_file_pgoff(u64 pfn)
{
	return pfn & ((1ULL << PFN_FILE_PGOFF_BITS) - 1);
}

struct pfn_source;

struct pfn_source_ops {
	/*
	 * Pin pages [index, index + npages) for reading, or for writing when
	 * @write, and store their PFNs in pfns[0..npages-1]. All or nothing:
	 * 0, or a negative errno with nothing pinned (-EFAULT for memory that
	 * is not there or not accessible as asked, or past the 16 TiB a file
	 * PFN can name; -ENOMEM; -ENOSPC when every file id is in use).
	 */
	int (*pin)(struct pfn_source *src, u64 index, u64 npages, bool write,
		   u64 *pfns);
	/*
	 * Release pins on the contiguous PFN run [pfn, pfn + npages) that an
	 * earlier pin() of this source returned. Cannot fail, never allocates.
	 */
	void (*unpin)(struct pfn_source *src, u64 pfn, u64 npages);
	/*
	 * The PFNs pages [index, index + npages) have now, without pinning or
	 * populating anything. 0 or a negative errno (-EFAULT when unmapped).
	 * Pages of a file that has no file id get file id PFN_FILE_ID_NONE:
	 * they match no pinned page (but may equal each other across files,
	 * so compare them with pinned PFNs only). Never allocates.
	 */
	int (*identify)(struct pfn_source *src, u64 index, u64 npages,
			u64 *pfns);
	/*
	 * Copy @len bytes between @data and page @index at byte @offset
	 * (offset + len <= PAGE_SIZE), into the page when @write. The page is
	 * pinned by the caller, so this cannot fail.
	 */
	void (*rw)(struct pfn_source *src, u64 index, size_t offset, void *data,
		   size_t len, bool write);
	/*
	 * Where page @index can be reached by this process's CPU, or NULL
	 * when it cannot (memory of another process).
	 */
	void *(*page_ptr)(struct pfn_source *src, u64 index);
	void (*destroy)(struct pfn_source *src);
};

struct pfn_source {
	const struct pfn_source_ops *ops;
	/* Pages spanned, from the page holding the first byte. */
	u64 npages;
	/* Offset of the first byte within the first page. */
	u64 first_offset;
	/* The process whose memory this is (the kernel's source mm). */
	pid_t pid;
	/* File sources: pages may be pinned for write only when set. */
	bool writable;
};

/*
 * Process memory [uptr, uptr + length) of the calling process. Nothing is
 * touched until pin(). ERR_PTR(-EINVAL) for a zero length,
 * ERR_PTR(-EOVERFLOW) for a range that wraps past the top of the address
 * space (as the kernel), ERR_PTR(-ENOMEM).
 *
 * The caller keeps the memory mapped while any of it is pinned, as users of
 * DPDK or SPDK style drivers do; the library cannot stop a munmap().
 */
struct pfn_source *pfn_source_user_create(u64 uptr, u64 length);

/*
 * Bytes [start, start + length) of the file behind @fd (memfd or regular
 * file). The source keeps its own reference to the file, so its pages stay
 * reachable after the caller closes @fd or unmaps the file. ERR_PTR:
 * -EBADF for a bad fd; -EINVAL for a zero length, a range that wraps or one
 * past the end of the file or past 16 TiB, a file that is not a regular
 * file or cannot be mapped; -EPERM when the file is not open for reading,
 * or @writable and it is not open for writing (or is sealed); -ENOMEM;
 * -ENOSPC when every file id is in use; -EFAULT when /proc/self/maps, which
 * names the file the way user mappings of it are named, cannot be read.
 */
struct pfn_source *pfn_source_file_create(int fd, u64 start, u64 length,
					  bool writable);

/*
 * Whether the kernel's IOMMU_IOAS_MAP_FILE could pin bytes [start, start +
 * length) of @fd: a shmem (memfd, tmpfs) or hugetlbfs regular file that
 * holds every page the range touches, whole. The kernel finds out at its
 * first pin; uiommufd asks before it maps. 0, -EBADF (bad or O_PATH fd) or
 * -EINVAL, with a reason.
 */
int pfn_source_file_pinnable(int fd, u64 start, u64 length);

static inline void pfn_source_destroy(struct pfn_source *src)
{
	src->ops->destroy(src);
}

#endif
