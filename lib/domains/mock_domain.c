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
 *
 * IO page table entries. With MOCK_HUGE_PAGE_SIZE offered, every aligned
 * block of MOCK_HUGE_PAGE_SIZE that one map call covers whole, at an IOVA
 * and a physical address both aligned to it, is one entry (its IO pages
 * carry HUGE), as the kernel's core would map it; everything else is an
 * entry of the smallest IO page size. An unmap that cuts into a huge entry
 * leaves the rest as small entries.
 *
 * Dirty tracking (MOCK_DOMAIN_DIRTY_TRACKING) keeps one dirty bit per IO
 * page in a second store: chunk number -> struct mock_dirty_chunk, 4096
 * bits with a count and a word summary, so reads skip clean words and
 * chunks. A dirty entry has the bits of all its IO pages set; entries are
 * set and cleared whole. A chunk exists exactly while some IO page in its
 * span is mapped: map allocates it (all or nothing, with the map), so
 * marking, reading and unmapping never allocate.
 */
#include "domains/mock_domain.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

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
#define MOCK_HUGE (1ULL << 57)	/* part of a huge IO page table entry */

_Static_assert(((MOCK_PROT_MASK << MOCK_PROT_SHIFT) | MOCK_LAST | MOCK_START |
		MOCK_HUGE | MOCK_PFN_MASK) <= INDEX_STORE_VALUE_MAX,
	       "mock translation does not fit an index store value");
_Static_assert(!((MOCK_PROT_MASK << MOCK_PROT_SHIFT) & MOCK_HUGE),
	       "mock tags overlap");
_Static_assert(U64_MAX / MOCK_IO_PAGE_SIZE <= MOCK_PFN_MASK,
	       "mock frame number field too small");

#define MOCK_IO_PAGE_SHIFT 11
_Static_assert(MOCK_IO_PAGE_SIZE == 1ULL << MOCK_IO_PAGE_SHIFT,
	       "the mock IO page's shift");

/* IO pages in a huge entry. */
#define MOCK_HUGE_IO_PAGES (MOCK_HUGE_PAGE_SIZE / MOCK_IO_PAGE_SIZE)

/* Dirty bits: 64 words of 64 IO pages per chunk (8 MiB of IOVA). */
#define MOCK_DIRTY_CHUNK_SHIFT 12
#define MOCK_DIRTY_CHUNK_PAGES (1ULL << MOCK_DIRTY_CHUNK_SHIFT)
#define MOCK_DIRTY_CHUNK_WORDS (MOCK_DIRTY_CHUNK_PAGES / 64)
_Static_assert(MOCK_DIRTY_CHUNK_WORDS == 64, "one summary word per chunk");
/* An entry never spans chunks, so marking one touches one chunk. */
_Static_assert(MOCK_DIRTY_CHUNK_PAGES % MOCK_HUGE_IO_PAGES == 0,
	       "a huge entry must not cross dirty chunks");

struct mock_dirty_chunk {
	u64 nonzero;		/* bit w: words[w] != 0 */
	u64 nr_dirty;		/* bits set in words[] */
	u64 words[MOCK_DIRTY_CHUNK_WORDS];
};

struct mock_domain {
	struct iommu_domain domain;
	pthread_mutex_t lock;
	struct index_store pfns;
	struct mock_domain_stats stats;
	unsigned int fail_nth_map;
	/* IO pages in an entry that is not huge (1, or 2 for IOMMUPT_HUGE) */
	unsigned int entry_pages;
	/* Dirty tracking, only with dirty_ops set. */
	bool dirty_tracking;
	struct index_store dirty;	/* struct mock_dirty_chunk by number */
};

static const struct iommu_domain_ops mock_domain_ops;
static const struct iommu_dirty_ops mock_dirty_ops;

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

static inline bool mock_has_dirty(const struct mock_domain *mock)
{
	return mock->domain.dirty_ops;
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

/*
 * The huge entries a map of IO pages [first, last] to frames from @pfn
 * makes: the whole aligned blocks inside it, when IOVA and frames are
 * aligned alike. False when there are none.
 */
static bool mock_huge_span(struct mock_domain *mock, u64 first, u64 last,
			   u64 pfn, u64 *hfirst, u64 *hlast)
{
	u64 end = last + 1;	/* no wrap: indices end at U64_MAX / 2 KiB */

	if (!mock_has_huge(mock) || (pfn - first) % MOCK_HUGE_IO_PAGES)
		return false;
	*hfirst = align_down(first + MOCK_HUGE_IO_PAGES - 1,
			     MOCK_HUGE_IO_PAGES);
	end = align_down(end, MOCK_HUGE_IO_PAGES);
	if (end <= *hfirst)
		return false;
	*hlast = end - 1;
	return true;
}

/*
 * Store the values of IO pages [first, end) (a part of a map call; end,
 * not last, so an empty part at index 0 does not wrap).
 */
static int mock_store_part(struct mock_domain *mock, u64 first, u64 end,
			   u64 pfn, u64 tags, int prot)
{
	if (first == end)
		return 0;
	return index_store_store_values(&mock->pfns, first, end - 1,
					mock_mk(pfn, tags, prot));
}

/* Add @tags to the value already at @index (present: cannot fail). */
static void mock_tag(struct mock_domain *mock, u64 index, u64 tags)
{
	u64 value;

	if (mock_load(mock, index, &value))
		index_store_store(&mock->pfns, index,
				  index_store_mk_value(value | tags));
}

/*
 * Store IO pages [first, last] translating to frames from @pfn; the range
 * is empty. The run goes in as up to three parts (small, huge, small),
 * then the first and last pages get their tags by replacing what is there,
 * which cannot fail. On -ENOMEM whatever was stored is erased again, which
 * leaves the store exactly as it was (its shape follows the indices it
 * holds).
 */
static int mock_store(struct mock_domain *mock, u64 first, u64 last, u64 pfn,
		      int prot)
{
	u64 hfirst, hlast;
	int rc;

	if (mock_huge_span(mock, first, last, pfn, &hfirst, &hlast)) {
		rc = mock_store_part(mock, first, hfirst, pfn, 0, prot);
		if (!rc)
			rc = mock_store_part(mock, hfirst, hlast + 1,
					     pfn + (hfirst - first), MOCK_HUGE,
					     prot);
		if (!rc)
			rc = mock_store_part(mock, hlast + 1, last + 1,
					     pfn + (hlast + 1 - first), 0,
					     prot);
	} else {
		rc = mock_store_part(mock, first, last + 1, pfn, 0, prot);
	}
	if (rc) {
		index_store_erase_range(&mock->pfns, first, last);
		return rc;
	}
	mock_tag(mock, first, MOCK_START);
	mock_tag(mock, last, MOCK_LAST);
	return 0;
}

/* ---- dirty chunks ---- */

static inline struct mock_dirty_chunk *mock_chunk(struct mock_domain *mock,
						  u64 nr)
{
	return index_store_load(&mock->dirty, nr);
}

/* Whether any IO page of chunk @nr is mapped. */
static bool mock_chunk_mapped(struct mock_domain *mock, u64 nr)
{
	u64 index = nr << MOCK_DIRTY_CHUNK_SHIFT;

	return index_store_find(&mock->pfns, &index,
				index + MOCK_DIRTY_CHUNK_PAGES - 1);
}

/*
 * Free the chunks among those of IO pages [first, last] that cover no
 * mapped IO page any more. Never allocates.
 */
static void mock_dirty_release(struct mock_domain *mock, u64 first, u64 last)
{
	struct mock_dirty_chunk *chunk;
	u64 nr;

	index_store_for_each_range(&mock->dirty, nr, chunk,
				   first >> MOCK_DIRTY_CHUNK_SHIFT,
				   last >> MOCK_DIRTY_CHUNK_SHIFT) {
		if (mock_chunk_mapped(mock, nr))
			continue;
		mock->stats.dirty_io_pages -= chunk->nr_dirty;
		mock->stats.dirty_chunks--;
		index_store_erase(&mock->dirty, nr);
		mem_free(chunk);
	}
}

/*
 * Make sure every chunk of IO pages [first, last], which are not mapped,
 * exists. On -ENOMEM the chunks made here go again: they cover no mapped
 * IO page, while every chunk that was there before does.
 */
static int mock_dirty_prepare(struct mock_domain *mock, u64 first, u64 last)
{
	u64 nr, last_nr = last >> MOCK_DIRTY_CHUNK_SHIFT;
	struct mock_dirty_chunk *chunk;

	for (nr = first >> MOCK_DIRTY_CHUNK_SHIFT;; nr++) {
		if (!mock_chunk(mock, nr)) {
			chunk = mem_zalloc(sizeof(*chunk));
			if (!chunk)
				goto err_release;
			if (index_store_store(&mock->dirty, nr, chunk)) {
				mem_free(chunk);
				err_reason(-ENOMEM,
					   "mock domain: no memory for dirty bits");
				goto err_release;
			}
			mock->stats.dirty_chunks++;
		}
		if (nr == last_nr)
			return 0;
	}

err_release:
	mock_dirty_release(mock, first, last);
	return -ENOMEM;
}

/* The bits of word @w that lie in chunk page offsets [lo, hi]. */
static inline u64 mock_word_mask(unsigned int w, u64 lo, u64 hi)
{
	u64 mask = ~0ULL;

	if (lo > w * 64ULL)
		mask &= ~0ULL << (lo - w * 64);
	if (hi < w * 64ULL + 63)
		mask &= ~0ULL >> (w * 64 + 63 - hi);
	return mask;
}

/* Words [lo / 64, hi / 64] of a chunk as summary bits. */
static inline u64 mock_summary_mask(u64 lo, u64 hi)
{
	return (~0ULL << (lo / 64)) & (~0ULL >> (63 - hi / 64));
}

/*
 * Bits set in @x, without the library call the compiler makes of
 * __builtin_popcountll() for a CPU it may not assume has the instruction.
 */
static inline unsigned int mock_popcount(u64 x)
{
	if (x == ~0ULL)
		return 64;
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (x * 0x0101010101010101ULL) >> 56;
}

/* Set (or clear) @mask in word @w of @chunk, keeping the counts. */
static void mock_chunk_update(struct mock_domain *mock,
			      struct mock_dirty_chunk *chunk, unsigned int w,
			      u64 mask, bool set)
{
	u64 old = chunk->words[w];
	u64 new = set ? old | mask : old & ~mask;
	unsigned int delta = mock_popcount(old ^ new);

	if (!delta)
		return;
	chunk->words[w] = new;
	if (set) {
		chunk->nr_dirty += delta;
		mock->stats.dirty_io_pages += delta;
		chunk->nonzero |= 1ULL << w;
	} else {
		chunk->nr_dirty -= delta;
		mock->stats.dirty_io_pages -= delta;
		if (!new)
			chunk->nonzero &= ~(1ULL << w);
	}
}

/* Set or clear the dirty bits of IO pages [first, last], all mapped. */
static void mock_dirty_update(struct mock_domain *mock, u64 first, u64 last,
			      bool set)
{
	struct mock_dirty_chunk *chunk;
	u64 nr, base, lo, hi;

	index_store_for_each_range(&mock->dirty, nr, chunk,
				   first >> MOCK_DIRTY_CHUNK_SHIFT,
				   last >> MOCK_DIRTY_CHUNK_SHIFT) {
		base = nr << MOCK_DIRTY_CHUNK_SHIFT;
		lo = max(first, base) - base;
		hi = min(last, base + MOCK_DIRTY_CHUNK_PAGES - 1) - base;
		if (!set && !chunk->nr_dirty)
			continue;
		for (unsigned int w = lo / 64; w <= hi / 64; w++)
			mock_chunk_update(mock, chunk, w,
					  mock_word_mask(w, lo, hi), set);
	}
}

/*
 * The IO pages of the entry that holds mapped IO page @index (@value is
 * its translation).
 */
static void mock_entry(struct mock_domain *mock, u64 index, u64 value,
		       u64 *first, u64 *last)
{
	u64 n = value & MOCK_HUGE ? MOCK_HUGE_IO_PAGES : mock->entry_pages;

	*first = align_down(index, n);
	*last = *first + n - 1;
}

/* Drop HUGE from IO pages [first, last], all mapped. */
static void mock_untag_huge(struct mock_domain *mock, u64 first, u64 last)
{
	u64 value;

	for (u64 index = first; index <= last; index++)
		if (mock_load(mock, index, &value))
			index_store_store(&mock->pfns, index,
					  index_store_mk_value(value &
							       ~MOCK_HUGE));
}

/*
 * After an unmap of [first, last]: what is left of a huge entry it cut
 * into is small entries now. A huge entry is a whole mapped block, so the
 * IO page next to the cut says. Only rewrites values already present.
 */
static void mock_split_huge(struct mock_domain *mock, u64 first, u64 last)
{
	u64 block = align_down(first, MOCK_HUGE_IO_PAGES), value;

	if (first != block && mock_load(mock, first - 1, &value) &&
	    (value & MOCK_HUGE))
		mock_untag_huge(mock, block, first - 1);
	block = align_down(last, MOCK_HUGE_IO_PAGES) + MOCK_HUGE_IO_PAGES - 1;
	if (last != block && mock_load(mock, last + 1, &value) &&
	    (value & MOCK_HUGE))
		mock_untag_huge(mock, last + 1, block);
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
	if (mock_has_dirty(mock)) {
		rc = mock_dirty_prepare(mock, first, last);
		if (rc)
			return rc;
	}
	rc = mock_store(mock, first, last, pfn, prot);
	if (rc) {
		if (mock_has_dirty(mock))
			mock_dirty_release(mock, first, last);
		return rc;
	}
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
	if (mock_has_huge(mock))
		mock_split_huge(mock, first, last);
	/* Unmapped IOVA is clean; chunks left with nothing mapped go. */
	if (mock_has_dirty(mock)) {
		mock_dirty_update(mock, first, last, false);
		mock_dirty_release(mock, first, last);
	}
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

/* ---- dirty tracking ---- */

static int mock_set_dirty_tracking(struct iommu_domain *domain, bool enable)
{
	struct mock_domain *mock = to_mock_domain(domain);

	pthread_mutex_lock(&mock->lock);
	mock->dirty_tracking = enable;
	pthread_mutex_unlock(&mock->lock);
	return 0;
}

/* Words of 64 dirty IO pages in a row, reported as one run. */
struct mock_full_run {
	u64 first;	/* IO page */
	u64 n;		/* IO pages */
};

static void mock_full_flush(struct mock_full_run *run,
			    struct iommu_dirty_bitmap *dirty)
{
	/* No wrap: an aperture never reaches the top IO page. */
	if (run->n)
		iommu_dirty_bitmap_record(dirty, run->first * MOCK_IO_PAGE_SIZE,
					  run->n * MOCK_IO_PAGE_SIZE);
	run->n = 0;
}

/*
 * Report word @w of 64 IO pages from IO page @index: a full one joins the
 * run of full words (huge entries make long ones), any other goes as a
 * word.
 */
static void mock_full_add(struct mock_full_run *run, u64 index, u64 n,
			  struct iommu_dirty_bitmap *dirty)
{
	if (run->n && run->first + run->n == index) {
		run->n += n;
		return;
	}
	mock_full_flush(run, dirty);
	run->first = index;
	run->n = n;
}

static void mock_report(struct mock_full_run *run, u64 index, u64 bits,
			struct iommu_dirty_bitmap *dirty)
{
	if (bits == ~0ULL) {
		mock_full_add(run, index, 64, dirty);
		return;
	}
	mock_full_flush(run, dirty);
	iommu_dirty_bitmap_record_word(dirty, index * MOCK_IO_PAGE_SIZE, bits,
				       MOCK_IO_PAGE_SHIFT);
}

/*
 * Entries are read and cleared whole: the range widens to the entries at
 * its two ends, and what lies outside is the caller's to clip. Clean
 * words and chunks are skipped through the summary and the counts.
 */
static int mock_read_and_clear_dirty(struct iommu_domain *domain, u64 iova,
				     u64 size, unsigned int flags,
				     struct iommu_dirty_bitmap *dirty)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 first = iova / MOCK_IO_PAGE_SIZE;
	u64 last = (iova + (size - 1)) / MOCK_IO_PAGE_SIZE;
	bool clear = !(flags & IOMMU_DIRTY_NO_CLEAR);
	struct mock_full_run run = { 0, 0 };
	struct mock_dirty_chunk *chunk;
	u64 nr, base, lo, hi, value, ignored, wmask, bits;
	bool whole;

	pthread_mutex_lock(&mock->lock);
	if (!mock->stats.dirty_io_pages)
		goto out;
	if (mock_load(mock, first, &value))
		mock_entry(mock, first, value, &first, &ignored);
	if (mock_load(mock, last, &value))
		mock_entry(mock, last, value, &ignored, &last);
	index_store_for_each_range(&mock->dirty, nr, chunk,
				   first >> MOCK_DIRTY_CHUNK_SHIFT,
				   last >> MOCK_DIRTY_CHUNK_SHIFT) {
		if (!chunk->nr_dirty)
			continue;
		base = nr << MOCK_DIRTY_CHUNK_SHIFT;
		lo = max(first, base) - base;
		hi = min(last, base + MOCK_DIRTY_CHUNK_PAGES - 1) - base;
		whole = !lo && hi == MOCK_DIRTY_CHUNK_PAGES - 1;
		/* All of it dirty (huge entries do that): one run. */
		if (whole && chunk->nr_dirty == MOCK_DIRTY_CHUNK_PAGES) {
			mock_full_add(&run, base, MOCK_DIRTY_CHUNK_PAGES, dirty);
			if (clear) {
				memset(chunk->words, 0, sizeof(chunk->words));
				mock->stats.dirty_io_pages -= chunk->nr_dirty;
				chunk->nr_dirty = 0;
				chunk->nonzero = 0;
			}
			continue;
		}
		wmask = chunk->nonzero & mock_summary_mask(lo, hi);
		while (wmask) {
			unsigned int w = __builtin_ctzll(wmask);

			wmask &= wmask - 1;
			bits = chunk->words[w] & mock_word_mask(w, lo, hi);
			mock_report(&run, base + w * 64ULL, bits, dirty);
			if (clear && whole)
				chunk->words[w] = 0;
			else if (clear)
				mock_chunk_update(mock, chunk, w, bits, false);
		}
		/* All of the chunk read: its counts go in one step. */
		if (clear && whole) {
			mock->stats.dirty_io_pages -= chunk->nr_dirty;
			chunk->nr_dirty = 0;
			chunk->nonzero = 0;
		}
	}
	mock_full_flush(&run, dirty);
out:
	pthread_mutex_unlock(&mock->lock);
	return 0;
}

/* Mark the entry that holds @iova dirty: 0, or -ENOENT if unmapped. */
static int mock_set_dirty_locked(struct mock_domain *mock, u64 iova)
{
	u64 index = iova / MOCK_IO_PAGE_SIZE, value, first, last;

	if (!mock_load(mock, index, &value))
		return -ENOENT;
	mock_entry(mock, index, value, &first, &last);
	mock_dirty_update(mock, first, last, true);
	return 0;
}

static int mock_check_dirty_ops(struct mock_domain *mock)
{
	if (!mock_has_dirty(mock))
		return err_reason(-EOPNOTSUPP,
				  "mock domain: made without dirty tracking");
	return 0;
}

int mock_domain_set_dirty(struct iommu_domain *domain, u64 iova)
{
	struct mock_domain *mock = to_mock_domain(domain);
	int rc = mock_check_dirty_ops(mock);

	if (rc)
		return rc;
	pthread_mutex_lock(&mock->lock);
	rc = mock_set_dirty_locked(mock, iova);
	pthread_mutex_unlock(&mock->lock);
	if (rc)
		return err_reason(rc, "mock domain: iova %#llx is not mapped",
				  (unsigned long long)iova);
	return 0;
}

bool mock_domain_dirty_tracking(struct iommu_domain *domain)
{
	struct mock_domain *mock = to_mock_domain(domain);
	bool on;

	pthread_mutex_lock(&mock->lock);
	on = mock->dirty_tracking;
	pthread_mutex_unlock(&mock->lock);
	return on;
}

int mock_domain_set_dirty_bitmap(struct iommu_domain *domain, u64 iova,
				 u64 page_size, const u64 *bits, u64 nbits,
				 u64 *nr_set)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 count = 0, span, last;
	int rc = mock_check_dirty_ops(mock);

	if (rc)
		return rc;
	if (!page_size)
		return err_reason(-EINVAL, "mock domain: dirty page size 0");
	if (nbits && (check_mul_overflow(nbits - 1, page_size, &span) ||
		      check_add_overflow(iova, span, &last)))
		return err_reason(-EOVERFLOW,
				  "mock domain: %llu dirty bits of %#llx bytes from iova %#llx wrap",
				  (unsigned long long)nbits,
				  (unsigned long long)page_size,
				  (unsigned long long)iova);
	pthread_mutex_lock(&mock->lock);
	if (!mock->dirty_tracking) {
		pthread_mutex_unlock(&mock->lock);
		return err_reason(-EINVAL,
				  "mock domain: dirty tracking is not enabled");
	}
	for (u64 word = 0; word * 64 < nbits; word++) {
		u64 w = bits[word];

		if (nbits - word * 64 < 64)
			w &= ~0ULL >> (64 - (nbits - word * 64));
		while (w) {
			u64 i = word * 64 + __builtin_ctzll(w);

			w &= w - 1;
			/* Unmapped IOVA is counted but marks nothing. */
			mock_set_dirty_locked(mock, iova + i * page_size);
			count++;
		}
	}
	pthread_mutex_unlock(&mock->lock);
	*nr_set = count;
	return 0;
}

u64 mock_domain_dirty_peek(struct iommu_domain *domain, u64 iova, u64 nr,
			   u64 *bits)
{
	struct mock_domain *mock = to_mock_domain(domain);
	u64 first = iova / MOCK_IO_PAGE_SIZE, count = 0;
	struct mock_dirty_chunk *chunk = NULL;
	u64 chunk_nr = U64_MAX;

	memset(bits, 0, (nr + 63) / 64 * sizeof(u64));
	if (!mock_has_dirty(mock))
		return 0;
	pthread_mutex_lock(&mock->lock);
	for (u64 i = 0; i != nr; i++) {
		u64 index = first + i, off;

		if (index >> MOCK_DIRTY_CHUNK_SHIFT != chunk_nr) {
			chunk_nr = index >> MOCK_DIRTY_CHUNK_SHIFT;
			chunk = mock_chunk(mock, chunk_nr);
		}
		off = index & (MOCK_DIRTY_CHUNK_PAGES - 1);
		if (chunk && (chunk->words[off / 64] >> (off % 64) & 1)) {
			bits[i / 64] |= 1ULL << (i % 64);
			count++;
		}
	}
	pthread_mutex_unlock(&mock->lock);
	return count;
}

bool is_mock_domain(const struct iommu_domain *domain)
{
	return domain && domain->ops == &mock_domain_ops;
}

/* Translations still present are dropped: they hold no references. */
static void mock_domain_free(struct iommu_domain *domain)
{
	struct mock_domain *mock = to_mock_domain(domain);
	struct mock_dirty_chunk *chunk;
	u64 nr;

	index_store_for_each(&mock->dirty, nr, chunk)
		mem_free(chunk);
	index_store_destroy(&mock->dirty);
	index_store_destroy(&mock->pfns);
	pthread_mutex_destroy(&mock->lock);
	mem_free(mock);
}

#define MOCK_DOMAIN_FLAGS                                                  \
	(MOCK_DOMAIN_HUGE_PAGES | MOCK_DOMAIN_DIRTY_TRACKING |             \
	 MOCK_DOMAIN_IOMMUPT_HUGE)

struct iommu_domain *mock_domain_alloc(unsigned int flags)
{
	struct mock_domain *mock;
	int rc;

	if (flags & ~MOCK_DOMAIN_FLAGS) {
		err_reason(-EINVAL, "unknown mock domain flags %#x",
			   flags & ~MOCK_DOMAIN_FLAGS);
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
	index_store_init(&mock->dirty);
	mock->domain.ops = &mock_domain_ops;
	mock->domain.pgsize_bitmap = MOCK_IO_PAGE_SIZE;
	mock->domain.aperture_start = MOCK_APERTURE_START;
	mock->domain.aperture_last = MOCK_APERTURE_LAST;
	if (flags & MOCK_DOMAIN_HUGE_PAGES)
		mock->domain.pgsize_bitmap |= MOCK_HUGE_PAGE_SIZE;
	if (flags & MOCK_DOMAIN_IOMMUPT_HUGE) {
		/* The page table's own geometry: the kernel keeps it. */
		mock->domain.pgsize_bitmap = PAGE_SIZE | MOCK_HUGE_PAGE_SIZE;
		mock->domain.aperture_start = 0;
		mock->domain.aperture_last = MOCK_IOMMUPT_APERTURE_LAST;
	}
	mock->entry_pages =
		iommu_domain_min_pgsize(&mock->domain) / MOCK_IO_PAGE_SIZE;
	mock->domain.reserved = NULL;
	mock->domain.nr_reserved = 0;
	if (flags & MOCK_DOMAIN_DIRTY_TRACKING)
		mock->domain.dirty_ops = &mock_dirty_ops;
	return &mock->domain;

err_free:
	mem_free(mock);
	return NULL;
}

static const struct iommu_dirty_ops mock_dirty_ops = {
	.set_dirty_tracking = mock_set_dirty_tracking,
	.read_and_clear_dirty = mock_read_and_clear_dirty,
};

static const struct iommu_domain_ops mock_domain_ops = {
	.map = mock_domain_map,
	.unmap = mock_domain_unmap,
	.iova_to_phys = mock_domain_iova_to_phys,
	.iova_to_phys_run = mock_domain_iova_to_phys_run,
	.free = mock_domain_free,
};
