// SPDX-License-Identifier: MIT
/*
 * The mock IO page table. One index store entry per MOCK_IO_PAGE_SIZE IO
 * page, keyed by iova / MOCK_IO_PAGE_SIZE, holding a tagged value:
 *
 *	bits  0..52  paddr / MOCK_IO_PAGE_SIZE (paddr < 2^64, so < 2^53)
 *	bit  53      START: the first IO page of a map call
 *	bit  54      LAST: the last IO page of a map call
 *	bits 55..56  the protection (IOMMU_READ, IOMMU_WRITE)
 *
 * The frame number sits at the bottom so a run of IO pages is a run of
 * consecutive values, which the index store writes in one call.
 *
 * The engine must unmap whole map calls: an unmap that begins on an IO page
 * without START, or ends on one without LAST, splits a map and is counted
 * (not for domains with huge pages, where the kernel's core may split an
 * unmap at a page-size boundary inside one map). Unmapping IOVA that is not
 * mapped is counted per IO page, in every domain: nothing excuses it.
 *
 * One mutex per domain covers the store, the stats and the fail-nth-map
 * counter; callbacks of mock_domain_for_each() run without it.
 */
#include "domains/mock_domain.h"

#include <errno.h>
#include <pthread.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/index_store.h"
#include "base/mem.h"
#include "base/overflow.h"

#define MOCK_PFN_BITS 53
#define MOCK_PFN_MASK ((1ULL << MOCK_PFN_BITS) - 1)
#define MOCK_START (1ULL << 53)
#define MOCK_LAST (1ULL << 54)
#define MOCK_PROT_SHIFT 55
#define MOCK_PROT_MASK ((u64)(IOMMU_READ | IOMMU_WRITE))

_Static_assert(((MOCK_PROT_MASK << MOCK_PROT_SHIFT) | MOCK_LAST | MOCK_START |
		MOCK_PFN_MASK) <= INDEX_STORE_VALUE_MAX,
	       "mock translation does not fit an index store value");
_Static_assert(U64_MAX / MOCK_IO_PAGE_SIZE <= MOCK_PFN_MASK,
	       "mock frame number field too small");

struct mock_domain {
	struct iommu_domain domain;
	pthread_mutex_t lock;
	struct index_store pfns;
	struct mock_domain_stats stats;
	unsigned int fail_nth_map;
};

static const struct iommu_domain_ops mock_domain_ops;

static inline struct mock_domain *to_mock_domain(struct iommu_domain *domain)
{
	return container_of(domain, struct mock_domain, domain);
}

static inline u64 mock_mk(u64 pfn, u64 tags, int prot)
{
	return pfn | tags | ((u64)prot & MOCK_PROT_MASK) << MOCK_PROT_SHIFT;
}

static inline u64 mock_paddr(u64 value)
{
	return (value & MOCK_PFN_MASK) * MOCK_IO_PAGE_SIZE;
}

static inline int mock_prot(u64 value)
{
	return (value >> MOCK_PROT_SHIFT) & MOCK_PROT_MASK;
}

static inline bool mock_has_huge(const struct mock_domain *mock)
{
	return mock->domain.pgsize_bitmap & MOCK_HUGE_PAGE_SIZE;
}

/* Entries of this store are always tagged values, never pointers. */
static inline bool mock_load(struct mock_domain *mock, u64 index, u64 *value)
{
	void *entry = index_store_load(&mock->pfns, index);

	if (!entry)
		return false;
	*value = index_store_value(entry);
	return true;
}

/* Counts down the armed fail-nth-map counter; true when this call fails. */
static bool mock_fail_nth_fires(struct mock_domain *mock)
{
	if (!mock->fail_nth_map)
		return false;
	return !--mock->fail_nth_map;
}

static int mock_store_one(struct mock_domain *mock, u64 index, u64 pfn,
			  u64 tags, int prot)
{
	void *entry = index_store_mk_value(mock_mk(pfn, tags, prot));

	return index_store_store(&mock->pfns, index, entry);
}

/*
 * Store IO pages [first, last] translating to frames from @pfn; the range
 * is empty. The first and last pages carry their tags, the middle goes in
 * as one run. On -ENOMEM whatever was stored is erased again, which leaves
 * the store exactly as it was (its shape follows the indices it holds).
 */
static int mock_store(struct mock_domain *mock, u64 first, u64 last, u64 pfn,
		      int prot)
{
	u64 nr = last - first;
	int rc;

	if (!nr)
		return mock_store_one(mock, first, pfn, MOCK_START | MOCK_LAST,
				      prot);
	rc = mock_store_one(mock, first, pfn, MOCK_START, prot);
	if (rc)
		return rc;
	rc = mock_store_one(mock, last, pfn + nr, MOCK_LAST, prot);
	if (rc)
		goto err_erase;
	if (nr > 1) {
		rc = index_store_store_values(&mock->pfns, first + 1, last - 1,
					      mock_mk(pfn + 1, 0, prot));
		if (rc)
			goto err_erase;
	}
	return 0;

err_erase:
	index_store_erase_range(&mock->pfns, first, last);
	return rc;
}

static int mock_map_locked(struct mock_domain *mock, u64 first, u64 last,
			   u64 pfn, int prot)
{
	unsigned long long iova = first * MOCK_IO_PAGE_SIZE;
	u64 index = first;
	int rc;

	if (mock_fail_nth_fires(mock))
		return err_reason(-ENOMEM, "mock domain: injected map failure");
	if (fault_should_fail())
		return err_reason(-ENOMEM,
				  "mock domain: injected failure mapping iova %#llx",
				  iova);
	/* Checked before storing anything, so -EEXIST changes nothing. */
	if (index_store_find(&mock->pfns, &index, last)) {
		mock->stats.map_over_mapped++;
		iova = index * MOCK_IO_PAGE_SIZE;
		return err_reason(-EEXIST,
				  "mock domain: iova %#llx is already mapped",
				  iova);
	}
	rc = mock_store(mock, first, last, pfn, prot);
	if (rc)
		return rc;
	mock->stats.map_calls++;
	mock->stats.io_pages += last - first + 1;
	return 0;
}

static int mock_domain_map(struct iommu_domain *domain, u64 iova, u64 paddr,
			   u64 size, int prot)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 first = iova / MOCK_IO_PAGE_SIZE;
	u64 last = first + size / MOCK_IO_PAGE_SIZE - 1;
	bool huge = mock_has_huge(mock) &&
		    is_aligned(iova | paddr | size, MOCK_HUGE_PAGE_SIZE);
	int rc;

	pthread_mutex_lock(&mock->lock);
	rc = mock_map_locked(mock, first, last, paddr / MOCK_IO_PAGE_SIZE,
			     prot);
	if (!rc && huge)
		mock->stats.huge_maps++;
	pthread_mutex_unlock(&mock->lock);
	return rc;
}

/* Whether an unmap of [first, last] begins or ends inside a map call. */
static bool mock_unmap_splits(struct mock_domain *mock, u64 first, u64 last)
{
	u64 value;

	if (mock_has_huge(mock))
		return false;
	if (mock_load(mock, first, &value) && !(value & MOCK_START))
		return true;
	return mock_load(mock, last, &value) && !(value & MOCK_LAST);
}

static u64 mock_domain_unmap(struct iommu_domain *domain, u64 iova, u64 size)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 first = iova / MOCK_IO_PAGE_SIZE;
	u64 nr = size / MOCK_IO_PAGE_SIZE;
	u64 last = first + nr - 1;
	u64 mapped;

	pthread_mutex_lock(&mock->lock);
	if (mock_unmap_splits(mock, first, last))
		mock->stats.unmap_splits_map++;
	mapped = index_store_erase_range(&mock->pfns, first, last);
	mock->stats.unmap_not_mapped += nr - mapped;
	mock->stats.io_pages -= mapped;
	mock->stats.unmap_calls++;
	pthread_mutex_unlock(&mock->lock);
	return mapped * MOCK_IO_PAGE_SIZE;
}

u64 mock_domain_lookup(struct iommu_domain *domain, u64 iova, int *prot)
{
	struct mock_domain *mock = to_mock_domain(domain);
	bool mapped;
	u64 value;

	pthread_mutex_lock(&mock->lock);
	mapped = mock_load(mock, iova / MOCK_IO_PAGE_SIZE, &value);
	pthread_mutex_unlock(&mock->lock);
	if (prot)
		*prot = mapped ? mock_prot(value) : 0;
	if (!mapped)
		return 0;
	return mock_paddr(value) + iova % MOCK_IO_PAGE_SIZE;
}

static u64 mock_domain_iova_to_phys(struct iommu_domain *domain, u64 iova)
{
	return mock_domain_lookup(domain, iova, NULL);
}

struct mock_run {
	u64 next_index;	/* the IO page the run needs next */
	u64 next_pfn;	/* and the frame it must map */
	u64 pages;
};

/* Extend the run over a leaf's slots while they continue it. */
static int mock_run_chunk(void *arg, u64 index, void *const *slots,
			  unsigned int n)
{
	struct mock_run *run = arg;

	if (index != run->next_index)
		return 1;
	for (unsigned int i = 0; i != n; i++) {
		if (!slots[i] ||
		    (index_store_value(slots[i]) & MOCK_PFN_MASK) !=
			    run->next_pfn)
			return 1;
		run->next_pfn++;
		run->pages++;
	}
	run->next_index += n;
	return 0;
}

static u64 mock_domain_iova_to_phys_run(struct iommu_domain *domain, u64 iova,
					u64 max, u64 *paddr)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 first = iova / MOCK_IO_PAGE_SIZE, last, value, len;
	struct mock_run run;

	/* The IO page holding the run's last byte (no wrap: max >= 1). */
	last = iova + min(max - 1, U64_MAX - iova);
	last /= MOCK_IO_PAGE_SIZE;
	pthread_mutex_lock(&mock->lock);
	if (!mock_load(mock, first, &value)) {
		pthread_mutex_unlock(&mock->lock);
		return 0;
	}
	run = (struct mock_run){ first + 1, (value & MOCK_PFN_MASK) + 1, 1 };
	if (last > first)
		index_store_walk_chunks(&mock->pfns, first + 1, last,
					mock_run_chunk, &run);
	pthread_mutex_unlock(&mock->lock);
	*paddr = mock_paddr(value) + iova % MOCK_IO_PAGE_SIZE;
	len = run.pages * MOCK_IO_PAGE_SIZE - iova % MOCK_IO_PAGE_SIZE;
	return min(len, max);
}

/*
 * One lookup per IO page with the lock dropped in between, so @fn may call
 * back into the domain. Each page reported was mapped when it was read.
 * index + 1 cannot wrap: indices end at U64_MAX / MOCK_IO_PAGE_SIZE.
 */
int mock_domain_for_each(struct iommu_domain *domain, u64 first, u64 last,
			 int (*fn)(void *arg, u64 iova, u64 paddr, int prot),
			 void *arg)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 index = first / MOCK_IO_PAGE_SIZE;
	u64 last_index = last / MOCK_IO_PAGE_SIZE;
	void *entry;
	u64 value;
	int rc;

	if (first > last)
		return 0;
	for (;;) {
		pthread_mutex_lock(&mock->lock);
		entry = index_store_find(&mock->pfns, &index, last_index);
		pthread_mutex_unlock(&mock->lock);
		if (!entry)
			return 0;
		value = index_store_value(entry);
		rc = fn(arg, index * MOCK_IO_PAGE_SIZE, mock_paddr(value),
			mock_prot(value));
		if (rc)
			return rc;
		index++;
	}
}

void mock_domain_get_stats(struct iommu_domain *domain,
			   struct mock_domain_stats *stats)
{
	struct mock_domain *mock = to_mock_domain(domain);

	pthread_mutex_lock(&mock->lock);
	*stats = mock->stats;
	pthread_mutex_unlock(&mock->lock);
}

void mock_domain_fail_nth_map(struct iommu_domain *domain, unsigned int nth)
{
	struct mock_domain *mock = to_mock_domain(domain);

	pthread_mutex_lock(&mock->lock);
	mock->fail_nth_map = nth;
	pthread_mutex_unlock(&mock->lock);
}

bool is_mock_domain(const struct iommu_domain *domain)
{
	return domain && domain->ops == &mock_domain_ops;
}

/* Translations still present are dropped: they hold no references. */
static void mock_domain_free(struct iommu_domain *domain)
{
	struct mock_domain *mock = to_mock_domain(domain);

	index_store_destroy(&mock->pfns);
	pthread_mutex_destroy(&mock->lock);
	mem_free(mock);
}

struct iommu_domain *mock_domain_alloc(unsigned int flags)
{
	struct mock_domain *mock;
	int rc;

	if (flags & ~MOCK_DOMAIN_HUGE_PAGES) {
		err_reason(-EINVAL, "unknown mock domain flags %#x",
			   flags & ~MOCK_DOMAIN_HUGE_PAGES);
		return NULL;
	}
	mock = mem_zalloc(sizeof(*mock));
	if (!mock)
		return NULL;
	rc = pthread_mutex_init(&mock->lock, NULL);
	if (rc) {
		err_reason(-rc, "mock domain: cannot create its lock");
		goto err_free;
	}
	index_store_init(&mock->pfns);
	mock->domain.ops = &mock_domain_ops;
	mock->domain.pgsize_bitmap = MOCK_IO_PAGE_SIZE;
	if (flags & MOCK_DOMAIN_HUGE_PAGES)
		mock->domain.pgsize_bitmap |= MOCK_HUGE_PAGE_SIZE;
	mock->domain.aperture_start = MOCK_APERTURE_START;
	mock->domain.aperture_last = MOCK_APERTURE_LAST;
	mock->domain.reserved = NULL;
	mock->domain.nr_reserved = 0;
	return &mock->domain;

err_free:
	mem_free(mock);
	return NULL;
}

static const struct iommu_domain_ops mock_domain_ops = {
	.map = mock_domain_map,
	.unmap = mock_domain_unmap,
	.iova_to_phys = mock_domain_iova_to_phys,
	.iova_to_phys_run = mock_domain_iova_to_phys_run,
	.free = mock_domain_free,
};
