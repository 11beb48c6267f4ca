// SPDX-License-Identifier: MIT
/*
 * io_pagetable: the IO address space. Map (user and file pages, fixed and
 * automatic IOVA), copy, unmap, reserved/allowed/usable ranges, alignment,
 * domains, accesses (pin, unpin, rw, unmap notification), the VFIO type1
 * paths (cut, no large pages), the kernel's known defect classes by name
 * (PITFALLS.md), boundary inputs for every operation and fail-nth sweeps.
 *
 * Test memory is anonymous and private, so a page's PFN is its address
 * >> PAGE_SHIFT and a mock domain must translate IOVA x of a mapping of
 * user address u at IOVA i to exactly u + (x - i). The buffer is 2 MiB
 * aligned so the user address never lowers the automatic IOVA alignment
 * below what the length asks for.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "harness/test.h"
#include "iopt/access.h"
#include "iopt/accounting.h"
#include "iopt/io_pagetable.h"
#include "iopt/iova_space.h"
#include "iopt/pages.h"
#include "iopt/pfn_batch.h"
#include "iopt/pin_count.h"

#define BUF_PAGES 64
#define BUF_SIZE (BUF_PAGES * PAGE_SIZE)
#define NDOMAINS 3
#define HUGE_ALIGN (2ULL << 20)
#define MOCK_PG MOCK_IO_PAGE_SIZE
/* Somewhere inside the mock aperture, 2 MiB aligned. */
#define IOVA (MOCK_APERTURE_START + 0x200000)
#define RW (IOMMU_READ | IOMMU_WRITE)
#define ACCT_NONE IOPT_PAGES_ACCOUNT_NONE
#define ACCT_USER IOPT_PAGES_ACCOUNT_USER
#define P(n) ((u64)(n) * PAGE_SIZE)

struct env {
	struct io_pagetable iopt;
	struct io_pagetable iopt2;	/* a second IOAS, for copies */
	struct iommu_domain *domains[NDOMAINS];
	struct io_pagetable *attached[NDOMAINS];
	char *buf;			/* BUF_PAGES pages, 2 MiB aligned */
	void *map;			/* NULL: the buffers are borrowed */
	size_t map_len;
	/* Optional: SBUF_PAGES of anonymous and scrambled memfd pages. */
	char *sbuf;
	u64 *spfns;
};

#define SBUF_PAGES 16

static u8 pattern(u64 off)
{
	return (u8)(off * 7 + off / PAGE_SIZE * 13 + 1);
}

static void fill_pattern(char *p, u64 len)
{
	for (u64 i = 0; i != len; i++)
		p[i] = (char)pattern(i);
}

/* Anonymous memory of @len bytes, aligned to @align. */
static char *alloc_aligned(u64 len, u64 align, void **map, size_t *map_len)
{
	char *p;

	*map_len = len + align;
	*map = mmap(NULL, *map_len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*map == MAP_FAILED)
		return NULL;
	p = (char *)(((uintptr_t)*map + align - 1) & ~(uintptr_t)(align - 1));
	return p;
}

static void env_init(struct env *env)
{
	memset(env, 0, sizeof(*env));
	iopt_init_table(&env->iopt);
	iopt_init_table(&env->iopt2);
	env->buf = alloc_aligned(BUF_SIZE, HUGE_ALIGN, &env->map,
				 &env->map_len);
	ASSERT_NONNULL(env->buf);
	fill_pattern(env->buf, BUF_SIZE);
	for (int i = 0; i != NDOMAINS; i++) {
		env->domains[i] = mock_domain_alloc(0);
		ASSERT_NONNULL(env->domains[i]);
	}
}

static void env_destroy(struct env *env)
{
	u64 unmapped;

	ASSERT_EQ(0, iopt_unmap_all(&env->iopt, &unmapped));
	ASSERT_EQ(0, iopt_unmap_all(&env->iopt2, &unmapped));
	for (int i = 0; i != NDOMAINS; i++) {
		if (env->attached[i])
			iopt_table_remove_domain(env->attached[i],
						 env->domains[i]);
		iommu_domain_free(env->domains[i]);
	}
	iopt_destroy_table(&env->iopt);
	iopt_destroy_table(&env->iopt2);
	if (env->map)
		munmap(env->map, env->map_len);
}

static u64 ubuf(struct env *env, u64 off)
{
	return (uintptr_t)env->buf + off;
}

static int attach_to(struct env *env, int d, struct io_pagetable *iopt)
{
	int rc = iopt_table_add_domain(iopt, env->domains[d]);

	if (!rc)
		env->attached[d] = iopt;
	return rc;
}

static int attach(struct env *env, int d)
{
	return attach_to(env, d, &env->iopt);
}

static void detach(struct env *env, int d)
{
	iopt_table_remove_domain(env->attached[d], env->domains[d]);
	env->attached[d] = NULL;
}

static int map_fixed(struct io_pagetable *iopt, u64 iova, u64 uptr, u64 len,
		     int prot)
{
	return iopt_map_user_pages(iopt, &iova, uptr, len, prot, 0, ACCT_USER);
}

static int map_auto(struct io_pagetable *iopt, u64 *iova, u64 uptr, u64 len,
		    int prot)
{
	*iova = 0xdeadbeef;
	return iopt_map_user_pages(iopt, iova, uptr, len, prot,
				   IOPT_ALLOC_IOVA, ACCT_USER);
}

static int unmap(struct io_pagetable *iopt, u64 iova, u64 len, u64 *unmapped)
{
	return iopt_unmap_iova(iopt, iova, len, unmapped);
}

/* The call fails with exactly @err and records why. */
#define ASSERT_FAILS(err, call)                                            \
	do {                                                               \
		int _rc;                                                   \
		err_reason_clear();                                        \
		_rc = (call);                                              \
		if (_rc != (int)(err))                                     \
			TH_LOG("%s: %d (%s)", #call, _rc,                  \
			       err_reason_get() ?: "no reason");           \
		ASSERT_EQ((int)(err), _rc);                                \
		if (!err_reason_get())                                     \
			TH_LOG("%s: no reason recorded", #call);           \
		ASSERT_NONNULL(err_reason_get());                          \
	} while (0)

#define ASSERT_OK(call)                                                    \
	do {                                                               \
		int _rc;                                                   \
		err_reason_clear();                                        \
		_rc = (call);                                              \
		if (_rc)                                                   \
			TH_LOG("%s: %d (%s)", #call, _rc,                  \
			       err_reason_get() ?: "no reason");           \
		ASSERT_EQ(0, _rc);                                         \
	} while (0)

/* ---- checks ----------------------------------------------------------- */

static u64 count_areas(struct io_pagetable *iopt)
{
	struct iopt_area *area;
	u64 n = 0;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX))
		n++;
	return n;
}

/* Bytes of IOVA covered by areas. */
static u64 area_bytes(struct io_pagetable *iopt)
{
	struct iopt_area *area;
	u64 n = 0;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX))
		n += iopt_area_length(area);
	return n;
}

/* [iova, iova + len) is exactly one area. */
static void check_one_area(struct io_pagetable *iopt, u64 iova, u64 len)
{
	struct iopt_area *area = iopt_area_iter_first(iopt, iova,
						      iova + len - 1);

	ASSERT_NONNULL(area);
	ASSERT_NONNULL(area->pages);
	ASSERT_EQ(iova, iopt_area_iova(area));
	ASSERT_EQ(iova + len - 1, iopt_area_last_iova(area));
	ASSERT_NULL(iopt_area_iter_next(area, iova, iova + len - 1));
}

static bool range_has_area(struct io_pagetable *iopt, u64 iova, u64 last)
{
	return iopt_area_iter_first(iopt, iova, last);
}

/*
 * The domain translates [iova, iova + len) to user memory [uptr, ...) with
 * @prot, every IO page of it, and the first and last byte exactly.
 */
static void check_map(struct iommu_domain *domain, u64 iova, u64 uptr,
		      u64 len, int prot)
{
	int p;

	for (u64 off = 0; off < len; off += MOCK_PG) {
		u64 paddr = mock_domain_lookup(domain, iova + off, &p);

		if (paddr != uptr + off)
			TH_LOG("iova %#llx: paddr %#llx, want %#llx",
			       (unsigned long long)(iova + off),
			       (unsigned long long)paddr,
			       (unsigned long long)(uptr + off));
		ASSERT_EQ(uptr + off, paddr);
		ASSERT_EQ(prot, p);
	}
	ASSERT_EQ(uptr + len - 1,
		  mock_domain_lookup(domain, iova + len - 1, NULL));
}

static int count_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	(*(u64 *)arg)++;
	return 0;
}

static u64 mapped_io_pages(struct iommu_domain *domain, u64 first, u64 last)
{
	u64 n = 0;

	mock_domain_for_each(domain, first, last, count_cb, &n);
	return n;
}

/* Exactly @io_pages IO pages mapped, and no contract violation. */
static void check_domain(struct iommu_domain *domain, u64 io_pages)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(domain, &st);
	ASSERT_EQ(io_pages, st.io_pages);
	ASSERT_EQ(io_pages, mapped_io_pages(domain, 0, U64_MAX));
	ASSERT_EQ(0, st.unmap_splits_map);
	ASSERT_EQ(0, st.unmap_not_mapped);
	ASSERT_EQ(0, st.map_over_mapped);
}

static void buf_pfns(struct env *env, u64 *pfns)
{
	for (u64 i = 0; i != BUF_PAGES; i++)
		pfns[i] = PHYS_PFN(ubuf(env, P(i)));
}

/* Pin counts of the buffer's pages, then the scrambled buffer's. */
static void get_pins(struct env *env, u64 *counts)
{
	u64 pfns[BUF_PAGES + SBUF_PAGES];
	u64 n = BUF_PAGES;

	buf_pfns(env, pfns);
	if (env->sbuf) {
		memcpy(pfns + BUF_PAGES, env->spfns,
		       SBUF_PAGES * sizeof(u64));
		n += SBUF_PAGES;
	} else {
		memset(counts + BUF_PAGES, 0, SBUF_PAGES * sizeof(u64));
	}
	ASSERT_EQ(0, iopt_pin_counts(pfns, n, counts));
}

static void check_pins(struct env *env, const u64 *want)
{
	u64 counts[BUF_PAGES + SBUF_PAGES];

	get_pins(env, counts);
	for (int i = 0; i != BUF_PAGES; i++) {
		if (counts[i] != want[i])
			TH_LOG("buffer page %d: %llu pins, want %llu", i,
			       (unsigned long long)counts[i],
			       (unsigned long long)want[i]);
		ASSERT_EQ(want[i], counts[i]);
	}
}

/* Buffer pages [first, first + n) pinned @count times, the rest not. */
static void check_pins_range(struct env *env, u64 first, u64 n, u64 count)
{
	u64 want[BUF_PAGES] = {};

	for (u64 i = first; i != first + n; i++)
		want[i] = count;
	check_pins(env, want);
}

static void check_nothing_pinned(struct env *env)
{
	check_pins_range(env, 0, 0, 0);
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
}

static void set_pins(u64 *want, u64 first, u64 n, u64 count)
{
	for (u64 i = first; i != first + n; i++)
		want[i] = count;
}

/* ---- state snapshots -------------------------------------------------- */

struct snap {
	u64 io_pages[NDOMAINS], map_sum[NDOMAINS];
	u64 areas[2], area_sum[2];
	u64 resv[2], resv_sum[2], allowed[2], allowed_sum[2];
	u64 align[2], ndomains[2], naccess[2];
	u64 counts[BUF_PAGES + SBUF_PAGES];
	u64 pinned, user_locked;
	long live;
};

static int sum_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	u64 *sum = arg;

	*sum = *sum * 31 + iova * 7 + paddr * 17 + (u64)prot;
	return 0;
}

static void snap_iopt(struct io_pagetable *iopt, struct snap *s, int i)
{
	struct interval_tree_node *node;
	struct iopt_area *area;
	u64 index;
	void *entry;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX)) {
		s->areas[i]++;
		s->area_sum[i] = s->area_sum[i] * 37 +
				 iopt_area_iova(area) * 3 +
				 iopt_area_last_iova(area) * 5 +
				 iopt_area_index(area) * 11 +
				 iopt_area_last_index(area) * 13 +
				 area->page_offset * 17 +
				 (u64)area->iommu_prot * 19 +
				 (area->storage_domain != NULL) * 23 +
				 area->num_accesses * 29 +
				 area->prevent_access * 31 +
				 (area->pages == NULL) * 41;
		if (area->pages)
			s->area_sum[i] += area->pages->npinned * 43 +
					  area->pages->refcount * 47;
	}
	interval_tree_for_each(node, &iopt->reserved_itree, 0, U64_MAX) {
		s->resv[i]++;
		s->resv_sum[i] = s->resv_sum[i] * 37 + node->start * 3 +
				 node->last * 5;
	}
	interval_tree_for_each(node, &iopt->allowed_itree, 0, U64_MAX) {
		s->allowed[i]++;
		s->allowed_sum[i] = s->allowed_sum[i] * 37 + node->start * 3 +
				    node->last * 5;
	}
	s->align[i] = iopt_iova_alignment(iopt);
	s->ndomains[i] = iopt->next_domain_id;
	index_store_for_each(&iopt->access_list, index, entry)
		s->naccess[i]++;
}

static void take_snap(struct env *env, struct snap *s)
{
	struct mock_domain_stats st;

	memset(s, 0, sizeof(*s));
	for (int d = 0; d != NDOMAINS; d++) {
		mock_domain_get_stats(env->domains[d], &st);
		ASSERT_EQ(0, st.unmap_splits_map);
		ASSERT_EQ(0, st.unmap_not_mapped);
		ASSERT_EQ(0, st.map_over_mapped);
		s->io_pages[d] = st.io_pages;
		mock_domain_for_each(env->domains[d], 0, U64_MAX, sum_cb,
				     &s->map_sum[d]);
	}
	snap_iopt(&env->iopt, s, 0);
	snap_iopt(&env->iopt2, s, 1);
	get_pins(env, s->counts);
	s->pinned = iopt_account_pinned();
	s->user_locked = iopt_account_user_locked(getuid());
	s->live = mem_live_count();
}

static void expect_snap(struct env *env, const struct snap *before)
{
	struct snap now;

	take_snap(env, &now);
	for (int d = 0; d != NDOMAINS; d++) {
		ASSERT_EQ(before->io_pages[d], now.io_pages[d]);
		ASSERT_EQ(before->map_sum[d], now.map_sum[d]);
	}
	for (int i = 0; i != 2; i++) {
		ASSERT_EQ(before->areas[i], now.areas[i]);
		ASSERT_EQ(before->area_sum[i], now.area_sum[i]);
		ASSERT_EQ(before->resv[i], now.resv[i]);
		ASSERT_EQ(before->resv_sum[i], now.resv_sum[i]);
		ASSERT_EQ(before->allowed[i], now.allowed[i]);
		ASSERT_EQ(before->allowed_sum[i], now.allowed_sum[i]);
		ASSERT_EQ(before->align[i], now.align[i]);
		ASSERT_EQ(before->ndomains[i], now.ndomains[i]);
		ASSERT_EQ(before->naccess[i], now.naccess[i]);
	}
	for (int i = 0; i != BUF_PAGES + SBUF_PAGES; i++)
		ASSERT_EQ(before->counts[i], now.counts[i]);
	ASSERT_EQ(before->pinned, now.pinned);
	ASSERT_EQ(before->user_locked, now.user_locked);
	ASSERT_EQ(before->live, now.live);
}

static void expect_same_pins(struct env *env, const struct snap *before)
{
	u64 counts[BUF_PAGES + SBUF_PAGES];

	get_pins(env, counts);
	for (int i = 0; i != BUF_PAGES + SBUF_PAGES; i++)
		ASSERT_EQ(before->counts[i], counts[i]);
}

/* ---- a test access ---------------------------------------------------- */

#define MAX_PINS 256

struct tacc {
	struct iopt_access *access;
	unsigned int calls;
	u64 iova, length;	/* of the last unmap notification */
	bool stubborn;		/* never unpins */
	void (*hook)(struct tacc *ta, u64 iova, u64 length);
	void *hook_data;
	struct {
		u64 iova, length;
	} pins[MAX_PINS];
	unsigned int npins;
};

static void tacc_unmap(void *data, u64 iova, u64 length)
{
	struct tacc *ta = data;
	u64 last = iova + length - 1;

	ta->calls++;
	ta->iova = iova;
	ta->length = length;
	if (ta->hook)
		ta->hook(ta, iova, length);
	if (ta->stubborn)
		return;
	for (unsigned int i = 0; i < ta->npins;) {
		u64 piova = ta->pins[i].iova, plen = ta->pins[i].length;

		if (piova <= last && piova + plen - 1 >= iova) {
			ASSERT_EQ(0, iopt_access_unpin_pages(ta->access, piova,
							     plen));
			ta->pins[i] = ta->pins[--ta->npins];
		} else {
			i++;
		}
	}
}

static const struct iopt_access_ops tacc_pin_ops = {
	.needs_pin_pages = true,
	.unmap = tacc_unmap,
};

static const struct iopt_access_ops tacc_rw_ops = {
	.needs_pin_pages = false,
	.unmap = tacc_unmap,
};

static void tacc_create(struct tacc *ta, struct io_pagetable *iopt,
			const struct iopt_access_ops *ops)
{
	memset(ta, 0, sizeof(*ta));
	ta->access = iopt_access_create(iopt, ops, ta);
	ASSERT_FALSE(IS_ERR(ta->access));
}

static int tacc_pin(struct tacc *ta, u64 iova, u64 length, u64 *pfns,
		    unsigned int flags)
{
	u64 dummy[BUF_PAGES + 2];
	int rc;

	rc = iopt_access_pin_pages(ta->access, iova, length, pfns ?: dummy, NULL,
				   flags);
	if (!rc) {
		ASSERT_LT(ta->npins, MAX_PINS);
		ta->pins[ta->npins].iova = iova;
		ta->pins[ta->npins].length = length;
		ta->npins++;
	}
	return rc;
}

static int tacc_unpin(struct tacc *ta, u64 iova, u64 length)
{
	int rc = iopt_access_unpin_pages(ta->access, iova, length);

	if (!rc) {
		for (unsigned int i = 0; i != ta->npins; i++) {
			if (ta->pins[i].iova == iova &&
			    ta->pins[i].length == length) {
				ta->pins[i] = ta->pins[--ta->npins];
				break;
			}
		}
	}
	return rc;
}

static void tacc_destroy(struct tacc *ta)
{
	iopt_access_destroy(ta->access);
	ta->access = NULL;
	ta->npins = 0;
}

/* ---- 1. map and unmap basics ------------------------------------------ */

TEST(map_fixed_then_unmap)
{
	struct env env;
	u64 unmapped = 1;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, P(2)), P(4), RW));
	check_one_area(&env.iopt, IOVA, P(4));
	ASSERT_EQ(1, count_areas(&env.iopt));
	/* No domain: nothing is pinned at map time. */
	check_nothing_pinned(&env);
	ASSERT_OK(unmap(&env.iopt, IOVA, P(4), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(0, count_areas(&env.iopt));
	/* Any byte length and IOVA work with alignment 1. */
	ASSERT_OK(map_fixed(&env.iopt, 3, ubuf(&env, 5), 7, IOMMU_READ));
	check_one_area(&env.iopt, 3, 7);
	ASSERT_OK(unmap(&env.iopt, 3, 7, &unmapped));
	ASSERT_EQ(7, unmapped);
	env_destroy(&env);
}

TEST(map_bad_protection)
{
	struct env env;
	struct snap before;
	u64 iova;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(16), ubuf(&env, 0), P(1), RW));
	take_snap(&env, &before);
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1),
					RW | (1 << 2)));
	ASSERT_FAILS(-EINVAL, map_auto(&env.iopt, &iova, ubuf(&env, 0), P(1),
				       1 << 5));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1),
					1 << 2));
	ASSERT_FAILS(-EINVAL, iopt_copy_iova(&env.iopt, &iova, &env.iopt,
					     IOVA + P(16), P(1),
					     IOMMU_READ | (1 << 3),
					     IOPT_ALLOC_IOVA));
	expect_snap(&env, &before);
	env_destroy(&env);
}

/*
 * Protection 0, neither read nor write, is valid at the engine, as in the
 * kernel's io_pagetable (only the ioctl layer refuses it, and Linux 6.2's
 * IOAS_COPY did not): a map and a copy make areas with iommu_prot 0, the
 * domains map them with prot 0, and an access may neither read nor write
 * them, through rw or a pin (check_area_prot() in the kernel's device.c).
 */
TEST(map_protection_none)
{
	struct env env;
	struct snap before;
	struct iopt_area *area;
	struct tacc ta;
	char c = 0x5a;
	u64 iova, unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(attach_to(&env, 1, &env.iopt2));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(16), ubuf(&env, P(8)), P(2),
			    RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(2), 0));
	check_one_area(&env.iopt, IOVA, P(2));
	area = iopt_area_iter_first(&env.iopt, IOVA, IOVA);
	ASSERT_NONNULL(area);
	ASSERT_EQ(0, area->iommu_prot);
	/* The pages of a map without write are not writable. */
	ASSERT_FALSE(area->pages->writable);
	check_map(env.domains[0], IOVA, ubuf(&env, 0), P(2), 0);
	check_map(env.domains[0], IOVA + P(16), ubuf(&env, P(8)), P(2), RW);
	check_domain(env.domains[0], 4 * PAGE_SIZE / MOCK_PG);
	{
		u64 want[BUF_PAGES] = {};

		set_pins(want, 0, 2, 1);
		set_pins(want, 8, 2, 1);
		check_pins(&env, want);
	}

	/* An automatic IOVA works the same. */
	ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, P(4)), P(1), 0));
	area = iopt_area_iter_first(&env.iopt, iova, iova);
	ASSERT_NONNULL(area);
	ASSERT_EQ(0, area->iommu_prot);
	check_map(env.domains[0], iova, ubuf(&env, P(4)), P(1), 0);
	ASSERT_OK(unmap(&env.iopt, iova, P(1), &unmapped));
	ASSERT_EQ(P(1), unmapped);

	/* A copy with no protection, from a readable-writable area. */
	iova = IOVA + P(32);
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &iova, &env.iopt, IOVA + P(16),
				 P(2), 0, 0));
	ASSERT_EQ(IOVA + P(32), iova);
	check_one_area(&env.iopt2, iova, P(2));
	area = iopt_area_iter_first(&env.iopt2, iova, iova);
	ASSERT_NONNULL(area);
	ASSERT_EQ(0, area->iommu_prot);
	check_map(env.domains[1], iova, ubuf(&env, P(8)), P(2), 0);
	check_domain(env.domains[1], 2 * PAGE_SIZE / MOCK_PG);
	/* And a copy of the prot 0 area, made readable. */
	iova = IOVA + P(40);
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &iova, &env.iopt, IOVA, P(2),
				 IOMMU_READ, 0));
	check_map(env.domains[1], iova, ubuf(&env, 0), P(2), IOMMU_READ);
	/* Writable it cannot be: its pages are not. */
	iova = IOVA + P(48);
	ASSERT_FAILS(-EPERM, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
					    IOVA, P(2), IOMMU_WRITE, 0));

	/* An access may neither write nor read it, nor pin it. */
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	take_snap(&env, &before);
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA, P(1), NULL,
				      IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA, P(1), NULL, 0));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + 3, &c, 1,
					    IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + 3, &c, 1, 0));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + P(1) - 1,
					    (char[2]){}, 2, 0));
	expect_snap(&env, &before);
	ASSERT_EQ(0x5a, c);
	ASSERT_EQ((char)pattern(3), env.buf[3]);
	/* The copy in iopt2 refuses the same. */
	tacc_destroy(&ta);
	tacc_create(&ta, &env.iopt2, &tacc_pin_ops);
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + P(32), &c, 1,
					    0));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + P(32), &c, 1,
					    IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA + P(32), P(1), NULL,
				      IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA + P(32), P(1), NULL, 0));
	/* The readable copy of it reads, and may be pinned for reading. */
	ASSERT_OK(iopt_access_rw(ta.access, IOVA + P(40) + 3, &c, 1, 0));
	ASSERT_EQ((char)pattern(3), c);
	ASSERT_OK(tacc_pin(&ta, IOVA + P(40), P(1), NULL, 0));
	ASSERT_OK(tacc_unpin(&ta, IOVA + P(40), P(1)));
	tacc_destroy(&ta);

	ASSERT_OK(iopt_unmap_all(&env.iopt2, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_OK(unmap(&env.iopt, IOVA, P(2), &unmapped));
	ASSERT_EQ(P(2), unmapped);
	check_map(env.domains[0], IOVA + P(16), ubuf(&env, P(8)), P(2), RW);
	check_domain(env.domains[0], 2 * PAGE_SIZE / MOCK_PG);
	check_domain(env.domains[1], 0);
	check_pins_range(&env, 8, 2, 1);
	env_destroy(&env);
}

/*
 * Automatic IOVA, for lengths of 1..10 pages, in several IOVA spaces:
 * never 0, aligned to the lowest set bit of the length (the buffer is
 * 2 MiB aligned), clear of reserved ranges and other areas, inside the
 * allowed ranges and the domain's aperture.
 */
FIXTURE(auto_iova)
{
	struct env env;
};

FIXTURE_VARIANT(auto_iova)
{
	bool domain;
	bool allowed;
	bool reserved;
	bool byte_lengths;
};

FIXTURE_VARIANT_ADD(auto_iova, empty) {};
FIXTURE_VARIANT_ADD(auto_iova, bytes) { .byte_lengths = true };
FIXTURE_VARIANT_ADD(auto_iova, mock_domain) { .domain = true };
FIXTURE_VARIANT_ADD(auto_iova, allowed) { .allowed = true };
FIXTURE_VARIANT_ADD(auto_iova, reserved) { .reserved = true };
FIXTURE_VARIANT_ADD(auto_iova, domain_allowed_reserved)
{
	.domain = true, .allowed = true, .reserved = true
};

/* Windows in the aperture, so they also work with a domain attached. */
static const struct iova_range auto_allowed[] = {
	{ IOVA + 0x5000, IOVA + 0x6fff },		/* 2 pages */
	{ IOVA + 0x13000, IOVA + 0x1afff },		/* 8 pages */
	{ IOVA + 0x100000 + 0x3000, IOVA + 0x1fffff },
};

/* Between the windows (allowed and reserved ranges may not meet). */
static const struct iova_range auto_reserved[] = {
	{ 0x1000, IOVA + 0x4fff },
	{ IOVA + 0x7000, IOVA + 0x7000 },		/* one byte */
	{ IOVA + 0x9800, IOVA + 0x12fff },
	{ IOVA + 0x1b000, IOVA + 0x1b7ff },
	{ IOVA + 0x100000, IOVA + 0x102fff },
};

FIXTURE_SETUP(auto_iova)
{
	env_init(&self->env);
	if (variant->domain)
		ASSERT_OK(attach(&self->env, 0));
	if (variant->reserved)
		for (unsigned int i = 0; i != ARRAY_SIZE(auto_reserved); i++)
			ASSERT_OK(iopt_reserve_iova(&self->env.iopt,
						    auto_reserved[i].start,
						    auto_reserved[i].last,
						    &self->env));
	if (variant->allowed)
		ASSERT_OK(iopt_set_allow_iova(&self->env.iopt, auto_allowed,
					      ARRAY_SIZE(auto_allowed)));
}

FIXTURE_TEARDOWN(auto_iova)
{
	env_destroy(&self->env);
}

static bool in_allowed(u64 iova, u64 last)
{
	for (unsigned int i = 0; i != ARRAY_SIZE(auto_allowed); i++)
		if (iova >= auto_allowed[i].start &&
		    last <= auto_allowed[i].last)
			return true;
	return false;
}

/* The rules an automatic IOVA for memory at @uptr keeps. */
static void check_auto_placement(struct io_pagetable *iopt, u64 iova, u64 len,
				 u64 uptr)
{
	u64 last = iova + len - 1;
	u64 align = min(lowest_bit(len), HUGE_ALIGN);

	if (uptr)
		align = min(align, lowest_bit(uptr));
	ASSERT_NE(0, iova);
	ASSERT_GE(iova, PAGE_SIZE);
	ASSERT_LE(iova, last);
	ASSERT_LE(last, U64_MAX - PAGE_SIZE);
	ASSERT_EQ(0, iova % align);
	/* The IOVA keeps the memory's offset in its page. */
	ASSERT_EQ(uptr % PAGE_SIZE, iova % PAGE_SIZE);
	ASSERT_NULL(interval_tree_iter_first(&iopt->reserved_itree, iova,
					     last));
}

/* ...and it is one area. */
static void check_auto_iova(struct io_pagetable *iopt, u64 iova, u64 len,
			    u64 uptr)
{
	check_auto_placement(iopt, iova, len, uptr);
	check_one_area(iopt, iova, len);
}

TEST_F(auto_iova, lengths_1_to_10_pages)
{
	struct env *env = &self->env;
	u64 iovas[11], total = 0;

	for (u64 n = 1; n <= 10; n++) {
		u64 len = variant->byte_lengths ? n : P(n);
		u64 uptr = ubuf(env, variant->byte_lengths ? 0 : P(n));

		ASSERT_OK(map_auto(&env->iopt, &iovas[n], uptr, len, RW));
		check_auto_iova(&env->iopt, iovas[n], len, uptr);
		/* The UAPI's rule: the lowest set bit of the length. */
		ASSERT_EQ(0, iovas[n] % lowest_bit(len));
		if (variant->allowed)
			ASSERT_TRUE(in_allowed(iovas[n], iovas[n] + len - 1));
		if (variant->domain) {
			ASSERT_GE(iovas[n], MOCK_APERTURE_START);
			ASSERT_LE(iovas[n] + len - 1, MOCK_APERTURE_LAST);
			check_map(env->domains[0], iovas[n], uptr, len, RW);
		}
		total += len;
	}
	ASSERT_EQ(10, count_areas(&env->iopt));
	ASSERT_EQ(total, area_bytes(&env->iopt));
	if (variant->domain)
		check_domain(env->domains[0], total / MOCK_PG);
	if (variant->allowed) {
		/* The first fits exactly in the first window. */
		ASSERT_EQ(auto_allowed[0].start, iovas[1]);
	}
	for (u64 n = 1; n <= 10; n++) {
		u64 len = variant->byte_lengths ? n : P(n), unmapped;

		ASSERT_OK(unmap(&env->iopt, iovas[n], len, &unmapped));
		ASSERT_EQ(len, unmapped);
	}
	if (variant->domain)
		check_domain(env->domains[0], 0);
	check_nothing_pinned(env);
}

/* Random lengths and user offsets: every placement keeps the rules. */
TEST_F(auto_iova, random_placements)
{
	struct env *env = &self->env;
	u64 steps = test_iterations(300);
	u64 align = iopt_iova_alignment(&env->iopt);
	struct rng rng;

	rng_init(&rng, test_seed());
	for (u64 i = 0; i != steps; i++) {
		u64 len = rng_range(&rng, 1, variant->byte_lengths ? 64 : P(6)) &
			  ~(align - 1);
		u64 off = rng_below(&rng, P(8)) & ~(align - 1);
		u64 iova, unmapped;
		int rc;

		if (!len)
			len = align;
		rc = map_auto(&env->iopt, &iova, ubuf(env, off), len,
			      IOMMU_READ);
		if (rc == -ENOSPC) {
			ASSERT_TRUE(variant->allowed);
			ASSERT_OK(iopt_unmap_all(&env->iopt, &unmapped));
			continue;
		}
		ASSERT_EQ(0, rc);
		check_auto_iova(&env->iopt, iova, len, ubuf(env, off));
		if (variant->allowed)
			ASSERT_TRUE(in_allowed(iova, iova + len - 1));
		if (variant->domain)
			check_map(env->domains[0], iova, ubuf(env, off), len,
				  IOMMU_READ);
		if (rng_chance(&rng, 1, 3)) {
			ASSERT_OK(unmap(&env->iopt, iova, len, &unmapped));
			ASSERT_EQ(len, unmapped);
		}
	}
	if (variant->domain)
		check_domain(env->domains[0],
			     area_bytes(&env->iopt) / MOCK_PG);
}

/*
 * A sub-page user offset is kept in the IOVA; with a domain it must be a
 * multiple of the IO page.
 */
TEST(auto_iova_user_offset)
{
	struct env env;
	u64 iova, unmapped;

	env_init(&env);
	ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, 0x123), P(1), RW));
	check_auto_iova(&env.iopt, iova, P(1), ubuf(&env, 0x123));
	ASSERT_EQ(0x123, iova % PAGE_SIZE);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(1), unmapped);

	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, 0x800), P(2), RW));
	check_auto_iova(&env.iopt, iova, P(2), ubuf(&env, 0x800));
	ASSERT_EQ(0x800, iova % PAGE_SIZE);
	check_map(env.domains[0], iova, ubuf(&env, 0x800), P(2), RW);
	ASSERT_FAILS(-EINVAL, map_auto(&env.iopt, &iova, ubuf(&env, 0x400),
				       P(2), RW));
	ASSERT_EQ(1, count_areas(&env.iopt));
	check_domain(env.domains[0], P(2) / MOCK_PG);
	env_destroy(&env);
}

TEST(map_enospc)
{
	struct env env;
	struct iova_range win = { IOVA, IOVA + P(4) - 1 };
	u64 iova;

	env_init(&env);
	/* An allowed window that fills up. */
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, &win, 1));
	ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova, ubuf(&env, 0), P(5),
				       RW));
	ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, 0), P(4), RW));
	ASSERT_EQ(IOVA, iova);
	ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova, ubuf(&env, 0), 1,
				       RW));
	ASSERT_EQ(1, count_areas(&env.iopt));
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, NULL, 0));
	ASSERT_OK(iopt_unmap_all(&env.iopt, NULL));

	/* Everything reserved. */
	ASSERT_OK(iopt_reserve_iova(&env.iopt, 0, U64_MAX, &env));
	ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova, ubuf(&env, 0), P(1),
				       RW));
	ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova, ubuf(&env, 0), 1,
				       RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1),
					RW));
	ASSERT_EQ(0, count_areas(&env.iopt));
	iopt_remove_reserved_iova(&env.iopt, &env);

	/* With a domain: nothing larger than the aperture fits. */
	ASSERT_OK(attach(&env, 0));
	ASSERT_FAILS(-ENOSPC,
		     map_auto(&env.iopt, &iova, ubuf(&env, 0),
			      MOCK_APERTURE_LAST - MOCK_APERTURE_START + 1 +
				      MOCK_PG,
			      RW));
	ASSERT_EQ(0, count_areas(&env.iopt));
	check_domain(env.domains[0], 0);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* A fixed IOVA overlapping an area in any way is EEXIST; adjacent is fine. */
TEST(map_fixed_overlap_eexist)
{
	static const struct {
		s64 start;	/* relative to the area */
		u64 len;
	} cases[] = {
		{ -P(1), P(1) + 1 },	/* last byte on the first */
		{ -P(1), P(2) },
		{ 0, P(4) },		/* exact */
		{ 0, 1 },
		{ P(1), P(1) },		/* inside */
		{ P(3), P(2) },		/* runs past the end */
		{ P(4) - 1, P(1) },	/* first byte on the last */
		{ -P(2), P(8) },	/* covers it */
	};
	struct env env;
	struct snap before;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(4), RW));
	take_snap(&env, &before);
	for (unsigned int i = 0; i != ARRAY_SIZE(cases); i++) {
		u64 iova = IOVA + cases[i].start;
		u64 len = cases[i].len;

		/* Byte lengths only without a domain. */
		if (len % MOCK_PG || iova % MOCK_PG)
			continue;
		ASSERT_FAILS(-EEXIST, map_fixed(&env.iopt, iova,
						ubuf(&env, P(8)), len, RW));
		expect_snap(&env, &before);
	}
	/* Adjacent on both sides. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA - P(1), ubuf(&env, P(8)), P(1),
			    RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(4), ubuf(&env, P(9)), P(1),
			    RW));
	check_map(env.domains[0], IOVA - P(1), ubuf(&env, P(8)), P(1), RW);
	check_map(env.domains[0], IOVA, ubuf(&env, 0), P(4), RW);
	check_map(env.domains[0], IOVA + P(4), ubuf(&env, P(9)), P(1), RW);
	check_domain(env.domains[0], P(6) / MOCK_PG);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(6), unmapped);
	detach(&env, 0);

	/* Without a domain, byte-granular overlaps too. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(4), RW));
	take_snap(&env, &before);
	for (unsigned int i = 0; i != ARRAY_SIZE(cases); i++)
		ASSERT_FAILS(-EEXIST,
			     map_fixed(&env.iopt, IOVA + cases[i].start,
				       ubuf(&env, P(8)), cases[i].len, RW));
	expect_snap(&env, &before);
	ASSERT_OK(map_fixed(&env.iopt, IOVA - 1, ubuf(&env, P(8)), 1, RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(4), ubuf(&env, P(8)), 1, RW));
	ASSERT_EQ(3, count_areas(&env.iopt));
	env_destroy(&env);
}

/*
 * A fixed IOVA touching a reserved range (or outside the aperture) is
 * EINVAL.
 */
TEST(map_fixed_reserved_einval)
{
	struct env env;
	struct snap before;
	u64 r = IOVA + P(16), unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(iopt_reserve_iova(&env.iopt, r, r + P(2) - 1, &env));
	take_snap(&env, &before);
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, r - P(1), ubuf(&env, 0),
					P(1) + MOCK_PG, RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, r + P(2) - MOCK_PG,
					ubuf(&env, 0), P(1), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, r - P(1), ubuf(&env, 0),
					P(4), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, r, ubuf(&env, 0), MOCK_PG,
					RW));
	/* The aperture is reserved around the domain. */
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, MOCK_APERTURE_START - P(1),
					ubuf(&env, 0), P(2), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, 0, ubuf(&env, 0), P(1),
					RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt,
					MOCK_APERTURE_LAST + 1 - P(1),
					ubuf(&env, 0), P(2), RW));
	expect_snap(&env, &before);
	/* Right up to the edges works. */
	ASSERT_OK(map_fixed(&env.iopt, r - P(1), ubuf(&env, 0), P(1), RW));
	ASSERT_OK(map_fixed(&env.iopt, r + P(2), ubuf(&env, P(1)), P(1), RW));
	ASSERT_OK(map_fixed(&env.iopt, MOCK_APERTURE_START, ubuf(&env, P(2)),
			    P(1), RW));
	ASSERT_OK(map_fixed(&env.iopt, MOCK_APERTURE_LAST + 1 - P(1),
			    ubuf(&env, P(3)), P(1), RW));
	check_map(env.domains[0], MOCK_APERTURE_LAST + 1 - P(1),
		  ubuf(&env, P(3)), P(1), RW);
	check_domain(env.domains[0], P(4) / MOCK_PG);
	check_pins_range(&env, 0, 4, 1);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	env_destroy(&env);
}

/* Pinned at map time only with a domain; the pins follow the domains. */
TEST(map_pins_only_with_domain)
{
	struct env env;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, P(1)), P(6), RW));
	check_nothing_pinned(&env);
	ASSERT_OK(attach(&env, 0));
	check_pins_range(&env, 1, 6, 1);
	ASSERT_EQ(6, iopt_account_pinned());
	ASSERT_EQ(6, iopt_account_user_locked(getuid()));
	check_map(env.domains[0], IOVA, ubuf(&env, P(1)), P(6), RW);
	ASSERT_OK(attach(&env, 1));
	check_pins_range(&env, 1, 6, 1);
	detach(&env, 0);
	check_pins_range(&env, 1, 6, 1);
	detach(&env, 1);
	check_nothing_pinned(&env);
	check_domain(env.domains[0], 0);
	check_domain(env.domains[1], 0);

	ASSERT_OK(attach(&env, 0));
	check_pins_range(&env, 1, 6, 1);
	ASSERT_OK(unmap(&env.iopt, IOVA, P(6), &unmapped));
	check_nothing_pinned(&env);
	/* Mapped with the domain attached: pinned at once. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, P(10)), P(3), RW));
	check_pins_range(&env, 10, 3, 1);
	check_map(env.domains[0], IOVA, ubuf(&env, P(10)), P(3), RW);
	/* A second mapping of the same memory is a second pin. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(8), ubuf(&env, P(11)), P(1),
			    IOMMU_READ));
	{
		u64 want[BUF_PAGES] = {};

		set_pins(want, 10, 3, 1);
		want[11] = 2;
		check_pins(&env, want);
	}
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	check_nothing_pinned(&env);
	check_domain(env.domains[0], 0);
	env_destroy(&env);
}

/* A hole in user memory: EFAULT when pinned at once, fine otherwise. */
TEST(map_hole_efault)
{
	struct env env;
	struct snap before;
	void *map;
	size_t map_len;
	char *hole = alloc_aligned(P(8), HUGE_ALIGN, &map, &map_len);
	u64 unmapped, iova;

	ASSERT_NONNULL(hole);
	ASSERT_EQ(0, munmap(hole + P(5), P(1)));
	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(attach(&env, 1));
	take_snap(&env, &before);
	ASSERT_FAILS(-EFAULT, map_fixed(&env.iopt, IOVA, (uintptr_t)hole,
					P(8), RW));
	expect_snap(&env, &before);
	ASSERT_FAILS(-EFAULT, map_auto(&env.iopt, &iova,
				       (uintptr_t)hole + P(5), P(1), RW));
	ASSERT_FAILS(-EFAULT, map_fixed(&env.iopt, IOVA,
					(uintptr_t)hole + P(4), P(2), RW));
	expect_snap(&env, &before);
	/* Around the hole is fine. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, (uintptr_t)hole, P(5), RW));
	check_map(env.domains[1], IOVA, (uintptr_t)hole, P(5), RW);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	detach(&env, 0);
	detach(&env, 1);

	/* No domain: nothing is touched, so it maps... */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, (uintptr_t)hole, P(8), RW));
	take_snap(&env, &before);
	/* ...but no domain can be attached while it is there. */
	ASSERT_FAILS(-EFAULT, attach(&env, 0));
	expect_snap(&env, &before);
	{
		struct iova_range r[2];

		ASSERT_EQ(1, iopt_usable_ranges(&env.iopt, r, 2));
		ASSERT_EQ(0, r[0].start);
		ASSERT_EQ(U64_MAX, r[0].last);
		ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	}
	ASSERT_OK(unmap(&env.iopt, IOVA, P(8), &unmapped));
	ASSERT_EQ(P(8), unmapped);
	ASSERT_OK(attach(&env, 0));
	env_destroy(&env);
	munmap(map, map_len);
}

/* Writable maps of read-only memory fail to pin; read-only ones work. */
TEST(map_read_only_memory)
{
	struct env env;
	struct snap before;
	u64 unmapped;

	env_init(&env);
	ASSERT_EQ(0, mprotect(env.buf + P(4), P(2), PROT_READ));
	ASSERT_OK(attach(&env, 0));
	take_snap(&env, &before);
	ASSERT_FAILS(-EFAULT, map_fixed(&env.iopt, IOVA, ubuf(&env, P(3)),
					P(2), RW));
	ASSERT_FAILS(-EFAULT, map_fixed(&env.iopt, IOVA, ubuf(&env, P(4)),
					P(1), IOMMU_WRITE));
	expect_snap(&env, &before);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, P(3)), P(3),
			    IOMMU_READ));
	check_map(env.domains[0], IOVA, ubuf(&env, P(3)), P(3), IOMMU_READ);
	check_pins_range(&env, 3, 3, 1);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(3), unmapped);
	env_destroy(&env);
}

/* File pages: the same memfd page through a file mapping and a user one. */
TEST(map_file_pages)
{
	struct env env;
	int fd = memfd_create("iopt", 0), rofd;
	char path[64];
	char *shared;
	u64 iova, unmapped, counts[4];

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, P(8)));
	shared = mmap(NULL, P(8), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, shared);
	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(iopt_map_file_pages(&env.iopt, &iova, fd, P(2), P(4), RW,
				      IOPT_ALLOC_IOVA, ACCT_USER));
	check_auto_iova(&env.iopt, iova, P(4), P(2));
	ASSERT_EQ(0, iopt_pin_counts_user((uintptr_t)shared + P(2), P(4),
					  counts));
	for (int i = 0; i != 4; i++)
		ASSERT_EQ(1, counts[i]);
	/* The user mapping of the same pages pins them a second time. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, (uintptr_t)shared + P(3), P(1),
			    RW));
	ASSERT_EQ(0, iopt_pin_counts_user((uintptr_t)shared + P(2), P(4),
					  counts));
	ASSERT_EQ(2, counts[1]);
	ASSERT_EQ(mock_domain_lookup(env.domains[0], iova + P(1), NULL),
		  mock_domain_lookup(env.domains[0], IOVA, NULL));
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(5), unmapped);

	/* Writable maps need a writable file. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	rofd = open(path, O_RDONLY);
	ASSERT_GE(rofd, 0);
	ASSERT_FAILS(-EPERM, iopt_map_file_pages(&env.iopt, &iova, rofd, 0,
						 P(1), RW, IOPT_ALLOC_IOVA,
						 ACCT_USER));
	ASSERT_OK(iopt_map_file_pages(&env.iopt, &iova, rofd, 0, P(1),
				      IOMMU_READ, IOPT_ALLOC_IOVA, ACCT_NONE));
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(1), unmapped);
	env_destroy(&env);
	close(rofd);
	munmap(shared, P(8));
	close(fd);
}

/* ---- 2. unmap --------------------------------------------------------- */

/*
 * A: [IOVA, +4p) B: [IOVA + 4p, +4p) adjacent, C: [IOVA + 10p, +2p), all
 * in two domains. Unmap takes whole areas only; a range that covers part of
 * one fails before anything changes.
 */
static void map_abc(struct env *env)
{
	ASSERT_OK(map_fixed(&env->iopt, IOVA, ubuf(env, 0), P(4), RW));
	ASSERT_OK(map_fixed(&env->iopt, IOVA + P(4), ubuf(env, P(4)), P(4),
			    IOMMU_READ));
	ASSERT_OK(map_fixed(&env->iopt, IOVA + P(10), ubuf(env, P(10)), P(2),
			    RW));
}

TEST(unmap_whole_areas_only)
{
	static const struct {
		s64 start;	/* relative to IOVA */
		u64 len;
	} partial[] = {
		{ 0, P(2) },			/* head of A */
		{ P(1), P(3) },			/* tail of A */
		{ P(1), P(1) },			/* middle of A */
		{ -P(1), P(2) },		/* before and into A */
		{ 0, P(5) },			/* A and head of B */
		{ P(2), P(6) },			/* tail of A and B */
		{ -P(4), P(11) },		/* A, B, head of C */
		{ P(4), P(7) },			/* B and head of C */
		{ P(11), P(4) },		/* tail of C */
		{ 0, P(12) - MOCK_PG },		/* all but C's last */
		{ MOCK_PG, P(12) },		/* all but A's first */
	};
	struct env env;
	struct snap before;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(attach(&env, 1));
	map_abc(&env);
	take_snap(&env, &before);
	for (unsigned int i = 0; i != ARRAY_SIZE(partial); i++) {
		unmapped = 12345;
		ASSERT_FAILS(-ENOENT, unmap(&env.iopt, IOVA + partial[i].start,
					    partial[i].len, &unmapped));
		ASSERT_EQ(0, unmapped);
		expect_snap(&env, &before);
	}
	/* Nothing there. */
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, IOVA + P(8), P(2), &unmapped));
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, IOVA + P(12), P(100),
				    &unmapped));
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, 0, IOVA, &unmapped));
	ASSERT_EQ(0, unmapped);
	/* Bad ranges. */
	ASSERT_FAILS(-EINVAL, unmap(&env.iopt, IOVA, 0, &unmapped));
	ASSERT_FAILS(-EOVERFLOW, unmap(&env.iopt, IOVA, U64_MAX, &unmapped));
	ASSERT_FAILS(-EOVERFLOW, unmap(&env.iopt, U64_MAX, 2, &unmapped));
	expect_snap(&env, &before);
	{
		u64 want[BUF_PAGES] = {};

		set_pins(want, 0, 8, 1);
		set_pins(want, 10, 2, 1);
		check_pins(&env, want);
	}

	/* A and B wholly, with room around: both go, the sum reported. */
	ASSERT_OK(unmap(&env.iopt, IOVA - P(3), P(12), &unmapped));
	ASSERT_EQ(P(8), unmapped);
	ASSERT_EQ(1, count_areas(&env.iopt));
	check_one_area(&env.iopt, IOVA + P(10), P(2));
	for (int d = 0; d != 2; d++) {
		check_domain(env.domains[d], P(2) / MOCK_PG);
		check_map(env.domains[d], IOVA + P(10), ubuf(&env, P(10)), P(2),
			  RW);
	}
	check_pins_range(&env, 10, 2, 1);
	/* The NULL pointer for *unmapped is allowed. */
	ASSERT_OK(unmap(&env.iopt, IOVA + P(10), P(2), NULL));
	check_domain(env.domains[0], 0);
	check_domain(env.domains[1], 0);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

TEST(unmap_all)
{
	struct env env;
	u64 unmapped = 5;

	env_init(&env);
	/* Empty: success, nothing reported, no reason left behind. */
	err_reason_clear();
	ASSERT_EQ(0, iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(0, unmapped);
	ASSERT_NULL(err_reason_get());
	ASSERT_OK(attach(&env, 0));
	ASSERT_EQ(0, iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(0, unmapped);
	map_abc(&env);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(10), unmapped);
	ASSERT_EQ(0, count_areas(&env.iopt));
	check_domain(env.domains[0], 0);
	check_nothing_pinned(&env);
	/* unmap [0, U64_MAX - 1] covers all but the last byte. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1), RW));
	ASSERT_OK(unmap(&env.iopt, 0, U64_MAX, &unmapped));
	ASSERT_EQ(P(1), unmapped);
	env_destroy(&env);
}

/* The top of the IOVA space is as mappable and unmappable as any. */
TEST(unmap_at_top_of_iova_space)
{
	struct env env;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, U64_MAX - P(1) + 1, ubuf(&env, 0), P(1),
			    RW));
	ASSERT_OK(map_fixed(&env.iopt, 0, ubuf(&env, 0), P(1), RW));
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, U64_MAX - P(1) + 2, P(1) - 1,
				    &unmapped));
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, U64_MAX, 1, &unmapped));
	ASSERT_OK(unmap(&env.iopt, U64_MAX - P(2) + 1, P(2), &unmapped));
	ASSERT_EQ(P(1), unmapped);
	ASSERT_OK(map_fixed(&env.iopt, U64_MAX, ubuf(&env, 0), 1, RW));
	ASSERT_OK(unmap(&env.iopt, U64_MAX, 1, &unmapped));
	ASSERT_EQ(1, unmapped);
	ASSERT_OK(map_fixed(&env.iopt, U64_MAX - 5, ubuf(&env, 0), 6, RW));
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(1) + 6, unmapped);
	env_destroy(&env);
}

/* ---- 3. copy ---------------------------------------------------------- */

/* Into another IOAS: the same pages, not pinned a second time. */
TEST(copy_to_other_ioas)
{
	struct env env;
	u64 iova, unmapped;

	env_init(&env);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	ASSERT_OK(attach_to(&env, 1, &env.iopt2));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, P(2)), P(8), RW));
	check_pins_range(&env, 2, 8, 1);

	/* Automatic IOVA, a sub-range starting mid-area. */
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &iova, &env.iopt, IOVA + P(1),
				 P(4), RW, IOPT_ALLOC_IOVA));
	check_auto_iova(&env.iopt2, iova, P(4), ubuf(&env, P(3)));
	check_map(env.domains[1], iova, ubuf(&env, P(3)), P(4), RW);
	check_pins_range(&env, 2, 8, 1);
	/* Fixed IOVA, the whole area, read-only. */
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &(u64){ IOVA + P(64) }, &env.iopt,
				 IOVA, P(8), IOMMU_READ, 0));
	check_map(env.domains[1], IOVA + P(64), ubuf(&env, P(2)), P(8),
		  IOMMU_READ);
	check_domain(env.domains[1], P(12) / MOCK_PG);
	check_pins_range(&env, 2, 8, 1);
	ASSERT_EQ(8, iopt_account_pinned());

	/* The source goes; the copies keep the pages pinned, once. */
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(8), unmapped);
	check_domain(env.domains[0], 0);
	check_pins_range(&env, 2, 8, 1);
	ASSERT_OK(unmap(&env.iopt2, IOVA + P(64), P(8), &unmapped));
	check_pins_range(&env, 3, 4, 1);
	ASSERT_EQ(4, iopt_account_pinned());
	ASSERT_OK(iopt_unmap_all(&env.iopt2, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* Into the same IOAS, across two areas of different pages objects. */
TEST(copy_same_ioas)
{
	struct env env;
	u64 iova, unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(4), RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(4), ubuf(&env, P(20)), P(4),
			    RW));
	ASSERT_OK(iopt_copy_iova(&env.iopt, &iova, &env.iopt, IOVA + P(2),
				 P(4), RW, IOPT_ALLOC_IOVA));
	/* Clear of the sources; two areas, one per source pages object. */
	ASSERT_TRUE(iova + P(4) <= IOVA || iova >= IOVA + P(8));
	check_auto_placement(&env.iopt, iova, P(4), ubuf(&env, P(2)));
	check_one_area(&env.iopt, iova, P(2));
	check_one_area(&env.iopt, iova + P(2), P(2));
	ASSERT_EQ(4, count_areas(&env.iopt));
	check_map(env.domains[0], iova, ubuf(&env, P(2)), P(2), RW);
	check_map(env.domains[0], iova + P(2), ubuf(&env, P(20)), P(2), RW);
	check_domain(env.domains[0], P(12) / MOCK_PG);
	{
		u64 want[BUF_PAGES] = {};

		set_pins(want, 0, 4, 1);
		set_pins(want, 20, 4, 1);
		check_pins(&env, want);
	}
	/* The copy is two areas: unmapping one of them alone works. */
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, iova, P(1), &unmapped));
	ASSERT_OK(unmap(&env.iopt, iova, P(2), &unmapped));
	ASSERT_EQ(P(2), unmapped);
	ASSERT_OK(unmap(&env.iopt, IOVA, P(8), &unmapped));
	ASSERT_EQ(P(8), unmapped);
	check_pins_range(&env, 20, 2, 1);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(2), unmapped);
	check_nothing_pinned(&env);
	check_domain(env.domains[0], 0);
	env_destroy(&env);
}

/* The source must be mapped entirely. */
TEST(copy_source_not_entirely_mapped)
{
	static const struct {
		s64 start;
		u64 len;
	} cases[] = {
		{ -P(1), P(2) },	/* starts before the first byte */
		{ -1, P(1) },
		{ P(3), P(2) },		/* runs past A into the gap */
		{ P(4) - 1, 2 },
		{ 0, P(8) },		/* gap in the middle */
		{ P(2), P(6) },
		{ P(6), P(3) },		/* runs past the last byte */
		{ P(20), P(1) },	/* nothing at all */
	};
	struct env env;
	struct snap before;
	u64 iova = IOVA + P(100);

	env_init(&env);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	ASSERT_OK(attach_to(&env, 1, &env.iopt2));
	/* A: [IOVA, +4p) and B: [IOVA + 5p, +3p). */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(4), RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(5), ubuf(&env, P(5)), P(3),
			    RW));
	take_snap(&env, &before);
	for (unsigned int i = 0; i != ARRAY_SIZE(cases); i++) {
		u64 src = IOVA + cases[i].start;
		u64 len = cases[i].len;

		if (src % MOCK_PG || len % MOCK_PG)
			continue;
		ASSERT_FAILS(-ENOENT, iopt_copy_iova(&env.iopt2, &iova,
						     &env.iopt, src, len, RW,
						     IOPT_ALLOC_IOVA));
		ASSERT_FAILS(-ENOENT, iopt_copy_iova(&env.iopt, &iova,
						     &env.iopt, src, len, RW,
						     0));
		expect_snap(&env, &before);
	}
	ASSERT_FAILS(-EINVAL, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
					     IOVA, 0, RW, IOPT_ALLOC_IOVA));
	ASSERT_FAILS(-EOVERFLOW, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
						U64_MAX, 2, RW,
						IOPT_ALLOC_IOVA));
	expect_snap(&env, &before);
	env_destroy(&env);
}

/*
 * Read-only copies of writable memory work; writable copies of read-only
 * mappings are EPERM.
 */
TEST(copy_permissions)
{
	struct env env;
	struct snap before;
	struct tacc ta;
	u64 iova, ro_iova, unmapped;
	char c = 'x';

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(2), RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(2), ubuf(&env, P(2)), P(2),
			    IOMMU_READ));
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &ro_iova, &env.iopt, IOVA, P(2),
				 IOMMU_READ, IOPT_ALLOC_IOVA));
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &iova, &env.iopt, IOVA + P(2),
				 P(2), IOMMU_READ, IOPT_ALLOC_IOVA));
	take_snap(&env, &before);
	ASSERT_FAILS(-EPERM, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
					    IOVA + P(2), P(2), RW,
					    IOPT_ALLOC_IOVA));
	ASSERT_FAILS(-EPERM, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
					    IOVA + P(2), P(1), IOMMU_WRITE,
					    IOPT_ALLOC_IOVA));
	/* Spanning both: the second slice fails, the first is undone. */
	ASSERT_FAILS(-EPERM, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
					    IOVA + P(1), P(2), RW,
					    IOPT_ALLOC_IOVA));
	expect_snap(&env, &before);
	/* The read-only copy of writable memory refuses CPU writes. */
	tacc_create(&ta, &env.iopt2, &tacc_rw_ops);
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, ro_iova, &c, 1,
					    IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_OK(iopt_access_rw(ta.access, ro_iova + 5, &c, 1, 0));
	ASSERT_EQ((char)pattern(5), c);
	tacc_destroy(&ta);
	ASSERT_OK(iopt_unmap_all(&env.iopt2, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	env_destroy(&env);
}

/*
 * A copy's pieces (one per source area) must each keep the destination's
 * alignment, not only the total length: a source without alignment can
 * have areas of any byte length.
 */
TEST(copy_pieces_keep_dst_alignment)
{
	struct env env;
	struct tacc ta;
	struct snap before;
	u64 dst;
	int rc;

	env_init(&env);
	/* A: 0x900 bytes, B right after it; 0x1000 bytes from A's start. */
	ASSERT_OK(map_fixed(&env.iopt, 0x100000, ubuf(&env, 0), 0x900, RW));
	ASSERT_OK(map_fixed(&env.iopt, 0x100900, ubuf(&env, P(4)), P(1), RW));
	/* Into a domain: refused, nothing left behind. */
	ASSERT_OK(attach_to(&env, 0, &env.iopt2));
	take_snap(&env, &before);
	ASSERT_FAILS(-EINVAL, iopt_copy_iova(&env.iopt2, &(u64){ IOVA },
					     &env.iopt, 0x100000, 0x1000, RW,
					     0));
	ASSERT_FAILS(-EINVAL, iopt_copy_iova(&env.iopt2, &dst, &env.iopt,
					     0x100000, 0x1000, RW,
					     IOPT_ALLOC_IOVA));
	expect_snap(&env, &before);
	detach(&env, 0);
	/* Into an IOAS whose alignment a pinning access sets. */
	tacc_create(&ta, &env.iopt2, &tacc_pin_ops);
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt2));
	take_snap(&env, &before);
	err_reason_clear();
	rc = iopt_copy_iova(&env.iopt2, &(u64){ IOVA }, &env.iopt, 0x100000,
			    0x1000, RW, 0);
	ASSERT_EQ(-EINVAL, rc);
	ASSERT_NONNULL(err_reason_get());
	expect_snap(&env, &before);
	tacc_destroy(&ta);
	env_destroy(&env);
}

/*
 * Copying from an IOAS with no domain whose pages an access pins, into one
 * with mock domains, gives the same PFNs (UAPI.md IOAS_COPY).
 */
TEST(copy_from_access_pinned_ioas)
{
	struct env env;
	struct tacc ta;
	u64 pfns[4], iova, unmapped;

	env_init(&env);
	ASSERT_OK(attach_to(&env, 0, &env.iopt2));
	ASSERT_OK(attach_to(&env, 1, &env.iopt2));
	ASSERT_OK(map_fixed(&env.iopt, 0x10000, ubuf(&env, P(8)), P(4), RW));
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	ASSERT_OK(tacc_pin(&ta, 0x10000 + P(1), P(2), pfns, 0));
	ASSERT_EQ(PHYS_PFN(ubuf(&env, P(9))), pfns[0]);
	ASSERT_EQ(PHYS_PFN(ubuf(&env, P(10))), pfns[1]);
	check_pins_range(&env, 9, 2, 1);
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &iova, &env.iopt, 0x10000, P(4),
				 RW, IOPT_ALLOC_IOVA));
	check_map(env.domains[0], iova, ubuf(&env, P(8)), P(4), RW);
	check_map(env.domains[1], iova, ubuf(&env, P(8)), P(4), RW);
	check_pins_range(&env, 8, 4, 1);
	/* The access goes away when the source unmaps. */
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(1, ta.calls);
	ASSERT_EQ(0, ta.npins);
	check_pins_range(&env, 8, 4, 1);
	tacc_destroy(&ta);
	ASSERT_OK(iopt_unmap_all(&env.iopt2, &unmapped));
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* ---- 4. reserved, allowed and usable ranges --------------------------- */

static void check_usable(struct io_pagetable *iopt,
			 const struct iova_range *want, size_t n)
{
	struct iova_range got[8];

	ASSERT_EQ(n, iopt_usable_ranges(iopt, got, ARRAY_SIZE(got)));
	for (size_t i = 0; i != n; i++) {
		ASSERT_EQ(want[i].start, got[i].start);
		ASSERT_EQ(want[i].last, got[i].last);
	}
}

TEST(usable_ranges_and_alignment)
{
	static const struct iova_range all = { 0, U64_MAX };
	static const struct iova_range aperture = { MOCK_APERTURE_START,
						    MOCK_APERTURE_LAST };
	struct env env;

	env_init(&env);
	check_usable(&env.iopt, &all, 1);
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	ASSERT_OK(attach(&env, 0));
	check_usable(&env.iopt, &aperture, 1);
	ASSERT_EQ(MOCK_PG, iopt_iova_alignment(&env.iopt));
	ASSERT_OK(attach(&env, 1));
	check_usable(&env.iopt, &aperture, 1);
	ASSERT_EQ(MOCK_PG, iopt_iova_alignment(&env.iopt));
	detach(&env, 0);
	check_usable(&env.iopt, &aperture, 1);
	detach(&env, 1);
	check_usable(&env.iopt, &all, 1);
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	ASSERT_TRUE(rb_empty_cached(&env.iopt.reserved_itree));
	env_destroy(&env);
}

/* UAPI.md IOAS_IOVA_RANGES: a reserved page splits the space. */
TEST(usable_ranges_reserved_split)
{
	static const struct iova_range want[] = {
		{ 0, PAGE_SIZE - 1 }, { 2 * PAGE_SIZE, U64_MAX },
	};
	struct iova_range got[2] = { { 7, 7 }, { 9, 9 } };
	struct env env;

	env_init(&env);
	ASSERT_OK(iopt_reserve_iova(&env.iopt, PAGE_SIZE, 2 * PAGE_SIZE - 1,
				    &env));
	check_usable(&env.iopt, want, 2);
	/* Too small an array: the count, and only what fits is written. */
	ASSERT_EQ(2, iopt_usable_ranges(&env.iopt, got, 0));
	ASSERT_EQ(7, got[0].start);
	ASSERT_EQ(2, iopt_usable_ranges(&env.iopt, got, 1));
	ASSERT_EQ(0, got[0].start);
	ASSERT_EQ(PAGE_SIZE - 1, got[0].last);
	ASSERT_EQ(9, got[1].start);
	ASSERT_EQ(9, got[1].last);
	/* With a domain the aperture is cut out too. */
	ASSERT_OK(iopt_reserve_iova(&env.iopt, IOVA, IOVA + P(1) - 1, NULL));
	ASSERT_OK(attach(&env, 0));
	{
		const struct iova_range w[] = {
			{ MOCK_APERTURE_START, IOVA - 1 },
			{ IOVA + P(1), MOCK_APERTURE_LAST },
		};

		check_usable(&env.iopt, w, 2);
	}
	detach(&env, 0);
	iopt_remove_reserved_iova(&env.iopt, NULL);
	check_usable(&env.iopt, want, 2);
	iopt_remove_reserved_iova(&env.iopt, &env);
	{
		const struct iova_range w = { 0, U64_MAX };

		check_usable(&env.iopt, &w, 1);
	}
	env_destroy(&env);
}

TEST(reserve_conflicts)
{
	struct env env;
	struct snap before;
	struct iova_range allowed = { IOVA + P(32), IOVA + P(40) - 1 };
	int owner_a, owner_b;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(4), RW));
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, &allowed, 1));
	take_snap(&env, &before);
	/* Over an area, any overlap. */
	ASSERT_FAILS(-EADDRINUSE, iopt_reserve_iova(&env.iopt, IOVA + P(4) - 1,
						    IOVA + P(4) - 1, &owner_a));
	ASSERT_FAILS(-EADDRINUSE, iopt_reserve_iova(&env.iopt, 0, IOVA,
						    &owner_a));
	ASSERT_FAILS(-EADDRINUSE, iopt_reserve_iova(&env.iopt, 0, U64_MAX,
						    &owner_a));
	/* Over an allowed range (UAPI.md IOAS_ALLOW_IOVAS). */
	ASSERT_FAILS(-EADDRINUSE,
		     iopt_reserve_iova(&env.iopt, allowed.last, allowed.last,
				       &owner_a));
	ASSERT_FAILS(-EADDRINUSE,
		     iopt_reserve_iova(&env.iopt, allowed.start - 1,
				       allowed.start, &owner_a));
	ASSERT_FAILS(-EINVAL, iopt_reserve_iova(&env.iopt, 5, 4, &owner_a));
	expect_snap(&env, &before);
	/* Right next to both. */
	ASSERT_OK(iopt_reserve_iova(&env.iopt, IOVA + P(4), allowed.start - 1,
				    &owner_a));
	ASSERT_OK(iopt_reserve_iova(&env.iopt, 0, IOVA - 1, &owner_b));
	ASSERT_OK(iopt_reserve_iova(&env.iopt, allowed.last + 1, U64_MAX,
				    &owner_a));
	/* An allowed range over a reserved one. */
	{
		struct iova_range bad[] = {
			{ IOVA + P(32), IOVA + P(33) - 1 },
			{ allowed.last, allowed.last + 1 },
		};

		take_snap(&env, &before);
		ASSERT_FAILS(-EADDRINUSE,
			     iopt_set_allow_iova(&env.iopt, bad, 2));
		expect_snap(&env, &before);
	}
	/* Removal by owner takes exactly that owner's ranges. */
	iopt_remove_reserved_iova(&env.iopt, &owner_a);
	{
		const struct iova_range w = { IOVA, U64_MAX };

		check_usable(&env.iopt, &w, 1);
	}
	iopt_remove_reserved_iova(&env.iopt, &owner_b);
	{
		const struct iova_range w = { 0, U64_MAX };

		check_usable(&env.iopt, &w, 1);
	}
	env_destroy(&env);
}

/* The allowed ranges are replaced as a set, all or nothing. */
TEST(allowed_replaced_as_a_set)
{
	static const struct iova_range set1[] = {
		{ IOVA, IOVA + P(1) - 1 },
		{ IOVA + P(8), IOVA + P(9) - 1 },
	};
	struct iova_range set2[] = {
		{ IOVA + P(16), IOVA + P(17) - 1 },
		{ IOVA + P(64), IOVA + P(65) - 1 },	/* reserved below */
	};
	struct env env;
	struct snap before;
	u64 iova[3], unmapped;

	env_init(&env);
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, set1, 2));
	ASSERT_OK(iopt_reserve_iova(&env.iopt, IOVA + P(64) + 5,
				    IOVA + P(64) + 5, &env));
	take_snap(&env, &before);
	ASSERT_FAILS(-EADDRINUSE, iopt_set_allow_iova(&env.iopt, set2, 2));
	expect_snap(&env, &before);
	/* An empty range anywhere in the set: nothing changes. */
	set2[1] = (struct iova_range){ IOVA + P(70), IOVA + P(70) - 1 };
	ASSERT_FAILS(-EINVAL, iopt_set_allow_iova(&env.iopt, set2, 2));
	expect_snap(&env, &before);
	/* Still set1: two pages fit, a third does not. */
	ASSERT_OK(map_auto(&env.iopt, &iova[0], ubuf(&env, 0), P(1), RW));
	ASSERT_OK(map_auto(&env.iopt, &iova[1], ubuf(&env, 0), P(1), RW));
	ASSERT_EQ(set1[0].start, iova[0]);
	ASSERT_EQ(set1[1].start, iova[1]);
	ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova[2], ubuf(&env, 0),
				       P(1), RW));
	/* Replaced: only the new one counts. */
	set2[1] = set2[0];
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, set2, 1));
	ASSERT_OK(map_auto(&env.iopt, &iova[2], ubuf(&env, 0), P(1), RW));
	ASSERT_EQ(set2[0].start, iova[2]);
	ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova[2], ubuf(&env, 0),
				       P(1), RW));
	/* Allowed ranges only guide automatic IOVA: fixed maps anywhere. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(100), ubuf(&env, 0), P(1),
			    RW));
	/* Cleared: anywhere again. */
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, NULL, 0));
	ASSERT_OK(map_auto(&env.iopt, &iova[2], ubuf(&env, 0), P(1), RW));
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(5), unmapped);
	env_destroy(&env);
}

/*
 * Attaching a domain reserves what lies outside its aperture: refused
 * (EADDRINUSE, nothing changed) when a mapping or an allowed range is
 * there.
 */
TEST(attach_aperture_conflicts)
{
	static const struct {
		u64 iova, len;
	} outside[] = {
		{ PAGE_SIZE, P(1) },
		{ MOCK_APERTURE_START - P(1), P(2) },
		{ MOCK_APERTURE_LAST + 1 - P(1), P(2) },
		{ MOCK_APERTURE_LAST + 1, P(1) },
		{ U64_MAX - P(1) + 1, P(1) },
	};
	struct env env;
	struct snap before;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(2), RW));
	for (unsigned int i = 0; i != ARRAY_SIZE(outside); i++) {
		ASSERT_OK(map_fixed(&env.iopt, outside[i].iova, ubuf(&env, 0),
				    outside[i].len, RW));
		take_snap(&env, &before);
		ASSERT_FAILS(-EADDRINUSE, attach(&env, 0));
		expect_snap(&env, &before);
		ASSERT_OK(unmap(&env.iopt, outside[i].iova, outside[i].len,
				&unmapped));
	}
	for (unsigned int i = 0; i != ARRAY_SIZE(outside); i++) {
		struct iova_range r = { outside[i].iova,
					outside[i].iova + outside[i].len - 1 };

		ASSERT_OK(iopt_set_allow_iova(&env.iopt, &r, 1));
		take_snap(&env, &before);
		ASSERT_FAILS(-EADDRINUSE, attach(&env, 0));
		expect_snap(&env, &before);
	}
	ASSERT_OK(iopt_set_allow_iova(&env.iopt, NULL, 0));
	ASSERT_OK(attach(&env, 0));
	check_map(env.domains[0], IOVA, ubuf(&env, 0), P(2), RW);
	/* Attaching the same domain twice. */
	take_snap(&env, &before);
	ASSERT_FAILS(-EEXIST, attach_to(&env, 0, &env.iopt));
	/* A domain whose smallest IO page is larger than a CPU page. */
	env.domains[1]->pgsize_bitmap = 2 * PAGE_SIZE;
	ASSERT_FAILS(-EINVAL, attach(&env, 1));
	env.domains[1]->pgsize_bitmap = MOCK_PG;
	expect_snap(&env, &before);
	env_destroy(&env);
}

/* A domain's reserved regions are reserved while it is attached. */
TEST(attach_domain_reserved_regions)
{
	static const struct iova_range resv[] = {
		{ IOVA + P(8), IOVA + P(9) - 1 },
		{ IOVA + P(20), IOVA + P(20) },
	};
	struct env env;
	struct snap before;
	u64 iova;

	env_init(&env);
	env.domains[0]->reserved = resv;
	env.domains[0]->nr_reserved = ARRAY_SIZE(resv);
	/* A mapping in a reserved region blocks the attach. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(20), ubuf(&env, 0), P(1), RW));
	take_snap(&env, &before);
	ASSERT_FAILS(-EADDRINUSE, attach(&env, 0));
	expect_snap(&env, &before);
	ASSERT_OK(iopt_unmap_all(&env.iopt, NULL));
	ASSERT_OK(attach(&env, 0));
	{
		const struct iova_range w[] = {
			{ MOCK_APERTURE_START, IOVA + P(8) - 1 },
			{ IOVA + P(9), IOVA + P(20) - 1 },
			{ IOVA + P(20) + 1, MOCK_APERTURE_LAST },
		};

		check_usable(&env.iopt, w, 3);
	}
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA + P(8), ubuf(&env, 0),
					MOCK_PG, RW));
	/* Automatic IOVA steps around them (and may not be allowed there). */
	{
		struct iova_range r = { IOVA + P(7), IOVA + P(12) - 1 };

		ASSERT_FAILS(-EADDRINUSE,
			     iopt_set_allow_iova(&env.iopt, &r, 1));
	}
	ASSERT_OK(iopt_reserve_iova(&env.iopt, MOCK_APERTURE_START,
				    IOVA + P(7) - 1, &env));
	ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, 0), P(2), RW));
	ASSERT_EQ(IOVA + P(10), iova);
	ASSERT_OK(iopt_unmap_all(&env.iopt, NULL));
	iopt_remove_reserved_iova(&env.iopt, &env);
	detach(&env, 0);
	{
		const struct iova_range w = { 0, U64_MAX };

		check_usable(&env.iopt, &w, 1);
	}
	env.domains[0]->reserved = NULL;
	env.domains[0]->nr_reserved = 0;
	env_destroy(&env);
}

/* ---- 5. alignment ----------------------------------------------------- */

TEST(alignment_with_mock_domain)
{
	struct env env;
	struct snap before;
	u64 iova, unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_EQ(MOCK_PG, iopt_iova_alignment(&env.iopt));
	take_snap(&env, &before);
	/* Length, IOVA and the memory's offset in its page. */
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0),
					P(1) + 0x400, RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0), 1, RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA + 0x400, ubuf(&env, 0),
					P(1), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA + 1, ubuf(&env, 0),
					P(1), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0x400),
					P(1), RW));
	ASSERT_FAILS(-EINVAL, map_auto(&env.iopt, &iova, ubuf(&env, 0),
				       P(1) + 1, RW));
	ASSERT_FAILS(-EINVAL, map_auto(&env.iopt, &iova, ubuf(&env, 0x100),
				       P(1), RW));
	expect_snap(&env, &before);
	/* IO page multiples, not CPU page ones, are fine. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + MOCK_PG, ubuf(&env, MOCK_PG),
			    MOCK_PG, RW));
	check_map(env.domains[0], IOVA + MOCK_PG, ubuf(&env, MOCK_PG), MOCK_PG,
		  RW);
	/* The IOVA need not share the memory's offset in its page. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(4) + MOCK_PG, ubuf(&env, P(4)),
			    P(2) + MOCK_PG, RW));
	check_map(env.domains[0], IOVA + P(4) + MOCK_PG, ubuf(&env, P(4)),
		  P(2) + MOCK_PG, RW);
	check_domain(env.domains[0], 1 + 5);
	ASSERT_EQ(2, count_areas(&env.iopt));
	{
		u64 want[BUF_PAGES] = {};

		set_pins(want, 0, 1, 1);
		set_pins(want, 4, 3, 1);
		check_pins(&env, want);
	}
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(MOCK_PG * 6, unmapped);
	detach(&env, 0);
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	env_destroy(&env);
}

TEST(alignment_without_large_pages)
{
	struct env env;
	struct snap before;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(iopt_disable_large_pages(&env.iopt));
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	/* Idempotent. */
	ASSERT_OK(iopt_disable_large_pages(&env.iopt));
	ASSERT_OK(attach(&env, 0));
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	take_snap(&env, &before);
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA + MOCK_PG,
					ubuf(&env, 0), P(1), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, MOCK_PG),
					P(1), RW));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0),
					P(1) + MOCK_PG, RW));
	expect_snap(&env, &before);
	detach(&env, 0);
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	iopt_enable_large_pages(&env.iopt);
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	/* A misaligned area blocks disabling them (nothing changes). */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + MOCK_PG, ubuf(&env, 0), P(1),
			    RW));
	take_snap(&env, &before);
	ASSERT_FAILS(-EADDRINUSE, iopt_disable_large_pages(&env.iopt));
	expect_snap(&env, &before);
	ASSERT_FALSE(env.iopt.disable_large_pages);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	env_destroy(&env);
}

/*
 * A domain, or an access that pins, raises the alignment: refused with
 * EADDRINUSE (nothing changed) when an existing area would violate it.
 */
TEST(alignment_raise_refused_by_areas)
{
	static const struct {
		u64 iova, off, len;
		bool domain_ok;	/* 2 KiB aligned */
	} areas[] = {
		{ IOVA, 0, P(1) + 1, false },		/* length */
		{ IOVA + 1, 0, P(1), false },		/* IOVA */
		{ IOVA, 0x400, P(1), false },	/* offset in page */
		{ IOVA + MOCK_PG, 0, P(1), true },
		{ IOVA, MOCK_PG, P(1), true },
		{ IOVA, 0, P(1) + MOCK_PG, true },
	};
	struct env env;
	struct snap before;
	u64 unmapped;

	env_init(&env);
	for (unsigned int i = 0; i != ARRAY_SIZE(areas); i++) {
		struct iopt_access *access;

		ASSERT_OK(map_fixed(&env.iopt, areas[i].iova,
				    ubuf(&env, areas[i].off), areas[i].len,
				    RW));
		take_snap(&env, &before);
		/* Pinning accesses need PAGE_SIZE: none of these fit. */
		err_reason_clear();
		access = iopt_access_create(&env.iopt, &tacc_pin_ops, NULL);
		ASSERT_TRUE(IS_ERR(access));
		ASSERT_EQ(-EADDRINUSE, PTR_ERR(access));
		ASSERT_NONNULL(err_reason_get());
		expect_snap(&env, &before);
		ASSERT_TRUE(index_store_empty(&env.iopt.access_list));
		if (areas[i].domain_ok) {
			ASSERT_OK(attach(&env, 0));
			ASSERT_EQ(MOCK_PG, iopt_iova_alignment(&env.iopt));
			check_map(env.domains[0], areas[i].iova,
				  ubuf(&env, areas[i].off), areas[i].len, RW);
			detach(&env, 0);
			ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
		} else {
			ASSERT_FAILS(-EADDRINUSE, attach(&env, 0));
		}
		expect_snap(&env, &before);
		ASSERT_OK(unmap(&env.iopt, areas[i].iova, areas[i].len,
				&unmapped));
		ASSERT_EQ(areas[i].len, unmapped);
	}
	env_destroy(&env);
}

/* The alignment follows the domains and accesses as they come and go. */
TEST(alignment_follows_accesses)
{
	struct env env;
	struct tacc pin, rw;
	u64 unmapped;

	env_init(&env);
	tacc_create(&rw, &env.iopt, &tacc_rw_ops);
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	tacc_create(&pin, &env.iopt, &tacc_pin_ops);
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	ASSERT_FAILS(-EINVAL, map_fixed(&env.iopt, IOVA, ubuf(&env, 0),
					P(1) - 1, RW));
	ASSERT_OK(attach(&env, 0));
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	tacc_destroy(&pin);
	ASSERT_EQ(MOCK_PG, iopt_iova_alignment(&env.iopt));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), MOCK_PG, RW));
	/* Now a pinning access cannot come back. */
	ASSERT_TRUE(IS_ERR(iopt_access_create(&env.iopt, &tacc_pin_ops, NULL)));
	detach(&env, 0);
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	tacc_destroy(&rw);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	env_destroy(&env);
}

/* ---- 6. domains ------------------------------------------------------- */

struct layout {
	u64 iova, off, len;
	int prot;
};

/* Sub-page (2 KiB) edges, PFN runs of several lengths, a read-only area. */
static const struct layout dom_layout[] = {
	{ IOVA, 0, P(4), RW },
	{ IOVA + P(4), P(8) + MOCK_PG, P(3), IOMMU_READ },
	{ IOVA + P(16) + MOCK_PG, P(20), P(1) + MOCK_PG, RW },
	{ IOVA + P(64), P(30), MOCK_PG, IOMMU_WRITE },
	{ MOCK_APERTURE_LAST + 1 - P(2), P(40), P(2), RW },
};

static u64 layout_io_pages(const struct layout *l, size_t n)
{
	u64 sum = 0;

	for (size_t i = 0; i != n; i++)
		sum += l[i].len / MOCK_PG;
	return sum;
}

static void map_layout(struct env *env, struct io_pagetable *iopt,
		       const struct layout *l, size_t n)
{
	for (size_t i = 0; i != n; i++)
		ASSERT_OK(map_fixed(iopt, l[i].iova, ubuf(env, l[i].off),
				    l[i].len, l[i].prot));
}

static void check_layout(struct env *env, struct iommu_domain *domain,
			 const struct layout *l, size_t n)
{
	for (size_t i = 0; i != n; i++)
		check_map(domain, l[i].iova, ubuf(env, l[i].off), l[i].len,
			  l[i].prot);
	check_domain(domain, layout_io_pages(l, n));
}

static void layout_pins(struct env *env, const struct layout *l, size_t n,
			u64 *want)
{
	memset(want, 0, BUF_PAGES * sizeof(*want));
	for (size_t i = 0; i != n; i++)
		for (u64 b = l[i].off / PAGE_SIZE;
		     b <= (l[i].off + l[i].len - 1) / PAGE_SIZE; b++)
			want[b]++;
}

static const int perms[6][3] = {
	{ 0, 1, 2 }, { 0, 2, 1 }, { 1, 0, 2 },
	{ 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 },
};

/*
 * Three domains attached and detached in every order, with the areas
 * mapped before, between and after: each attached domain maps exactly the
 * areas, pins follow whether any domain is attached.
 */
TEST(domains_attach_detach_every_order)
{
	size_t n = ARRAY_SIZE(dom_layout);
	u64 want[BUF_PAGES], none[BUF_PAGES] = {};
	struct env env;

	env_init(&env);
	layout_pins(&env, dom_layout, n, want);
	for (int a = 0; a != 6; a++) {
		for (int b = 0; b != 6; b++) {
			int when = (a + b) % 4; /* when the areas appear */

			if (when == 0)
				map_layout(&env, &env.iopt, dom_layout, n);
			for (int k = 0; k != 3; k++) {
				size_t now = when <= k + 1 ? n : 0;

				ASSERT_OK(attach(&env, perms[a][k]));
				if (when == k + 1)
					map_layout(&env, &env.iopt, dom_layout,
						   n);
				for (int j = 0; j <= k; j++)
					check_layout(&env,
						     env.domains[perms[a][j]],
						     dom_layout, now);
				check_pins(&env, when <= k + 1 ? want : none);
			}
			for (int k = 0; k != 3; k++) {
				detach(&env, perms[b][k]);
				check_domain(env.domains[perms[b][k]], 0);
				for (int j = k + 1; j != 3; j++)
					check_layout(&env,
						     env.domains[perms[b][j]],
						     dom_layout, n);
				check_pins(&env, k == 2 ? none : want);
			}
			if (b & 1) {
				u64 unmapped;

				ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
				ASSERT_EQ(layout_io_pages(dom_layout, n) *
						  MOCK_PG,
					  unmapped);
			} else {
				/* Unmapped with no domain attached. */
				for (size_t i = 0; i != n; i++)
					ASSERT_OK(unmap(&env.iopt,
							dom_layout[i].iova,
							dom_layout[i].len,
							NULL));
			}
			check_nothing_pinned(&env);
		}
	}
	env_destroy(&env);
}

/*
 * The Nth map call of one domain fails (mock_domain_fail_nth_map), at
 * attach and at map time with other domains attached: all or nothing.
 */
TEST(domain_map_failure_is_all_or_nothing)
{
	size_t n = ARRAY_SIZE(dom_layout);
	struct env env;
	struct snap before;
	unsigned int nth, points = 0;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	map_layout(&env, &env.iopt, dom_layout, n);
	ASSERT_OK(attach(&env, 1));
	for (nth = 1;; nth++) {
		int rc;

		take_snap(&env, &before);
		mock_domain_fail_nth_map(env.domains[2], nth);
		err_reason_clear();
		rc = attach(&env, 2);
		mock_domain_fail_nth_map(env.domains[2], 0);
		if (!rc)
			break;
		ASSERT_EQ(-ENOMEM, rc);
		ASSERT_NONNULL(err_reason_get());
		expect_snap(&env, &before);
		points++;
		ASSERT_LT(nth, 1000);
	}
	ASSERT_EQ(n, points);	/* one map call per area */
	for (int d = 0; d != 3; d++)
		check_layout(&env, env.domains[d], dom_layout, n);
	ASSERT_OK(iopt_unmap_all(&env.iopt, NULL));

	/* A map with three domains, the middle one failing. */
	for (nth = 1;; nth++) {
		int rc;

		take_snap(&env, &before);
		mock_domain_fail_nth_map(env.domains[1], nth);
		err_reason_clear();
		rc = map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(8), RW);
		mock_domain_fail_nth_map(env.domains[1], 0);
		if (!rc)
			break;
		ASSERT_EQ(-ENOMEM, rc);
		expect_snap(&env, &before);
		ASSERT_LT(nth, 1000);
	}
	for (int d = 0; d != 3; d++) {
		check_map(env.domains[d], IOVA, ubuf(&env, 0), P(8), RW);
		check_domain(env.domains[d], P(8) / MOCK_PG);
	}
	ASSERT_OK(iopt_unmap_all(&env.iopt, NULL));
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* Unmapping areas while several domains are attached, in every order. */
TEST(domains_unmap_with_three_attached)
{
	size_t n = ARRAY_SIZE(dom_layout);
	struct env env;

	env_init(&env);
	for (int d = 0; d != 3; d++)
		ASSERT_OK(attach(&env, d));
	for (int o = 0; o != 6; o++) {
		map_layout(&env, &env.iopt, dom_layout, n);
		for (int d = 0; d != 3; d++)
			check_layout(&env, env.domains[d], dom_layout, n);
		/* Detach and re-attach one, so storage domains differ. */
		detach(&env, perms[o][0]);
		ASSERT_OK(attach(&env, perms[o][0]));
		for (size_t i = 0; i != n; i++) {
			const struct layout *l = &dom_layout[(i + o) % n];
			u64 unmapped;

			ASSERT_OK(unmap(&env.iopt, l->iova, l->len, &unmapped));
			ASSERT_EQ(l->len, unmapped);
			for (int d = 0; d != 3; d++) {
				ASSERT_EQ(0, mapped_io_pages(env.domains[d],
							     l->iova,
							     l->iova + l->len -
								     1));
				check_domain(env.domains[d],
					     area_bytes(&env.iopt) / MOCK_PG);
			}
		}
		check_nothing_pinned(&env);
	}
	env_destroy(&env);
}

/* ---- 7. accesses ------------------------------------------------------ */

/*
 * Areas for the access tests: A [X, X + 4p) over buffer pages 0-3, B right
 * after it [X + 4p, X + 8p) over pages 12-15 (read-only), a gap, then C
 * [X + 10p, X + 12p) over pages 20-21.
 */
#define AX (IOVA + P(32))

static void map_access_areas(struct env *env)
{
	ASSERT_OK(map_fixed(&env->iopt, AX, ubuf(env, 0), P(4), RW));
	ASSERT_OK(map_fixed(&env->iopt, AX + P(4), ubuf(env, P(12)), P(4),
			    IOMMU_READ));
	ASSERT_OK(map_fixed(&env->iopt, AX + P(10), ubuf(env, P(20)), P(2),
			    RW));
}

/* The buffer page IOVA @iova of the access areas maps. */
static u64 access_area_page(u64 iova)
{
	u64 off = iova - AX;

	if (off < P(4))
		return off / PAGE_SIZE;
	if (off < P(8))
		return 12 + (off - P(4)) / PAGE_SIZE;
	return 20 + (off - P(10)) / PAGE_SIZE;
}

FIXTURE(access)
{
	struct env env;
	struct tacc ta;
};

FIXTURE_VARIANT(access)
{
	int domains;
};

FIXTURE_VARIANT_ADD(access, no_domain) { .domains = 0 };
FIXTURE_VARIANT_ADD(access, one_domain) { .domains = 1 };
FIXTURE_VARIANT_ADD(access, two_domains) { .domains = 2 };

FIXTURE_SETUP(access)
{
	env_init(&self->env);
	for (int d = 0; d != variant->domains; d++)
		ASSERT_OK(attach(&self->env, d));
	map_access_areas(&self->env);
	tacc_create(&self->ta, &self->env.iopt, &tacc_pin_ops);
}

FIXTURE_TEARDOWN(access)
{
	if (self->ta.access)
		tacc_destroy(&self->ta);
	env_destroy(&self->env);
}

/* Pins of the areas by domains (if any) plus @extra pages [first, +n). */
static void check_access_pins(struct env *env, bool domains, u64 first,
			      u64 n)
{
	u64 want[BUF_PAGES] = {};

	if (domains) {
		set_pins(want, 0, 4, 1);
		set_pins(want, 12, 4, 1);
		set_pins(want, 20, 2, 1);
	}
	for (u64 i = first; i != first + n; i++)
		want[i] = 1;
	check_pins(env, want);
}

TEST_F(access, pin_and_unpin)
{
	struct env *env = &self->env;
	struct tacc *ta = &self->ta;
	bool dom = variant->domains;
	u64 pfns[8];
	struct snap before;

	/* Within A. */
	ASSERT_OK(tacc_pin(ta, AX + P(1), P(2), pfns, IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(PHYS_PFN(ubuf(env, P(1))), pfns[0]);
	ASSERT_EQ(PHYS_PFN(ubuf(env, P(2))), pfns[1]);
	check_access_pins(env, dom, 1, 2);
	/* A sub-page length: one page. */
	pfns[1] = 0;
	ASSERT_OK(tacc_pin(ta, AX + P(3), 100, pfns, 0));
	ASSERT_EQ(PHYS_PFN(ubuf(env, P(3))), pfns[0]);
	ASSERT_EQ(0, pfns[1]);
	/* Across A and B, ending mid-page. */
	ASSERT_OK(tacc_pin(ta, AX + P(2), P(3) + 1, pfns, 0));
	for (int i = 0; i != 4; i++) {
		u64 page = access_area_page(AX + P(2 + i));

		ASSERT_EQ(PHYS_PFN(ubuf(env, P(page))), pfns[i]);
	}
	if (!dom) {
		u64 want[BUF_PAGES] = {};

		set_pins(want, 1, 3, 1);
		set_pins(want, 12, 2, 1);
		check_pins(env, want);
	}
	/* The same range twice shares the pins. */
	ASSERT_OK(tacc_pin(ta, AX + P(1), P(2), pfns, 0));
	take_snap(env, &before);

	/* Failures change nothing. */
	ASSERT_FAILS(-EPERM, tacc_pin(ta, AX + P(3), P(2), pfns,
				      IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, tacc_pin(ta, AX + P(4), 1, pfns,
				      IOMMUFD_ACCESS_RW_WRITE));
	/* Across the gap, from either side or over it. */
	ASSERT_FAILS(-ENOENT, tacc_pin(ta, AX + P(7), P(2), pfns, 0));
	ASSERT_FAILS(-ENOENT, tacc_pin(ta, AX, P(11), pfns, 0));
	ASSERT_FAILS(-ENOENT, tacc_pin(ta, AX + P(9), P(2), pfns, 0));
	ASSERT_FAILS(-ENOENT, tacc_pin(ta, AX - P(1), P(2), pfns, 0));
	ASSERT_FAILS(-ENOENT, tacc_pin(ta, AX + P(11), P(2), pfns, 0));
	/* Sub-page starts. */
	ASSERT_FAILS(-EINVAL, tacc_pin(ta, AX + 1, P(1), pfns, 0));
	ASSERT_FAILS(-EINVAL, tacc_pin(ta, AX + P(4) - MOCK_PG, P(1), pfns,
				       0));
	ASSERT_FAILS(-EINVAL, tacc_pin(ta, AX, 0, pfns, 0));
	ASSERT_FAILS(-EOVERFLOW, tacc_pin(ta, AX, U64_MAX, pfns, 0));
	expect_snap(env, &before);

	/* Unpin must name a pin exactly. */
	ASSERT_FAILS(-EINVAL, tacc_unpin(ta, AX + P(1), P(1)));
	ASSERT_FAILS(-EINVAL, tacc_unpin(ta, AX + P(1), P(2) + 1));
	ASSERT_FAILS(-EINVAL, tacc_unpin(ta, AX + P(3), 101));
	ASSERT_FAILS(-EINVAL, tacc_unpin(ta, AX + P(6), P(1)));
	ASSERT_FAILS(-EINVAL, tacc_unpin(ta, AX, 0));
	expect_snap(env, &before);
	ASSERT_OK(tacc_unpin(ta, AX + P(1), P(2)));
	ASSERT_OK(tacc_unpin(ta, AX + P(1), P(2)));
	ASSERT_FAILS(-EINVAL, tacc_unpin(ta, AX + P(1), P(2)));
	ASSERT_OK(tacc_unpin(ta, AX + P(3), 100));
	ASSERT_OK(tacc_unpin(ta, AX + P(2), P(3) + 1));
	check_access_pins(env, dom, 0, 0);
	for (struct iopt_area *area = iopt_area_iter_first(&env->iopt, 0,
							   U64_MAX);
	     area; area = iopt_area_iter_next(area, 0, U64_MAX))
		ASSERT_EQ(0, area->num_accesses);
	if (!dom)
		check_nothing_pinned(env);
}

/* An access without an unmap callback cannot pin. */
TEST(access_pin_needs_unmap_callback)
{
	static const struct iopt_access_ops ops = { .needs_pin_pages = true };
	struct env env;
	struct iopt_access *access;
	u64 pfn;
	char c;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1), RW));
	access = iopt_access_create(&env.iopt, &ops, NULL);
	ASSERT_FALSE(IS_ERR(access));
	ASSERT_FAILS(-EINVAL, iopt_access_pin_pages(access, IOVA, P(1), &pfn, NULL,
						    0));
	/* rw needs no callback; and unmap works without one. */
	ASSERT_OK(iopt_access_rw(access, IOVA + 9, &c, 1, 0));
	ASSERT_EQ((char)pattern(9), c);
	ASSERT_OK(unmap(&env.iopt, IOVA, P(1), NULL));
	iopt_access_destroy(access);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

TEST_F(access, rw)
{
	struct env *env = &self->env;
	struct tacc *ta = &self->ta;
	struct rng rng;
	static char data[P(12)], want[P(12)];
	u64 steps = test_iterations(400);
	struct snap before;

	rng_init(&rng, test_seed());
	/* Pins in the middle, so rw meets every tier. */
	ASSERT_OK(tacc_pin(ta, AX + P(1), P(1), NULL, 0));
	ASSERT_OK(tacc_pin(ta, AX + P(5), P(2), NULL, 0));
	take_snap(env, &before);
	for (u64 i = 0; i != steps; i++) {
		/* Within A..B, the contiguous part. */
		u64 start = rng_below(&rng, P(8));
		u64 len = rng_range(&rng, 1, P(8) - start);
		bool write = rng_chance(&rng, 1, 2);

		if (write && start < P(4)) {
			/* A only: B is read-only. */
			len = min(len, P(4) - start);
			for (u64 k = 0; k != len; k++)
				data[k] = (char)rng_next(&rng);
			ASSERT_OK(iopt_access_rw(ta->access, AX + start, data,
						 len,
						 IOMMUFD_ACCESS_RW_WRITE));
			ASSERT_EQ(0, memcmp(env->buf + start, data, len));
		} else if (write) {
			ASSERT_FAILS(-EPERM,
				     iopt_access_rw(ta->access, AX + start,
						    data, len,
						    IOMMUFD_ACCESS_RW_WRITE));
		} else {
			for (u64 k = 0; k != len; k++) {
				u64 iova = AX + start + k;

				want[k] = env->buf[P(access_area_page(iova)) +
						   (iova - AX) % PAGE_SIZE];
			}
			ASSERT_OK(iopt_access_rw(ta->access, AX + start, data,
						 len, 0));
			ASSERT_EQ(0, memcmp(want, data, len));
		}
	}
	expect_snap(env, &before);
	/* Sub-page pieces at the edges of C. */
	memset(data, 0x5a, 3);
	ASSERT_OK(iopt_access_rw(ta->access, AX + P(12) - 3, data, 3,
				 IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, memcmp(env->buf + P(22) - 3, data, 3));
	/* Errors: the gap, the ends, bad ranges, write of read-only. */
	ASSERT_FAILS(-ENOENT, iopt_access_rw(ta->access, AX + P(8) - 1, data, 2,
					     0));
	ASSERT_FAILS(-ENOENT, iopt_access_rw(ta->access, AX + P(8), data, 1,
					     0));
	ASSERT_FAILS(-ENOENT, iopt_access_rw(ta->access, AX - 1, data, 2, 0));
	ASSERT_FAILS(-ENOENT, iopt_access_rw(ta->access, AX + P(12) - 1, data,
					     2, 0));
	ASSERT_FAILS(-EINVAL, iopt_access_rw(ta->access, AX, data, 0, 0));
	ASSERT_FAILS(-EOVERFLOW, iopt_access_rw(ta->access, AX + 1, data,
						U64_MAX, 0));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta->access, AX + P(4) - 1, data, 2,
					    IOMMUFD_ACCESS_RW_WRITE));
	expect_snap(env, &before);
}

/*
 * Protection, as the kernel's check_area_prot() has it for both
 * iommufd_access_rw() and iommufd_access_pin_pages(): reads and pins for
 * reading need IOMMU_READ, writes and pins for writing IOMMU_WRITE.
 */
TEST(access_rw_protection)
{
	struct env env;
	struct tacc ta;
	struct snap before;
	char c = 1;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1), IOMMU_WRITE));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(1), ubuf(&env, P(1)), P(1),
			    IOMMU_READ));
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	take_snap(&env, &before);
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA, &c, 1, 0));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + P(1), &c, 1,
					    IOMMUFD_ACCESS_RW_WRITE));
	/* Across both, in either direction: one of them refuses. */
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + P(1) - 1,
					    (char[2]){}, 2, 0));
	ASSERT_FAILS(-EPERM, iopt_access_rw(ta.access, IOVA + P(1) - 1,
					    (char[2]){}, 2,
					    IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA + P(1), P(1), NULL,
				      IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA, P(1), NULL, 0));
	/* Across both, either way: one of them refuses, nothing stays. */
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA, P(2), NULL, 0));
	ASSERT_FAILS(-EPERM, tacc_pin(&ta, IOVA, P(2), NULL,
				      IOMMUFD_ACCESS_RW_WRITE));
	expect_snap(&env, &before);
	ASSERT_OK(iopt_access_rw(ta.access, IOVA + 3, &c, 1,
				 IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(1, env.buf[3]);
	ASSERT_OK(iopt_access_rw(ta.access, IOVA + P(1) + 3, &c, 1, 0));
	ASSERT_EQ((char)pattern(P(1) + 3), c);
	ASSERT_OK(tacc_pin(&ta, IOVA + P(1), P(1), NULL, 0));
	ASSERT_OK(tacc_pin(&ta, IOVA, P(1), NULL, IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_OK(iopt_unmap_all(&env.iopt, NULL));
	ASSERT_EQ(0, ta.npins);
	tacc_destroy(&ta);
	env_destroy(&env);
}

/* rw through user memory that is not there: EFAULT, nothing held. */
TEST(access_rw_hole_efault)
{
	struct env env;
	struct tacc ta;
	struct snap before;
	void *map;
	size_t map_len;
	char *hole = alloc_aligned(P(4), HUGE_ALIGN, &map, &map_len);
	char data[P(4)];
	u64 pfns[4];

	ASSERT_NONNULL(hole);
	ASSERT_EQ(0, munmap(hole + P(2), P(1)));
	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, (uintptr_t)hole, P(4), RW));
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	take_snap(&env, &before);
	ASSERT_FAILS(-EFAULT, iopt_access_rw(ta.access, IOVA + P(2), data, 1,
					     0));
	ASSERT_FAILS(-EFAULT, iopt_access_rw(ta.access, IOVA, data, P(4),
					     IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EFAULT, tacc_pin(&ta, IOVA + P(1), P(2), pfns, 0));
	ASSERT_FAILS(-EFAULT, tacc_pin(&ta, IOVA, P(4), pfns, 0));
	expect_snap(&env, &before);
	ASSERT_OK(tacc_pin(&ta, IOVA, P(2), pfns, 0));
	ASSERT_OK(iopt_access_rw(ta.access, IOVA + P(3), data, P(1), 0));
	ASSERT_OK(unmap(&env.iopt, IOVA, P(4), NULL));
	ASSERT_EQ(1, ta.calls);
	tacc_destroy(&ta);
	env_destroy(&env);
	munmap(map, map_len);
}

/* Unmap of pinned IOVA asks the access to unpin, with the area's range. */
TEST_F(access, unmap_notifies_and_waits)
{
	struct env *env = &self->env;
	struct tacc *ta = &self->ta;
	u64 unmapped;

	ASSERT_OK(tacc_pin(ta, AX + P(2), P(4), NULL, 0));	/* A and B */
	ASSERT_OK(tacc_pin(ta, AX + P(10), P(1), NULL, 0));	/* C */
	/* C alone: the callback sees exactly C. */
	ASSERT_OK(unmap(&env->iopt, AX + P(10), P(2), &unmapped));
	ASSERT_EQ(P(2), unmapped);
	ASSERT_EQ(1, ta->calls);
	ASSERT_EQ(AX + P(10), ta->iova);
	ASSERT_EQ(P(2), ta->length);
	ASSERT_EQ(1, ta->npins);
	/* B only (the pin spans into A): told about B, drops the whole pin. */
	ASSERT_OK(unmap(&env->iopt, AX + P(4), P(4), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(2, ta->calls);
	ASSERT_EQ(AX + P(4), ta->iova);
	ASSERT_EQ(P(4), ta->length);
	ASSERT_EQ(0, ta->npins);
	check_pins_range(env, 0, variant->domains ? 4 : 0, 1);
	/* Nothing pinned now: no more calls. */
	ASSERT_OK(iopt_unmap_all(&env->iopt, &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(2, ta->calls);
	check_nothing_pinned(env);
}

/*
 * Inside the callback the area being unmapped cannot be pinned, copied or
 * accessed; other areas can.
 */
static void busy_hook(struct tacc *ta, u64 iova, u64 length)
{
	struct env *env = ta->hook_data;
	u64 pfns[2], dst;
	char c;

	ASSERT_FAILS(-EINVAL, iopt_access_pin_pages(ta->access, iova, P(1),
						    pfns, NULL, 0));
	ASSERT_FAILS(-EINVAL, iopt_access_rw(ta->access, iova, &c, 1, 0));
	ASSERT_FAILS(-EBUSY, iopt_copy_iova(&env->iopt2, &dst, &env->iopt,
					    iova, P(1), IOMMU_READ,
					    IOPT_ALLOC_IOVA));
	ASSERT_FAILS(-EBUSY, iopt_cut_iova(&env->iopt, &(u64){ iova }, 1));
	ASSERT_OK(iopt_access_rw(ta->access, AX + P(10), &c, 1, 0));
	ta->hook = NULL;
}

TEST_F(access, unmap_blocks_new_users)
{
	struct env *env = &self->env;
	struct tacc *ta = &self->ta;
	u64 unmapped;

	ASSERT_OK(tacc_pin(ta, AX, P(1), NULL, 0));
	ta->hook = busy_hook;
	ta->hook_data = env;
	ASSERT_OK(unmap(&env->iopt, AX, P(4), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(1, ta->calls);
	ASSERT_NULL(ta->hook);
	ASSERT_EQ(0, count_areas(&env->iopt2));
}

/*
 * PITFALLS 14: an access that never unpins. The unmap gives up after
 * bounded retries with -EDEADLOCK, reports what it unmapped before, and
 * the area stays mapped and usable.
 */
TEST_F(access, pitfall_14_unmap_deadlock_reports_progress)
{
	struct env *env = &self->env;
	struct tacc *ta = &self->ta;
	u64 unmapped = 0, pfns[2];
	char c;

	ASSERT_OK(tacc_pin(ta, AX + P(5), P(1), NULL, 0));	/* in B */
	ta->stubborn = true;
	/* A goes first (unpinned), then B refuses. */
	ASSERT_FAILS(-EDEADLOCK, unmap(&env->iopt, AX, P(12), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(IOPT_UNMAP_ACCESS_TRIES, ta->calls);
	ASSERT_EQ(AX + P(4), ta->iova);
	ASSERT_EQ(P(4), ta->length);
	ASSERT_FALSE(range_has_area(&env->iopt, AX, AX + P(4) - 1));
	check_one_area(&env->iopt, AX + P(4), P(4));
	check_one_area(&env->iopt, AX + P(10), P(2));
	for (int d = 0; d != variant->domains; d++) {
		check_map(env->domains[d], AX + P(4), ubuf(env, P(12)), P(4),
			  IOMMU_READ);
		check_domain(env->domains[d], P(6) / MOCK_PG);
	}
	{
		u64 want[BUF_PAGES] = {};

		if (variant->domains) {
			set_pins(want, 12, 4, 1);
			set_pins(want, 20, 2, 1);
		} else {
			want[13] = 1;
		}
		check_pins(env, want);
	}
	/* Still usable: pins, reads, copies. */
	ASSERT_OK(tacc_pin(ta, AX + P(4), P(2), pfns, 0));
	ASSERT_EQ(PHYS_PFN(ubuf(env, P(12))), pfns[0]);
	ASSERT_OK(iopt_access_rw(ta->access, AX + P(4) + 7, &c, 1, 0));
	ASSERT_EQ((char)pattern(P(12) + 7), c);
	ASSERT_OK(iopt_copy_iova(&env->iopt2, &(u64){ IOVA }, &env->iopt,
				 AX + P(4), P(4), IOMMU_READ, 0));
	ASSERT_OK(iopt_unmap_all(&env->iopt2, NULL));
	/* A single area, refused again: nothing unmapped. */
	ta->calls = 0;
	ASSERT_FAILS(-EDEADLOCK, unmap(&env->iopt, AX + P(4), P(4), &unmapped));
	ASSERT_EQ(0, unmapped);
	ASSERT_EQ(IOPT_UNMAP_ACCESS_TRIES, ta->calls);
	/* unmap_all meets B first (C lies above it). */
	ASSERT_FAILS(-EDEADLOCK, iopt_unmap_all(&env->iopt, &unmapped));
	ASSERT_EQ(0, unmapped);
	check_one_area(&env->iopt, AX + P(10), P(2));
	/* Once it cooperates, the unmap completes. */
	ta->stubborn = false;
	ASSERT_OK(iopt_unmap_all(&env->iopt, &unmapped));
	ASSERT_EQ(P(6), unmapped);
	ASSERT_EQ(0, ta->npins);
	check_nothing_pinned(env);
}

/*
 * PITFALLS 25: destroying an access that still holds pins releases them
 * (once per pin, counted pins included); the areas can then go without
 * any notification.
 */
TEST_F(access, pitfall_25_destroy_with_pins)
{
	struct env *env = &self->env;
	struct tacc *ta = &self->ta;
	u64 unmapped;

	ASSERT_OK(tacc_pin(ta, AX, P(2), NULL, 0));
	ASSERT_OK(tacc_pin(ta, AX, P(2), NULL, 0));
	ASSERT_OK(tacc_pin(ta, AX + P(1), P(5), NULL, 0));
	ASSERT_OK(tacc_pin(ta, AX + P(10), P(2), NULL, 0));
	if (!variant->domains) {
		u64 want[BUF_PAGES] = {};

		set_pins(want, 0, 4, 1);
		set_pins(want, 12, 2, 1);
		set_pins(want, 20, 2, 1);
		check_pins(env, want);
	}
	tacc_destroy(ta);
	for (struct iopt_area *area = iopt_area_iter_first(&env->iopt, 0,
							   U64_MAX);
	     area; area = iopt_area_iter_next(area, 0, U64_MAX))
		ASSERT_EQ(0, area->num_accesses);
	check_access_pins(env, variant->domains, 0, 0);
	ASSERT_EQ(variant->domains ? MOCK_PG : 1,
		  iopt_iova_alignment(&env->iopt));
	ASSERT_TRUE(index_store_empty(&env->iopt.access_list));
	ASSERT_OK(iopt_unmap_all(&env->iopt, &unmapped));
	ASSERT_EQ(P(10), unmapped);
	ASSERT_EQ(0, ta->calls);
	check_nothing_pinned(env);
}

/*
 * Many areas each pinned by a well-behaved access: every notification is
 * answered at once, so the unmap must succeed however many areas there are.
 */
TEST(access_unmap_many_pinned_areas)
{
	unsigned int n = IOPT_UNMAP_ACCESS_TRIES + 1;
	struct env env;
	struct tacc *ta = calloc(1, sizeof(*ta));
	u64 unmapped = 0;
	int rc;

	ASSERT_NONNULL(ta);
	ASSERT_LE(n, MAX_PINS);
	env_init(&env);
	tacc_create(ta, &env.iopt, &tacc_pin_ops);
	for (unsigned int i = 0; i != n; i++) {
		ASSERT_OK(map_fixed(&env.iopt, IOVA + P(2 * i), ubuf(&env, 0),
				    P(1), RW));
		ASSERT_OK(tacc_pin(ta, IOVA + P(2 * i), P(1), NULL, 0));
	}
	rc = iopt_unmap_all(&env.iopt, &unmapped);
	ASSERT_EQ(0, rc);
	ASSERT_EQ(P(n), unmapped);
	ASSERT_EQ(n, ta->calls);
	ASSERT_EQ(0, ta->npins);
	tacc_destroy(ta);
	check_nothing_pinned(&env);
	env_destroy(&env);
	free(ta);
}

/*
 * A callback that unpins only on the last round the unmap allows: the
 * unmap must see that it worked.
 */
static void late_hook(struct tacc *ta, u64 iova, u64 length)
{
	ta->stubborn = ta->calls < IOPT_UNMAP_ACCESS_TRIES;
}

TEST(access_unmap_unpin_on_last_round)
{
	struct env env;
	struct tacc ta;
	u64 unmapped = 0;
	int rc;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1), RW));
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	ASSERT_OK(tacc_pin(&ta, IOVA, P(1), NULL, 0));
	ta.hook = late_hook;
	rc = unmap(&env.iopt, IOVA, P(1), &unmapped);
	ASSERT_EQ(IOPT_UNMAP_ACCESS_TRIES, ta.calls);
	ASSERT_EQ(0, ta.npins);
	ASSERT_EQ(0, rc);
	ASSERT_EQ(P(1), unmapped);
	tacc_destroy(&ta);
	env_destroy(&env);
}

/* ---- 8. VFIO type1: no large pages, cutting areas --------------------- */

static u64 map_calls(struct iommu_domain *domain)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(domain, &st);
	return st.map_calls;
}

/* Without large pages every domain map call is exactly one CPU page. */
TEST(no_large_pages_maps_page_by_page)
{
	struct env env;
	u64 unmapped;

	env_init(&env);
	/* With them: contiguous memory is one call per domain. */
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(8), RW));
	ASSERT_EQ(1, map_calls(env.domains[0]));
	/* Domains hold mappings: too late. */
	ASSERT_FAILS(-EINVAL, iopt_disable_large_pages(&env.iopt));
	ASSERT_FALSE(env.iopt.disable_large_pages);
	ASSERT_EQ(MOCK_PG, iopt_iova_alignment(&env.iopt));
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	/* A domain with no mappings is fine. */
	ASSERT_OK(iopt_disable_large_pages(&env.iopt));
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	ASSERT_OK(attach(&env, 1));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(8), RW));
	ASSERT_EQ(1 + 8, map_calls(env.domains[0]));
	ASSERT_EQ(8, map_calls(env.domains[1]));
	/* A domain attached later is filled page by page too. */
	ASSERT_OK(attach(&env, 2));
	ASSERT_EQ(8, map_calls(env.domains[2]));
	for (int d = 0; d != 3; d++) {
		check_map(env.domains[d], IOVA, ubuf(&env, 0), P(8), RW);
		check_domain(env.domains[d], P(8) / MOCK_PG);
	}
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(8), unmapped);
	for (int d = 0; d != 3; d++)
		check_domain(env.domains[d], 0);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* Cut, then unmap part of what was one mapping (type1 partial unmap). */
TEST(cut_then_partial_unmap)
{
	struct env env;
	struct snap before;
	u64 cuts[] = { IOVA + P(2) - 1, IOVA + P(5) - 1 };
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(iopt_disable_large_pages(&env.iopt));
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(attach(&env, 1));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(8), RW));
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, IOVA + P(2), P(3), &unmapped));
	take_snap(&env, &before);
	/* Misaligned cuts. */
	ASSERT_FAILS(-EINVAL, iopt_cut_iova(&env.iopt,
					    &(u64){ IOVA + MOCK_PG - 1 }, 1));
	ASSERT_FAILS(-EINVAL, iopt_cut_iova(&env.iopt, &(u64){ IOVA + 5 }, 1));
	expect_snap(&env, &before);
	/* At an area's last byte, or where nothing is: nothing to do. */
	ASSERT_OK(iopt_cut_iova(&env.iopt, &(u64){ IOVA + P(8) - 1 }, 1));
	ASSERT_OK(iopt_cut_iova(&env.iopt, &(u64){ IOVA + P(100) }, 1));
	expect_snap(&env, &before);

	ASSERT_OK(iopt_cut_iova(&env.iopt, cuts, 2));
	ASSERT_EQ(3, count_areas(&env.iopt));
	check_one_area(&env.iopt, IOVA, P(2));
	check_one_area(&env.iopt, IOVA + P(2), P(3));
	check_one_area(&env.iopt, IOVA + P(5), P(3));
	/* Cutting changes no translation and no pin. */
	for (int d = 0; d != 2; d++) {
		check_map(env.domains[d], IOVA, ubuf(&env, 0), P(8), RW);
		check_domain(env.domains[d], P(8) / MOCK_PG);
	}
	check_pins_range(&env, 0, 8, 1);
	ASSERT_EQ(8, iopt_account_pinned());

	ASSERT_OK(unmap(&env.iopt, IOVA + P(2), P(3), &unmapped));
	ASSERT_EQ(P(3), unmapped);
	for (int d = 0; d != 2; d++) {
		check_map(env.domains[d], IOVA, ubuf(&env, 0), P(2), RW);
		check_map(env.domains[d], IOVA + P(5), ubuf(&env, P(5)), P(3),
			  RW);
		ASSERT_EQ(0, mapped_io_pages(env.domains[d], IOVA + P(2),
					     IOVA + P(5) - 1));
		check_domain(env.domains[d], P(5) / MOCK_PG);
	}
	{
		u64 want[BUF_PAGES] = {};

		set_pins(want, 0, 2, 1);
		set_pins(want, 5, 3, 1);
		check_pins(&env, want);
		ASSERT_EQ(5, iopt_account_pinned());
	}
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(5), unmapped);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/* When an area cannot be cut: large pages with a domain, an access. */
TEST(cut_refused)
{
	struct env env;
	struct snap before;
	struct tacc ta;
	u64 unmapped;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(8), RW));
	take_snap(&env, &before);
	/* A domain may hold a large page across the cut. */
	ASSERT_FAILS(-EINVAL, iopt_cut_iova(&env.iopt,
					    &(u64){ IOVA + P(4) - 1 }, 1));
	expect_snap(&env, &before);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	detach(&env, 0);

	/* No domain: large pages do not matter, accesses do. */
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(8), RW));
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	ASSERT_OK(tacc_pin(&ta, IOVA + P(6), P(1), NULL, 0));
	take_snap(&env, &before);
	ASSERT_FAILS(-EINVAL, iopt_cut_iova(&env.iopt,
					    &(u64){ IOVA + P(4) - 1 }, 1));
	expect_snap(&env, &before);
	/*
	 * A list whose second cut fails: the first stays done (as the
	 * kernel's iopt_cut_iova() leaves it).
	 */
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(16), ubuf(&env, 0), P(4), RW));
	ASSERT_FAILS(-EINVAL, iopt_cut_iova(&env.iopt,
					    (u64[]){ IOVA + P(17) - 1,
						     IOVA + P(2) - 1 }, 2));
	ASSERT_EQ(3, count_areas(&env.iopt));
	check_one_area(&env.iopt, IOVA + P(16), P(1));
	check_one_area(&env.iopt, IOVA + P(17), P(3));
	ASSERT_OK(unmap(&env.iopt, IOVA + P(16), P(4), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	expect_snap(&env, &before);
	ASSERT_OK(tacc_unpin(&ta, IOVA + P(6), P(1)));
	ASSERT_OK(iopt_cut_iova(&env.iopt, &(u64){ IOVA + P(4) - 1 }, 1));
	ASSERT_EQ(2, count_areas(&env.iopt));
	/* Byte-granular cuts without a domain or a pinning access. */
	tacc_destroy(&ta);
	ASSERT_OK(iopt_cut_iova(&env.iopt, &(u64){ IOVA + 100 }, 1));
	check_one_area(&env.iopt, IOVA, 101);
	check_one_area(&env.iopt, IOVA + 101, P(4) - 101);
	ASSERT_OK(unmap(&env.iopt, IOVA + 101, P(4) - 101, &unmapped));
	ASSERT_EQ(P(4) - 101, unmapped);
	/* Both halves share a page: attaching needs 2 KiB alignment. */
	ASSERT_FAILS(-EADDRINUSE, attach(&env, 0));
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(4) + 101, unmapped);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/*
 * PITFALLS 8: split bookkeeping. After a cut with a domain attached both
 * halves must be in the pages' domains tree: attach more domains (filled
 * from it), detach the storage domain, pin through an access (PFNs read
 * back from the domain), unmap the halves one by one: translations and pin
 * counts stay exact throughout.
 */
TEST(pitfall_08_split_bookkeeping)
{
	struct env env;
	struct tacc ta;
	u64 pfns[8], unmapped;

	env_init(&env);
	ASSERT_OK(iopt_disable_large_pages(&env.iopt));
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, P(8)), P(8), RW));
	ASSERT_OK(iopt_cut_iova(&env.iopt, (u64[]){ IOVA + P(3) - 1,
						    IOVA + P(6) - 1 }, 2));
	ASSERT_EQ(3, count_areas(&env.iopt));
	ASSERT_OK(attach(&env, 1));
	check_map(env.domains[1], IOVA, ubuf(&env, P(8)), P(8), RW);
	detach(&env, 0);
	check_pins_range(&env, 8, 8, 1);
	check_map(env.domains[1], IOVA, ubuf(&env, P(8)), P(8), RW);
	/* An access reads the PFNs back from the surviving domain. */
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	ASSERT_OK(tacc_pin(&ta, IOVA + P(2), P(5), pfns, 0));
	for (int i = 0; i != 5; i++)
		ASSERT_EQ(PHYS_PFN(ubuf(&env, P(10 + i))), pfns[i]);
	check_pins_range(&env, 8, 8, 1);
	ASSERT_OK(attach(&env, 2));
	detach(&env, 1);
	check_map(env.domains[2], IOVA, ubuf(&env, P(8)), P(8), RW);
	check_domain(env.domains[1], 0);
	/* The first piece goes; the access keeps its part of the rest. */
	ASSERT_OK(unmap(&env.iopt, IOVA, P(3), &unmapped));
	ASSERT_EQ(P(3), unmapped);
	ASSERT_EQ(1, ta.calls);
	check_pins_range(&env, 11, 5, 1);
	detach(&env, 2);
	check_domain(env.domains[2], 0);
	check_nothing_pinned(&env);
	ASSERT_OK(attach(&env, 0));
	check_map(env.domains[0], IOVA + P(3), ubuf(&env, P(11)), P(5), RW);
	check_domain(env.domains[0], P(5) / MOCK_PG);
	check_pins_range(&env, 11, 5, 1);
	ASSERT_OK(tacc_pin(&ta, IOVA + P(4), P(4), pfns, 0));
	ASSERT_EQ(PHYS_PFN(ubuf(&env, P(15))), pfns[3]);
	ASSERT_OK(unmap(&env.iopt, IOVA + P(6), P(2), &unmapped));
	check_pins_range(&env, 11, 3, 1);
	tacc_destroy(&ta);
	ASSERT_OK(unmap(&env.iopt, IOVA + P(3), P(3), &unmapped));
	check_nothing_pinned(&env);
	check_domain(env.domains[0], 0);
	env_destroy(&env);
}

/* ---- 9. named regression tests (PITFALLS.md) -------------------------- */

/* PITFALLS 1: a user range that wraps fails before anything is pinned. */
TEST(pitfall_01_user_address_wraps)
{
	struct env env;
	struct snap before;
	void *map;
	size_t map_len;
	/* Never touched: any pin attempt would make its pages resident. */
	char *fresh = alloc_aligned(P(4), HUGE_ALIGN, &map, &map_len);
	u64 f = (uintptr_t)fresh;
	const struct {
		u64 uptr, len;
	} cases[] = {
		{ f, U64_MAX - f + 2 },		/* real memory, wraps past 0 */
		{ f, U64_MAX },
		{ f + P(1), U64_MAX - P(1) },
		{ U64_MAX - P(1) + 1, P(2) },
		{ U64_MAX, 2 },
		{ U64_MAX - 1, U64_MAX },
	};
	unsigned char vec[4];

	ASSERT_NONNULL(fresh);
	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(attach(&env, 1));
	take_snap(&env, &before);
	for (unsigned int i = 0; i != ARRAY_SIZE(cases); i++) {
		for (int how = 0; how != 2; how++) {
			u64 iova = IOVA;
			int rc;

			err_reason_clear();
			rc = iopt_map_user_pages(&env.iopt, &iova,
						 cases[i].uptr, cases[i].len,
						 RW, how ? IOPT_ALLOC_IOVA : 0,
						 ACCT_USER);
			/* The kernel says EOVERFLOW, uiommufd EINVAL. */
			if (rc != -EINVAL && rc != -EOVERFLOW)
				TH_LOG("case %u: %d", i, rc);
			ASSERT_TRUE(rc == -EINVAL || rc == -EOVERFLOW);
			ASSERT_NONNULL(err_reason_get());
			expect_snap(&env, &before);
		}
	}
	ASSERT_EQ(0, mincore(fresh, P(4), vec));
	for (int i = 0; i != 4; i++)
		ASSERT_EQ(0, vec[i] & 1);
	ASSERT_EQ(0, iopt_account_pinned());
	env_destroy(&env);
	munmap(map, map_len);
}

/*
 * PITFALLS 11: a user address with a huge alignment must not raise the
 * automatic IOVA alignment past a huge page. Nothing is touched without a
 * domain, so any address will do.
 */
TEST(pitfall_11_user_alignment_capped)
{
	static const u64 uptrs[] = { 1ULL << 46, 1ULL << 63, 1ULL << 40 };
	struct env env;
	u64 len = 8ULL << 20, iova, unmapped;

	env_init(&env);
	for (unsigned int i = 0; i != ARRAY_SIZE(uptrs); i++) {
		/* Room for len at 2 MiB alignment, not at 8 MiB. */
		struct iova_range win = { 6ULL << 20, (6ULL << 20) + len - 1 };

		ASSERT_OK(iopt_set_allow_iova(&env.iopt, &win, 1));
		ASSERT_OK(map_auto(&env.iopt, &iova, uptrs[i], len,
				   IOMMU_READ));
		ASSERT_EQ(win.start, iova);
		ASSERT_OK(unmap(&env.iopt, iova, len, &unmapped));
		ASSERT_EQ(len, unmapped);
		/* Unrestricted: aligned to the cap, not to the address. */
		ASSERT_OK(iopt_set_allow_iova(&env.iopt, NULL, 0));
		ASSERT_OK(map_fixed(&env.iopt, HUGE_ALIGN, ubuf(&env, 0), 1,
				    RW));
		ASSERT_OK(map_auto(&env.iopt, &iova, uptrs[i], len,
				   IOMMU_READ));
		ASSERT_EQ(2 * HUGE_ALIGN, iova);
		ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
		ASSERT_EQ(len + 1, unmapped);
	}
	env_destroy(&env);
}

/*
 * PITFALLS 12: rounding an IOVA up near U64_MAX must not wrap to a low
 * value: with only the top of the space allowed (or free), an allocation
 * either fits there or fails with ENOSPC, and never lands on the area at
 * the bottom.
 */
TEST(pitfall_12_align_wrap_near_top)
{
	static const u64 lens[] = {
		1, P(1), P(1) + 1, P(2), P(3), P(4), P(8), HUGE_ALIGN,
		HUGE_ALIGN + P(1), 1ULL << 32,
	};
	static const u64 tops[] = {
		P(1), P(3) + 0x800, P(4), P(5), HUGE_ALIGN + P(2), 1ULL << 33,
	};
	struct env env;
	u64 iova, unmapped;

	env_init(&env);
	ASSERT_OK(map_fixed(&env.iopt, PAGE_SIZE, ubuf(&env, 0), P(1), RW));
	for (unsigned int t = 0; t != ARRAY_SIZE(tops); t++) {
		u64 start = U64_MAX - tops[t] + 1;

		for (int how = 0; how != 2; how++) {
			struct iova_range win = { start, U64_MAX };

			if (how) {
				ASSERT_OK(iopt_set_allow_iova(&env.iopt, &win,
							      1));
			} else {
				ASSERT_OK(iopt_reserve_iova(&env.iopt,
							    2 * PAGE_SIZE,
							    start - 1, &env));
			}
			for (unsigned int l = 0; l != ARRAY_SIZE(lens); l++) {
				int rc;

				err_reason_clear();
				rc = map_auto(&env.iopt, &iova, ubuf(&env, 0),
					      lens[l], IOMMU_READ);
				if (rc) {
					ASSERT_EQ(-ENOSPC, rc);
					ASSERT_NONNULL(err_reason_get());
					continue;
				}
				/* Inside the window, never the top page. */
				ASSERT_GE(iova, start);
				ASSERT_LE(iova + lens[l] - 1,
					  U64_MAX - PAGE_SIZE);
				ASSERT_GE(iova + lens[l] - 1, iova);
				check_auto_iova(&env.iopt, iova, lens[l],
						ubuf(&env, 0));
				ASSERT_OK(unmap(&env.iopt, iova, lens[l],
						&unmapped));
			}
			if (how)
				ASSERT_OK(iopt_set_allow_iova(&env.iopt, NULL,
							      0));
			else
				iopt_remove_reserved_iova(&env.iopt, &env);
		}
	}
	/* The smallest windows fit only the smallest lengths. */
	{
		struct iova_range win = { U64_MAX - P(2) + 1, U64_MAX };

		ASSERT_OK(iopt_set_allow_iova(&env.iopt, &win, 1));
		ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, 0), P(1),
				   IOMMU_READ));
		ASSERT_EQ(win.start, iova);
		ASSERT_FAILS(-ENOSPC, map_auto(&env.iopt, &iova, ubuf(&env, 0),
					       P(1), IOMMU_READ));
		ASSERT_OK(iopt_set_allow_iova(&env.iopt, NULL, 0));
	}
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(2), unmapped);
	env_destroy(&env);
}

/*
 * PITFALLS 13 (the part one thread can reach): an area being mapped or
 * unmapped by someone else has a NULL pages pointer. Unmap steps over it
 * (no EBUSY, and the areas around it still go), partial-cover checks
 * ignore it, copy, pin and rw see it as not mapped, and its IOVA stays
 * taken for new maps.
 */
TEST(pitfall_13_unmap_skips_area_in_flight)
{
	struct env env;
	struct tacc ta;
	struct iopt_area *busy;
	struct iopt_pages *pages;
	u64 unmapped, iova;
	char c;

	env_init(&env);
	ASSERT_OK(attach(&env, 0));
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(2), RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(2), ubuf(&env, P(2)), P(2),
			    RW));
	ASSERT_OK(map_fixed(&env.iopt, IOVA + P(4), ubuf(&env, P(4)), P(2),
			    RW));
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	busy = iopt_area_iter_first(&env.iopt, IOVA + P(2), IOVA + P(2));
	ASSERT_NONNULL(busy);
	pages = busy->pages;
	busy->pages = NULL;

	/* Only the busy area: nothing mapped there as far as unmap knows. */
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, IOVA + P(2), P(2), &unmapped));
	/* Covering part of it is not a split: it is not there. */
	ASSERT_FAILS(-ENOENT, unmap(&env.iopt, IOVA + P(3), P(1), &unmapped));
	ASSERT_FAILS(-ENOENT, iopt_copy_iova(&env.iopt2, &iova, &env.iopt,
					     IOVA, P(4), RW, IOPT_ALLOC_IOVA));
	ASSERT_FAILS(-ENOENT, tacc_pin(&ta, IOVA + P(1), P(2), NULL, 0));
	ASSERT_FAILS(-ENOENT, iopt_access_rw(ta.access, IOVA + P(2), &c, 1, 0));
	ASSERT_FAILS(-EEXIST, map_fixed(&env.iopt, IOVA + P(3), ubuf(&env, 0),
					P(1), RW));
	ASSERT_FAILS(-EADDRINUSE, iopt_reserve_iova(&env.iopt, IOVA + P(2),
						    IOVA + P(2), &env));
	/* Across all three: the other two go, the busy one stays. */
	ASSERT_OK(unmap(&env.iopt, IOVA, P(6), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_EQ(1, count_areas(&env.iopt));
	ASSERT_OK(map_auto(&env.iopt, &iova, ubuf(&env, 0), P(2), RW));
	ASSERT_FALSE(iova + P(2) > IOVA + P(2) && iova < IOVA + P(4));
	ASSERT_OK(unmap(&env.iopt, iova, P(2), &unmapped));
	/* unmap_all steps over it too. */
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(0, unmapped);

	busy->pages = pages;
	check_map(env.domains[0], IOVA + P(2), ubuf(&env, P(2)), P(2), RW);
	check_domain(env.domains[0], P(2) / MOCK_PG);
	check_pins_range(&env, 2, 2, 1);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(P(2), unmapped);
	tacc_destroy(&ta);
	check_nothing_pinned(&env);
	env_destroy(&env);
}

/*
 * PITFALLS 9: an access whose registration fails (its alignment does not
 * fit) leaves no slot behind: no notification reaches it, the list is
 * empty, the alignment unchanged.
 */
TEST(pitfall_09_access_create_error_unpublished)
{
	struct env env;
	struct tacc ta, *bad = calloc(1, sizeof(*bad));
	struct iopt_access *access;
	u64 unmapped;

	ASSERT_NONNULL(bad);
	env_init(&env);
	tacc_create(&ta, &env.iopt, &tacc_rw_ops);
	ASSERT_OK(map_fixed(&env.iopt, IOVA, ubuf(&env, 0), P(1) + 1, RW));
	access = iopt_access_create(&env.iopt, &tacc_pin_ops, bad);
	ASSERT_EQ(-EADDRINUSE, PTR_ERR(access));
	ASSERT_EQ(1, iopt_iova_alignment(&env.iopt));
	{
		u64 n = 0, index;
		void *entry;

		index_store_for_each(&env.iopt.access_list, index, entry) {
			ASSERT_EQ(ta.access, entry);
			n++;
		}
		ASSERT_EQ(1, n);
	}
	/* Notifications reach only the live access. */
	iopt_access_notify_unmap(&env.iopt, IOVA, P(1));
	ASSERT_EQ(1, ta.calls);
	ASSERT_EQ(0, bad->calls);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	tacc_destroy(&ta);
	ASSERT_TRUE(index_store_empty(&env.iopt.access_list));
	/* The slot can be used again. */
	tacc_create(&ta, &env.iopt, &tacc_pin_ops);
	ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env.iopt));
	tacc_destroy(&ta);
	env_destroy(&env);
	free(bad);
}

/* ---- 10. boundary inputs ---------------------------------------------- */

static const u64 bvals[] = {
	0, 1, PAGE_SIZE - 1, PAGE_SIZE + 1, 0xffffffffULL, 0x100000001ULL,
	1ULL << 63, U64_MAX - 2, U64_MAX - 1, U64_MAX,
};

#define NB ARRAY_SIZE(bvals)
#define MAX_VALS (NB + 8)

/*
 * The outcome a call may have: errors whose cause is present, and ones
 * tolerated besides (resource limits).
 */
struct outcome {
	int must[8], may[4];
	unsigned int nmust, nmay;
};

static void must(struct outcome *o, int err)
{
	o->must[o->nmust++] = err;
}

static bool outcome_allows(const struct outcome *o, int rc)
{
	if (!rc)
		return !o->nmust;
	for (unsigned int i = 0; i != o->nmust; i++)
		if (o->must[i] == rc)
			return true;
	for (unsigned int i = 0; i != o->nmay; i++)
		if (o->may[i] == rc)
			return true;
	return false;
}

struct bctx {
	struct env env;
	struct tacc ta;		/* rw only: no alignment of its own */
	bool domain;
	const struct layout *areas;
	size_t nareas;
	struct iova_range allowed, reserved;
	struct snap base;
	u64 iovas[MAX_VALS], lens[MAX_VALS], uptrs[MAX_VALS];
	size_t niovas, nlens, nuptrs;
	u64 calls, oks;
};

/* At the bottom and the top of the IOVA space, and a byte-sized one. */
static const struct layout bnd_nodomain[] = {
	{ 0, 0, P(1), RW },
	{ 0xffffffffULL, P(1), 2, RW },
	{ U64_MAX - P(1) + 1, P(2), P(1), RW },
};

/* Page aligned, for pinning accesses. */
static const struct layout bnd_nodomain_pin[] = {
	{ 0, 0, P(2), RW },
	{ 1ULL << 32, P(4), P(2), RW },
	{ U64_MAX - P(2) + 1, P(8), P(2), RW },
};

static const struct layout bnd_domain[] = {
	{ IOVA, 0, P(2), RW },
	{ IOVA + P(4), P(4), P(1), RW },
	{ MOCK_APERTURE_LAST + 1 - P(2), P(8), P(2), RW },
};

static void add_val(u64 *vals, size_t *n, u64 v)
{
	for (size_t i = 0; i != *n; i++)
		if (vals[i] == v)
			return;
	vals[(*n)++] = v;
}

/* Map @areas (the only ones), then record the baseline. */
static void bctx_map(struct bctx *b, const struct layout *areas, size_t n)
{
	b->areas = areas;
	b->nareas = n;
	map_layout(&b->env, &b->env.iopt, areas, n);
	take_snap(&b->env, &b->base);
}

static void bctx_init(struct bctx *b, bool domain)
{
	memset(b, 0, sizeof(*b));
	env_init(&b->env);
	b->domain = domain;
	if (domain)
		ASSERT_OK(attach(&b->env, 0));
	b->reserved = (struct iova_range){ IOVA + P(64), IOVA + P(65) - 1 };
	ASSERT_OK(iopt_reserve_iova(&b->env.iopt, b->reserved.start,
				    b->reserved.last, b));
	b->allowed = domain ? (struct iova_range){ IOVA + P(32),
						   IOVA + P(48) - 1 } :
			      (struct iova_range){ 1ULL << 40,
						   (1ULL << 40) + P(16) - 1 };
	ASSERT_OK(iopt_set_allow_iova(&b->env.iopt, &b->allowed, 1));
	tacc_create(&b->ta, &b->env.iopt, &tacc_rw_ops);
	if (domain)
		bctx_map(b, bnd_domain, ARRAY_SIZE(bnd_domain));
	else
		bctx_map(b, bnd_nodomain, ARRAY_SIZE(bnd_nodomain));

	for (size_t i = 0; i != NB; i++) {
		add_val(b->iovas, &b->niovas, bvals[i]);
		add_val(b->lens, &b->nlens, bvals[i]);
		add_val(b->uptrs, &b->nuptrs, bvals[i]);
	}
	add_val(b->iovas, &b->niovas, b->areas[0].iova);
	add_val(b->iovas, &b->niovas, b->areas[0].iova + P(1));
	add_val(b->iovas, &b->niovas, b->areas[2].iova);
	add_val(b->iovas, &b->niovas, b->reserved.start);
	add_val(b->iovas, &b->niovas, IOVA + P(8));	/* free */
	add_val(b->lens, &b->nlens, P(1));
	add_val(b->lens, &b->nlens, P(2));
	add_val(b->uptrs, &b->nuptrs, ubuf(&b->env, P(16)));
	add_val(b->uptrs, &b->nuptrs, ubuf(&b->env, P(16) + MOCK_PG));
}

/* Swap the areas for page-aligned ones and add a pinning access. */
static void bctx_use_pin_layout(struct bctx *b, struct tacc *pin)
{
	if (!b->domain) {
		ASSERT_OK(iopt_unmap_all(&b->env.iopt, NULL));
		bctx_map(b, bnd_nodomain_pin, ARRAY_SIZE(bnd_nodomain_pin));
	}
	tacc_create(pin, &b->env.iopt, &tacc_pin_ops);
	take_snap(&b->env, &b->base);
	add_val(b->iovas, &b->niovas, b->areas[1].iova);
	add_val(b->iovas, &b->niovas, b->areas[1].iova + P(1));
}

static void bctx_destroy(struct bctx *b)
{
	if (b->ta.access)
		tacc_destroy(&b->ta);
	iopt_remove_reserved_iova(&b->env.iopt, b);
	env_destroy(&b->env);
}

FIXTURE(boundary)
{
	struct bctx b;
};

FIXTURE_VARIANT(boundary)
{
	bool domain;
};

FIXTURE_VARIANT_ADD(boundary, no_domain) { .domain = false };
FIXTURE_VARIANT_ADD(boundary, mock_domain) { .domain = true };

FIXTURE_SETUP(boundary)
{
	bctx_init(&self->b, variant->domain);
}

FIXTURE_TEARDOWN(boundary)
{
	bctx_destroy(&self->b);
}

static bool wraps(u64 start, u64 len)
{
	u64 last;

	return len && check_add_overflow(start, len - 1, &last);
}

static bool intersects(u64 a, u64 a_last, u64 b, u64 b_last)
{
	return a <= b_last && b <= a_last;
}

static bool b_overlaps_area(struct bctx *b, u64 iova, u64 last)
{
	for (size_t i = 0; i != b->nareas; i++)
		if (intersects(iova, last, b->areas[i].iova,
			       b->areas[i].iova + b->areas[i].len - 1))
			return true;
	return false;
}

/* The area holding @iova, or NULL. */
static const struct layout *b_area_at(struct bctx *b, u64 iova)
{
	for (size_t i = 0; i != b->nareas; i++)
		if (iova >= b->areas[i].iova &&
		    iova - b->areas[i].iova < b->areas[i].len)
			return &b->areas[i];
	return NULL;
}

/* [iova, last] lies within areas back to back (none are adjacent here). */
static bool b_mapped(struct bctx *b, u64 iova, u64 last)
{
	const struct layout *a = b_area_at(b, iova);

	return a && last - a->iova < a->len;
}

static bool b_reserved(struct bctx *b, u64 iova, u64 last)
{
	if (intersects(iova, last, b->reserved.start, b->reserved.last))
		return true;
	return b->domain && (iova < MOCK_APERTURE_START ||
			     last > MOCK_APERTURE_LAST);
}

static bool b_real(struct bctx *b, u64 uptr, u64 len)
{
	u64 base = ubuf(&b->env, 0);

	return uptr >= base && uptr - base < BUF_SIZE &&
	       len <= BUF_SIZE - (uptr - base);
}

static u64 b_align(struct bctx *b)
{
	return b->domain ? MOCK_PG : 1;
}

/* The pages object for user memory: zero length and wraps fail there. */
static bool b_user_checks(struct bctx *b, struct outcome *o, u64 uptr,
			  u64 len)
{
	/* As the kernel: a length with no room to round up is EINVAL. */
	if (!len || len > SIZE_MAX - PAGE_SIZE) {
		must(o, -EINVAL);
		return false;
	}
	/* As the kernel: an end (exclusive) past the top is EOVERFLOW. */
	if (wraps(uptr, len) || uptr + len - 1 == U64_MAX) {
		must(o, -EOVERFLOW);
		return false;
	}
	return true;
}

/*
 * What placing @len bytes of memory at @uptr + @off in its page at a fixed
 * IOVA must meet.
 */
static void b_fixed_checks(struct bctx *b, struct outcome *o, u64 iova,
			   u64 len, u64 page_off)
{
	u64 align = b_align(b);

	if (len % align || iova % align || page_off % align)
		must(o, -EINVAL);
	if (wraps(iova, len)) {
		must(o, -EOVERFLOW);
		return;
	}
	if (b_reserved(b, iova, iova + len - 1))
		must(o, -EINVAL);
	if (b_overlaps_area(b, iova, iova + len - 1))
		must(o, -EEXIST);
}

static void b_check_failure(struct bctx *b, const struct outcome *o, int rc,
			    const char *what, u64 x, u64 y, u64 z)
{
	if (!outcome_allows(o, rc)) {
		TH_LOG("%s(%#llx, %#llx, %#llx): %d (%s), %u causes, first %d",
		       what, (unsigned long long)x, (unsigned long long)y,
		       (unsigned long long)z, rc,
		       err_reason_get() ?: "no reason", o->nmust,
		       o->nmust ? o->must[0] : 0);
		ASSERT_TRUE(outcome_allows(o, rc));
	}
	if (rc) {
		if (!err_reason_get())
			TH_LOG("%s(%#llx, %#llx, %#llx): %d without a reason",
			       what, (unsigned long long)x,
			       (unsigned long long)y, (unsigned long long)z,
			       rc);
		ASSERT_NONNULL(err_reason_get());
		expect_snap(&b->env, &b->base);
	} else {
		b->oks++;
	}
	b->calls++;
}

/*
 * A successful map of user memory: the area and (with a domain) the
 * translation are right; CPU access to memory that is not there fails
 * cleanly; then it goes again.
 */
static void b_check_mapped(struct bctx *b, u64 iova, u64 uptr, u64 len)
{
	u64 unmapped;
	char c;
	int rc;

	check_one_area(&b->env.iopt, iova, len);
	if (b->domain) {
		ASSERT_TRUE(b_real(b, uptr, len));
		check_map(b->env.domains[0], iova, uptr, len, RW);
	}
	rc = iopt_access_rw(b->ta.access, iova + len - 1, &c, 1, 0);
	if (b_real(b, uptr, len)) {
		ASSERT_EQ(0, rc);
		ASSERT_EQ(b->env.buf[uptr + len - 1 - ubuf(&b->env, 0)], c);
	} else {
		ASSERT_EQ(-EFAULT, rc);
	}
	ASSERT_OK(unmap(&b->env.iopt, iova, len, &unmapped));
	ASSERT_EQ(len, unmapped);
	expect_snap(&b->env, &b->base);
}

TEST_F(boundary, map_fixed)
{
	struct bctx *b = &self->b;

	for (size_t i = 0; i != b->niovas; i++)
		for (size_t l = 0; l != b->nlens; l++)
			for (size_t u = 0; u != b->nuptrs; u++) {
				u64 iova = b->iovas[i], len = b->lens[l];
				u64 uptr = b->uptrs[u];
				struct outcome o = {};
				int rc;

				if (b_user_checks(b, &o, uptr, len)) {
					b_fixed_checks(b, &o, iova, len,
						       uptr % PAGE_SIZE);
					if (b->domain && !b_real(b, uptr, len))
						must(&o, -EFAULT);
				}
				err_reason_clear();
				rc = map_fixed(&b->env.iopt, iova, uptr, len,
					       RW);
				b_check_failure(b, &o, rc, "map", iova, len,
						uptr);
				if (!rc)
					b_check_mapped(b, iova, uptr, len);
			}
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

static u64 roundup_pow2(u64 v)
{
	return 1ULL << (fls64_index(v) + !is_power_of_2(v));
}

TEST_F(boundary, map_auto)
{
	struct bctx *b = &self->b;
	u64 room = b->allowed.last - b->allowed.start + 1;

	for (size_t l = 0; l != b->nlens; l++)
		for (size_t u = 0; u != b->nuptrs; u++) {
			u64 len = b->lens[l], uptr = b->uptrs[u], iova;
			struct outcome o = {};
			int rc;

			if (b_user_checks(b, &o, uptr, len)) {
				u64 a;

				if (len % b_align(b))
					must(&o, -EINVAL);
				if (len >= U64_MAX / 2) {
					must(&o, -EOVERFLOW);
				} else {
					a = min(roundup_pow2(len), HUGE_ALIGN);
					if (uptr)
						a = min(a, lowest_bit(uptr));
					if (a < b_align(b))
						must(&o, -EINVAL);
					if (len > room)
						must(&o, -ENOSPC);
				}
				if (b->domain && !b_real(b, uptr, len))
					must(&o, -EFAULT);
			}
			err_reason_clear();
			rc = map_auto(&b->env.iopt, &iova, uptr, len, RW);
			b_check_failure(b, &o, rc, "map_auto", len, uptr, 0);
			if (rc)
				continue;
			check_auto_iova(&b->env.iopt, iova, len, uptr);
			ASSERT_GE(iova, b->allowed.start);
			ASSERT_LE(iova + len - 1, b->allowed.last);
			b_check_mapped(b, iova, uptr, len);
		}
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

TEST_F(boundary, unmap)
{
	struct bctx *b = &self->b;

	for (size_t i = 0; i != b->niovas; i++)
		for (size_t l = 0; l != b->nlens; l++) {
			u64 iova = b->iovas[i], len = b->lens[l], last;
			u64 unmapped = 77, sum = 0;
			bool partial = false;
			struct outcome o = {};
			int rc;

			if (!len) {
				must(&o, -EINVAL);
			} else if (wraps(iova, len)) {
				must(&o, -EOVERFLOW);
			} else {
				last = iova + len - 1;
				for (size_t k = 0; k != b->nareas; k++) {
					const struct layout *a = &b->areas[k];
					u64 a_last = a->iova + a->len - 1;

					if (!intersects(iova, last, a->iova,
							a_last))
						continue;
					if (a->iova < iova || a_last > last)
						partial = true;
					sum += a->len;
				}
				if (partial || !sum)
					must(&o, -ENOENT);
			}
			err_reason_clear();
			rc = unmap(&b->env.iopt, iova, len, &unmapped);
			b_check_failure(b, &o, rc, "unmap", iova, len, 0);
			if (rc) {
				ASSERT_EQ(0, unmapped);
				continue;
			}
			ASSERT_EQ(sum, unmapped);
			/* Put back what went. */
			for (size_t k = 0; k != b->nareas; k++) {
				const struct layout *a = &b->areas[k];

				if (a->iova >= iova && a->iova - iova < len)
					ASSERT_OK(map_fixed(&b->env.iopt,
							    a->iova,
							    ubuf(&b->env,
								 a->off),
							    a->len, a->prot));
			}
			expect_snap(&b->env, &b->base);
		}
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

TEST_F(boundary, copy)
{
	struct bctx *b = &self->b;
	u64 room = b->allowed.last - b->allowed.start + 1;

	for (size_t s = 0; s != b->niovas; s++)
		for (size_t l = 0; l != b->nlens; l++)
			for (size_t d = 0; d <= b->niovas; d++) {
				u64 src = b->iovas[s], len = b->lens[l];
				bool fixed = d != b->niovas;
				u64 dst = fixed ? b->iovas[d] : 0;
				const struct layout *a = b_area_at(b, src);
				u64 uptr = 0;
				struct outcome o = {};
				int rc;

				if (!len) {
					must(&o, -EINVAL);
				} else if (wraps(src, len)) {
					must(&o, -EOVERFLOW);
				} else if (!b_mapped(b, src, src + len - 1)) {
					must(&o, -ENOENT);
				} else if (fixed) {
					uptr = ubuf(&b->env, a->off) +
					       (src - a->iova);
					b_fixed_checks(b, &o, dst, len,
						       uptr % PAGE_SIZE);
				} else {
					u64 al = min(roundup_pow2(len),
						     HUGE_ALIGN);

					uptr = ubuf(&b->env, a->off) +
					       (src - a->iova);
					al = min(al, lowest_bit(uptr));
					if (len % b_align(b) ||
					    al < b_align(b))
						must(&o, -EINVAL);
					if (len > room)
						must(&o, -ENOSPC);
				}
				err_reason_clear();
				rc = iopt_copy_iova(&b->env.iopt, &dst,
						    &b->env.iopt, src, len, RW,
						    fixed ? 0 :
							    IOPT_ALLOC_IOVA);
				b_check_failure(b, &o, rc, "copy", src, len,
						dst);
				if (rc)
					continue;
				if (!fixed) {
					check_auto_iova(&b->env.iopt, dst, len,
							uptr);
					ASSERT_GE(dst, b->allowed.start);
				}
				b_check_mapped(b, dst, uptr, len);
			}
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

TEST_F(boundary, reserve)
{
	struct bctx *b = &self->b;
	u64 vals[MAX_VALS + 4];
	size_t n = 0;
	int owner;

	for (size_t i = 0; i != b->niovas; i++)
		add_val(vals, &n, b->iovas[i]);
	add_val(vals, &n, b->allowed.start);
	add_val(vals, &n, b->allowed.last);
	for (size_t i = 0; i != n; i++)
		for (size_t k = 0; k != n; k++) {
			u64 start = vals[i], last = vals[k];
			struct outcome o = {};
			int rc;

			if (start > last)
				must(&o, -EINVAL);
			else if (b_overlaps_area(b, start, last) ||
				 intersects(start, last, b->allowed.start,
					    b->allowed.last))
				must(&o, -EADDRINUSE);
			err_reason_clear();
			rc = iopt_reserve_iova(&b->env.iopt, start, last,
					       &owner);
			b_check_failure(b, &o, rc, "reserve", start, last, 0);
			if (rc)
				continue;
			ASSERT_FAILS(-EINVAL,
				     map_fixed(&b->env.iopt, start,
					       ubuf(&b->env, 0), 1, RW));
			iopt_remove_reserved_iova(&b->env.iopt, &owner);
			expect_snap(&b->env, &b->base);
		}
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

TEST_F(boundary, allow)
{
	struct bctx *b = &self->b;
	u64 vals[MAX_VALS + 4];
	size_t n = 0;

	for (size_t i = 0; i != b->niovas; i++)
		add_val(vals, &n, b->iovas[i]);
	add_val(vals, &n, b->reserved.start - 1);
	add_val(vals, &n, b->reserved.last + 1);
	for (size_t i = 0; i != n; i++)
		for (size_t k = 0; k != n; k++) {
			struct iova_range r = { vals[i], vals[k] };
			struct interval_tree_node *node;
			struct outcome o = {};
			int rc;

			if (r.start > r.last)
				must(&o, -EINVAL);
			else if (b_reserved(b, r.start, r.last))
				must(&o, -EADDRINUSE);
			err_reason_clear();
			rc = iopt_set_allow_iova(&b->env.iopt, &r, 1);
			b_check_failure(b, &o, rc, "allow", r.start, r.last, 0);
			if (rc)
				continue;
			node = interval_tree_iter_first(
				&b->env.iopt.allowed_itree, 0, U64_MAX);
			ASSERT_NONNULL(node);
			ASSERT_EQ(r.start, node->start);
			ASSERT_EQ(r.last, node->last);
			ASSERT_NULL(interval_tree_iter_next(node, 0, U64_MAX));
			ASSERT_OK(iopt_set_allow_iova(&b->env.iopt, &b->allowed,
						      1));
			expect_snap(&b->env, &b->base);
		}
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

TEST_F(boundary, pin)
{
	struct bctx *b = &self->b;
	struct tacc pin;

	bctx_use_pin_layout(b, &pin);
	for (size_t i = 0; i != b->niovas; i++)
		for (size_t l = 0; l != b->nlens; l++)
			for (unsigned int flags = 0; flags != 2; flags++) {
				u64 iova = b->iovas[i], len = b->lens[l];
				const struct layout *a = b_area_at(b, iova);
				u64 pfns[8], n, off;
				struct outcome o = {};
				int rc;

				if (!len) {
					must(&o, -EINVAL);
				} else if (wraps(iova, len)) {
					must(&o, -EOVERFLOW);
				} else {
					if (!b_mapped(b, iova, iova + len - 1))
						must(&o, -ENOENT);
					if (a && (iova - a->iova) % PAGE_SIZE)
						must(&o, -EINVAL);
				}
				err_reason_clear();
				rc = iopt_access_pin_pages(pin.access, iova,
							   len, pfns, NULL, flags);
				b_check_failure(b, &o, rc, "pin", iova, len,
						flags);
				if (rc)
					continue;
				off = a->off + (iova - a->iova);
				n = (len - 1) / PAGE_SIZE + 1;
				for (u64 k = 0; k != n; k++)
					ASSERT_EQ(PHYS_PFN(ubuf(&b->env, off)) +
							  k,
						  pfns[k]);
				if (!b->domain)
					check_pins_range(&b->env,
							 off / PAGE_SIZE, n, 1);
				ASSERT_OK(iopt_access_unpin_pages(pin.access,
								  iova, len));
				expect_snap(&b->env, &b->base);
			}
	tacc_destroy(&pin);
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

TEST_F(boundary, rw)
{
	struct bctx *b = &self->b;
	struct tacc pin;
	static char data[P(4)];
	char *saved = malloc(BUF_SIZE);

	ASSERT_NONNULL(saved);
	bctx_use_pin_layout(b, &pin);
	memcpy(saved, b->env.buf, BUF_SIZE);
	for (size_t i = 0; i != b->niovas; i++)
		for (size_t l = 0; l != b->nlens; l++)
			for (unsigned int flags = 0; flags != 2; flags++) {
				u64 iova = b->iovas[i], len = b->lens[l];
				const struct layout *a = b_area_at(b, iova);
				struct outcome o = {};
				int rc;

				if (!len)
					must(&o, -EINVAL);
				else if (wraps(iova, len))
					must(&o, -EOVERFLOW);
				else if (!b_mapped(b, iova, iova + len - 1))
					must(&o, -ENOENT);
				memset(data, 0xa5, sizeof(data));
				err_reason_clear();
				rc = iopt_access_rw(pin.access, iova, data, len,
						    flags);
				b_check_failure(b, &o, rc, "rw", iova, len,
						flags);
				if (!rc) {
					u64 off = a->off + (iova - a->iova);

					char *mem = flags ? b->env.buf : saved;

					ASSERT_EQ(0, memcmp(mem + off, data,
							    len));
				}
				memcpy(b->env.buf, saved, BUF_SIZE);
			}
	tacc_destroy(&pin);
	free(saved);
	TH_LOG("%llu calls, %llu succeeded", (unsigned long long)b->calls,
	       (unsigned long long)b->oks);
}

/*
 * Without a domain nothing is pinned, so a map of any length that does not
 * wrap is legal (the kernel takes it): it allocates nothing per page.
 */
TEST(map_huge_length_without_domain)
{
	struct env env;
	u64 unmapped, len = 1ULL << 62;
	int rc;

	env_init(&env);
	err_reason_clear();
	rc = map_fixed(&env.iopt, 1ULL << 62, ubuf(&env, 0), len, RW);
	ASSERT_EQ(0, rc);
	check_one_area(&env.iopt, 1ULL << 62, len);
	ASSERT_OK(iopt_unmap_all(&env.iopt, &unmapped));
	ASSERT_EQ(len, unmapped);
	env_destroy(&env);
}

/* ---- 11. fail-nth sweeps ---------------------------------------------- */

/*
 * The scrambled buffer: anonymous pages (PFN = address) and memfd pages in
 * scrambled order, so PFN runs break inside areas and every fill and unfill
 * takes several batches (more with small temporary memory limits).
 */
static const int scramble[SBUF_PAGES] = {
	-1, -1, 9, 10, 11, 3, -1, -1, 1, 14, 15, -1, 5, -1, -1, 7,
};

struct sweep_bufs {
	char *buf, *sbuf;
	void *map, *smap;
	size_t map_len, smap_len;
	int memfd;
	struct pfn_source *hold;	/* keeps the memfd's file id */
	u64 spfns[SBUF_PAGES];
};

static void sweep_bufs_init(struct sweep_bufs *sb)
{
	struct pfn_source *src;

	memset(sb, 0, sizeof(*sb));
	sb->buf = alloc_aligned(BUF_SIZE, HUGE_ALIGN, &sb->map, &sb->map_len);
	ASSERT_NONNULL(sb->buf);
	fill_pattern(sb->buf, BUF_SIZE);
	sb->sbuf = alloc_aligned(P(SBUF_PAGES), HUGE_ALIGN, &sb->smap,
				 &sb->smap_len);
	ASSERT_NONNULL(sb->sbuf);
	sb->memfd = memfd_create("iopt_sweep", 0);
	ASSERT_GE(sb->memfd, 0);
	ASSERT_EQ(0, ftruncate(sb->memfd, P(16)));
	for (int i = 0; i != SBUF_PAGES; i++) {
		if (scramble[i] < 0)
			continue;
		ASSERT_NE(MAP_FAILED,
			  mmap(sb->sbuf + P(i), P(1), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_FIXED, sb->memfd,
			       P(scramble[i])));
	}
	fill_pattern(sb->sbuf, P(SBUF_PAGES));
	sb->hold = pfn_source_file_create(sb->memfd, 0, P(1), false);
	ASSERT_FALSE(IS_ERR(sb->hold));
	src = pfn_source_user_create((uintptr_t)sb->sbuf, P(SBUF_PAGES));
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(0, src->ops->identify(src, 0, SBUF_PAGES, sb->spfns));
	pfn_source_destroy(src);
	/* The runs the scramble promises. */
	ASSERT_EQ(sb->spfns[2] + 2, sb->spfns[4]);
	ASSERT_NE(sb->spfns[4] + 1, sb->spfns[5]);
	ASSERT_NE(sb->spfns[5] + 1, sb->spfns[6]);
}

static void sweep_bufs_destroy(struct sweep_bufs *sb)
{
	pfn_source_destroy(sb->hold);
	munmap(sb->map, sb->map_len);
	munmap(sb->smap, sb->smap_len);
	close(sb->memfd);
}

static void env_init_borrowed(struct env *env, struct sweep_bufs *sb)
{
	memset(env, 0, sizeof(*env));
	iopt_init_table(&env->iopt);
	iopt_init_table(&env->iopt2);
	env->buf = sb->buf;
	env->sbuf = sb->sbuf;
	env->spfns = sb->spfns;
	for (int i = 0; i != NDOMAINS; i++) {
		env->domains[i] = mock_domain_alloc(0);
		ASSERT_NONNULL(env->domains[i]);
	}
}

static u64 sbuf_addr(struct env *env, u64 off)
{
	return (uintptr_t)env->sbuf + off;
}

/* As check_map, for the scrambled buffer from byte @off on. */
static void check_smap(struct env *env, struct iommu_domain *domain, u64 iova,
		       u64 off, u64 len, int prot)
{
	int p;

	for (u64 k = 0; k < len; k += MOCK_PG) {
		u64 byte = off + k;
		u64 want = PFN_PHYS(env->spfns[byte / PAGE_SIZE]) +
			   byte % PAGE_SIZE;

		ASSERT_EQ(want, mock_domain_lookup(domain, iova + k, &p));
		ASSERT_EQ(prot, p);
	}
}

struct sweep {
	struct env env;
	struct tacc ta;
	u64 iova, unmapped, pfns[SBUF_PAGES + 8];
	struct iopt_access *access;
	struct snap before;
	int op;
};

/*
 * The scrambled area S: sbuf pages 1-12 at SX, and right after it B:
 * buffer pages 0-3, so ranges run across two pages objects. (Page aligned,
 * for pinning accesses; the map sweep maps from a sub-page offset.)
 */
#define SX IOVA
#define S_LEN P(12)
#define BX (SX + S_LEN)

static void map_s_and_b(struct sweep *sw)
{
	struct env *env = &sw->env;

	ASSERT_OK(map_fixed(&env->iopt, SX, sbuf_addr(env, P(1)), S_LEN, RW));
	ASSERT_OK(map_fixed(&env->iopt, BX, ubuf(env, 0), P(4), RW));
}

static void check_s_and_b(struct sweep *sw, struct iommu_domain *domain)
{
	check_smap(&sw->env, domain, SX, P(1), S_LEN, RW);
	check_map(domain, BX, ubuf(&sw->env, 0), P(4), RW);
}

enum sweep_op {
	OP_MAP,			/* S into two domains */
	OP_MAP_SMALL,		/* the same without large pages */
	OP_MAP_AUTO_COPY,	/* copy S+B (an access pins part) to iopt2 */
	OP_UNMAP,		/* unmap all with domains and an access */
	OP_ATTACH_FIRST,	/* areas and an access, no domain yet */
	OP_ATTACH_SECOND,	/* one domain already there */
	OP_PIN,			/* across S and B, with a domain */
	OP_PIN_NO_DOMAIN,	/* the same from the origin */
	OP_RW,			/* write across S and B, no domain */
	OP_RW_DOMAIN,
	OP_ACCESS_CREATE,
	OP_CUT,
	OP_RANGES,		/* reserve and allow */
	NR_OPS,
};

static const char *const op_names[NR_OPS] = {
	"map", "map_small", "copy", "unmap", "attach_first", "attach_second",
	"pin", "pin_no_domain", "rw", "rw_domain", "access_create", "cut",
	"ranges",
};

static void sweep_prepare(struct sweep *sw)
{
	struct env *env = &sw->env;

	switch (sw->op) {
	case OP_MAP:
		ASSERT_OK(attach(env, 0));
		ASSERT_OK(attach(env, 1));
		ASSERT_OK(map_fixed(&env->iopt, IOVA + P(64), ubuf(env, 0),
				    P(4), RW));
		break;
	case OP_MAP_SMALL:
		ASSERT_OK(iopt_disable_large_pages(&env->iopt));
		ASSERT_OK(attach(env, 0));
		ASSERT_OK(attach(env, 1));
		break;
	case OP_MAP_AUTO_COPY:
		ASSERT_OK(attach_to(env, 0, &env->iopt));
		ASSERT_OK(attach_to(env, 1, &env->iopt2));
		ASSERT_OK(attach_to(env, 2, &env->iopt2));
		map_s_and_b(sw);
		tacc_create(&sw->ta, &env->iopt, &tacc_pin_ops);
		ASSERT_OK(tacc_pin(&sw->ta, SX + P(3), P(3), NULL, 0));
		break;
	case OP_UNMAP:
		ASSERT_OK(attach(env, 0));
		ASSERT_OK(attach(env, 1));
		map_s_and_b(sw);
		ASSERT_OK(iopt_copy_iova(&env->iopt, &sw->iova, &env->iopt,
					 SX + P(1), P(6), RW, IOPT_ALLOC_IOVA));
		tacc_create(&sw->ta, &env->iopt, &tacc_pin_ops);
		ASSERT_OK(tacc_pin(&sw->ta, SX + P(2), P(2), NULL, 0));
		ASSERT_OK(tacc_pin(&sw->ta, sw->iova, P(6), NULL, 0));
		break;
	case OP_ATTACH_FIRST:
	case OP_ATTACH_SECOND:
		if (sw->op == OP_ATTACH_SECOND)
			ASSERT_OK(attach(env, 0));
		map_s_and_b(sw);
		tacc_create(&sw->ta, &env->iopt, &tacc_pin_ops);
		ASSERT_OK(tacc_pin(&sw->ta, SX + P(5), P(4), NULL, 0));
		break;
	case OP_PIN:
	case OP_RW_DOMAIN:
		ASSERT_OK(attach(env, 0));
		/* fall through */
	case OP_PIN_NO_DOMAIN:
	case OP_RW:
		map_s_and_b(sw);
		tacc_create(&sw->ta, &env->iopt, &tacc_pin_ops);
		ASSERT_OK(tacc_pin(&sw->ta, SX + P(2), P(2), NULL, 0));
		break;
	case OP_ACCESS_CREATE:
		ASSERT_OK(attach(env, 0));
		map_s_and_b(sw);
		break;
	case OP_CUT:
		ASSERT_OK(iopt_disable_large_pages(&env->iopt));
		ASSERT_OK(attach(env, 0));
		ASSERT_OK(map_fixed(&env->iopt, SX, sbuf_addr(env, 0),
				    P(SBUF_PAGES), RW));
		break;
	case OP_RANGES:
		ASSERT_OK(attach(env, 0));
		ASSERT_OK(iopt_reserve_iova(&env->iopt, IOVA + P(64),
					    IOVA + P(64), env));
		break;
	}
}

static char rw_data[P(SBUF_PAGES)];

static int sweep_run(struct sweep *sw)
{
	static const struct iova_range allow[] = {
		{ IOVA, IOVA + P(16) - 1 },
		{ IOVA + P(100), IOVA + P(200) - 1 },
		{ IOVA + P(300), IOVA + P(300) },
	};
	struct env *env = &sw->env;
	int rc;

	switch (sw->op) {
	case OP_MAP:
		return iopt_map_user_pages(&env->iopt, &(u64){ SX + MOCK_PG },
					   sbuf_addr(env, MOCK_PG), S_LEN, RW,
					   0, ACCT_USER);
	case OP_MAP_SMALL:
		return iopt_map_user_pages(&env->iopt, &(u64){ SX },
					   sbuf_addr(env, P(1)), S_LEN, RW, 0,
					   ACCT_USER);
	case OP_MAP_AUTO_COPY:
		return iopt_copy_iova(&env->iopt2, &sw->iova, &env->iopt,
				      SX + P(1), P(13), RW, IOPT_ALLOC_IOVA);
	case OP_UNMAP:
		rc = iopt_unmap_all(&env->iopt, &sw->unmapped);
		detach(env, 0);
		return rc;
	case OP_ATTACH_FIRST:
		return attach(env, 0);
	case OP_ATTACH_SECOND:
		return attach(env, 1);
	case OP_PIN:
	case OP_PIN_NO_DOMAIN:
		return tacc_pin(&sw->ta, SX + P(1), P(13), sw->pfns,
				IOMMUFD_ACCESS_RW_WRITE);
	case OP_RW:
	case OP_RW_DOMAIN:
		return iopt_access_rw(sw->ta.access, SX + 5, rw_data,
				      S_LEN - 5 + P(2),
				      IOMMUFD_ACCESS_RW_WRITE);
	case OP_ACCESS_CREATE:
		sw->access = iopt_access_create(&env->iopt, &tacc_pin_ops,
						&sw->ta);
		return IS_ERR(sw->access) ? PTR_ERR(sw->access) : 0;
	case OP_CUT:
		/* One cut per call: a list is not all or nothing. */
		return iopt_cut_iova(&env->iopt, &(u64){ SX + P(3) - 1 }, 1);
	case OP_RANGES:
		rc = iopt_set_allow_iova(&env->iopt, allow, ARRAY_SIZE(allow));
		if (rc)
			return rc;
		rc = iopt_reserve_iova(&env->iopt, IOVA + P(50), IOVA + P(60),
				       NULL);
		/* Undo the first step (keeping the reason of the second). */
		if (rc)
			ASSERT_EQ(0, iopt_set_allow_iova(&env->iopt, NULL, 0));
		return rc;
	}
	return -EINVAL;
}

/* The operation succeeded: is the result right? */
static void sweep_check(struct sweep *sw)
{
	struct env *env = &sw->env;
	u64 want[BUF_PAGES + SBUF_PAGES] = {};

	switch (sw->op) {
	case OP_MAP:
		for (int d = 0; d != 2; d++) {
			check_smap(env, env->domains[d], SX + MOCK_PG, MOCK_PG,
				   S_LEN, RW);
			check_domain(env->domains[d],
				     area_bytes(&env->iopt) / MOCK_PG);
		}
		set_pins(want, 0, 4, 1);
		set_pins(want, BUF_PAGES, 13, 1);
		check_pins(env, want);
		break;
	case OP_MAP_SMALL:
		for (int d = 0; d != 2; d++) {
			check_smap(env, env->domains[d], SX, P(1), S_LEN, RW);
			check_domain(env->domains[d], S_LEN / MOCK_PG);
			ASSERT_EQ(S_LEN / PAGE_SIZE,
				  map_calls(env->domains[d]));
		}
		set_pins(want, BUF_PAGES + 1, 12, 1);
		check_pins(env, want);
		break;
	case OP_MAP_AUTO_COPY:
		check_auto_placement(&env->iopt2, sw->iova, P(13),
				     sbuf_addr(env, P(2)));
		ASSERT_EQ(2, count_areas(&env->iopt2));
		for (int d = 1; d != 3; d++) {
			check_smap(env, env->domains[d], sw->iova, P(2),
				   P(11), RW);
			check_map(env->domains[d], sw->iova + P(11),
				  ubuf(env, 0), P(2), RW);
			check_domain(env->domains[d], P(13) / MOCK_PG);
		}
		/* Shared: nothing pinned twice. */
		for (int i = 0; i != BUF_PAGES + SBUF_PAGES; i++)
			ASSERT_EQ(sw->before.counts[i] ? 1 : 0,
				  sw->before.counts[i]);
		expect_same_pins(env, &sw->before);
		break;
	case OP_UNMAP:
		ASSERT_EQ(S_LEN + P(4) + P(6), sw->unmapped);
		ASSERT_EQ(2, sw->ta.calls);
		ASSERT_EQ(0, count_areas(&env->iopt));
		ASSERT_EQ(0, sw->ta.npins);
		check_domain(env->domains[0], 0);
		check_domain(env->domains[1], 0);
		check_pins(env, want);
		ASSERT_EQ(0, iopt_account_pinned());
		break;
	case OP_ATTACH_FIRST:
	case OP_ATTACH_SECOND:
		for (int d = 0; d <= (sw->op == OP_ATTACH_SECOND); d++) {
			check_s_and_b(sw, env->domains[d]);
			check_domain(env->domains[d], (S_LEN + P(4)) / MOCK_PG);
		}
		set_pins(want, 0, 4, 1);
		set_pins(want, BUF_PAGES + 1, 12, 1);
		check_pins(env, want);
		break;
	case OP_PIN:
	case OP_PIN_NO_DOMAIN:
		for (int i = 0; i != 11; i++)
			ASSERT_EQ(env->spfns[2 + i], sw->pfns[i]);
		ASSERT_EQ(PHYS_PFN(ubuf(env, 0)), sw->pfns[11]);
		ASSERT_EQ(PHYS_PFN(ubuf(env, P(1))), sw->pfns[12]);
		set_pins(want, 0, 2, 1);
		set_pins(want, BUF_PAGES + 2, 11, 1);
		if (sw->op == OP_PIN) {
			set_pins(want, 0, 4, 1);
			set_pins(want, BUF_PAGES + 1, 12, 1);
		}
		check_pins(env, want);
		ASSERT_OK(tacc_unpin(&sw->ta, SX + P(1), P(13)));
		expect_snap(env, &sw->before);
		break;
	case OP_RW:
	case OP_RW_DOMAIN:
		ASSERT_EQ(0, memcmp(env->sbuf + P(1) + 5, rw_data, S_LEN - 5));
		ASSERT_EQ(0, memcmp(env->buf, rw_data + S_LEN - 5, P(2)));
		expect_snap(env, &sw->before);
		break;
	case OP_ACCESS_CREATE:
		ASSERT_EQ(PAGE_SIZE, iopt_iova_alignment(&env->iopt));
		iopt_access_destroy(sw->access);
		expect_snap(env, &sw->before);
		break;
	case OP_CUT:
		ASSERT_EQ(2, count_areas(&env->iopt));
		check_one_area(&env->iopt, SX, P(3));
		check_one_area(&env->iopt, SX + P(3), P(SBUF_PAGES - 3));
		check_smap(env, env->domains[0], SX, 0, P(SBUF_PAGES), RW);
		ASSERT_OK(unmap(&env->iopt, SX + P(3), P(SBUF_PAGES - 3),
				NULL));
		set_pins(want, BUF_PAGES, 3, 1);
		check_pins(env, want);
		check_domain(env->domains[0], P(3) / MOCK_PG);
		break;
	case OP_RANGES:
		ASSERT_FAILS(-EINVAL, map_fixed(&env->iopt, IOVA + P(55),
						ubuf(env, 0), P(1), RW));
		ASSERT_OK(map_auto(&env->iopt, &sw->iova, ubuf(env, 0), P(32),
				   RW));
		ASSERT_EQ(IOVA + P(128), sw->iova);
		iopt_remove_reserved_iova(&env->iopt, NULL);
		ASSERT_OK(iopt_set_allow_iova(&env->iopt, NULL, 0));
		break;
	}
}

static void sweep_cleanup(struct sweep *sw)
{
	if (sw->ta.access)
		tacc_destroy(&sw->ta);
	iopt_remove_reserved_iova(&sw->env.iopt, &sw->env);
	iopt_enable_large_pages(&sw->env.iopt);
}

/* Fail the 1st, 2nd, ... fault point of the operation until none fires. */
static void fail_nth_sweep(struct sweep_bufs *sb, int op, size_t limit)
{
	struct sweep *sw = calloc(1, sizeof(*sw));
	unsigned int nth, failed = 0, absorbed = 0;
	bool fired = true;

	ASSERT_NONNULL(sw);
	iopt_set_temp_memory_limit(limit);
	for (nth = 1; fired; nth++) {
		int rc;

		memset(sw, 0, sizeof(*sw));
		sw->op = op;
		env_init_borrowed(&sw->env, sb);
		sweep_prepare(sw);
		memset(rw_data, 0x5a ^ nth, sizeof(rw_data));
		take_snap(&sw->env, &sw->before);

		err_reason_clear();
		fault_fail_nth_set(nth);
		rc = sweep_run(sw);
		fired = fault_fail_nth_fired();
		fault_fail_nth_set(0);

		if (rc) {
			if (!fired || !err_reason_get())
				TH_LOG("%s, limit %zu, nth %u: %d (%s), fired %d",
				       op_names[op], limit, nth, rc,
				       err_reason_get() ?: "no reason", fired);
			ASSERT_TRUE(fired);
			ASSERT_NONNULL(err_reason_get());
			/* Removal paths never fail. */
			ASSERT_NE(OP_UNMAP, op);
			expect_snap(&sw->env, &sw->before);
			failed++;
		} else {
			absorbed += fired;
			sweep_check(sw);
		}
		sweep_cleanup(sw);
		env_destroy(&sw->env);
		ASSERT_LT(nth, 5000);
	}
	TH_LOG("%s, temp limit %zu: %u fault points, %u failed the call, %u absorbed",
	       op_names[op], limit, nth - 2, failed, absorbed);
	iopt_set_temp_memory_limit(0);
	free(sw);
}

static void sweep_op(int op, const size_t *limits, size_t n)
{
	struct sweep_bufs sb;

	sweep_bufs_init(&sb);
	for (size_t i = 0; i != n; i++)
		fail_nth_sweep(&sb, op, limits[i]);
	sweep_bufs_destroy(&sb);
}

#define SWEEP_TEST(name, op, ...)                                          \
	TEST(fail_nth_##name)                                               \
	{                                                                   \
		static const size_t limits[] = { __VA_ARGS__ };             \
		sweep_op(op, limits, ARRAY_SIZE(limits));                   \
	}

SWEEP_TEST(map, OP_MAP, 0, 16, 32)
SWEEP_TEST(map_no_large_pages, OP_MAP_SMALL, 0, 16)
SWEEP_TEST(copy, OP_MAP_AUTO_COPY, 0, 16)
SWEEP_TEST(unmap, OP_UNMAP, 0, 16)
SWEEP_TEST(attach_first_domain, OP_ATTACH_FIRST, 0, 16)
SWEEP_TEST(attach_second_domain, OP_ATTACH_SECOND, 0, 16)
SWEEP_TEST(access_pin, OP_PIN, 0, 16)
SWEEP_TEST(access_pin_no_domain, OP_PIN_NO_DOMAIN, 0, 16, 32)
SWEEP_TEST(access_rw, OP_RW, 0, 16)
SWEEP_TEST(access_rw_domain, OP_RW_DOMAIN, 0, 16)
SWEEP_TEST(access_create, OP_ACCESS_CREATE, 0)
SWEEP_TEST(cut, OP_CUT, 0)
SWEEP_TEST(reserve_and_allow, OP_RANGES, 0)
