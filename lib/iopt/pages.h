/* SPDX-License-Identifier: MIT */
/*
 * iopt_pages: the PFNs of one user range or file range, as a logical array
 * of npages PFNs indexed from 0.
 *
 * Every PFN lives in one or more tiers:
 *  1. pinned_pfns, the index store, only while an access covers the index
 *     (access_itree);
 *  2. a domain, while an area filled into domains covers it
 *     (domains_itree); the area's storage_domain translates it back;
 *  3. nowhere: then it is not pinned, and the origin (the PFN source) is
 *     asked when it is needed.
 * An index is pinned exactly once, however many tiers hold it: it is pinned
 * when the first tier takes it and unpinned when the last lets go. Outside
 * an operation, the pinned indices are exactly access_itree u domains_itree.
 *
 * Removing a domain, an area or an access never fails for lack of memory.
 */
#ifndef UIOMMUFD_IOPT_PAGES_H
#define UIOMMUFD_IOPT_PAGES_H

#include <pthread.h>
#include <sys/types.h>

#include "base/index_store.h"
#include "base/interval_tree.h"
#include "iopt/io_pagetable.h"
#include "iopt/pfn_source.h"

/* Where the PFNs come from, as the kernel tells its pages apart. */
enum iopt_address_type {
	IOPT_ADDRESS_USER = 0,
	IOPT_ADDRESS_FILE,
	IOPT_ADDRESS_DMABUF,
};

enum iopt_account_mode {
	IOPT_PAGES_ACCOUNT_NONE = 0,
	IOPT_PAGES_ACCOUNT_USER = 1,	/* per user, like io_uring */
	IOPT_PAGES_ACCOUNT_MM = 2,	/* per process, like VFIO */
};

/*
 * A memlock limit in pages: U64_MAX is none; IOPT_MEMLOCK_RLIMIT follows
 * the process's RLIMIT_MEMLOCK, read at each charge.
 */
#define IOPT_MEMLOCK_RLIMIT (U64_MAX - 1)

/* Access flags (the kernel's IOMMUFD_ACCESS_RW_* values). */
#define IOMMUFD_ACCESS_RW_READ 0
#define IOMMUFD_ACCESS_RW_WRITE (1 << 0)
#define IOMMUFD_ACCESS_RW_KTHREAD (1 << 1)
/* Test only: take the pinning path even for a single page. */
#define IOMMUFD_ACCESS_RW_SLOW_PATH (1 << 2)

struct iopt_pages_dmabuf;

struct iopt_pages {
	u64 refcount;
	pthread_mutex_t mutex;
	/* Where the PFNs come from: a source, or a dma-buf (pfn_dmabuf.h). */
	struct pfn_source *source;
	struct iopt_pages_dmabuf *dmabuf;
	u64 npages;
	/*
	 * Where byte 0 of page 0 lives in the origin: the user address, or
	 * the file offset. Automatic IOVA allocation aligns to it.
	 */
	u64 source_addr;
	/* Pages pinned now, and as far as accounting has been charged. */
	u64 npinned;
	u64 last_npinned;
	bool writable;
	enum iopt_account_mode account_mode;
	u64 memlock_limit;	/* pages, or IOPT_MEMLOCK_RLIMIT */
	uid_t source_user;	/* USER mode: read at the first charge */
	bool source_user_known;
	/* The process charged (the kernel's source task), at creation. */
	pid_t source_pid;
	enum iopt_address_type type;
	struct index_store pinned_pfns;
	struct rb_root_cached access_itree;
	struct rb_root_cached domains_itree;
	/* Process-wide list of live pages, for per-page pin counts. */
	struct iopt_pages *reg_prev, *reg_next;
#ifdef UIOMMUFD_DEBUG
	/*
	 * The PFN each pinned index is pinned to, kept by the pin and unpin
	 * calls alone, to check the tiers against (sparse: it costs memory
	 * per pinned page, not per mapped one).
	 */
	struct index_store dbg_pfns;
#endif
};

/* One access range; users counts identical [start, last] requests. */
struct iopt_pages_access {
	struct interval_tree_node node;
	unsigned int users;
};

/*
 * ERR_PTR on failure: -EINVAL (zero length, wrap), -ENOMEM, or the PFN
 * source's errors. The first byte is at byte first_offset of page 0
 * (pages->source->first_offset).
 */
struct iopt_pages *iopt_alloc_user_pages(u64 uptr, u64 length, bool writable);
/*
 * A file range as IOMMU_IOAS_MAP_FILE takes it: the kernel pins only shmem
 * (memfd, tmpfs) and hugetlbfs files, and only pages the file covers; it
 * finds out when it first pins, this at once (-EINVAL). Then as
 * pfn_source_file_create().
 */
struct iopt_pages *iopt_alloc_file_pages(int fd, u64 start, u64 length,
					 bool writable);
/*
 * A pages object of @npages over @src (NULL: a dma-buf's, which sets
 * pages->dmabuf under the mutex); ERR_PTR(-ENOMEM), @src untouched.
 */
struct iopt_pages *iopt_pages_alloc(struct pfn_source *src, u64 npages,
				    bool writable);
void iopt_get_pages(struct iopt_pages *pages);
/* Drop a reference; the last one releases everything. Cannot fail. */
void iopt_put_pages(struct iopt_pages *pages);

/* Map the area's PFNs into every domain of its iopt; all or nothing. */
int iopt_area_fill_domains(struct iopt_area *area, struct iopt_pages *pages);
/* Unmap the area from every domain and unpin what nothing else holds. */
void iopt_area_unfill_domains(struct iopt_area *area, struct iopt_pages *pages);
/*
 * Map the area into one more domain (attach); all or nothing. This and
 * iopt_area_unfill_domain() are called with pages->mutex held.
 */
int iopt_area_fill_domain(struct iopt_area *area, struct iommu_domain *domain);
/*
 * Unmap the area from @domain and unpin what no other tier holds. The area
 * must already be out of pages->domains_itree.
 */
void iopt_area_unfill_domain(struct iopt_area *area, struct iopt_pages *pages,
			     struct iommu_domain *domain);
/* Unmap only: the caller knows another tier keeps the pins. */
void iopt_area_unmap_domain(struct iopt_area *area,
			    struct iommu_domain *domain);

/*
 * Record an access to pages [start_index, last_index] of the area's pages,
 * pin them (in the index store) and return their PFNs in @out_pfns (room
 * for last_index - start_index + 1). Undo with iopt_area_remove_access()
 * on the exact same range.
 */
int iopt_area_add_access(struct iopt_area *area, u64 start_index,
			 u64 last_index, u64 *out_pfns, unsigned int flags);
void iopt_area_remove_access(struct iopt_area *area, u64 start_index,
			     u64 last_index);

/*
 * Copy @length bytes between @data and the pages from byte @start_byte of
 * page 0 on; into the pages with IOMMUFD_ACCESS_RW_WRITE.
 */
int iopt_pages_rw_access(struct iopt_pages *pages, u64 start_byte, void *data,
			 u64 length, unsigned int flags);

/*
 * Engine internal: the PFN @domain holds for the area's page @index in
 * *pfn, and how many pages from @index (up to @last_index) continue it
 * contiguously (at least 1).
 */
u64 iopt_area_domain_pfn_run(struct iommu_domain *domain,
			     struct iopt_area *area, u64 index, u64 last_index,
			     u64 *pfn);

/* Engine internal: the area filled into domains that covers @index. */
static inline struct iopt_area *
iopt_pages_find_domain_area(struct iopt_pages *pages, u64 index)
{
	struct interval_tree_node *node;

	node = interval_tree_iter_first(&pages->domains_itree, index, index);
	return node ? container_of(node, struct iopt_area, pages_node) : NULL;
}

/*
 * Engine internal: the PFNs of [start_index, last_index], every one held
 * by a filled area, read back from the domains into @out. 0, or -EINVAL
 * (a WARN) for an index no area covers.
 */
int iopt_pages_domain_pfns(struct iopt_pages *pages, u64 start_index,
			   u64 last_index, u64 *out);

/* Process-wide list of live pages objects, for pin counting. */
void iopt_pages_for_each_live(void (*fn)(struct iopt_pages *pages, void *arg),
			      void *arg);

/* Debug builds: check every invariant of @pages (mutex held). */
void iopt_pages_check(struct iopt_pages *pages);

#endif
