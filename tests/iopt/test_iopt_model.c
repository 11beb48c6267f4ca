// SPDX-License-Identifier: MIT
/*
 * io_pagetable against a reference model.
 *
 * Random sequences of every IOAS operation (maps of user memory and of
 * memfd ranges at fixed and automatic IOVAs, unmaps of exact areas, of
 * ranges spanning several areas, of partial ranges and of everything,
 * copies between and within IOASes, reservations, allowed ranges, domain
 * attach and detach, accesses with their pins, unpins, reads and writes)
 * run against a plain model: per IOAS a sorted list of areas, each a
 * slice of a model pages object whose pages are known physical pages.
 *
 * The model predicts every return value, errno included, and the IOVA
 * automatic allocation picks (the lowest fit, as the kernel's allocator).
 * After every step the library must agree with it exactly: every attached
 * domain translates exactly the model's IO pages (nothing more, nothing
 * less, right physical address and protection), the mock domains saw no
 * contract violation, per-page pin counts (one per pages object holding a
 * page) and the pinned-page accounting match, and so do the areas, the
 * reserved ranges and the IOVA alignment.
 *
 * The backing memory mixes anonymous pages with memfd pages mapped in
 * scrambled order, so PFN runs break inside areas, and the memfd itself
 * is mapped as a second buffer and as file ranges, so one page can be
 * held by several pages objects.
 */
#include <errno.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/overflow.h"
#include "domains/mock_domain.h"
#include "harness/rng.h"
#include "harness/test.h"
#include "iopt/access.h"
#include "iopt/accounting.h"
#include "iopt/io_pagetable.h"
#include "iopt/pages.h"
#include "iopt/pfn_batch.h"
#include "iopt/pin_count.h"

#define NBUF 32			/* pages of the scrambled buffer */
#define NMFD 32			/* pages of the memfd */
#define NPHYS (NBUF + NMFD)	/* physical page ids: anon, then memfd */
#define MAXP (NBUF + 1)		/* pages a pages object can span */
#define NR_IOAS 2
#define NR_DOMAINS 4
#define MAX_ACCESSES 4
#define MAX_AREAS 128
#define MAX_POBJS (NR_IOAS * MAX_AREAS + 8)
#define MAX_PINS 12
#define MAX_PIECES 64
#define MAX_RESV 48
#define MAX_ALLOWED 3
#define NR_OWNERS 3
#define MAX_EXPECT 4096
#define MAX_PIN_PAGES 24
#define OUT_PFNS (MAX_PIN_PAGES + 2 * MAX_PIECES)

/* Low IOVA, outside the mock aperture, where automatic IOVA starts. */
#define LOW_BASE PAGE_SIZE
#define LOW_SIZE (48 * PAGE_SIZE)
/* The window inside the aperture most maps go to. */
#define WIN_BASE (MOCK_APERTURE_START + 0x40000)
#define WIN_SIZE (96 * PAGE_SIZE)

/* Automatic IOVA aligns to at most a huge page (the kernel's cap). */
#define IOPT_AUTO_ALIGN_MAX (2ULL << 20)

/*
 * Buffer page i is anonymous (-1) or memfd page scramble[i]: runs of
 * anonymous pages, a memfd run (20-23), lone memfd pages, another run.
 */
static const int scramble[NBUF] = {
	-1, -1, -1, -1, 20, 21, 22, 23, 3, 1, -1, -1, -1, -1, -1, 7,
	8,  -1, -1, -1, -1, -1, 30, -1, -1, -1, -1, -1, 12, 13, -1, -1,
};

struct m_pobj {
	bool used;
	bool writable;
	int mode;
	unsigned int refs;	/* model areas over it */
	u64 src_base;		/* pages->source_addr */
	u64 npages;
	int phys[MAXP];		/* physical page of each index */
	bool pinned[MAXP];	/* computed by m_pinned() */
	u64 npinned;
	struct iopt_pages *lib;	/* the library's object, once seen */
};

struct m_area {
	u64 iova, last;
	int prot;
	int pobj;
	u64 start_byte;		/* of the area's first byte in the pages */
};

/* A slice of one area, as the library's contiguous area walk makes. */
struct m_piece {
	u64 area_iova;
	int area_prot;
	int pobj;
	u64 start_byte;
	u64 length;
};

struct m_pin {
	u64 iova, last;
	unsigned int npieces;
	struct m_piece pieces[MAX_PIECES];
};

struct model;

struct m_access {
	struct model *m;
	bool used;
	int ioas;
	struct iopt_access *acc;
	bool needs_pin, has_unmap, stubborn;
	struct m_pin pins[MAX_PINS + 1];	/* + a write's temporary pin */
	unsigned int nr_pins;
	u64 notified;
};

struct m_ioas {
	struct io_pagetable iopt;
	struct m_area areas[MAX_AREAS];	/* sorted by iova */
	unsigned int nr_areas;
	struct iova_range allowed[MAX_ALLOWED];
	unsigned int nr_allowed;
};

struct m_resv {
	int ioas;
	u64 start, last;
	void *owner;
};

struct m_domain {
	struct iommu_domain *dom;
	int ioas;		/* -1: detached */
};

struct dom_expect {
	u64 iova, paddr;
	int prot;
};

enum {
	OP_MAP, OP_MAP_FILE, OP_UNMAP, OP_UNMAP_ALL, OP_COPY, OP_RESERVE,
	OP_ALLOW, OP_DOMAIN, OP_ACCESS, OP_PIN, OP_UNPIN, OP_RW, OP_STUBBORN,
	OP_NR,
};

static const char *const op_names[OP_NR] = {
	"map", "map_file", "unmap", "unmap_all", "copy", "reserve", "allow",
	"domain", "access", "pin", "unpin", "rw", "stubborn",
};

/* The results the model can predict, for the summary of a run. */
static const int results[] = {
	0, -EINVAL, -ENOENT, -EEXIST, -ENOSPC, -EPERM, -EADDRINUSE,
	-EOVERFLOW, -ENOMEM, -EDEADLOCK,
};
#define NR_RESULTS ARRAY_SIZE(results)

static const char *const result_names[NR_RESULTS] = {
	"ok", "EINVAL", "ENOENT", "EEXIST", "ENOSPC", "EPERM", "EADDRINUSE",
	"EOVERFLOW", "ENOMEM", "EDEADLOCK",
};

struct model {
	struct rng rng;
	struct m_ioas ioas[NR_IOAS];
	struct m_domain dom[NR_DOMAINS];
	struct m_access acc[MAX_ACCESSES];
	struct m_pobj pobj[MAX_POBJS];
	struct m_resv resv[MAX_RESV];
	unsigned int nr_resv;
	char owners[NR_OWNERS];

	char *buf, *fbuf;
	int memfd;
	struct pfn_source *hold;
	u64 pfn[NPHYS];
	int buf_phys[NBUF];
	char *shadow;		/* what every physical page must hold */

	u64 limit;		/* RLIMIT_MEMLOCK in pages */
	bool memlock_modes;	/* only charging account modes */
	u64 step;
	char what[320];
	bool trace;
	struct dom_expect expect[MAX_EXPECT];
	u64 ops[OP_NR][NR_RESULTS];	/* per op, per result */
};


/* Compare, and on a mismatch say which step of which seed it was. */
#define M_ASSERT_EQ(m, want, got)                                        \
	do {                                                              \
		__typeof__(want) _w = (want);                             \
		__typeof__(got) _g = (got);                               \
		if (_w != _g) {                                           \
			TH_LOG("step %llu: %s", (unsigned long long)(m)->step, \
			       (m)->what);                                \
			TH_LOG("library says: %s", err_reason_get() ?     \
				       err_reason_get() : "(no reason)"); \
		}                                                         \
		ASSERT_EQ(_w, _g);                                        \
	} while (0)

#define M_DESCRIBE(m, fmt, ...)                                           \
	do {                                                              \
		snprintf((m)->what, sizeof((m)->what), fmt, ##__VA_ARGS__); \
		if ((m)->trace)                                           \
			TH_LOG("step %llu: %s",                           \
			       (unsigned long long)(m)->step, (m)->what); \
	} while (0)

/* ---- the model's state ---------------------------------------------------- */

static char *phys_ptr(struct model *m, int phys)
{
	if (phys < NBUF)
		return m->buf + phys * PAGE_SIZE;
	return m->fbuf + (phys - NBUF) * PAGE_SIZE;
}

static bool phys_valid(int phys)
{
	return phys >= NBUF || scramble[phys] < 0;
}

static bool m_has_domain(struct model *m, int ioas)
{
	for (int d = 0; d != NR_DOMAINS; d++)
		if (m->dom[d].ioas == ioas)
			return true;
	return false;
}

/* The IOAS alignment: domains' IO pages, accesses that pin pages. */
static u64 m_align(struct model *m, int ioas)
{
	u64 align = 1;

	if (m_has_domain(m, ioas))
		align = MOCK_IO_PAGE_SIZE;
	for (int i = 0; i != MAX_ACCESSES; i++)
		if (m->acc[i].used && m->acc[i].ioas == ioas &&
		    m->acc[i].needs_pin)
			align = max(align, PAGE_SIZE);
	return align;
}

static int m_area_at(const struct m_ioas *io, u64 iova)
{
	for (unsigned int i = 0; i != io->nr_areas; i++)
		if (io->areas[i].iova <= iova && iova <= io->areas[i].last)
			return i;
	return -1;
}

static bool m_area_hits(const struct m_ioas *io, u64 start, u64 last)
{
	for (unsigned int i = 0; i != io->nr_areas; i++)
		if (io->areas[i].iova <= last && start <= io->areas[i].last)
			return true;
	return false;
}

static bool m_resv_hits(struct model *m, int ioas, u64 start, u64 last)
{
	for (unsigned int i = 0; i != m->nr_resv; i++)
		if (m->resv[i].ioas == ioas && m->resv[i].start <= last &&
		    start <= m->resv[i].last)
			return true;
	return false;
}

static bool m_allowed_hits(const struct m_ioas *io, u64 start, u64 last)
{
	for (unsigned int i = 0; i != io->nr_allowed; i++)
		if (io->allowed[i].start <= last &&
		    start <= io->allowed[i].last)
			return true;
	return false;
}

static int m_pobj_alloc(struct model *m)
{
	for (int i = 0; i != MAX_POBJS; i++) {
		if (!m->pobj[i].used) {
			memset(&m->pobj[i], 0, sizeof(m->pobj[i]));
			m->pobj[i].used = true;
			return i;
		}
	}
	ASSERT_TRUE(false);
	return -1;
}

static void m_pobj_put(struct model *m, int p)
{
	if (!--m->pobj[p].refs)
		m->pobj[p].used = false;
}

static void m_insert_area(struct model *m, int ioas, const struct m_area *a)
{
	struct m_ioas *io = &m->ioas[ioas];
	unsigned int i = io->nr_areas;

	ASSERT_LT(io->nr_areas, MAX_AREAS);
	while (i && io->areas[i - 1].iova > a->iova) {
		io->areas[i] = io->areas[i - 1];
		i--;
	}
	io->areas[i] = *a;
	io->nr_areas++;
	m->pobj[a->pobj].refs++;
}

static void m_remove_area(struct model *m, int ioas, unsigned int i)
{
	struct m_ioas *io = &m->ioas[ioas];
	int p = io->areas[i].pobj;

	io->nr_areas--;
	for (; i != io->nr_areas; i++)
		io->areas[i] = io->areas[i + 1];
	m_pobj_put(m, p);
}

static u64 m_area_index(const struct m_area *a)
{
	return a->start_byte / PAGE_SIZE;
}

static u64 m_area_last_index(const struct m_area *a)
{
	return (a->start_byte + (a->last - a->iova)) / PAGE_SIZE;
}

/*
 * The areas covering [iova, last] back to back from @iova, as pieces;
 * true when they cover all of it.
 */
static bool m_walk(const struct m_ioas *io, u64 iova, u64 last,
		   struct m_piece *pieces, unsigned int *n)
{
	int i = m_area_at(io, iova);
	u64 cur = iova;

	*n = 0;
	while (i >= 0) {
		const struct m_area *a = &io->areas[i];
		u64 plast = min(last, a->last);

		ASSERT_LT(*n, MAX_AREAS);
		pieces[(*n)++] = (struct m_piece){
			.area_iova = a->iova,
			.area_prot = a->prot,
			.pobj = a->pobj,
			.start_byte = a->start_byte + (cur - a->iova),
			.length = plast - cur + 1,
		};
		if (plast == last)
			return true;
		cur = a->last + 1;
		i++;
		if ((unsigned int)i == io->nr_areas || io->areas[i].iova != cur)
			return false;
	}
	return false;
}

/*
 * Which pages each pages object has pinned: the areas of IOASes with a
 * domain, and the accesses' pins. Returns the totals per account mode.
 */
static void m_pinned(struct model *m, u64 *all, u64 *user, u64 *mm)
{
	*all = *user = *mm = 0;
	for (int p = 0; p != MAX_POBJS; p++)
		memset(m->pobj[p].pinned, 0, sizeof(m->pobj[p].pinned));
	for (int s = 0; s != NR_IOAS; s++) {
		struct m_ioas *io = &m->ioas[s];

		if (!m_has_domain(m, s))
			continue;
		for (unsigned int i = 0; i != io->nr_areas; i++) {
			struct m_area *a = &io->areas[i];

			for (u64 x = m_area_index(a); x <= m_area_last_index(a);
			     x++)
				m->pobj[a->pobj].pinned[x] = true;
		}
	}
	for (int k = 0; k != MAX_ACCESSES; k++) {
		struct m_access *acc = &m->acc[k];

		if (!acc->used)
			continue;
		for (unsigned int i = 0; i != acc->nr_pins; i++) {
			struct m_pin *pin = &acc->pins[i];

			for (unsigned int j = 0; j != pin->npieces; j++) {
				struct m_piece *pc = &pin->pieces[j];
				u64 first = pc->start_byte / PAGE_SIZE;
				u64 lastx = (pc->start_byte + pc->length - 1) /
					    PAGE_SIZE;

				for (u64 x = first; x <= lastx; x++)
					m->pobj[pc->pobj].pinned[x] = true;
			}
		}
	}
	for (int p = 0; p != MAX_POBJS; p++) {
		struct m_pobj *po = &m->pobj[p];

		po->npinned = 0;
		if (!po->used)
			continue;
		for (u64 x = 0; x != po->npages; x++)
			po->npinned += po->pinned[x];
		*all += po->npinned;
		if (po->mode == IOPT_PAGES_ACCOUNT_USER)
			*user += po->npinned;
		else if (po->mode == IOPT_PAGES_ACCOUNT_MM)
			*mm += po->npinned;
	}
}

/* Would the state as it is now have been refused a charge? */
static bool m_over_limit(struct model *m)
{
	u64 all, user, mm;

	m_pinned(m, &all, &user, &mm);
	return user > m->limit || mm > m->limit;
}

/* The pins of one IOAS's accesses on the area at @area_iova. */
static unsigned int m_area_pins(struct model *m, int ioas, u64 area_iova,
				bool stubborn_only)
{
	unsigned int n = 0;

	for (int k = 0; k != MAX_ACCESSES; k++) {
		struct m_access *acc = &m->acc[k];

		if (!acc->used || acc->ioas != ioas ||
		    (stubborn_only && !acc->stubborn))
			continue;
		for (unsigned int i = 0; i != acc->nr_pins; i++)
			for (unsigned int j = 0; j != acc->pins[i].npieces; j++)
				n += acc->pins[i].pieces[j].area_iova ==
				     area_iova;
	}
	return n;
}

/* ---- the reference IOVA allocator ----------------------------------------- */

static u64 roundup_pow2(u64 v)
{
	return 1ULL << (fls64_index(v) + !is_power_of_2(v));
}

/* Allowed ranges merged where they touch, in order. */
static unsigned int m_allowed_spans(const struct m_ioas *io,
				    struct iova_range *out)
{
	struct iova_range r[MAX_ALLOWED];
	unsigned int n = io->nr_allowed, k = 0;

	memcpy(r, io->allowed, sizeof(r[0]) * n);
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = i + 1; j < n; j++)
			if (r[j].start < r[i].start) {
				struct iova_range t = r[i];

				r[i] = r[j];
				r[j] = t;
			}
	for (unsigned int i = 0; i != n; i++) {
		if (k && (out[k - 1].last == U64_MAX ||
			  r[i].start <= out[k - 1].last + 1)) {
			out[k - 1].last = max(out[k - 1].last, r[i].last);
			continue;
		}
		out[k++] = r[i];
	}
	return k;
}

/*
 * The lowest IOVA >= PAGE_SIZE, offset past a multiple of the step, whose
 * [iova, iova + length) fits one allowed span (anything below the top page
 * when there is none) and meets no reserved range and no area.
 */
static int m_alloc_iova(struct model *m, int ioas, u64 addr, u64 length,
			u64 *out)
{
	struct m_ioas *io = &m->ioas[ioas];
	struct iova_range spans[MAX_ALLOWED];
	unsigned int nspans;
	u64 align, step, offset;

	align = roundup_pow2(length);
	if (addr)
		align = min(align, lowest_bit(addr));
	align = min(align, IOPT_AUTO_ALIGN_MAX);
	if (align < m_align(m, ioas))
		return -EINVAL;
	step = max(align, PAGE_SIZE);
	offset = align < PAGE_SIZE ? addr % PAGE_SIZE : 0;

	nspans = m_allowed_spans(io, spans);
	if (!nspans) {
		spans[0] = (struct iova_range){ 0, U64_MAX };
		nspans = 1;
	}
	for (unsigned int s = 0; s != nspans; s++) {
		u64 first = max(spans[s].start, PAGE_SIZE);
		u64 last = min(spans[s].last, U64_MAX - PAGE_SIZE);
		u64 x = first;

		if (first > last)
			continue;
		for (;;) {
			u64 c = align_down(x, step) + offset, end, blk = 0;
			bool blocked = false;

			if (c < x && check_add_overflow(c, step, &c))
				break;
			if (c > last || check_add_overflow(c, length - 1, &end) ||
			    end > last)
				break;
			for (unsigned int i = 0; i != io->nr_areas; i++) {
				if (io->areas[i].iova <= end &&
				    c <= io->areas[i].last) {
					blocked = true;
					blk = max(blk, io->areas[i].last);
				}
			}
			for (unsigned int i = 0; i != m->nr_resv; i++) {
				struct m_resv *r = &m->resv[i];

				if (r->ioas == ioas && r->start <= end &&
				    c <= r->last) {
					blocked = true;
					blk = max(blk, r->last);
				}
			}
			if (!blocked) {
				*out = c;
				return 0;
			}
			if (blk >= last)
				break;
			x = blk + 1;
		}
	}
	return -ENOSPC;
}

/*
 * What mapping @pieces back to back at *iova (or an automatic IOVA) of
 * @ioas must return, up to the domain fill (accounting is checked by the
 * caller once the areas are in).
 */
static int m_predict_map(struct model *m, int ioas, const struct m_piece *pc,
			 unsigned int n, u64 length, int prot, bool alloc,
			 u64 *iova)
{
	u64 align = m_align(m, ioas), last;

	/*
	 * Only unknown bits are refused: protection 0 makes an area that
	 * maps with prot 0, as in the kernel's io_pagetable (the ioctls
	 * refuse it above the engine; Linux 6.2's IOAS_COPY did not).
	 */
	if (prot & ~(IOMMU_READ | IOMMU_WRITE))
		return -EINVAL;
	if (!length || length % align)
		return -EINVAL;
	if (alloc) {
		int rc = m_alloc_iova(m, ioas,
				      m->pobj[pc[0].pobj].src_base +
					      pc[0].start_byte,
				      length, iova);

		if (rc)
			return rc;
	} else {
		if (*iova % align)
			return -EINVAL;
		if (check_add_overflow(*iova, length - 1, &last))
			return -EOVERFLOW;
		if (m_resv_hits(m, ioas, *iova, last))
			return -EINVAL;
		if (m_area_hits(&m->ioas[ioas], *iova, last))
			return -EEXIST;
	}
	/* Each piece becomes an area, and every area keeps the alignment. */
	last = *iova;
	for (unsigned int i = 0; i != n; i++) {
		if ((prot & IOMMU_WRITE) && !m->pobj[pc[i].pobj].writable)
			return -EPERM;
		if (last % align || pc[i].length % align)
			return -EINVAL;
		if ((pc[i].start_byte % PAGE_SIZE) % align)
			return -EINVAL;
		last += pc[i].length;
	}
	return 0;
}

/* Put the pieces in as areas; undo them (-ENOMEM) if a charge would fail. */
static int m_apply_map(struct model *m, int ioas, const struct m_piece *pc,
		       unsigned int n, u64 iova, int prot)
{
	u64 cur = iova;

	for (unsigned int i = 0; i != n; i++) {
		struct m_area a = {
			.iova = cur,
			.last = cur + pc[i].length - 1,
			.prot = prot,
			.pobj = pc[i].pobj,
			.start_byte = pc[i].start_byte,
		};

		m_insert_area(m, ioas, &a);
		cur += pc[i].length;
	}
	if (!m_has_domain(m, ioas) || !m_over_limit(m))
		return 0;
	for (unsigned int i = 0; i != n; i++) {
		m_remove_area(m, ioas, m_area_at(&m->ioas[ioas], iova));
		iova += pc[i].length;
	}
	return -ENOMEM;
}

/* ---- random arguments ------------------------------------------------------ */

static u64 m_rand_iova(struct model *m)
{
	struct rng *r = &m->rng;
	u64 unit = rng_chance(r, 1, 20) ? (rng_chance(r, 1, 2) ? 1 : 512) :
					  MOCK_IO_PAGE_SIZE;

	switch (rng_below(r, 20)) {
	case 0:
		/* Near the top, or across it. */
		return U64_MAX - rng_below(r, 8) * MOCK_IO_PAGE_SIZE -
		       (unit == 1 ? 0 : unit - 1);
	case 1:
		/* Around the aperture's edges. */
		return (rng_chance(r, 1, 2) ? MOCK_APERTURE_START :
					      MOCK_APERTURE_LAST + 1) -
		       4 * PAGE_SIZE + rng_below(r, 8) * PAGE_SIZE;
	case 2:
	case 3:
	case 4:
		return LOW_BASE + rng_below(r, LOW_SIZE / unit) * unit;
	default:
		return WIN_BASE + rng_below(r, WIN_SIZE / unit) * unit;
	}
}

static u64 m_rand_length(struct model *m)
{
	struct rng *r = &m->rng;

	if (rng_chance(r, 1, 25))
		return rng_range(r, 1, 3 * PAGE_SIZE);
	if (rng_chance(r, 1, 3))
		return rng_range(r, 1, 8) * PAGE_SIZE;
	return rng_range(r, 1, 16) * MOCK_IO_PAGE_SIZE;
}

/* A byte offset into something @size bytes long: mostly IO-page aligned. */
static u64 m_rand_offset(struct model *m, u64 size)
{
	struct rng *r = &m->rng;
	u64 page = rng_below(r, size / PAGE_SIZE) * PAGE_SIZE;

	switch (rng_below(r, 20)) {
	case 0:
		return page + rng_below(r, PAGE_SIZE);
	case 1:
		return page + 512;
	default:
		return page + rng_below(r, 2) * MOCK_IO_PAGE_SIZE;
	}
}

static int m_rand_prot(struct model *m)
{
	switch (rng_below(&m->rng, 40)) {
	case 0:
		return 0;	/* valid: neither read nor write */
	case 1:
		return IOMMU_READ | 4;
	case 2:
	case 3:
		return IOMMU_WRITE;
	default:
		return rng_chance(&m->rng, 1, 4) ? IOMMU_READ :
						   IOMMU_READ | IOMMU_WRITE;
	}
}

static int m_rand_mode(struct model *m)
{
	if (m->memlock_modes)
		return rng_chance(&m->rng, 1, 2) ? IOPT_PAGES_ACCOUNT_USER :
						   IOPT_PAGES_ACCOUNT_MM;
	return rng_below(&m->rng, 3);
}

static const char *prot_str(int prot)
{
	static const char *const names[] = { "-", "r", "w", "rw" };

	return prot & ~3 ? "bad" : names[prot];
}

/* ---- operations ------------------------------------------------------------ */

static void m_result(struct model *m, int op, int rc)
{
	for (unsigned int i = 0; i != NR_RESULTS; i++)
		if (results[i] == rc)
			m->ops[op][i]++;
}

/* After a map made pages object @p, learn the library's object for it. */
static void m_learn_pages(struct model *m, int ioas, u64 iova, int p)
{
	struct iopt_area *area = iopt_area_iter_first(&m->ioas[ioas].iopt,
						      iova, iova);

	ASSERT_NONNULL(area);
	if (m->pobj[p].lib) {
		ASSERT_TRUE(m->pobj[p].lib == area->pages);
		return;
	}
	for (int i = 0; i != MAX_POBJS; i++)
		if (m->pobj[i].used)
			ASSERT_FALSE(m->pobj[i].lib == area->pages);
	m->pobj[p].lib = area->pages;
}

static void op_map(struct model *m, bool file)
{
	struct rng *r = &m->rng;
	int ioas = rng_below(r, NR_IOAS);
	int prot = m_rand_prot(m), mode = m_rand_mode(m);
	bool alloc = rng_chance(r, 2, 5);
	u64 iova = alloc ? 0 : m_rand_iova(m), got_iova = iova;
	u64 length = m_rand_length(m), size, off, first_offset;
	int p = m_pobj_alloc(m), rc, got;
	int *phys_of;
	struct m_piece pc;
	char *base;
	bool whole = true;
	int fphys[NMFD];

	for (int i = 0; i != NMFD; i++)
		fphys[i] = NBUF + i;
	if (file || rng_chance(r, 1, 3)) {
		base = m->fbuf;
		size = NMFD * PAGE_SIZE;
		phys_of = fphys;
	} else {
		base = m->buf;
		size = NBUF * PAGE_SIZE;
		phys_of = m->buf_phys;
	}
	off = m_rand_offset(m, size);
	if (length > size - off) {
		/* Past the end of the file, sometimes: refused. */
		if (file && rng_chance(r, 1, 8))
			whole = false;
		else
			length = size - off;
	}
	if (rng_chance(r, 1, 100))
		length = 0;
	first_offset = off % PAGE_SIZE;

	m->pobj[p].src_base = file ? align_down(off, PAGE_SIZE) :
				     align_down((uintptr_t)base + off, PAGE_SIZE);
	m->pobj[p].writable = prot & IOMMU_WRITE;
	m->pobj[p].mode = mode;
	m->pobj[p].npages = length && whole ?
				    (first_offset + length + PAGE_SIZE - 1) /
					    PAGE_SIZE :
				    0;
	for (u64 i = 0; i != m->pobj[p].npages; i++)
		m->pobj[p].phys[i] = phys_of[off / PAGE_SIZE + i];
	pc = (struct m_piece){ .pobj = p, .start_byte = first_offset,
			       .length = length };

	if (!length || !whole)
		rc = -EINVAL;
	else
		rc = m_predict_map(m, ioas, &pc, 1, length, prot, alloc,
				   &iova);
	if (!rc)
		rc = m_apply_map(m, ioas, &pc, 1, iova, prot);

	M_DESCRIBE(m, "ioas %d: map %s %s+%#llx len %#llx prot %s mode %d at %s %#llx: want %d",
		   ioas, file ? "file" : "user",
		   file ? "memfd" : (base == m->buf ? "buf" : "fbuf"),
		   (unsigned long long)off, (unsigned long long)length,
		   prot_str(prot), mode, alloc ? "auto" : "fixed",
		   (unsigned long long)iova, rc);
	err_reason_clear();
	if (file)
		got = iopt_map_file_pages(&m->ioas[ioas].iopt, &got_iova,
					  m->memfd, off, length, prot,
					  alloc ? IOPT_ALLOC_IOVA : 0, mode);
	else
		got = iopt_map_user_pages(&m->ioas[ioas].iopt, &got_iova,
					  (uintptr_t)base + off, length, prot,
					  alloc ? IOPT_ALLOC_IOVA : 0, mode);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, file ? OP_MAP_FILE : OP_MAP, rc);
	if (rc) {
		m->pobj[p].used = false;
		return;
	}
	M_ASSERT_EQ(m, iova, got_iova);
	m_learn_pages(m, ioas, iova, p);
}

/* Unmap [start, last] of @ioas in the model and the library. */
static void m_do_unmap(struct model *m, int ioas, u64 start, u64 last,
		       bool all)
{
	struct m_ioas *io = &m->ioas[ioas];
	int first = m_area_at(io, start), lasti = m_area_at(io, last), rc;
	u64 unmapped = 0, got_unmapped = 12345;
	unsigned int nr = 0;
	int got;

	if ((first >= 0 && io->areas[first].iova < start) ||
	    (lasti >= 0 && io->areas[lasti].last > last)) {
		rc = -ENOENT;
	} else {
		rc = 0;
		for (unsigned int i = 0; i != io->nr_areas; i++) {
			struct m_area *a = &io->areas[i];

			if (a->last < start || a->iova > last)
				continue;
			/* An access that never unpins stops the unmap. */
			if (m_area_pins(m, ioas, a->iova, true)) {
				rc = -EDEADLOCK;
				break;
			}
			unmapped += a->last - a->iova + 1;
			nr++;
		}
		if (!rc && !nr)
			rc = -ENOENT;
	}
	if (all && rc == -ENOENT)
		rc = 0;

	M_DESCRIBE(m, "ioas %d: unmap%s [%#llx, %#llx]: want %d, %#llx bytes (%u areas)",
		   ioas, all ? "_all" : "", (unsigned long long)start,
		   (unsigned long long)last, rc, (unsigned long long)unmapped,
		   nr);
	err_reason_clear();
	if (all)
		got = iopt_unmap_all(&io->iopt, &got_unmapped);
	else
		got = iopt_unmap_iova(&io->iopt, start, last - start + 1,
				      &got_unmapped);
	M_ASSERT_EQ(m, rc, got);
	M_ASSERT_EQ(m, unmapped, got_unmapped);
	m_result(m, all ? OP_UNMAP_ALL : OP_UNMAP, rc);

	/* The areas before the first one pinned for good are gone. */
	while (nr--) {
		int i = -1;

		for (unsigned int k = 0; k != io->nr_areas && i < 0; k++)
			if (io->areas[k].last >= start &&
			    io->areas[k].iova <= last)
				i = k;
		ASSERT_GE(i, 0);
		/* Every access pin on it was given back on request. */
		M_ASSERT_EQ(m, 0, m_area_pins(m, ioas, io->areas[i].iova,
					      false));
		m_remove_area(m, ioas, i);
	}
}

static void op_unmap(struct model *m)
{
	struct rng *r = &m->rng;
	int ioas = rng_below(r, NR_IOAS);
	struct m_ioas *io = &m->ioas[ioas];
	u64 start, last, length;
	int got;

	if (io->nr_areas && rng_chance(r, 4, 5)) {
		unsigned int i = rng_below(r, io->nr_areas);
		unsigned int j = min(i + (unsigned int)rng_below(r, 4),
				     io->nr_areas - 1);

		start = io->areas[i].iova;
		last = io->areas[rng_chance(r, 1, 2) ? i : j].last;
		/* Cut into an area at one end: must fail, change nothing. */
		if (rng_chance(r, 1, 6)) {
			if (rng_chance(r, 1, 2) && last - start >= MOCK_IO_PAGE_SIZE)
				start += MOCK_IO_PAGE_SIZE;
			else if (last - start >= MOCK_IO_PAGE_SIZE)
				last -= MOCK_IO_PAGE_SIZE;
		}
		m_do_unmap(m, ioas, start, last, false);
		return;
	}
	start = m_rand_iova(m);
	length = rng_range(r, 1, 32) * MOCK_IO_PAGE_SIZE;
	if (rng_chance(r, 1, 10)) {
		/* Invalid: empty, or wrapping past the top. */
		length = rng_chance(r, 1, 2) ? 0 : U64_MAX - start + 2;
		M_DESCRIBE(m, "ioas %d: unmap %#llx len %#llx: invalid",
			   ioas, (unsigned long long)start,
			   (unsigned long long)length);
		err_reason_clear();
		got = iopt_unmap_iova(&io->iopt, start, length, NULL);
		M_ASSERT_EQ(m, length ? -EOVERFLOW : -EINVAL, got);
		m_result(m, OP_UNMAP, got);
		return;
	}
	if (check_add_overflow(start, length - 1, &last))
		last = U64_MAX;
	m_do_unmap(m, ioas, start, last, false);
}

static void op_copy(struct model *m)
{
	struct rng *r = &m->rng;
	int src = rng_below(r, NR_IOAS), dst = rng_below(r, NR_IOAS);
	struct m_ioas *sio = &m->ioas[src];
	int prot = rng_chance(r, 1, 2) ? IOMMU_READ : m_rand_prot(m);
	bool alloc = rng_chance(r, 1, 2);
	u64 iova = alloc ? 0 : m_rand_iova(m), got_iova = iova;
	u64 start, last, length;
	struct m_piece pc[MAX_AREAS];
	unsigned int n = 0;
	int rc, got;

	if (sio->nr_areas && rng_chance(r, 5, 6)) {
		unsigned int i = rng_below(r, sio->nr_areas);
		unsigned int j = rng_chance(r, 1, 2) ? i :
				 min(i + (unsigned int)rng_below(r, 4),
				     sio->nr_areas - 1);
		struct m_area *a = &sio->areas[i], *b = &sio->areas[j];

		start = a->iova;
		if (rng_chance(r, 1, 2))
			start += rng_below(r, (a->last - a->iova + 1) /
						      MOCK_IO_PAGE_SIZE) *
				 MOCK_IO_PAGE_SIZE;
		last = b->last;
		if (rng_chance(r, 1, 2))
			last -= rng_below(r, (b->last - b->iova + 1) /
						     MOCK_IO_PAGE_SIZE) *
				MOCK_IO_PAGE_SIZE;
		if (last < start)
			last = a->last;
		length = last - start + 1;
	} else {
		start = m_rand_iova(m);
		length = m_rand_length(m);
	}
	if (rng_chance(r, 1, 50))
		length = rng_chance(r, 1, 2) ? 0 : U64_MAX - start + 2;

	if (check_range_last(start, length, &last))
		rc = length ? -EOVERFLOW : -EINVAL;
	else if (!m_walk(sio, start, last, pc, &n))
		rc = -ENOENT;
	else
		rc = m_predict_map(m, dst, pc, n, length, prot, alloc, &iova);
	if (!rc)
		rc = m_apply_map(m, dst, pc, n, iova, prot);

	M_DESCRIBE(m, "copy ioas %d [%#llx +%#llx] (%u pieces) to ioas %d %s %#llx prot %s: want %d",
		   src, (unsigned long long)start, (unsigned long long)length,
		   n, dst, alloc ? "auto" : "fixed", (unsigned long long)iova,
		   prot_str(prot), rc);
	err_reason_clear();
	got = iopt_copy_iova(&m->ioas[dst].iopt, &got_iova, &sio->iopt, start,
			     length, prot, alloc ? IOPT_ALLOC_IOVA : 0);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_COPY, rc);
	if (rc)
		return;
	M_ASSERT_EQ(m, iova, got_iova);
	for (unsigned int i = 0; i != n; i++) {
		m_learn_pages(m, dst, iova, pc[i].pobj);
		iova += pc[i].length;
	}
}

static void op_reserve(struct model *m)
{
	struct rng *r = &m->rng;
	int ioas = rng_below(r, NR_IOAS), o = rng_below(r, NR_OWNERS);
	struct m_ioas *io = &m->ioas[ioas];
	void *owner = &m->owners[o];
	u64 start, last;
	int rc, got;

	if (rng_chance(r, 1, 2)) {
		unsigned int before = m->nr_resv, k = 0;

		M_DESCRIBE(m, "ioas %d: remove reserved of owner %d", ioas, o);
		iopt_remove_reserved_iova(&io->iopt, owner);
		for (unsigned int i = 0; i != m->nr_resv; i++)
			if (m->resv[i].ioas != ioas || m->resv[i].owner != owner)
				m->resv[k++] = m->resv[i];
		m->nr_resv = k;
		m_result(m, OP_RESERVE, before == k);
		return;
	}
	if (m->nr_resv == MAX_RESV)
		return;
	start = m_rand_iova(m);
	last = start + rng_range(r, 1, 8) * MOCK_IO_PAGE_SIZE - 1;
	if (last < start || rng_chance(r, 1, 20))
		last = start - rng_range(r, 0, 1) * (start != 0);
	if (rng_chance(r, 1, 30)) {
		u64 t = start;

		start = last;
		last = t;
	}

	if (start > last)
		rc = -EINVAL;
	else if (m_area_hits(io, start, last) || m_allowed_hits(io, start, last))
		rc = -EADDRINUSE;
	else
		rc = 0;
	M_DESCRIBE(m, "ioas %d: reserve [%#llx, %#llx] owner %d: want %d",
		   ioas, (unsigned long long)start, (unsigned long long)last,
		   o, rc);
	err_reason_clear();
	got = iopt_reserve_iova(&io->iopt, start, last, owner);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_RESERVE, rc);
	if (!rc)
		m->resv[m->nr_resv++] = (struct m_resv){ ioas, start, last,
							 owner };
}

static void op_allow(struct model *m)
{
	struct rng *r = &m->rng;
	int ioas = rng_below(r, NR_IOAS);
	struct m_ioas *io = &m->ioas[ioas];
	struct iova_range ranges[MAX_ALLOWED];
	unsigned int nr = rng_below(r, MAX_ALLOWED + 1);
	int rc = 0, got;

	for (unsigned int i = 0; i != nr; i++) {
		switch (rng_below(r, 10)) {
		case 0:
			ranges[i].start = LOW_BASE +
					  rng_below(r, LOW_SIZE / PAGE_SIZE) *
						  PAGE_SIZE;
			break;
		case 1:
			ranges[i].start = MOCK_APERTURE_START;
			break;
		default:
			ranges[i].start = WIN_BASE +
					  rng_below(r, WIN_SIZE / PAGE_SIZE) *
						  PAGE_SIZE;
			break;
		}
		ranges[i].last = ranges[i].start +
				 rng_range(r, 1, 48) * PAGE_SIZE - 1;
		if (rng_chance(r, 1, 40))
			ranges[i].last = ranges[i].start - 1;
	}
	for (unsigned int i = 0; i != nr && !rc; i++)
		if (ranges[i].start > ranges[i].last)
			rc = -EINVAL;
	for (unsigned int i = 0; i != nr && !rc; i++)
		if (m_resv_hits(m, ioas, ranges[i].start, ranges[i].last))
			rc = -EADDRINUSE;
	M_DESCRIBE(m, "ioas %d: allow %u ranges [%#llx, %#llx]...: want %d",
		   ioas, nr, nr ? (unsigned long long)ranges[0].start : 0ULL,
		   nr ? (unsigned long long)ranges[0].last : 0ULL, rc);
	err_reason_clear();
	got = iopt_set_allow_iova(&io->iopt, ranges, nr);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_ALLOW, rc);
	if (!rc) {
		memcpy(io->allowed, ranges, sizeof(ranges[0]) * nr);
		io->nr_allowed = nr;
	}
}

static const struct iova_range outside_aperture[2] = {
	{ 0, MOCK_APERTURE_START - 1 },
	{ MOCK_APERTURE_LAST + 1, U64_MAX },
};

static void op_domain(struct model *m)
{
	struct rng *r = &m->rng;
	int d = rng_below(r, NR_DOMAINS), ioas, rc = 0, got;
	struct m_domain *md = &m->dom[d];
	u64 cur, new_align;
	struct m_ioas *io;

	if (md->ioas >= 0 && rng_chance(r, 9, 10)) {
		unsigned int k = 0;

		M_DESCRIBE(m, "ioas %d: detach domain %d", md->ioas, d);
		iopt_table_remove_domain(&m->ioas[md->ioas].iopt, md->dom);
		for (unsigned int i = 0; i != m->nr_resv; i++)
			if (m->resv[i].owner != md->dom)
				m->resv[k++] = m->resv[i];
		m->nr_resv = k;
		md->ioas = -1;
		m_result(m, OP_DOMAIN, 0);
		return;
	}
	/* Attached already (to this IOAS only: a domain has one IOAS). */
	ioas = md->ioas >= 0 ? md->ioas : (int)rng_below(r, NR_IOAS);
	io = &m->ioas[ioas];
	cur = m_align(m, ioas);
	new_align = max((u64)MOCK_IO_PAGE_SIZE, cur);
	if (md->ioas >= 0)
		rc = -EEXIST;
	for (unsigned int i = 0; i != io->nr_areas && !rc && new_align > cur;
	     i++) {
		struct m_area *a = &io->areas[i];

		if (a->iova % new_align || (a->last - a->iova + 1) % new_align ||
		    (a->start_byte % PAGE_SIZE) % new_align)
			rc = -EADDRINUSE;
	}
	for (int i = 0; i != 2 && !rc; i++)
		if (m_area_hits(io, outside_aperture[i].start,
				outside_aperture[i].last) ||
		    m_allowed_hits(io, outside_aperture[i].start,
				   outside_aperture[i].last))
			rc = -EADDRINUSE;
	if (!rc) {
		md->ioas = ioas;
		if (m_over_limit(m)) {
			md->ioas = -1;
			rc = -ENOMEM;
		}
	}
	M_DESCRIBE(m, "ioas %d: attach domain %d: want %d", ioas, d, rc);
	err_reason_clear();
	got = iopt_table_add_domain(&io->iopt, md->dom);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_DOMAIN, rc);
	if (rc)
		return;
	for (int i = 0; i != 2; i++) {
		ASSERT_LT(m->nr_resv, MAX_RESV);
		m->resv[m->nr_resv++] = (struct m_resv){
			ioas, outside_aperture[i].start,
			outside_aperture[i].last, md->dom
		};
	}
}

/* The unmap callback: give back every pin touching the range. */
static void m_access_unmap(void *data, u64 iova, u64 length)
{
	struct m_access *acc = data;
	u64 last = iova + length - 1;

	acc->notified++;
	if (acc->stubborn)
		return;
	for (unsigned int i = 0; i < acc->nr_pins;) {
		struct m_pin *pin = &acc->pins[i];

		if (pin->iova > last || iova > pin->last) {
			i++;
			continue;
		}
		ASSERT_EQ(0, iopt_access_unpin_pages(acc->acc, pin->iova,
						     pin->last - pin->iova + 1));
		*pin = acc->pins[--acc->nr_pins];
	}
}

static const struct iopt_access_ops pin_ops = {
	.needs_pin_pages = true,
	.unmap = m_access_unmap,
};

static const struct iopt_access_ops rw_ops = {
	.unmap = m_access_unmap,
};

static const struct iopt_access_ops nocb_ops = {};

static void m_access_destroy(struct model *m, int k)
{
	struct m_access *acc = &m->acc[k];

	M_DESCRIBE(m, "ioas %d: destroy access %d with %u pins", acc->ioas, k,
		   acc->nr_pins);
	/* Pins still held are released by the library. */
	iopt_access_destroy(acc->acc);
	acc->used = false;
	acc->nr_pins = 0;
}

static void op_access(struct model *m)
{
	struct rng *r = &m->rng;
	int k = rng_below(r, MAX_ACCESSES), ioas, kind, rc = 0;
	struct m_access *acc = &m->acc[k];
	struct iopt_access *got;
	struct m_ioas *io;

	if (acc->used) {
		m_access_destroy(m, k);
		m_result(m, OP_ACCESS, 0);
		return;
	}
	ioas = rng_below(r, NR_IOAS);
	io = &m->ioas[ioas];
	kind = rng_below(r, 5);
	memset(acc, 0, sizeof(*acc));
	acc->m = m;
	acc->ioas = ioas;
	acc->needs_pin = kind < 2;
	acc->has_unmap = kind < 4;
	if (acc->needs_pin && m_align(m, ioas) < PAGE_SIZE) {
		for (unsigned int i = 0; i != io->nr_areas; i++) {
			struct m_area *a = &io->areas[i];

			if (a->iova % PAGE_SIZE ||
			    (a->last - a->iova + 1) % PAGE_SIZE ||
			    a->start_byte % PAGE_SIZE)
				rc = -EADDRINUSE;
		}
	}
	M_DESCRIBE(m, "ioas %d: create access %d (%s): want %d", ioas, k,
		   acc->needs_pin ? "pins" : acc->has_unmap ? "rw" : "no unmap",
		   rc);
	err_reason_clear();
	got = iopt_access_create(&io->iopt,
				 acc->needs_pin ? &pin_ops :
				 acc->has_unmap ? &rw_ops :
						  &nocb_ops,
				 acc);
	M_ASSERT_EQ(m, (long)rc, IS_ERR(got) ? PTR_ERR(got) : 0L);
	m_result(m, OP_ACCESS, rc);
	if (rc)
		return;
	acc->acc = got;
	acc->used = true;
}

/* A random live access, mostly one that can pin (or has pins). */
static int m_rand_access(struct model *m, bool with_pins)
{
	int k = rng_below(&m->rng, MAX_ACCESSES), any = -1;

	for (int i = 0; i != MAX_ACCESSES; i++, k = (k + 1) % MAX_ACCESSES) {
		struct m_access *acc = &m->acc[k];

		if (!acc->used)
			continue;
		if (any < 0)
			any = k;
		if (with_pins ? acc->nr_pins != 0 : acc->has_unmap)
			return rng_chance(&m->rng, 9, 10) ? k : any;
	}
	return any;
}

/* A range over the areas of @io from a random one on, up to @max bytes. */
static void m_rand_area_range(struct model *m, struct m_ioas *io, bool pages,
			      u64 max_len, u64 *start, u64 *last)
{
	struct rng *r = &m->rng;
	unsigned int i = rng_below(r, io->nr_areas);
	unsigned int j = min(i + (unsigned int)rng_below(r, 3),
			     io->nr_areas - 1);
	struct m_area *a = &io->areas[i], *b = &io->areas[j];

	if (pages) {
		/* From the first whole page of memory in the area on. */
		u64 skip = (PAGE_SIZE - a->start_byte % PAGE_SIZE) % PAGE_SIZE;

		*start = a->iova;
		if (rng_chance(r, 7, 8) && skip <= a->last - a->iova)
			*start += skip;
		if (rng_chance(r, 1, 3) && a->last - *start >= PAGE_SIZE)
			*start += PAGE_SIZE;
		*last = b->last;
		if (rng_chance(r, 1, 2)) {
			/* End on a page of memory inside b. */
			u64 end_byte = b->start_byte + (b->last - b->iova) + 1;
			u64 cut = end_byte % PAGE_SIZE;

			if (rng_chance(r, 1, 2))
				cut += PAGE_SIZE;
			if (cut < b->last - b->iova + 1)
				*last -= cut;
		}
	} else {
		*start = a->iova + rng_below(r, a->last - a->iova + 1);
		*last = b->iova + rng_below(r, b->last - b->iova + 1);
	}
	if (*last < *start)
		*last = *start;
	if (*last - *start >= max_len)
		*last = *start + max_len - 1;
}

static void op_pin(struct model *m)
{
	struct rng *r = &m->rng;
	int k = m_rand_access(m, false), rc = 0, got;
	unsigned int flags = rng_chance(r, 1, 2) ? IOMMUFD_ACCESS_RW_WRITE : 0;
	u64 start, last, length, out[OUT_PFNS], want[OUT_PFNS];
	unsigned int n = 0, npfns = 0;
	struct m_piece pc[MAX_AREAS];
	struct m_access *acc;
	struct m_ioas *io;
	struct m_pin *pin;
	bool covered;

	if (k < 0 || m->acc[k].nr_pins == MAX_PINS)
		return;
	acc = &m->acc[k];
	io = &m->ioas[acc->ioas];
	if (io->nr_areas && rng_chance(r, 7, 8)) {
		m_rand_area_range(m, io, true, MAX_PIN_PAGES * PAGE_SIZE,
				  &start, &last);
		length = last - start + 1;
	} else {
		start = m_rand_iova(m);
		length = rng_range(r, 1, 8) * MOCK_IO_PAGE_SIZE;
		if (rng_chance(r, 1, 10))
			length = rng_chance(r, 1, 2) ? 0 : U64_MAX - start + 2;
	}

	pin = &acc->pins[acc->nr_pins];
	if (check_range_last(start, length, &last)) {
		rc = length ? -EOVERFLOW : -EINVAL;
		goto call;
	}
	if (!acc->has_unmap) {
		rc = -EINVAL;
		goto call;
	}
	covered = m_walk(io, start, last, pc, &n);
	ASSERT_LE(n, MAX_PIECES);
	pin->iova = start;
	pin->last = last;
	pin->npieces = 0;
	for (unsigned int i = 0; i != n && !rc; i++) {
		u64 sb = pc[i].start_byte, lb = sb + pc[i].length - 1;
		/* Only the piece that ends the range may end mid-page. */
		bool final = i == n - 1 && covered;

		if (sb % PAGE_SIZE || (!final && (lb + 1) % PAGE_SIZE))
			rc = -EINVAL;
		/*
		 * As the kernel's check_area_prot(): a pin for writing needs
		 * IOMMU_WRITE, one for reading IOMMU_READ (so a prot 0 area
		 * refuses both).
		 */
		else if (!(pc[i].area_prot &
			   (flags & IOMMUFD_ACCESS_RW_WRITE ? IOMMU_WRITE :
							      IOMMU_READ)))
			rc = -EPERM;
		if (rc)
			break;
		/* Each area's pages are pinned (and charged) in turn. */
		pin->pieces[pin->npieces++] = pc[i];
		acc->nr_pins++;
		if (m_over_limit(m))
			rc = -ENOMEM;
		acc->nr_pins--;
		for (u64 x = sb / PAGE_SIZE; x <= lb / PAGE_SIZE; x++)
			want[npfns++] = m->pfn[m->pobj[pc[i].pobj].phys[x]];
	}
	if (!rc && !covered)
		rc = -ENOENT;
call:
	M_DESCRIBE(m, "ioas %d: access %d pin [%#llx +%#llx] %s (%u pieces): want %d",
		   acc->ioas, k, (unsigned long long)start,
		   (unsigned long long)length, flags ? "write" : "read", n, rc);
	err_reason_clear();
	got = iopt_access_pin_pages(acc->acc, start, length, out, NULL, flags);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_PIN, rc);
	if (rc)
		return;
	for (unsigned int i = 0; i != npfns; i++)
		M_ASSERT_EQ(m, want[i], out[i]);
	acc->nr_pins++;
}

static void op_unpin(struct model *m)
{
	struct rng *r = &m->rng;
	int k = m_rand_access(m, true), rc = -EINVAL, got;
	struct m_access *acc;
	u64 start, length, last;
	int match = -1;

	if (k < 0)
		return;
	acc = &m->acc[k];
	if (acc->nr_pins && rng_chance(r, 6, 7)) {
		struct m_pin *pin = &acc->pins[rng_below(r, acc->nr_pins)];

		start = pin->iova;
		length = pin->last - pin->iova + 1;
		if (rng_chance(r, 1, 8))
			length += rng_chance(r, 1, 2) ? PAGE_SIZE :
							-(u64)1;
	} else {
		start = m_rand_iova(m);
		length = rng_range(r, 0, 4) * PAGE_SIZE;
	}
	if (check_range_last(start, length, &last)) {
		rc = length ? -EOVERFLOW : -EINVAL;
	} else {
		for (unsigned int i = 0; i != acc->nr_pins && match < 0; i++)
			if (acc->pins[i].iova == start &&
			    acc->pins[i].last == last)
				match = i;
		if (match >= 0)
			rc = 0;
	}
	M_DESCRIBE(m, "ioas %d: access %d unpin [%#llx +%#llx]: want %d",
		   acc->ioas, k, (unsigned long long)start,
		   (unsigned long long)length, rc);
	err_reason_clear();
	got = iopt_access_unpin_pages(acc->acc, start, length);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_UNPIN, rc);
	if (!rc)
		acc->pins[match] = acc->pins[--acc->nr_pins];
}

/* Bytes of the pieces, in order, through the shadow of physical pages. */
static void m_shadow_copy(struct model *m, const struct m_piece *pc,
			  unsigned int n, char *data, bool write)
{
	for (unsigned int i = 0; i != n; i++) {
		const struct m_pobj *po = &m->pobj[pc[i].pobj];

		for (u64 b = pc[i].start_byte;
		     b != pc[i].start_byte + pc[i].length; b++) {
			char *s = m->shadow + po->phys[b / PAGE_SIZE] * PAGE_SIZE +
				  b % PAGE_SIZE;

			if (write)
				*s = *data;
			else
				*data = *s;
			data++;
		}
	}
}

static void m_check_memory(struct model *m)
{
	for (int p = 0; p != NPHYS; p++) {
		if (!phys_valid(p))
			continue;
		if (memcmp(phys_ptr(m, p), m->shadow + p * PAGE_SIZE,
			   PAGE_SIZE))
			TH_LOG("step %llu: %s: physical page %d differs",
			       (unsigned long long)m->step, m->what, p);
		ASSERT_EQ(0, memcmp(phys_ptr(m, p), m->shadow + p * PAGE_SIZE,
				    PAGE_SIZE));
	}
}

static void op_rw(struct model *m)
{
	static char data[MAX_PIN_PAGES * PAGE_SIZE], want[sizeof(data)];
	struct rng *r = &m->rng;
	int k = m_rand_access(m, false), rc = 0, got;
	bool write = rng_chance(r, 1, 2);
	u64 start, last, length, done = 0;
	unsigned int n = 0, ndone = 0;
	struct m_piece pc[MAX_AREAS];
	struct m_access *acc;
	struct m_ioas *io;

	if (k < 0)
		return;
	acc = &m->acc[k];
	io = &m->ioas[acc->ioas];
	if (io->nr_areas && rng_chance(r, 7, 8)) {
		m_rand_area_range(m, io, false, sizeof(data), &start, &last);
		length = last - start + 1;
	} else {
		start = m_rand_iova(m);
		length = rng_range(r, 1, 3 * PAGE_SIZE);
		if (rng_chance(r, 1, 10))
			length = rng_chance(r, 1, 2) ? 0 : U64_MAX - start + 2;
	}
	if (check_range_last(start, length, &last)) {
		rc = length ? -EOVERFLOW : -EINVAL;
	} else {
		bool covered = m_walk(io, start, last, pc, &n);

		for (ndone = 0; ndone != n; ndone++) {
			if (!(pc[ndone].area_prot &
			      (write ? IOMMU_WRITE : IOMMU_READ))) {
				rc = -EPERM;
				break;
			}
			done += pc[ndone].length;
		}
		if (!rc && !covered)
			rc = -ENOENT;
		/*
		 * A write over more than one page pins every page first, as
		 * an access pin would, and is charged for it.
		 */
		if (!rc && write && (n > 1 || pc[0].start_byte / PAGE_SIZE !=
					   (pc[0].start_byte + pc[0].length - 1) /
						   PAGE_SIZE)) {
			struct m_pin *tmp = &acc->pins[acc->nr_pins];

			ASSERT_LE(n, MAX_PIECES);
			tmp->iova = start;
			tmp->last = last;
			tmp->npieces = n;
			memcpy(tmp->pieces, pc, n * sizeof(*pc));
			acc->nr_pins++;
			if (m_over_limit(m))
				rc = -ENOMEM;
			acc->nr_pins--;
		}
	}
	for (u64 i = 0; i != min(length, (u64)sizeof(data)); i++)
		data[i] = (char)rng_next(r);
	memcpy(want, data, sizeof(data));

	M_DESCRIBE(m, "ioas %d: access %d %s [%#llx +%#llx] (%u pieces, %#llx bytes done): want %d",
		   acc->ioas, k, write ? "write" : "read",
		   (unsigned long long)start, (unsigned long long)length, n,
		   (unsigned long long)done, rc);
	err_reason_clear();
	got = iopt_access_rw(acc->acc, start, data, length,
			     write ? IOMMUFD_ACCESS_RW_WRITE : 0);
	M_ASSERT_EQ(m, rc, got);
	m_result(m, OP_RW, rc);
	/*
	 * A failed copy moves nothing: every check is made before the first
	 * byte, and a write over several pages pins them all first. (The
	 * kernel copies the areas before a failure.)
	 */
	if (write) {
		if (!rc)
			m_shadow_copy(m, pc, ndone, want, true);
		m_check_memory(m);
	} else if (!rc && done) {
		m_shadow_copy(m, pc, ndone, want, false);
		if (memcmp(want, data, done))
			TH_LOG("step %llu: %s: read wrong data",
			       (unsigned long long)m->step, m->what);
		ASSERT_EQ(0, memcmp(want, data, done));
	}
}

static void op_stubborn(struct model *m)
{
	int k = m_rand_access(m, false);

	if (k < 0 || !m->acc[k].has_unmap)
		return;
	m->acc[k].stubborn = !m->acc[k].stubborn;
	m_result(m, OP_STUBBORN, 0);
	M_DESCRIBE(m, "access %d: %s unpinning on request", k,
		   m->acc[k].stubborn ? "stops" : "resumes");
}

/* ---- checks ------------------------------------------------------------------ */

static void m_check_areas(struct model *m, int ioas)
{
	struct m_ioas *io = &m->ioas[ioas];
	bool has_domain = m_has_domain(m, ioas);
	struct iopt_area *area;
	unsigned int i = 0;

	for (area = iopt_area_iter_first(&io->iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX), i++) {
		struct m_area *a = &io->areas[i];
		struct m_pobj *po;

		M_ASSERT_EQ(m, true, i < io->nr_areas);
		po = &m->pobj[a->pobj];
		M_ASSERT_EQ(m, a->iova, iopt_area_iova(area));
		M_ASSERT_EQ(m, a->last, iopt_area_last_iova(area));
		M_ASSERT_EQ(m, a->prot, area->iommu_prot);
		M_ASSERT_EQ(m, a->start_byte % PAGE_SIZE, area->page_offset);
		M_ASSERT_EQ(m, m_area_index(a), iopt_area_index(area));
		M_ASSERT_EQ(m, m_area_last_index(a), iopt_area_last_index(area));
		M_ASSERT_EQ(m, false, area->prevent_access);
		M_ASSERT_EQ(m, has_domain, area->storage_domain != NULL);
		M_ASSERT_EQ(m, m_area_pins(m, ioas, a->iova, false),
			    area->num_accesses);
		M_ASSERT_EQ(m, true, po->lib == area->pages);
		M_ASSERT_EQ(m, (u64)po->refs, area->pages->refcount);
		M_ASSERT_EQ(m, po->npinned, area->pages->npinned);
		M_ASSERT_EQ(m, po->npages, area->pages->npages);
		M_ASSERT_EQ(m, po->writable, area->pages->writable);
		M_ASSERT_EQ(m, po->mode, (int)area->pages->account_mode);
	}
	M_ASSERT_EQ(m, io->nr_areas, i);
	M_ASSERT_EQ(m, m_align(m, ioas), iopt_iova_alignment(&io->iopt));
}

static void m_check_reserved(struct model *m, int ioas)
{
	struct io_pagetable *iopt = &m->ioas[ioas].iopt;
	bool seen[MAX_RESV] = {};
	struct interval_tree_node *node;
	struct iova_range holes[MAX_RESV + 1], got[MAX_RESV + 1];
	struct iova_range sorted[MAX_RESV];
	unsigned int nr = 0, nholes = 0, nsorted = 0;
	u64 next = 0;
	bool top = false;
	size_t ngot;

	for (node = interval_tree_iter_first(&iopt->reserved_itree, 0, U64_MAX);
	     node; node = interval_tree_iter_next(node, 0, U64_MAX)) {
		struct iopt_reserved *res =
			container_of(node, struct iopt_reserved, node);
		bool found = false;

		for (unsigned int i = 0; i != m->nr_resv && !found; i++) {
			struct m_resv *mr = &m->resv[i];

			if (!seen[i] && mr->ioas == ioas &&
			    mr->start == node->start && mr->last == node->last &&
			    mr->owner == res->owner)
				found = seen[i] = true;
		}
		M_ASSERT_EQ(m, true, found);
		nr++;
	}
	for (unsigned int i = 0; i != m->nr_resv; i++)
		nr -= m->resv[i].ioas == ioas;
	M_ASSERT_EQ(m, 0, nr);

	/* The usable ranges are the holes between reserved ranges. */
	for (unsigned int i = 0; i != m->nr_resv; i++)
		if (m->resv[i].ioas == ioas)
			sorted[nsorted++] = (struct iova_range){
				m->resv[i].start, m->resv[i].last
			};
	for (unsigned int i = 0; i < nsorted; i++)
		for (unsigned int j = i + 1; j < nsorted; j++)
			if (sorted[j].start < sorted[i].start) {
				struct iova_range t = sorted[i];

				sorted[i] = sorted[j];
				sorted[j] = t;
			}
	for (unsigned int i = 0; i != nsorted && !top; i++) {
		if (sorted[i].start > next)
			holes[nholes++] = (struct iova_range){
				next, sorted[i].start - 1
			};
		if (sorted[i].last == U64_MAX)
			top = true;
		else
			next = max(next, sorted[i].last + 1);
	}
	if (!top)
		holes[nholes++] = (struct iova_range){ next, U64_MAX };
	ngot = iopt_usable_ranges(iopt, got, ARRAY_SIZE(got));
	M_ASSERT_EQ(m, (size_t)nholes, ngot);
	for (unsigned int i = 0; i != nholes; i++) {
		M_ASSERT_EQ(m, holes[i].start, got[i].start);
		M_ASSERT_EQ(m, holes[i].last, got[i].last);
	}
}

struct dom_cmp {
	const struct dom_expect *want;
	unsigned int n, pos;
	bool bad;
	struct dom_expect seen;
};

static int dom_cmp_cb(void *arg, u64 iova, u64 paddr, int prot)
{
	struct dom_cmp *c = arg;

	if (c->pos == c->n || c->want[c->pos].iova != iova ||
	    c->want[c->pos].paddr != paddr || c->want[c->pos].prot != prot) {
		c->bad = true;
		c->seen = (struct dom_expect){ iova, paddr, prot };
		return 1;
	}
	c->pos++;
	return 0;
}

static unsigned int m_build_expect(struct model *m, int ioas)
{
	struct m_ioas *io = &m->ioas[ioas];
	unsigned int n = 0;

	for (unsigned int i = 0; i != io->nr_areas; i++) {
		struct m_area *a = &io->areas[i];
		struct m_pobj *po = &m->pobj[a->pobj];

		for (u64 off = 0; off <= a->last - a->iova;
		     off += MOCK_IO_PAGE_SIZE) {
			u64 byte = a->start_byte + off;

			ASSERT_LT(n, MAX_EXPECT);
			m->expect[n++] = (struct dom_expect){
				.iova = a->iova + off,
				.paddr = PFN_PHYS(m->pfn[po->phys[byte /
								  PAGE_SIZE]]) +
					 byte % PAGE_SIZE,
				.prot = a->prot,
			};
		}
	}
	return n;
}

static void m_check_domains(struct model *m)
{
	for (int ioas = -1; ioas != NR_IOAS; ioas++) {
		unsigned int n = ioas >= 0 && m_has_domain(m, ioas) ?
					 m_build_expect(m, ioas) :
					 0;

		for (int d = 0; d != NR_DOMAINS; d++) {
			struct mock_domain_stats st;
			struct dom_cmp c = { .want = m->expect, .n = n };

			if (m->dom[d].ioas != ioas)
				continue;
			mock_domain_get_stats(m->dom[d].dom, &st);
			M_ASSERT_EQ(m, 0, st.unmap_splits_map);
			M_ASSERT_EQ(m, 0, st.unmap_not_mapped);
			M_ASSERT_EQ(m, 0, st.map_over_mapped);
			M_ASSERT_EQ(m, (u64)n, st.io_pages);
			mock_domain_for_each(m->dom[d].dom, 0, U64_MAX,
					     dom_cmp_cb, &c);
			if (c.bad)
				TH_LOG("domain %d: IO page %#llx -> %#llx prot %d, want %#llx -> %#llx prot %d",
				       d, (unsigned long long)c.seen.iova,
				       (unsigned long long)c.seen.paddr,
				       c.seen.prot,
				       c.pos < n ? (unsigned long long)
							   m->expect[c.pos].iova :
						   0ULL,
				       c.pos < n ? (unsigned long long)
							   m->expect[c.pos].paddr :
						   0ULL,
				       c.pos < n ? m->expect[c.pos].prot : 0);
			M_ASSERT_EQ(m, false, c.bad);
			M_ASSERT_EQ(m, n, c.pos);
		}
	}
}

/* Pin counts through the backing buffers, and the accounting totals. */
static void m_check_pins(struct model *m)
{
	u64 want[NPHYS] = {}, counts[NBUF + NMFD], all, user, mm;

	m_pinned(m, &all, &user, &mm);
	for (int p = 0; p != MAX_POBJS; p++) {
		struct m_pobj *po = &m->pobj[p];

		if (!po->used)
			continue;
		for (u64 x = 0; x != po->npages; x++)
			want[po->phys[x]] += po->pinned[x];
	}
	ASSERT_EQ(0, iopt_pin_counts_user((uintptr_t)m->buf, NBUF * PAGE_SIZE,
					  counts));
	ASSERT_EQ(0, iopt_pin_counts_user((uintptr_t)m->fbuf,
					  NMFD * PAGE_SIZE, counts + NBUF));
	for (int i = 0; i != NBUF; i++) {
		if (want[m->buf_phys[i]] != counts[i])
			TH_LOG("buffer page %d (physical %d): %llu pins, want %llu",
			       i, m->buf_phys[i], (unsigned long long)counts[i],
			       (unsigned long long)want[m->buf_phys[i]]);
		M_ASSERT_EQ(m, want[m->buf_phys[i]], counts[i]);
	}
	for (int i = 0; i != NMFD; i++)
		M_ASSERT_EQ(m, want[NBUF + i], counts[NBUF + i]);
	M_ASSERT_EQ(m, all, iopt_account_pinned());
	M_ASSERT_EQ(m, user, iopt_account_user_locked(getuid()));
	M_ASSERT_EQ(m, mm, iopt_account_process_locked());
}

static void m_check(struct model *m)
{
	u64 all, user, mm;

	/* The per-pages counts the area check compares need these. */
	m_pinned(m, &all, &user, &mm);
	for (int s = 0; s != NR_IOAS; s++) {
		m_check_areas(m, s);
		m_check_reserved(m, s);
	}
	m_check_domains(m);
	m_check_pins(m);
}

/* ---- setup, the run, teardown ---------------------------------------------- */

/*
 * The buffers' addresses steer automatic IOVA (and name the anonymous
 * pages), so they sit at fixed, well aligned addresses when they can: then
 * a seed replays the same run. The range is application memory for the
 * sanitizers' x86-64 layouts too (ThreadSanitizer dies on others).
 */
#define BUF_HINT 0x7e9000000000ULL
#define FBUF_HINT 0x7e9000400000ULL

static char *map_at(u64 hint, size_t len, int flags, int fd)
{
	char *p = mmap((void *)(uintptr_t)hint, len, PROT_READ | PROT_WRITE,
		       flags | MAP_FIXED_NOREPLACE, fd, 0);

	if (p == MAP_FAILED)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	if ((uintptr_t)p != hint)
		TH_LOG("buffer at %p, not %#llx: a replay may differ", p,
		       (unsigned long long)hint);
	return p;
}

static void m_init(struct model *m, u64 seed, size_t temp_limit,
		   u64 memlock_pages)
{
	struct rlimit rl;

	rng_init(&m->rng, seed);
	m->trace = getenv("UIOMMUFD_MODEL_TRACE");
	iopt_set_temp_memory_limit(temp_limit);
	if (memlock_pages) {
		ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &rl));
		rl.rlim_cur = memlock_pages * PAGE_SIZE;
		ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
		m->memlock_modes = true;
	}
	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &rl));
	m->limit = rl.rlim_cur == RLIM_INFINITY ? U64_MAX :
						  rl.rlim_cur >> PAGE_SHIFT;

	m->memfd = memfd_create("test_iopt_model", 0);
	ASSERT_GE(m->memfd, 0);
	ASSERT_EQ(0, ftruncate(m->memfd, NMFD * PAGE_SIZE));
	m->buf = map_at(BUF_HINT, NBUF * PAGE_SIZE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1);
	m->fbuf = map_at(FBUF_HINT, NMFD * PAGE_SIZE, MAP_SHARED, m->memfd);
	for (int i = 0; i != NBUF; i++) {
		m->buf_phys[i] = scramble[i] < 0 ? i : NBUF + scramble[i];
		if (scramble[i] < 0)
			continue;
		ASSERT_NE(MAP_FAILED,
			  mmap(m->buf + i * PAGE_SIZE, PAGE_SIZE,
			       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
			       m->memfd, scramble[i] * PAGE_SIZE));
	}
	m->shadow = malloc(NPHYS * PAGE_SIZE);
	ASSERT_NONNULL(m->shadow);
	for (int p = 0; p != NPHYS; p++) {
		if (!phys_valid(p))
			continue;
		for (u64 b = 0; b != PAGE_SIZE; b++)
			phys_ptr(m, p)[b] = (char)(p * 131 + b * 7 + (b >> 8));
		memcpy(m->shadow + p * PAGE_SIZE, phys_ptr(m, p), PAGE_SIZE);
	}

	/* Gives the memfd a file id, so its pages are named alike always. */
	m->hold = pfn_source_file_create(m->memfd, 0, PAGE_SIZE, false);
	ASSERT_FALSE(IS_ERR(m->hold));
	{
		struct pfn_source *s;
		u64 pfns[NBUF];

		s = pfn_source_user_create((uintptr_t)m->buf, NBUF * PAGE_SIZE);
		ASSERT_FALSE(IS_ERR(s));
		ASSERT_EQ(0, s->ops->identify(s, 0, NBUF, pfns));
		pfn_source_destroy(s);
		for (int i = 0; i != NBUF; i++)
			m->pfn[m->buf_phys[i]] = pfns[i];
		s = pfn_source_user_create((uintptr_t)m->fbuf,
					   NMFD * PAGE_SIZE);
		ASSERT_FALSE(IS_ERR(s));
		ASSERT_EQ(0, s->ops->identify(s, 0, NMFD, pfns));
		pfn_source_destroy(s);
		for (int i = 0; i != NMFD; i++) {
			/* The buffer's memfd pages are the same pages. */
			if (m->pfn[NBUF + i])
				ASSERT_EQ(m->pfn[NBUF + i], pfns[i]);
			m->pfn[NBUF + i] = pfns[i];
		}
	}
	/* The scramble breaks PFN runs where it promises. */
	ASSERT_EQ(m->pfn[0] + 3, m->pfn[3]);
	ASSERT_EQ(m->pfn[m->buf_phys[4]] + 3, m->pfn[m->buf_phys[7]]);
	ASSERT_NE(m->pfn[m->buf_phys[7]] + 1, m->pfn[m->buf_phys[8]]);

	for (int s = 0; s != NR_IOAS; s++)
		iopt_init_table(&m->ioas[s].iopt);
	for (int d = 0; d != NR_DOMAINS; d++) {
		m->dom[d].dom = mock_domain_alloc(d == NR_DOMAINS - 1 ?
							  MOCK_DOMAIN_HUGE_PAGES :
							  0);
		ASSERT_NONNULL(m->dom[d].dom);
		m->dom[d].ioas = -1;
	}
}

static void m_step(struct model *m)
{
	/* Weights of the operations. */
	static const unsigned char weights[OP_NR] = {
		[OP_MAP] = 14,	 [OP_MAP_FILE] = 6, [OP_UNMAP] = 14,
		[OP_UNMAP_ALL] = 1, [OP_COPY] = 10,  [OP_RESERVE] = 3,
		[OP_ALLOW] = 2,	 [OP_DOMAIN] = 6,   [OP_ACCESS] = 3,
		[OP_PIN] = 10,	 [OP_UNPIN] = 6,    [OP_RW] = 8,
		[OP_STUBBORN] = 1,
	};
	unsigned int total = 0, pick, op;

	for (op = 0; op != OP_NR; op++)
		total += weights[op];
	pick = rng_below(&m->rng, total);
	for (op = 0; pick >= weights[op]; op++)
		pick -= weights[op];

	/* Keep the model's arrays from filling up: unmap instead. */
	if ((op == OP_MAP || op == OP_MAP_FILE || op == OP_COPY) &&
	    (m->ioas[0].nr_areas > MAX_AREAS / 2 ||
	     m->ioas[1].nr_areas > MAX_AREAS / 2))
		op = OP_UNMAP;

	switch (op) {
	case OP_MAP:
		op_map(m, false);
		break;
	case OP_MAP_FILE:
		op_map(m, true);
		break;
	case OP_UNMAP:
		op_unmap(m);
		break;
	case OP_UNMAP_ALL: {
		int ioas = rng_below(&m->rng, NR_IOAS);

		m_do_unmap(m, ioas, 0, U64_MAX, true);
		break;
	}
	case OP_COPY:
		op_copy(m);
		break;
	case OP_RESERVE:
		op_reserve(m);
		break;
	case OP_ALLOW:
		op_allow(m);
		break;
	case OP_DOMAIN:
		op_domain(m);
		break;
	case OP_ACCESS:
		op_access(m);
		break;
	case OP_PIN:
		op_pin(m);
		break;
	case OP_UNPIN:
		op_unpin(m);
		break;
	case OP_RW:
		op_rw(m);
		break;
	case OP_STUBBORN:
		op_stubborn(m);
		break;
	}
}

/* Take everything down through the library, checking as it goes. */
static void m_teardown(struct model *m)
{
	for (int k = 0; k != MAX_ACCESSES; k++)
		m->acc[k].stubborn = false;
	for (int s = 0; s != NR_IOAS; s++) {
		m_do_unmap(m, s, 0, U64_MAX, true);
		m_check(m);
	}
	for (int k = 0; k != MAX_ACCESSES; k++) {
		if (m->acc[k].used)
			m_access_destroy(m, k);
		m_check(m);
	}
	for (int d = 0; d != NR_DOMAINS; d++) {
		if (m->dom[d].ioas >= 0) {
			unsigned int k = 0;

			iopt_table_remove_domain(&m->ioas[m->dom[d].ioas].iopt,
						 m->dom[d].dom);
			for (unsigned int i = 0; i != m->nr_resv; i++)
				if (m->resv[i].owner != m->dom[d].dom)
					m->resv[k++] = m->resv[i];
			m->nr_resv = k;
			m->dom[d].ioas = -1;
		}
		m_check(m);
	}
	for (int d = 0; d != NR_DOMAINS; d++)
		iommu_domain_free(m->dom[d].dom);
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(0, iopt_account_process_locked());
	for (int s = 0; s != NR_IOAS; s++)
		iopt_destroy_table(&m->ioas[s].iopt);
	pfn_source_destroy(m->hold);
	m_check_memory(m);
	munmap(m->buf, NBUF * PAGE_SIZE);
	munmap(m->fbuf, NMFD * PAGE_SIZE);
	close(m->memfd);
	free(m->shadow);
}

FIXTURE(model)
{
	struct model *m;
};

FIXTURE_VARIANT(model)
{
	size_t temp_limit;	/* 0: the default */
	u64 memlock_pages;	/* 0: the process's limit */
	u64 salt;		/* one seed, different runs per variant */
};

FIXTURE_VARIANT_ADD(model, default_limits) { .salt = 0 };
FIXTURE_VARIANT_ADD(model, temp_limit_16) { .temp_limit = 16, .salt = 1 };
FIXTURE_VARIANT_ADD(model, temp_limit_40) { .temp_limit = 40, .salt = 3 };
FIXTURE_VARIANT_ADD(model, memlock_20) { .memlock_pages = 20, .salt = 2 };

FIXTURE_SETUP(model)
{
	self->m = calloc(1, sizeof(*self->m));
	ASSERT_NONNULL(self->m);
}

FIXTURE_TEARDOWN(model)
{
	free(self->m);
}

#define MODEL_STEPS 60000

TEST_F(model, random_ops)
{
	struct model *m = self->m;
	u64 steps = test_iterations(MODEL_STEPS);

	m_init(m, test_seed() ^ (variant->salt * 0x9e3779b97f4a7c15ULL),
	       variant->temp_limit, variant->memlock_pages);
	m_check(m);
	for (m->step = 0; m->step != steps; m->step++) {
		m_step(m);
		m_check(m);
	}
	for (int op = 0; op != OP_NR; op++) {
		char line[256];
		int len = 0;

		for (unsigned int i = 0; i != NR_RESULTS; i++)
			if (m->ops[op][i])
				len += snprintf(line + len, sizeof(line) - len,
						" %s %llu", result_names[i],
						(unsigned long long)m->ops[op][i]);
		TH_LOG("%-9s%s", op_names[op], len ? line : " -");
	}
	M_DESCRIBE(m, "teardown");
	m_teardown(m);
}
