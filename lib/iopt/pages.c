// SPDX-License-Identifier: MIT
/*
 * iopt_pages: tiered PFN storage (see pages.h for the tiers).
 *
 * Terms: 'last' is an inclusive end, 'end' an exclusive one. Page indices
 * stay far below U64_MAX (a pages object spans real memory), so last_index
 * + 1 cannot wrap; IOVAs can reach U64_MAX, so IOVA arithmetic uses lasts.
 *
 * Every PFN read goes through the pfn_reader, which takes each span of
 * indices from the cheapest tier that holds it: the index store, else a
 * domain, else the source (pinning it). Pins taken from the source are
 * counted in npinned at once and charged to the accounting when the
 * operation commits (pages_update_pinned), so a failed charge undoes them.
 */
#include "iopt/pages.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/process.h"
#include "base/overflow.h"
#include "base/warn.h"
#include "iopt/accounting.h"
#include "iopt/pfn_batch.h"
#include "iopt/pfn_dmabuf.h"

/* Destroy paths fall back to this much stack when allocation fails. */
#define BATCH_BACKUP_SIZE 32

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct iopt_pages *registry_head;

/* ---- pin bookkeeping ---------------------------------------------------- */

#ifdef UIOMMUFD_DEBUG
static bool dbg_test(const struct iopt_pages *pages, u64 index)
{
	return index_store_load(&pages->dbg_pfns, index);
}

/* Pinning index @index to @pfn: it must not be pinned already. */
static void dbg_pin(struct iopt_pages *pages, u64 index, const u64 *pfns,
		    u64 n)
{
	for (u64 i = 0; i != n; i++) {
		if (WARN_ON(index + i >= pages->npages ||
			    dbg_test(pages, index + i) ||
			    pfns[i] > INDEX_STORE_VALUE_MAX))
			return;
		WARN_ON(index_store_store(&pages->dbg_pfns, index + i,
					  index_store_mk_value(pfns[i])));
	}
}

/* Unpinning must give back exactly the PFN each index was pinned to. */
static void dbg_unpin(struct iopt_pages *pages, u64 index, u64 pfn, u64 n)
{
	for (u64 i = 0; i != n; i++) {
		void *entry = index_store_erase(&pages->dbg_pfns, index + i);

		if (WARN_ON(!entry || index_store_value(entry) != pfn + i))
			return;
	}
}
#else
static inline void dbg_pin(struct iopt_pages *pages, u64 index,
			   const u64 *pfns, u64 n)
{
}

static inline void dbg_unpin(struct iopt_pages *pages, u64 index, u64 pfn,
			     u64 n)
{
}
#endif

static void pages_add_npinned(struct iopt_pages *pages, u64 npages)
{
	WARN_ON(check_add_overflow(pages->npinned, npages, &pages->npinned) ||
		pages->npinned > pages->npages);
}

static void pages_sub_npinned(struct iopt_pages *pages, u64 npages)
{
	WARN_ON(check_sub_overflow(pages->npinned, npages, &pages->npinned));
}

/* Release the pins of indices [index, index + n), whose PFNs start at pfn. */
static void pages_unpin_run(struct iopt_pages *pages, u64 index, u64 pfn,
			    u64 n)
{
	dbg_unpin(pages, index, pfn, n);
	pages->source->ops->unpin(pages->source, pfn, n);
	pages_sub_npinned(pages, n);
}

/* Unpin a run of PFNs that do not need to be contiguous. */
static void pages_unpin_list(struct iopt_pages *pages, u64 index,
			     const u64 *pfns, u64 n)
{
	while (n) {
		u64 run = 1;

		while (run != n && pfns[run] == pfns[0] + run)
			run++;
		pages_unpin_run(pages, index, pfns[0], run);
		index += run;
		pfns += run;
		n -= run;
	}
}

/*
 * Charge (or refund) the accounting for the change in npinned since the
 * last commit. On failure the caller unpins what it took.
 */
static int pages_update_pinned(struct iopt_pages *pages)
{
	u64 npages;
	int rc;

	if (pages->npinned == pages->last_npinned)
		return 0;
	if (pages->npinned < pages->last_npinned) {
		npages = pages->last_npinned - pages->npinned;
		iopt_account_uncharge(pages->account_mode, pages->source_user,
				      pages->source_pid, npages);
	} else {
		npages = pages->npinned - pages->last_npinned;
		/*
		 * The user to charge, read at the first charge rather than at
		 * creation: most pages objects (no accounting, or never
		 * pinned) never need it, and getuid() is a system call.
		 */
		if (pages->account_mode == IOPT_PAGES_ACCOUNT_USER &&
		    !pages->source_user_known) {
			pages->source_user = getuid();
			pages->source_user_known = true;
		}
		if (fault_should_fail())
			return err_reason(-ENOMEM,
					  "injected failure charging %llu pinned pages",
					  (unsigned long long)npages);
		rc = iopt_account_charge(pages->account_mode,
					 pages->source_user, pages->source_pid,
					 npages, pages->memlock_limit);
		if (rc)
			return rc;
	}
	pages->last_npinned = pages->npinned;
	return 0;
}

/* After pins were only dropped: refund them. Cannot fail. */
static void pages_update_unpinned(struct iopt_pages *pages)
{
	if (WARN_ON(pages->npinned > pages->last_npinned))
		return;
	pages_update_pinned(pages);
}

/* ---- domains ------------------------------------------------------------ */

static void iommu_unmap_nofail(struct iommu_domain *domain, u64 iova,
			       u64 size)
{
	/*
	 * Unmap must undo exactly what was mapped: a domain that unmaps
	 * something else is broken, and so is an engine that asks it to.
	 */
	WARN_ON(iommu_unmap(domain, iova, size) != size);
}

static void area_unmap_domain_range(struct iopt_area *area,
				    struct iommu_domain *domain,
				    u64 start_index, u64 last_index)
{
	u64 start_iova = iopt_area_index_to_iova(area, start_index);

	iommu_unmap_nofail(domain, start_iova,
			   iopt_area_index_to_iova_last(area, last_index) -
				   start_iova + 1);
}

u64 iopt_area_domain_pfn_run(struct iommu_domain *domain,
			     struct iopt_area *area, u64 index, u64 last_index,
			     u64 *pfn)
{
	u64 page_offset = index == iopt_area_index(area) ? area->page_offset : 0;
	u64 iova = iopt_area_index_to_iova(area, index);
	u64 want = iopt_area_index_to_iova_last(area, last_index) - iova + 1;
	u64 paddr, len;

	len = iommu_iova_to_phys_run(domain, iova, want, &paddr);
	if (WARN_ON(!len)) {
		*pfn = 0;
		return 1;
	}
	*pfn = PHYS_PFN(paddr - page_offset);
	/* Every page whose first byte lies in the run continues it. */
	return min((len + page_offset + PAGE_SIZE - 1) / PAGE_SIZE,
		   last_index - index + 1);
}

/*
 * Read PFNs of [start_index, last_index] back from @domain until the batch
 * is full; batch->total_pfns tells how far it got.
 */
static void batch_from_domain(struct pfn_batch *batch,
			      struct iommu_domain *domain,
			      struct iopt_area *area, u64 start_index,
			      u64 last_index)
{
	while (start_index <= last_index) {
		u64 pfn, n, added;

		n = iopt_area_domain_pfn_run(domain, area, start_index,
					     last_index, &pfn);
		added = batch_add_run(batch, pfn, n);
		start_index += added;
		if (added != n)
			return;
	}
}

/* Extend only the batch's last run, stopping at the first discontinuity. */
static void batch_from_domain_continue(struct pfn_batch *batch,
				       struct iommu_domain *domain,
				       struct iopt_area *area, u64 start_index,
				       u64 last_index)
{
	unsigned int array_size = batch->array_size;

	batch->array_size = batch->end;
	batch_from_domain(batch, domain, area, start_index, last_index);
	batch->array_size = array_size;
}

/* VFIO type1 semantics: every map call is exactly one CPU page. */
static int domain_map_small(struct iommu_domain *domain, u64 iova, u64 paddr,
			    u64 size, int prot)
{
	u64 done;
	int rc;

	for (done = 0; done != size; done += PAGE_SIZE) {
		rc = iommu_map(domain, iova + done, paddr + done, PAGE_SIZE,
			       prot);
		if (rc) {
			if (done)
				iommu_unmap_nofail(domain, iova, done);
			return rc;
		}
	}
	return 0;
}

/*
 * Map the batch, which holds the PFNs of the area's pages from
 * @start_index on, into @domain: one map call per run. All or nothing.
 */
static int batch_to_domain(struct pfn_batch *batch,
			   struct iommu_domain *domain, struct iopt_area *area,
			   u64 start_index)
{
	bool small = area->iopt->disable_large_pages;
	u64 last_iova = iopt_area_last_iova(area);
	u64 page_offset = 0;
	u64 start_iova, iova;
	unsigned int cur;
	int rc;

	if (start_index == iopt_area_index(area))
		page_offset = area->page_offset;
	start_iova = iova = iopt_area_index_to_iova(area, start_index);
	for (cur = 0; cur != batch->end; cur++) {
		u64 run_last, size, paddr;

		/* The run ends at its last page or at the area's end. */
		if (check_add_overflow(iova, (u64)batch->npfns[cur] * PAGE_SIZE -
						     page_offset - 1,
				       &run_last) ||
		    run_last > last_iova)
			run_last = last_iova;
		size = run_last - iova + 1;
		paddr = PFN_PHYS(batch->pfns[cur]) + page_offset;
		if (small)
			rc = domain_map_small(domain, iova, paddr, size,
					      area->iommu_prot);
		else
			rc = iommu_map(domain, iova, paddr, size,
				       area->iommu_prot);
		if (rc)
			goto err_unmap;
		page_offset = 0;
		if (run_last == last_iova) {
			WARN_ON(cur + 1 != batch->end);
			break;
		}
		iova = run_last + 1;
	}
	return 0;

err_unmap:
	if (iova != start_iova)
		iommu_unmap_nofail(domain, start_iova, iova - start_iova);
	return rc;
}

/* ---- the index store tier ----------------------------------------------- */

static void batch_from_index_store(struct pfn_batch *batch,
				   struct index_store *is, u64 start_index,
				   u64 last_index)
{
	for (; start_index <= last_index; start_index++) {
		void *entry = index_store_load(is, start_index);

		if (WARN_ON(!index_store_is_value(entry)) ||
		    !batch_add_pfn(batch, index_store_value(entry)))
			return;
	}
}

/* As above, erasing each entry taken into the batch. */
static void batch_from_index_store_clear(struct pfn_batch *batch,
					 struct index_store *is,
					 u64 start_index, u64 last_index)
{
	for (; start_index <= last_index; start_index++) {
		void *entry = index_store_load(is, start_index);

		if (WARN_ON(!index_store_is_value(entry)) ||
		    !batch_add_pfn(batch, index_store_value(entry)))
			return;
		index_store_erase(is, start_index);
	}
}

static void pfns_from_index_store(struct index_store *is, u64 start_index,
				  u64 last_index, u64 *out)
{
	for (; start_index <= last_index; start_index++) {
		void *entry = index_store_load(is, start_index);

		WARN_ON(!index_store_is_value(entry));
		*out++ = index_store_value(entry);
	}
}

/* Store pfns[] at [start_index, last_index]; all or nothing. */
static int pfns_to_index_store(struct index_store *is, u64 start_index,
			       u64 last_index, const u64 *pfns)
{
	u64 index = start_index;
	int rc;

	while (index <= last_index) {
		u64 run = 1, n = last_index - index + 1;

		while (run != n && pfns[run] == pfns[0] + run)
			run++;
		rc = index_store_store_values(is, index, index + run - 1,
					      pfns[0]);
		if (rc) {
			if (index != start_index)
				index_store_erase_range(is, start_index,
							index - 1);
			return rc;
		}
		index += run;
		pfns += run;
	}
	return 0;
}

/* ---- batches and the origin --------------------------------------------- */

static void batch_from_pfns(struct pfn_batch *batch, const u64 *pfns, u64 n)
{
	for (u64 i = 0; i != n; i++)
		if (!batch_add_pfn(batch, pfns[i]))
			return;
}

/*
 * Unpin @npages PFNs of the batch, from position @first on. The batch
 * holds the PFNs of consecutive indices from @batch_index.
 */
static void batch_unpin(struct pfn_batch *batch, struct iopt_pages *pages,
			u64 batch_index, unsigned int first, u64 npages)
{
	u64 index = batch_index + first;
	unsigned int cur = 0;

	while (first && first >= batch->npfns[cur]) {
		first -= batch->npfns[cur];
		cur++;
	}
	while (npages) {
		u64 n = min(npages, (u64)batch->npfns[cur] - first);

		pages_unpin_run(pages, index, batch->pfns[cur] + first, n);
		index += n;
		npages -= n;
		first = 0;
		cur++;
	}
}

/* Pins taken from the source and not yet handed to a batch. */
struct pfn_reader_user {
	u64 *upfns;
	size_t upfns_len;	/* capacity, in PFNs */
	u64 upfns_start;	/* index of upfns[0] */
	u64 upfns_end;		/* index after the last pinned one */
	bool own_upfns;
};

static void pfn_reader_user_init(struct pfn_reader_user *user)
{
	memset(user, 0, sizeof(*user));
}

static void pfn_reader_user_destroy(struct pfn_reader_user *user)
{
	if (user->own_upfns)
		mem_free(user->upfns);
	user->upfns = NULL;
}

/* Pin as much of [start_index, last_index] as the scratch array holds. */
static int pfn_reader_user_pin(struct pfn_reader_user *user,
			       struct iopt_pages *pages, u64 start_index,
			       u64 last_index)
{
	u64 npages;
	int rc;

	if (WARN_ON(last_index < start_index))
		return -EINVAL;
	if (!user->upfns) {
		size_t size = (last_index - start_index + 1) * sizeof(u64);

		user->upfns = iopt_temp_alloc(&size, NULL, 0);
		if (!user->upfns)
			return -ENOMEM;
		user->upfns_len = size / sizeof(u64);
		user->own_upfns = true;
	}
	npages = min(last_index - start_index + 1, (u64)user->upfns_len);
	rc = pages->source->ops->pin(pages->source, start_index, npages,
				     pages->writable, user->upfns);
	if (rc)
		return rc;
	pages_add_npinned(pages, npages);
	dbg_pin(pages, start_index, user->upfns, npages);
	user->upfns_start = start_index;
	user->upfns_end = start_index + npages;
	return 0;
}

/*
 * The PFN reader: fills a batch at a time with the PFNs of [start, last],
 * each span from its cheapest tier.
 */
struct pfn_reader {
	struct iopt_pages *pages;
	struct interval_tree_double_span_iter span;
	struct pfn_batch batch;
	u64 batch_start_index;
	u64 batch_end_index;
	u64 last_index;
	struct pfn_reader_user user;
};

/*
 * Unpin the batch's PFNs that no tier holds: those the reader pinned from
 * the source for this batch only.
 */
static void pfn_reader_unpin(struct pfn_reader *pfns)
{
	u64 start = pfns->batch_start_index, last = pfns->batch_end_index - 1;
	struct iopt_pages *pages = pfns->pages;
	struct interval_tree_double_span_iter span;

	if (pages->dmabuf)
		return;	/* nothing was pinned */
	interval_tree_for_each_double_span(&span, &pages->access_itree,
					   &pages->domains_itree, start, last) {
		if (span.is_used)
			continue;
		batch_unpin(&pfns->batch, pages, start, span.start - start,
			    span.last - span.start + 1);
	}
}

/* Add the PFNs of the current span, from batch_end_index on, to the batch. */
static int pfn_reader_fill_span(struct pfn_reader *pfns)
{
	struct interval_tree_double_span_iter *span = &pfns->span;
	u64 start_index = pfns->batch_end_index;
	struct iopt_area *area;
	int rc;

	if (WARN_ON(span->last < start_index))
		return -EINVAL;

	if (span->is_used == 1) {
		batch_from_index_store(&pfns->batch, &pfns->pages->pinned_pfns,
				       start_index, span->last);
		return 0;
	}

	if (span->is_used == 2) {
		/*
		 * As much as the first area found here holds; if it ends
		 * before the span does, the next call finds the next area.
		 */
		area = iopt_pages_find_domain_area(pfns->pages, start_index);
		if (WARN_ON(!area || !area->storage_domain))
			return -EINVAL;
		batch_from_domain(&pfns->batch, area->storage_domain, area,
				  start_index,
				  min(iopt_area_last_index(area), span->last));
		return 0;
	}

	if (pfns->pages->dmabuf) {
		iopt_dmabuf_batch_fill(pfns->pages, &pfns->batch, start_index,
				       span->last);
		return 0;
	}
	if (start_index >= pfns->user.upfns_end) {
		rc = pfn_reader_user_pin(&pfns->user, pfns->pages, start_index,
					 span->last);
		if (rc)
			return rc;
	}
	batch_from_pfns(&pfns->batch,
			pfns->user.upfns +
				(start_index - pfns->user.upfns_start),
			pfns->user.upfns_end - start_index);
	return 0;
}

static bool pfn_reader_done(const struct pfn_reader *pfns)
{
	return pfns->batch_start_index == pfns->last_index + 1;
}

static int pfn_reader_next(struct pfn_reader *pfns)
{
	int rc;

	batch_clear(&pfns->batch);
	pfns->batch_start_index = pfns->batch_end_index;

	while (pfns->batch_end_index != pfns->last_index + 1) {
		unsigned int npfns = pfns->batch.total_pfns;

		if (WARN_ON(interval_tree_double_span_iter_done(&pfns->span)))
			return -EINVAL;
		rc = pfn_reader_fill_span(pfns);
		if (rc)
			return rc;
		if (WARN_ON(!pfns->batch.total_pfns))
			return -EINVAL;

		pfns->batch_end_index =
			pfns->batch_start_index + pfns->batch.total_pfns;
		if (pfns->batch_end_index == pfns->span.last + 1)
			interval_tree_double_span_iter_next(&pfns->span);

		/* Nothing more fitted: the batch is full. */
		if (npfns == pfns->batch.total_pfns)
			return 0;
	}
	return 0;
}

static int pfn_reader_init(struct pfn_reader *pfns, struct iopt_pages *pages,
			   u64 start_index, u64 last_index)
{
	int rc;

	pfns->pages = pages;
	pfns->batch_start_index = start_index;
	pfns->batch_end_index = start_index;
	pfns->last_index = last_index;
	pfn_reader_user_init(&pfns->user);
	rc = batch_init(&pfns->batch, last_index - start_index + 1);
	if (rc)
		return rc;
	interval_tree_double_span_iter_first(&pfns->span, &pages->access_itree,
					     &pages->domains_itree, start_index,
					     last_index);
	return 0;
}

/*
 * Drop the pins the reader holds for itself: source pins not yet in a
 * batch, and the current batch's PFNs that no tier holds. Error paths call
 * this before unwinding what was already stored.
 */
static void pfn_reader_release_pins(struct pfn_reader *pfns)
{
	struct pfn_reader_user *user = &pfns->user;

	if (user->upfns_end > pfns->batch_end_index) {
		u64 first = pfns->batch_end_index;

		pages_unpin_list(pfns->pages, first,
				 user->upfns + (first - user->upfns_start),
				 user->upfns_end - first);
		user->upfns_end = first;
	}
	if (pfns->batch_start_index != pfns->batch_end_index) {
		pfn_reader_unpin(pfns);
		pfns->batch_start_index = pfns->batch_end_index;
	}
}

static void pfn_reader_destroy(struct pfn_reader *pfns)
{
	struct iopt_pages *pages = pfns->pages;

	pfn_reader_release_pins(pfns);
	pfn_reader_user_destroy(&pfns->user);
	batch_destroy(&pfns->batch, NULL);
	WARN_ON(pages->last_npinned != pages->npinned);
}

static int pfn_reader_first(struct pfn_reader *pfns, struct iopt_pages *pages,
			    u64 start_index, u64 last_index)
{
	int rc;

	if (WARN_ON(last_index < start_index))
		return -EINVAL;
	rc = pfn_reader_init(pfns, pages, start_index, last_index);
	if (rc)
		return rc;
	rc = pfn_reader_next(pfns);
	if (rc) {
		pfn_reader_destroy(pfns);
		return rc;
	}
	return 0;
}

/* ---- the pages object ----------------------------------------------------- */

static void registry_add(struct iopt_pages *pages)
{
	pthread_mutex_lock(&registry_lock);
	pages->reg_prev = NULL;
	pages->reg_next = registry_head;
	if (registry_head)
		registry_head->reg_prev = pages;
	registry_head = pages;
	pthread_mutex_unlock(&registry_lock);
}

static void registry_del(struct iopt_pages *pages)
{
	pthread_mutex_lock(&registry_lock);
	if (pages->reg_prev)
		pages->reg_prev->reg_next = pages->reg_next;
	else
		registry_head = pages->reg_next;
	if (pages->reg_next)
		pages->reg_next->reg_prev = pages->reg_prev;
	pthread_mutex_unlock(&registry_lock);
}

void iopt_pages_for_each_live(void (*fn)(struct iopt_pages *pages, void *arg),
			      void *arg)
{
	pthread_mutex_lock(&registry_lock);
	for (struct iopt_pages *p = registry_head; p; p = p->reg_next)
		fn(p, arg);
	pthread_mutex_unlock(&registry_lock);
}

struct iopt_pages *iopt_pages_alloc(struct pfn_source *src, u64 npages,
				    bool writable)
{
	struct iopt_pages *pages;

	pages = mem_zalloc(sizeof(*pages));
	if (!pages)
		return ERR_PTR(-ENOMEM);
#ifdef UIOMMUFD_DEBUG
	/* Debug bookkeeping stays out of fault injection and leak counts. */
	index_store_init_untracked(&pages->dbg_pfns);
#endif
	pages->refcount = 1;
	pthread_mutex_init(&pages->mutex, NULL);
	pages->source = src;
	pages->npages = npages;
	pages->writable = writable;
	/* The mapping's owner sets the mode; USER is the safe default. */
	pages->account_mode = IOPT_PAGES_ACCOUNT_USER;
	pages->memlock_limit = IOPT_MEMLOCK_RLIMIT;
	pages->source_pid = process_user();
	index_store_init(&pages->pinned_pfns);
	pages->access_itree = RB_ROOT_CACHED_INIT;
	pages->domains_itree = RB_ROOT_CACHED_INIT;
	registry_add(pages);
	return pages;
}

static struct iopt_pages *pages_from_source(struct pfn_source *src,
					    bool writable)
{
	struct iopt_pages *pages;

	if (IS_ERR(src))
		return (void *)src;
	pages = iopt_pages_alloc(src, src->npages, writable);
	if (IS_ERR(pages))
		pfn_source_destroy(src);
	return pages;
}

struct iopt_pages *iopt_alloc_user_pages(u64 uptr, u64 length, bool writable)
{
	struct iopt_pages *pages;

	pages = pages_from_source(pfn_source_user_create(uptr, length),
				  writable);
	if (!IS_ERR(pages))
		pages->source_addr = align_down(uptr, PAGE_SIZE);
	return pages;
}

struct iopt_pages *iopt_alloc_file_pages(int fd, u64 start, u64 length,
					 bool writable)
{
	struct iopt_pages *pages;
	int rc;

	rc = pfn_source_file_pinnable(fd, start, length);
	if (rc)
		return ERR_PTR(rc);
	pages = pages_from_source(pfn_source_file_create(fd, start, length,
							 writable),
				  writable);
	if (!IS_ERR(pages)) {
		pages->source_addr = align_down(start, PAGE_SIZE);
		pages->type = IOPT_ADDRESS_FILE;
	}
	return pages;
}

void iopt_get_pages(struct iopt_pages *pages)
{
	__atomic_fetch_add(&pages->refcount, 1, __ATOMIC_RELAXED);
}

static void pages_release(struct iopt_pages *pages)
{
	/* Everything must have been unfilled: no tier, no pin. */
	WARN_ON(!rb_empty_cached(&pages->access_itree));
	WARN_ON(!rb_empty_cached(&pages->domains_itree));
	WARN_ON(pages->npinned);
	WARN_ON(!index_store_empty(&pages->pinned_pfns));
	registry_del(pages);
	index_store_destroy(&pages->pinned_pfns);
	if (pages->dmabuf)
		iopt_pages_dmabuf_release(pages);
	else if (pages->source)
		pfn_source_destroy(pages->source);
	pthread_mutex_destroy(&pages->mutex);
#ifdef UIOMMUFD_DEBUG
	WARN_ON(!index_store_empty(&pages->dbg_pfns));
	index_store_destroy(&pages->dbg_pfns);
#endif
	mem_free(pages);
}

void iopt_put_pages(struct iopt_pages *pages)
{
	if (__atomic_sub_fetch(&pages->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		pages_release(pages);
}

/* ---- unfilling a domain ----------------------------------------------------- */

/*
 * Unpin the hole [start_index, last_index] of an area being removed from
 * @domain, unmapping as it goes. A domain unmap may only end where PFNs are
 * discontiguous (every map call mapped a contiguous run), so reading runs
 * on past the hole to the next discontinuity; those PFNs are unmapped but
 * still held elsewhere, and ride in the batch as a "carry" to be skipped
 * (or, if another hole follows at once, unpinned) later.
 *
 * Invariant on entry and exit: the batch holds the PFNs of indices
 * [start_index, *unmapped_end - 1] (the carry) and nothing else.
 */
static void area_unpin_domain(struct pfn_batch *batch, struct iopt_area *area,
			      struct iopt_pages *pages,
			      struct iommu_domain *domain, u64 start_index,
			      u64 last_index, u64 *unmapped_end,
			      u64 real_last_index)
{
	while (start_index <= last_index) {
		u64 batch_last;

		if (*unmapped_end <= last_index) {
			u64 from = max(start_index, *unmapped_end);

			WARN_ON(*unmapped_end > start_index &&
				*unmapped_end - start_index !=
					batch->total_pfns);
			batch_from_domain(batch, domain, area, from,
					  last_index);
			/* The batch starts at start_index, carry included. */
			batch_last = start_index + batch->total_pfns - 1;
			/*
			 * A full batch ends at a discontinuity; one that
			 * reached the hole's end reads on to the next one
			 * before the unmap is cut.
			 */
			if (batch_last == last_index &&
			    last_index != real_last_index)
				batch_from_domain_continue(batch, domain, area,
							   last_index + 1,
							   real_last_index);
		} else {
			/* The carry covers the hole, already unmapped. */
			batch_last = last_index;
		}

		if (*unmapped_end <= batch_last) {
			area_unmap_domain_range(area, domain, *unmapped_end,
						start_index +
							batch->total_pfns - 1);
			*unmapped_end = start_index + batch->total_pfns;
		}

		/* Unpin only after the IOVA is gone. */
		batch_unpin(batch, pages, start_index, 0,
			    batch_last - start_index + 1);
		start_index = batch_last + 1;
		batch_clear_carry(batch, *unmapped_end - start_index);
	}
}

static void area_unfill_domain_upto(struct iopt_area *area,
				    struct iopt_pages *pages,
				    struct iommu_domain *domain,
				    u64 last_index)
{
	u64 start_index = iopt_area_index(area);
	u64 unmapped_end = start_index;
	struct interval_tree_double_span_iter span;
	u64 backup[BATCH_BACKUP_SIZE];
	struct pfn_batch batch;

	/* Pinned by nobody: only the IOVA goes. */
	if (pages->dmabuf) {
		area_unmap_domain_range(area, domain, start_index, last_index);
		return;
	}
	/*
	 * Nothing still DMA mapped may be unpinned, so unmap before unpin;
	 * spans another area's domain or an access holds are unmapped but
	 * stay pinned.
	 */
	batch_init_backup(&batch, last_index - start_index + 1, backup,
			  sizeof(backup));
	interval_tree_for_each_double_span(&span, &pages->domains_itree,
					   &pages->access_itree, start_index,
					   last_index) {
		if (span.is_used) {
			batch_skip_carry(&batch, span.last - span.start + 1);
			continue;
		}
		area_unpin_domain(&batch, area, pages, domain, span.start,
				  span.last, &unmapped_end, last_index);
	}
	/* A range ending in held spans is unmapped without unpinning. */
	if (unmapped_end != last_index + 1)
		area_unmap_domain_range(area, domain, unmapped_end,
					last_index);
	WARN_ON(batch.total_pfns);
	batch_destroy(&batch, backup);
	pages_update_unpinned(pages);
}

/* Undo a fill that mapped pages [area index, end_index) into @domain. */
static void area_unfill_partial_domain(struct iopt_area *area,
				       struct iopt_pages *pages,
				       struct iommu_domain *domain,
				       u64 end_index)
{
	if (end_index != iopt_area_index(area))
		area_unfill_domain_upto(area, pages, domain, end_index - 1);
}

void iopt_area_unmap_domain(struct iopt_area *area,
			    struct iommu_domain *domain)
{
	iommu_unmap_nofail(domain, iopt_area_iova(area),
			   iopt_area_length(area));
}

void iopt_area_unfill_domain(struct iopt_area *area, struct iopt_pages *pages,
			     struct iommu_domain *domain)
{
	/* The revocation unmapped it already. */
	if (iopt_dmabuf_revoked(pages))
		return;
	area_unfill_domain_upto(area, pages, domain,
				iopt_area_last_index(area));
}

/* ---- filling domains -------------------------------------------------------- */

/* Called with area->pages->mutex held, as iopt_area_unfill_domain(). */
int iopt_area_fill_domain(struct iopt_area *area, struct iommu_domain *domain)
{
	struct iopt_pages *pages = area->pages;
	u64 done_end_index = iopt_area_index(area);
	struct pfn_reader pfns;
	int rc;

	if (iopt_dmabuf_revoked(pages))
		return 0;
	rc = pfn_reader_first(&pfns, pages, iopt_area_index(area),
			      iopt_area_last_index(area));
	if (rc)
		return rc;

	while (!pfn_reader_done(&pfns)) {
		done_end_index = pfns.batch_start_index;
		rc = batch_to_domain(&pfns.batch, domain, area,
				     pfns.batch_start_index);
		if (rc)
			goto out_unmap;
		done_end_index = pfns.batch_end_index;
		rc = pfn_reader_next(&pfns);
		if (rc)
			goto out_unmap;
	}
	rc = pages_update_pinned(pages);
	if (rc)
		goto out_unmap;
	goto out_destroy;

out_unmap:
	pfn_reader_release_pins(&pfns);
	area_unfill_partial_domain(area, pages, domain, done_end_index);
out_destroy:
	pfn_reader_destroy(&pfns);
	return rc;
}

int iopt_area_fill_domains(struct iopt_area *area, struct iopt_pages *pages)
{
	struct io_pagetable *iopt = area->iopt;
	u64 done_first_end_index = iopt_area_index(area);
	u64 done_all_end_index = iopt_area_index(area);
	struct iommu_domain *domain;
	struct pfn_reader pfns;
	u64 index = 0, unmap_index;
	int rc;

	if (!iopt->next_domain_id)
		return 0;

	pthread_mutex_lock(&pages->mutex);
	if (pages->dmabuf) {
		rc = iopt_dmabuf_track_all_domains(area, pages);
		if (rc)
			goto out_unlock;
		/* Revoked memory maps nowhere, but the area is filled. */
		if (pages->dmabuf->revoked)
			goto out_filled;
	}
	rc = pfn_reader_first(&pfns, pages, iopt_area_index(area),
			      iopt_area_last_index(area));
	if (rc)
		goto out_untrack;

	/* Each PFN is read once and written to every domain. */
	while (!pfn_reader_done(&pfns)) {
		done_first_end_index = pfns.batch_end_index;
		done_all_end_index = pfns.batch_start_index;
		index_store_for_each(&iopt->domains, index, domain) {
			rc = batch_to_domain(&pfns.batch, domain, area,
					     pfns.batch_start_index);
			if (rc)
				goto out_unmap;
		}
		done_all_end_index = done_first_end_index;
		rc = pfn_reader_next(&pfns);
		if (rc)
			goto out_unmap;
	}
	rc = pages_update_pinned(pages);
	if (rc)
		goto out_unmap;
	pfn_reader_destroy(&pfns);
out_filled:
	area->storage_domain = index_store_load(&iopt->domains, 0);
	interval_tree_insert(&area->pages_node, &pages->domains_itree);
	goto out_unlock;

out_unmap:
	pfn_reader_release_pins(&pfns);
	index_store_for_each(&iopt->domains, unmap_index, domain) {
		/* Domains before the failing one got the current batch too. */
		u64 end_index = unmap_index < index ? done_first_end_index :
						      done_all_end_index;

		/*
		 * The area is not in domains_itree yet, so one domain, the
		 * last, does the unpinning; the others are only unmapped.
		 */
		if (unmap_index != iopt->next_domain_id - 1) {
			if (end_index != iopt_area_index(area))
				area_unmap_domain_range(area, domain,
							iopt_area_index(area),
							end_index - 1);
		} else {
			area_unfill_partial_domain(area, pages, domain,
						   end_index);
		}
	}
	pfn_reader_destroy(&pfns);
out_untrack:
	if (pages->dmabuf)
		iopt_dmabuf_untrack_all_domains(area, pages);
out_unlock:
#ifdef UIOMMUFD_DEBUG
	iopt_pages_check(pages);
#endif
	pthread_mutex_unlock(&pages->mutex);
	return rc;
}

void iopt_area_unfill_domains(struct iopt_area *area, struct iopt_pages *pages)
{
	struct io_pagetable *iopt = area->iopt;
	struct iommu_domain *domain;
	u64 index;

	pthread_mutex_lock(&pages->mutex);
	if (!area->storage_domain)
		goto out_unlock;

	index_store_for_each(&iopt->domains, index, domain)
		if (domain != area->storage_domain &&
		    !iopt_dmabuf_revoked(pages))
			area_unmap_domain_range(area, domain,
						iopt_area_index(area),
						iopt_area_last_index(area));

	interval_tree_remove(&area->pages_node, &pages->domains_itree);
	iopt_area_unfill_domain(area, pages, area->storage_domain);
	if (pages->dmabuf)
		iopt_dmabuf_untrack_all_domains(area, pages);
	area->storage_domain = NULL;
out_unlock:
#ifdef UIOMMUFD_DEBUG
	iopt_pages_check(pages);
#endif
	pthread_mutex_unlock(&pages->mutex);
}

/* ---- accesses: the index store tier ----------------------------------------- */

static void pages_unpin_index_store(struct pfn_batch *batch,
				    struct iopt_pages *pages, u64 start_index,
				    u64 last_index)
{
	while (start_index <= last_index) {
		batch_from_index_store_clear(batch, &pages->pinned_pfns,
					     start_index, last_index);
		batch_unpin(batch, pages, start_index, 0, batch->total_pfns);
		start_index += batch->total_pfns;
		batch_clear(batch);
	}
}

/*
 * The access covering [start_index, last_index] is gone (already out of
 * access_itree): drop index store entries no access needs, unpinning those
 * no domain holds either. Cannot fail.
 */
static void pages_unfill_index_store(struct iopt_pages *pages,
				     u64 start_index, u64 last_index)
{
	struct interval_tree_double_span_iter span;
	u64 backup[BATCH_BACKUP_SIZE];
	struct pfn_batch batch;
	bool batch_ready = false;

	interval_tree_for_each_double_span(&span, &pages->access_itree,
					   &pages->domains_itree, start_index,
					   last_index) {
		if (span.is_used == 1)
			continue; /* another access still needs these */
		if (span.is_used == 2) {
			/* A domain keeps the pin; only the entries go. */
			index_store_erase_range(&pages->pinned_pfns, span.start,
						span.last);
			continue;
		}
		if (!batch_ready) {
			batch_init_backup(&batch, last_index - start_index + 1,
					  backup, sizeof(backup));
			batch_ready = true;
		}
		pages_unpin_index_store(&batch, pages, span.start, span.last);
	}
	if (batch_ready)
		batch_destroy(&batch, backup);
	pages_update_unpinned(pages);
}

int iopt_pages_domain_pfns(struct iopt_pages *pages, u64 start_index,
			   u64 last_index, u64 *out)
{
	while (start_index <= last_index) {
		struct iopt_area *area = iopt_pages_find_domain_area(pages,
								start_index);
		u64 last;

		if (WARN_ON(!area || !area->storage_domain))
			return -EINVAL;
		last = min(iopt_area_last_index(area), last_index);
		while (start_index <= last) {
			u64 pfn, n;

			n = iopt_area_domain_pfn_run(area->storage_domain,
						     area, start_index, last,
						     &pfn);
			for (u64 i = 0; i != n; i++)
				*out++ = pfn + i;
			start_index += n;
		}
	}
	return 0;
}

/*
 * Put the PFNs of [start_index, last_index] into the index store (pinning
 * what no tier holds) and return them in @out. All or nothing.
 */
static int pages_fill_index_store(struct iopt_pages *pages, u64 start_index,
				  u64 last_index, u64 *out)
{
	struct interval_tree_double_span_iter span;
	struct pfn_source *src = pages->source;
	u64 stored_end = start_index;
	int rc;

	interval_tree_for_each_double_span(&span, &pages->access_itree,
					   &pages->domains_itree, start_index,
					   last_index) {
		u64 *cur = out + (span.start - start_index);
		u64 n = span.last - span.start + 1;

		if (span.is_used == 1) {
			pfns_from_index_store(&pages->pinned_pfns, span.start,
					      span.last, cur);
			continue;
		}
		if (span.is_used == 2) {
			rc = iopt_pages_domain_pfns(pages, span.start, span.last,
					       cur);
			if (!rc)
				rc = pfns_to_index_store(&pages->pinned_pfns,
							 span.start, span.last,
							 cur);
			if (rc)
				goto out_clean;
			stored_end = span.last + 1;
			continue;
		}

		/* A hole: pin from the source. */
		rc = src->ops->pin(src, span.start, n, pages->writable, cur);
		if (rc)
			goto out_clean;
		pages_add_npinned(pages, n);
		dbg_pin(pages, span.start, cur, n);
		rc = pfns_to_index_store(&pages->pinned_pfns, span.start,
					 span.last, cur);
		if (rc) {
			pages_unpin_list(pages, span.start, cur, n);
			goto out_clean;
		}
		stored_end = span.last + 1;
	}
	rc = pages_update_pinned(pages);
	if (rc)
		goto out_clean;
	return 0;

out_clean:
	if (stored_end != start_index)
		pages_unfill_index_store(pages, start_index, stored_end - 1);
	return rc;
}

static struct iopt_pages_access *
pages_find_exact_access(struct iopt_pages *pages, u64 start_index,
			u64 last_index)
{
	struct interval_tree_node *node;

	/* Access ranges overlap freely; only an exact match counts. */
	interval_tree_for_each(node, &pages->access_itree, start_index,
			       last_index)
		if (node->start == start_index && node->last == last_index)
			return container_of(node, struct iopt_pages_access,
					    node);
	return NULL;
}

int iopt_area_add_access(struct iopt_area *area, u64 start_index,
			 u64 last_index, u64 *out_pfns, unsigned int flags)
{
	struct iopt_pages *pages = area->pages;
	struct iopt_pages_access *access;
	int rc;

	if ((flags & IOMMUFD_ACCESS_RW_WRITE) && !pages->writable)
		return err_reason(-EPERM,
				  "write access to pages mapped read-only");
	if (pages->dmabuf)
		return err_reason(-EINVAL,
				  "a dma-buf's memory cannot be pinned by an access");
	if (WARN_ON(start_index < iopt_area_index(area) ||
		    last_index > iopt_area_last_index(area) ||
		    start_index > last_index))
		return -EINVAL;

	pthread_mutex_lock(&pages->mutex);
	access = pages_find_exact_access(pages, start_index, last_index);
	if (access) {
		area->num_accesses++;
		access->users++;
		pfns_from_index_store(&pages->pinned_pfns, start_index,
				      last_index, out_pfns);
		rc = 0;
		goto out_unlock;
	}

	access = mem_zalloc(sizeof(*access));
	if (!access) {
		rc = -ENOMEM;
		goto out_unlock;
	}
	rc = pages_fill_index_store(pages, start_index, last_index, out_pfns);
	if (rc) {
		mem_free(access);
		goto out_unlock;
	}
	access->node.start = start_index;
	access->node.last = last_index;
	access->users = 1;
	area->num_accesses++;
	interval_tree_insert(&access->node, &pages->access_itree);
out_unlock:
#ifdef UIOMMUFD_DEBUG
	iopt_pages_check(pages);
#endif
	pthread_mutex_unlock(&pages->mutex);
	return rc;
}

void iopt_area_remove_access(struct iopt_area *area, u64 start_index,
			     u64 last_index)
{
	struct iopt_pages *pages = area->pages;
	struct iopt_pages_access *access;

	pthread_mutex_lock(&pages->mutex);
	access = pages_find_exact_access(pages, start_index, last_index);
	if (WARN_ON(!access))
		goto out_unlock;
	WARN_ON(!area->num_accesses || !access->users);
	area->num_accesses--;
	if (--access->users)
		goto out_unlock;
	interval_tree_remove(&access->node, &pages->access_itree);
	pages_unfill_index_store(pages, start_index, last_index);
	mem_free(access);
out_unlock:
#ifdef UIOMMUFD_DEBUG
	iopt_pages_check(pages);
#endif
	pthread_mutex_unlock(&pages->mutex);
}

/* ---- CPU access ------------------------------------------------------------- */

/*
 * Copy through the PFN reader, so the pages are pinned (from whichever tier
 * already holds them, else transiently from the source) while they are
 * copied, exactly as a device would see them.
 */
static int pages_rw_pinned(struct iopt_pages *pages, u64 start_index,
			   u64 last_index, u64 offset, char *data, u64 length,
			   bool write)
{
	struct pfn_source *src = pages->source;
	struct pfn_reader pfns;
	int rc;

	pthread_mutex_lock(&pages->mutex);
	rc = pfn_reader_first(&pfns, pages, start_index, last_index);
	if (rc)
		goto out_unlock;
	while (!pfn_reader_done(&pfns)) {
		for (u64 index = pfns.batch_start_index;
		     index != pfns.batch_end_index; index++) {
			u64 bytes = min(length, PAGE_SIZE - offset);

			src->ops->rw(src, index, offset, data, bytes, write);
			data += bytes;
			length -= bytes;
			offset = 0;
		}
		pfn_reader_unpin(&pfns);
		rc = pfn_reader_next(&pfns);
		if (rc)
			break;
	}
	if (!rc && WARN_ON(length))
		rc = -EINVAL;
	pfn_reader_destroy(&pfns);
out_unlock:
#ifdef UIOMMUFD_DEBUG
	iopt_pages_check(pages);
#endif
	pthread_mutex_unlock(&pages->mutex);
	return rc;
}

int iopt_pages_rw_access(struct iopt_pages *pages, u64 start_byte, void *data,
			 u64 length, unsigned int flags)
{
	bool write = flags & IOMMUFD_ACCESS_RW_WRITE;
	u64 last_byte;

	if (write && !pages->writable)
		return err_reason(-EPERM,
				  "write access to pages mapped read-only");
	if (pages->dmabuf)
		return err_reason(-EINVAL,
				  "a dma-buf's memory cannot be read or written by an access");
	if (check_range_last(start_byte, length, &last_byte) ||
	    PHYS_PFN(last_byte) >= pages->npages)
		return err_reason(-EINVAL,
				  "bytes [%#llx, +%#llx) are outside the pages",
				  (unsigned long long)start_byte,
				  (unsigned long long)length);
	return pages_rw_pinned(pages, PHYS_PFN(start_byte),
			       PHYS_PFN(last_byte), start_byte % PAGE_SIZE,
			       data, length, write);
}
