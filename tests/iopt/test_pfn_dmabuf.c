// SPDX-License-Identifier: MIT
/*
 * dma-bufs in the engine: the registry that finds one by any descriptor of
 * its file, dma-buf pages (no pins, no accounting, PFNs straight from the
 * exporter), their domains tracked so a revocation unmaps every one of
 * them, attach and detach around a revocation, copies, accesses refused,
 * cuts refused; and the file rules IOMMU_IOAS_MAP_FILE takes from the
 * kernel (what memfd_pin_folios() pins), hugetlbfs windows included.
 *
 * The exporter here is the test's own: its memory is a made-up PFN run,
 * and it can be told to fail its map call.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base/err_ptr.h"
#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "domains/mock_domain.h"
#include "harness/test.h"
#include "iopt/access.h"
#include "iopt/accounting.h"
#include "iopt/dmabuf.h"
#include "iopt/io_pagetable.h"
#include "iopt/pages.h"
#include "iopt/pfn_dmabuf.h"
#include "iopt/pfn_identity.h"
#include "iopt/pin_count.h"

#define P(n) ((u64)(n) * PAGE_SIZE)
#define RW (IOMMU_READ | IOMMU_WRITE)
#define ACCT_USER IOPT_PAGES_ACCOUNT_USER
#define NDOMAINS 3
#define IOVA (MOCK_APERTURE_START + 0x200000)
#define IOVA2 (MOCK_APERTURE_START + 0x800000)
/* The test exporter's memory: a made-up run of PFNs. */
#define XPFN 0x123400ULL
#define XPAGES 8

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

/* ---- the test's exporter ------------------------------------------------ */

struct xbuf {
	struct iopt_dmabuf dmabuf;
	int fd;			/* a memfd: the inode the dma-buf is named by */
	bool revoked;
	int map_err;		/* forced map error, 0 for none */
	unsigned int map_calls;
	bool *released;
};

static struct xbuf *to_xbuf(struct iopt_dmabuf *dmabuf)
{
	return container_of(dmabuf, struct xbuf, dmabuf);
}

static int xbuf_map(struct iopt_dmabuf *dmabuf, u64 *pfn)
{
	struct xbuf *x = to_xbuf(dmabuf);

	x->map_calls++;
	if (x->map_err)
		return err_reason(x->map_err, "the test exporter says no");
	if (x->revoked)
		return err_reason(-ENODEV, "revoked");
	*pfn = XPFN;
	return 0;
}

static void xbuf_release(struct iopt_dmabuf *dmabuf)
{
	struct xbuf *x = to_xbuf(dmabuf);

	close(x->fd);
	*x->released = true;
	free(x);
}

static const struct iopt_dmabuf_ops xbuf_ops = {
	.map = xbuf_map,
	.release = xbuf_release,
};

/* A dma-buf of @npages under a fresh memfd; *@released once it is gone. */
static struct xbuf *xbuf_new(u64 npages, bool *released)
{
	struct xbuf *x = calloc(1, sizeof(*x));

	ASSERT_NONNULL(x);
	x->fd = memfd_create("xbuf", MFD_CLOEXEC);
	ASSERT_GE(x->fd, 0);
	x->released = released;
	*released = false;
	iopt_dmabuf_init(&x->dmabuf, &xbuf_ops, P(npages));
	ASSERT_OK(iopt_dmabuf_export(&x->dmabuf, x->fd));
	return x;
}

/* The exporter's revocation, as the test module's DMABUF_REVOKE does it. */
static void xbuf_revoke(struct xbuf *x, bool revoked)
{
	pthread_mutex_lock(&x->dmabuf.lock);
	x->revoked = revoked;
	iopt_dmabuf_invalidate_locked(&x->dmabuf);
	pthread_mutex_unlock(&x->dmabuf.lock);
}

static unsigned int nattach(struct xbuf *x)
{
	struct iopt_dmabuf_attach *a;
	unsigned int n = 0;

	pthread_mutex_lock(&x->dmabuf.lock);
	for (a = x->dmabuf.attachments; a; a = a->next)
		n++;
	pthread_mutex_unlock(&x->dmabuf.lock);
	return n;
}

/* ---- an IOAS with mock domains ----------------------------------------- */

struct env {
	struct io_pagetable iopt, iopt2;
	struct iommu_domain *domains[NDOMAINS];
	struct io_pagetable *attached[NDOMAINS];
	long live;
};

static void env_init(struct env *env)
{
	memset(env, 0, sizeof(*env));
	env->live = mem_live_count();
	iopt_init_table(&env->iopt);
	iopt_init_table(&env->iopt2);
	for (int i = 0; i != NDOMAINS; i++) {
		env->domains[i] = mock_domain_alloc(0);
		ASSERT_NONNULL(env->domains[i]);
	}
}

static int attach_to(struct env *env, int d, struct io_pagetable *iopt)
{
	int rc = iopt_table_add_domain(iopt, env->domains[d]);

	if (!rc)
		env->attached[d] = iopt;
	return rc;
}

static void detach(struct env *env, int d)
{
	iopt_table_remove_domain(env->attached[d], env->domains[d]);
	env->attached[d] = NULL;
}

static void check_domain_clean(struct iommu_domain *domain)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(domain, &st);
	ASSERT_EQ(0, st.unmap_splits_map);
	ASSERT_EQ(0, st.unmap_not_mapped);
	ASSERT_EQ(0, st.map_over_mapped);
}

static u64 io_pages(struct iommu_domain *domain)
{
	struct mock_domain_stats st;

	mock_domain_get_stats(domain, &st);
	return st.io_pages;
}

static void env_destroy(struct env *env)
{
	u64 unmapped;

	ASSERT_EQ(0, iopt_unmap_all(&env->iopt, &unmapped));
	ASSERT_EQ(0, iopt_unmap_all(&env->iopt2, &unmapped));
	for (int i = 0; i != NDOMAINS; i++) {
		if (env->attached[i])
			detach(env, i);
		check_domain_clean(env->domains[i]);
		ASSERT_EQ(0, io_pages(env->domains[i]));
		iommu_domain_free(env->domains[i]);
	}
	iopt_destroy_table(&env->iopt);
	iopt_destroy_table(&env->iopt2);
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(env->live, mem_live_count());
}

/* [iova, iova + len) of @domain maps PFNs from @pfn on, from @offset. */
static void expect_maps(struct iommu_domain *domain, u64 iova, u64 len,
			u64 pfn, u64 offset)
{
	for (u64 done = 0; done < len; done += MOCK_IO_PAGE_SIZE) {
		int prot = 0;

		ASSERT_EQ(PFN_PHYS(pfn) + offset + done,
			  mock_domain_lookup(domain, iova + done, &prot));
		ASSERT_NE(0, prot);
	}
}

static void expect_unmapped(struct iommu_domain *domain, u64 iova, u64 len)
{
	for (u64 done = 0; done < len; done += MOCK_IO_PAGE_SIZE)
		ASSERT_EQ(0, mock_domain_lookup(domain, iova + done, NULL));
}

static int map_fd(struct io_pagetable *iopt, u64 iova, int fd, u64 start,
		  u64 len, int prot)
{
	return iopt_map_file_pages(iopt, &iova, fd, start, len, prot, 0,
				   ACCT_USER);
}

static u64 count_areas(struct io_pagetable *iopt)
{
	struct iopt_area *area;
	u64 n = 0;

	for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX))
		n++;
	return n;
}

static struct iopt_pages *pages_at(struct io_pagetable *iopt, u64 iova)
{
	struct iopt_area *area = iopt_area_iter_first(iopt, iova, iova);

	ASSERT_NONNULL(area);
	return area->pages;
}

static unsigned int ntracked(struct iopt_pages *pages)
{
	struct iopt_pages_dmabuf_track *t;
	unsigned int n = 0;

	pthread_mutex_lock(&pages->mutex);
	for (t = pages->dmabuf->tracker; t; t = t->next)
		n++;
	pthread_mutex_unlock(&pages->mutex);
	return n;
}

/* ---- the registry ------------------------------------------------------- */

TEST(registry_finds_by_any_descriptor)
{
	unsigned int live = iopt_dmabufs_live();
	struct iopt_dmabuf *got;
	bool released;
	struct xbuf *x;
	char path[64];
	int dupfd, reopen, other, opath;

	ASSERT_FAILS(-EBADF, PTR_ERR(iopt_dmabuf_get_fd(-1)));
	ASSERT_FAILS(-EBADF, PTR_ERR(iopt_dmabuf_get_fd(1000000)));
	other = memfd_create("other", MFD_CLOEXEC);
	ASSERT_GE(other, 0);
	ASSERT_FAILS(-EINVAL, PTR_ERR(iopt_dmabuf_get_fd(other)));

	x = xbuf_new(XPAGES, &released);
	ASSERT_EQ(live + 1, iopt_dmabufs_live());
	got = iopt_dmabuf_get_fd(x->fd);
	ASSERT_EQ(&x->dmabuf, got);
	iopt_dmabuf_put(got);
	/* Another number, another open file: one inode, one buffer. */
	dupfd = dup(x->fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", x->fd);
	reopen = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(reopen, 0);
	ASSERT_EQ(&x->dmabuf, iopt_dmabuf_get_fd(dupfd));
	ASSERT_EQ(&x->dmabuf, iopt_dmabuf_get_fd(reopen));
	ASSERT_EQ(3, x->dmabuf.refs);
	iopt_dmabuf_put(&x->dmabuf);
	iopt_dmabuf_put(&x->dmabuf);
	/* O_PATH names no open file: the kernel's fget() refuses it. */
	opath = open(path, O_PATH | O_CLOEXEC);
	ASSERT_GE(opath, 0);
	ASSERT_FAILS(-EBADF, PTR_ERR(iopt_dmabuf_get_fd(opath)));
	ASSERT_FAILS(-EINVAL, PTR_ERR(iopt_dmabuf_get_fd(other)));

	/* The last reference unexports it before the exporter lets go. */
	iopt_dmabuf_put(&x->dmabuf);
	ASSERT_TRUE(released);
	ASSERT_EQ(live, iopt_dmabufs_live());
	ASSERT_FAILS(-EINVAL, PTR_ERR(iopt_dmabuf_get_fd(dupfd)));
	close(dupfd);
	close(reopen);
	close(opath);
	close(other);
}

/* ---- dma-buf pages ------------------------------------------------------ */

TEST(alloc_checks_range_and_exporter)
{
	long live = mem_live_count();
	struct iopt_pages *pages;
	bool released;
	struct xbuf *x = xbuf_new(XPAGES, &released);

	ASSERT_FAILS(-EINVAL, PTR_ERR(iopt_alloc_dmabuf_pages(
				      &x->dmabuf, 1, P(XPAGES), true)));
	ASSERT_FAILS(-EINVAL, PTR_ERR(iopt_alloc_dmabuf_pages(
				      &x->dmabuf, P(XPAGES), 1, true)));
	ASSERT_EQ(0, x->map_calls);

	x->map_err = -EOPNOTSUPP;
	ASSERT_FAILS(-EOPNOTSUPP, PTR_ERR(iopt_alloc_dmabuf_pages(
					  &x->dmabuf, 0, P(1), true)));
	x->map_err = 0;
	x->revoked = true;
	ASSERT_FAILS(-ENODEV, PTR_ERR(iopt_alloc_dmabuf_pages(
				      &x->dmabuf, 0, P(1), true)));
	x->revoked = false;
	/* A failure leaves the buffer as it was. */
	ASSERT_EQ(1, x->dmabuf.refs);
	ASSERT_EQ(0, nattach(x));
	ASSERT_EQ(live, mem_live_count());

	/* The last byte exactly; a sub-page start spans one page more. */
	pages = iopt_alloc_dmabuf_pages(&x->dmabuf, P(2) + 100, P(6) - 100,
					false);
	ASSERT_FALSE(IS_ERR(pages));
	ASSERT_EQ(6, pages->npages);
	ASSERT_EQ(XPFN + 2, pages->dmabuf->first_pfn);
	ASSERT_EQ(P(2), pages->source_addr);
	ASSERT_EQ(IOPT_PAGES_ACCOUNT_NONE, pages->account_mode);
	ASSERT_NULL(pages->source);
	ASSERT_FALSE(pages->writable);
	ASSERT_EQ(2, x->dmabuf.refs);
	ASSERT_EQ(1, nattach(x));

	/* The pages hold the buffer after the exporter lets go of it. */
	iopt_dmabuf_put(&x->dmabuf);
	ASSERT_FALSE(released);
	iopt_put_pages(pages);
	ASSERT_TRUE(released);
	ASSERT_EQ(live, mem_live_count());
}

/* Every domain maps the buffer's PFNs; nothing is pinned or charged. */
TEST(map_fills_every_domain_without_pins)
{
	struct env env;
	bool released;
	struct xbuf *x;
	u64 pfns[XPAGES], counts[XPAGES], iova;

	env_init(&env);
	x = xbuf_new(XPAGES, &released);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	ASSERT_OK(attach_to(&env, 1, &env.iopt));
	/* A sub-page start: the area keeps the offset, as user memory does. */
	ASSERT_OK(map_fd(&env.iopt, IOVA + 0x800, x->fd, P(1) + 0x800,
			 P(3) - 0x800, RW));
	for (int d = 0; d != 2; d++)
		expect_maps(env.domains[d], IOVA + 0x800, P(3) - 0x800,
			    XPFN + 1, 0x800);
	ASSERT_EQ(0, pages_at(&env.iopt, IOVA + P(1))->npinned);
	ASSERT_EQ(2, ntracked(pages_at(&env.iopt, IOVA + P(1))));
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	for (int i = 0; i != XPAGES; i++)
		pfns[i] = XPFN + i;
	ASSERT_OK(iopt_pin_counts(pfns, XPAGES, counts));
	for (int i = 0; i != XPAGES; i++)
		ASSERT_EQ(0, counts[i]);

	/* The engine picks an IOVA for it as for any origin. */
	iova = 0;
	ASSERT_OK(iopt_map_file_pages(&env.iopt, &iova, x->fd, P(4), P(4), RW,
				      IOPT_ALLOC_IOVA, ACCT_USER));
	ASSERT_EQ(0, iova % P(4));
	expect_maps(env.domains[1], iova, P(4), XPFN + 4, 0);

	/* Detach in the middle: the other domain keeps it. */
	detach(&env, 0);
	expect_maps(env.domains[1], IOVA + 0x800, P(3) - 0x800, XPFN + 1,
		    0x800);
	ASSERT_EQ(1, ntracked(pages_at(&env.iopt, IOVA + P(1))));
	ASSERT_EQ(0, io_pages(env.domains[0]));
	iopt_dmabuf_put(&x->dmabuf);
	ASSERT_FALSE(released);
	env_destroy(&env);
	ASSERT_TRUE(released);
}

/*
 * A revocation unmaps the pages from every domain, leaves the areas, and
 * a fill or unfill of them from then on touches no domain.
 */
TEST(revoke_unmaps_everywhere_areas_stay)
{
	struct env env;
	bool released;
	struct xbuf *x;
	u64 unmapped;

	env_init(&env);
	x = xbuf_new(XPAGES, &released);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	ASSERT_OK(attach_to(&env, 1, &env.iopt));
	ASSERT_OK(map_fd(&env.iopt, IOVA, x->fd, 0, P(4), RW));
	ASSERT_OK(map_fd(&env.iopt, IOVA + P(4), x->fd, P(4), P(4), RW));
	/* A copy shares the pages, into another IOAS with a domain. */
	ASSERT_OK(attach_to(&env, 2, &env.iopt2));
	unmapped = IOVA2;
	ASSERT_OK(iopt_copy_iova(&env.iopt2, &unmapped, &env.iopt, IOVA, P(4),
				 RW, 0));
	expect_maps(env.domains[2], IOVA2, P(4), XPFN, 0);
	ASSERT_EQ(3, ntracked(pages_at(&env.iopt, IOVA)));

	xbuf_revoke(x, true);
	for (int d = 0; d != NDOMAINS; d++) {
		ASSERT_EQ(0, io_pages(env.domains[d]));
		check_domain_clean(env.domains[d]);
	}
	ASSERT_EQ(2, count_areas(&env.iopt));
	ASSERT_EQ(1, count_areas(&env.iopt2));
	ASSERT_TRUE(iopt_dmabuf_revoked(pages_at(&env.iopt, IOVA)));

	/* A new domain gets nothing, and detaching any of them is fine. */
	detach(&env, 2);
	ASSERT_OK(attach_to(&env, 2, &env.iopt));
	ASSERT_EQ(0, io_pages(env.domains[2]));
	ASSERT_EQ(3, ntracked(pages_at(&env.iopt, IOVA)));
	detach(&env, 0);
	detach(&env, 2);
	/* A new mapping of a revoked buffer: ENODEV, nothing changed. */
	ASSERT_FAILS(-ENODEV, map_fd(&env.iopt, IOVA + P(16), x->fd, 0, P(1),
				     RW));
	ASSERT_EQ(2, count_areas(&env.iopt));

	/* Given back: new mappings work, the old ones stay revoked. */
	xbuf_revoke(x, false);
	ASSERT_OK(map_fd(&env.iopt, IOVA + P(16), x->fd, 0, P(2), RW));
	expect_maps(env.domains[1], IOVA + P(16), P(2), XPFN, 0);
	expect_unmapped(env.domains[1], IOVA, P(8));
	ASSERT_EQ(P(2), io_pages(env.domains[1]) * MOCK_IO_PAGE_SIZE);
	/* The revoked IOVA can be unmapped and mapped again. */
	ASSERT_OK(iopt_unmap_iova(&env.iopt, IOVA, P(4), &unmapped));
	ASSERT_EQ(P(4), unmapped);
	ASSERT_OK(map_fd(&env.iopt, IOVA, x->fd, 0, P(4), RW));
	expect_maps(env.domains[1], IOVA, P(4), XPFN, 0);
	check_domain_clean(env.domains[1]);
	iopt_dmabuf_put(&x->dmabuf);
	env_destroy(&env);
	ASSERT_TRUE(released);
}

/* The exporter's notice is a revocation even when it says "not revoked". */
TEST(any_invalidate_revokes)
{
	struct env env;
	bool released;
	struct xbuf *x;

	env_init(&env);
	x = xbuf_new(XPAGES, &released);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	ASSERT_OK(map_fd(&env.iopt, IOVA, x->fd, 0, P(2), RW));
	xbuf_revoke(x, false);
	ASSERT_EQ(0, io_pages(env.domains[0]));
	ASSERT_TRUE(iopt_dmabuf_revoked(pages_at(&env.iopt, IOVA)));
	/* Twice is once. */
	xbuf_revoke(x, false);
	check_domain_clean(env.domains[0]);
	iopt_dmabuf_put(&x->dmabuf);
	env_destroy(&env);
}

static void unmap_cb(void *data, u64 iova, u64 length)
{
}

static const struct iopt_access_ops pin_ops = {
	.needs_pin_pages = true,
	.unmap = unmap_cb,
};

/* Accesses cannot pin, read or write a dma-buf: EINVAL, after EPERM. */
TEST(accesses_refused)
{
	struct iopt_access *access;
	struct env env;
	bool released;
	struct xbuf *x;
	u64 pfns[2];
	char buf[16] = "data";

	env_init(&env);
	x = xbuf_new(XPAGES, &released);
	ASSERT_OK(map_fd(&env.iopt, IOVA, x->fd, 0, P(2), RW));
	ASSERT_OK(map_fd(&env.iopt, IOVA + P(2), x->fd, P(2), P(2),
			 IOMMU_READ));
	access = iopt_access_create(&env.iopt, &pin_ops, NULL);
	ASSERT_FALSE(IS_ERR(access));
	ASSERT_FAILS(-EINVAL, iopt_access_pin_pages(access, IOVA, P(2), pfns,
						    NULL, 0));
	ASSERT_FAILS(-EINVAL, iopt_access_rw(access, IOVA + 3, buf, 4, 0));
	ASSERT_FAILS(-EINVAL, iopt_access_rw(access, IOVA, buf, 4,
					     IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EINVAL, iopt_access_rw(access, IOVA + P(1) - 2, buf, 4,
					     IOMMUFD_ACCESS_RW_WRITE));
	/* Protection first, as the kernel checks it. */
	ASSERT_FAILS(-EPERM, iopt_access_rw(access, IOVA + P(2), buf, 4,
					    IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_FAILS(-EPERM, iopt_access_pin_pages(access, IOVA + P(2), P(1),
						   pfns, NULL,
						   IOMMUFD_ACCESS_RW_WRITE));
	ASSERT_EQ(0, pages_at(&env.iopt, IOVA)->npinned);
	iopt_access_destroy(access);
	iopt_dmabuf_put(&x->dmabuf);
	env_destroy(&env);
}

/* VFIO type1 cuts: the kernel refuses to split a dma-buf area. */
TEST(cut_refused)
{
	struct env env;
	bool released;
	struct xbuf *x;
	u64 cut = IOVA + P(1) - 1;

	env_init(&env);
	x = xbuf_new(XPAGES, &released);
	ASSERT_OK(iopt_disable_large_pages(&env.iopt));
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	ASSERT_OK(map_fd(&env.iopt, IOVA, x->fd, 0, P(4), RW));
	ASSERT_FAILS(-EOPNOTSUPP, iopt_cut_iova(&env.iopt, &cut, 1));
	ASSERT_EQ(1, count_areas(&env.iopt));
	/* Its last byte needs no cut. */
	cut = IOVA + P(4) - 1;
	ASSERT_OK(iopt_cut_iova(&env.iopt, &cut, 1));
	iopt_dmabuf_put(&x->dmabuf);
	env_destroy(&env);
}

/* ---- fail-nth: state exactly as before ---------------------------------- */

struct fstate {
	u64 areas, io_pages[NDOMAINS], tracked, refs, attach, next_domain;
	long live;
};

static void fstate_take(struct env *env, struct xbuf *x, struct fstate *s)
{
	struct iopt_area *area;

	memset(s, 0, sizeof(*s));
	s->areas = count_areas(&env->iopt);
	for (int d = 0; d != NDOMAINS; d++)
		s->io_pages[d] = io_pages(env->domains[d]);
	for (area = iopt_area_iter_first(&env->iopt, 0, U64_MAX); area;
	     area = iopt_area_iter_next(area, 0, U64_MAX))
		s->tracked += ntracked(area->pages);
	s->refs = x->dmabuf.refs;
	s->attach = nattach(x);
	s->next_domain = env->iopt.next_domain_id;
	s->live = mem_live_count();
}

static void fstate_expect(const struct fstate *a, const struct fstate *b)
{
	ASSERT_EQ(a->areas, b->areas);
	for (int d = 0; d != NDOMAINS; d++)
		ASSERT_EQ(a->io_pages[d], b->io_pages[d]);
	ASSERT_EQ(a->tracked, b->tracked);
	ASSERT_EQ(a->refs, b->refs);
	ASSERT_EQ(a->attach, b->attach);
	ASSERT_EQ(a->next_domain, b->next_domain);
	ASSERT_EQ(a->live, b->live);
}

enum { OP_MAP, OP_ATTACH, OP_COPY };

static int fail_op(struct env *env, struct xbuf *x, int op)
{
	u64 iova = IOVA2;

	switch (op) {
	case OP_MAP:
		return map_fd(&env->iopt, IOVA + P(8), x->fd, P(1), P(3), RW);
	case OP_ATTACH:
		return attach_to(env, 2, &env->iopt);
	default:
		return iopt_copy_iova(&env->iopt, &iova, &env->iopt, IOVA,
				      P(2), RW, 0);
	}
}

TEST(fail_nth_map_attach_copy)
{
	for (int op = OP_MAP; op <= OP_COPY; op++) {
		unsigned int nth, failed = 0;
		bool fired = true;

		for (nth = 1; fired; nth++) {
			struct fstate before, after;
			struct env env;
			bool released;
			struct xbuf *x;
			int rc;

			env_init(&env);
			x = xbuf_new(XPAGES, &released);
			ASSERT_OK(attach_to(&env, 0, &env.iopt));
			ASSERT_OK(attach_to(&env, 1, &env.iopt));
			ASSERT_OK(map_fd(&env.iopt, IOVA, x->fd, 0, P(2), RW));
			ASSERT_OK(map_fd(&env.iopt, IOVA + P(2), x->fd, P(2),
					 P(2), RW));
			fstate_take(&env, x, &before);
			fault_fail_nth_set(nth);
			rc = fail_op(&env, x, op);
			fired = !fault_fail_nth_get();
			fault_fail_nth_set(0);
			fstate_take(&env, x, &after);
			if (rc) {
				ASSERT_TRUE(fired);
				ASSERT_EQ(-ENOMEM, rc);
				fstate_expect(&before, &after);
				failed++;
			} else {
				ASSERT_NE(before.tracked, after.tracked);
			}
			for (int d = 0; d != NDOMAINS; d++)
				check_domain_clean(env.domains[d]);
			iopt_dmabuf_put(&x->dmabuf);
			env_destroy(&env);
			ASSERT_TRUE(released);
			ASSERT_LT(nth, 1000);
		}
		TH_LOG("op %d: %u fault points, %u failed it", op, nth - 2,
		       failed);
		ASSERT_GT(failed, 0);
	}
}

/* ---- threads: revocations racing maps, unmaps, attach and detach ------- */

struct race {
	struct env *env;
	struct xbuf *x;
	u64 rounds;
	unsigned int maps, enodev;
	bool done;		/* the mapper finished: the others stop */
};

static bool race_done(struct race *r)
{
	return __atomic_load_n(&r->done, __ATOMIC_ACQUIRE);
}

static void *race_revoker(void *arg)
{
	struct race *r = arg;

	for (u64 i = 0; !race_done(r); i++) {
		xbuf_revoke(r->x, i % 2);
		test_progress();
	}
	xbuf_revoke(r->x, false);
	return NULL;
}

/*
 * Map and unmap until both outcomes were seen (a map, and an ENODEV while
 * the exporter had revoked its memory), @rounds times at least.
 */
static void *race_mapper(void *arg)
{
	struct race *r = arg;

	for (u64 i = 0; i < r->rounds || !r->maps || !r->enodev; i++) {
		u64 iova = IOVA + P(8) * (i % 4), unmapped;
		int rc = map_fd(&r->env->iopt, iova, r->x->fd, P(i % 4),
				P(4), RW);

		ASSERT_LT(i, 1000 * r->rounds);
		if (rc == -ENODEV) {
			r->enodev++;
			continue;
		}
		ASSERT_EQ(0, rc);
		r->maps++;
		ASSERT_EQ(0, iopt_unmap_iova(&r->env->iopt, iova, P(4),
					     &unmapped));
		ASSERT_EQ(P(4), unmapped);
	}
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void *race_attacher(void *arg)
{
	struct race *r = arg;

	while (!race_done(r)) {
		ASSERT_EQ(0, attach_to(r->env, 2, &r->env->iopt));
		detach(r->env, 2);
	}
	return NULL;
}

TEST(threads_revoke_against_map_and_attach)
{
	struct race r = { .rounds = test_iterations(1000) };
	pthread_t t[3];
	struct env env;
	bool released;

	env_init(&env);
	r.env = &env;
	r.x = xbuf_new(XPAGES, &released);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	/* One long-lived area that every revocation unmaps again. */
	ASSERT_OK(map_fd(&env.iopt, IOVA + P(64), r.x->fd, 0, P(8), RW));
	ASSERT_EQ(0, pthread_create(&t[0], NULL, race_revoker, &r));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, race_mapper, &r));
	ASSERT_EQ(0, pthread_create(&t[2], NULL, race_attacher, &r));
	for (int i = 0; i != 3; i++)
		ASSERT_EQ(0, pthread_join(t[i], NULL));
	TH_LOG("%u maps, %u refused as revoked", r.maps, r.enodev);
	for (int d = 0; d != NDOMAINS; d++)
		check_domain_clean(env.domains[d]);
	/* Only areas of memory not revoked since are mapped. */
	ASSERT_EQ(1, count_areas(&env.iopt));
	ASSERT_TRUE(iopt_dmabuf_revoked(pages_at(&env.iopt, IOVA + P(64))));
	ASSERT_EQ(0, io_pages(env.domains[0]));
	iopt_dmabuf_put(&r.x->dmabuf);
	env_destroy(&env);
	ASSERT_TRUE(released);
}

/* ---- the files IOMMU_IOAS_MAP_FILE takes --------------------------------- */

static int memfd_size(u64 size)
{
	int fd = memfd_create("mapfile", MFD_CLOEXEC);

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, (off_t)size));
	return fd;
}

TEST(file_rules_as_the_kernel)
{
	int fd = memfd_size(P(2) + 100), pipefd[2], dirfd, opath, diskfd;
	struct env env;
	char path[128];
	struct statfs sfs;

	env_init(&env);
	ASSERT_OK(attach_to(&env, 0, &env.iopt));
	/* The range first, then the descriptor. */
	ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA, -1, 0, 0, RW));
	ASSERT_FAILS(-EOVERFLOW, map_fd(&env.iopt, IOVA, -1, U64_MAX, 2, RW));
	ASSERT_FAILS(-EBADF, map_fd(&env.iopt, IOVA, -1, 0, P(1), RW));
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	opath = open(path, O_PATH | O_CLOEXEC);
	ASSERT_GE(opath, 0);
	ASSERT_FAILS(-EBADF, map_fd(&env.iopt, IOVA, opath, 0, P(1), RW));
	/* Only shmem and hugetlbfs files, and only their whole pages. */
	ASSERT_EQ(0, pipe(pipefd));
	ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA, pipefd[0], 0, P(1),
				     IOMMU_READ));
	dirfd = open("/dev/shm", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd >= 0)
		ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA, dirfd, 0, P(1),
					     IOMMU_READ));
	ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA, fd, P(2), 1, RW));
	ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA, fd, P(1), P(1) + 1,
				     RW));
	ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA, fd, P(3), P(1), RW));
	ASSERT_EQ(0, count_areas(&env.iopt));
	ASSERT_OK(map_fd(&env.iopt, IOVA, fd, 0, P(2), RW));
	ASSERT_OK(map_fd(&env.iopt, IOVA + P(2) + 0x800, fd, P(1) + 0x800,
			 P(1) - 0x800, RW));
	/* A file of a disk file system, when one is at hand. */
	snprintf(path, sizeof(path), "%s/mapfile-XXXXXX",
		 getenv("TMPDIR") ?: "/tmp");
	diskfd = mkstemp(path);
	if (diskfd >= 0) {
		unlink(path);
		ASSERT_EQ(0, ftruncate(diskfd, P(2)));
		ASSERT_EQ(0, fstatfs(diskfd, &sfs));
		if ((unsigned long)sfs.f_type != 0x01021994)
			ASSERT_FAILS(-EINVAL, map_fd(&env.iopt, IOVA + P(8),
						     diskfd, 0, P(1), RW));
		close(diskfd);
	}
	ASSERT_EQ(2, count_areas(&env.iopt));
	if (dirfd >= 0)
		close(dirfd);
	close(pipefd[0]);
	close(pipefd[1]);
	close(opath);
	close(fd);
	env_destroy(&env);
}

/*
 * A hugetlbfs file maps in whole huge pages, so the source's window
 * covers the huge page around the range; the pages it names are the
 * file's, the same a user mapping of it names.
 */
TEST(hugetlbfs_window)
{
	u64 hsize = 2ULL << 20, pfns[2], upfns[2];
	struct pfn_source *src;
	char *user, buf[4];
	int fd;

	fd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd < 0)
		SKIP("no hugetlbfs memfd: %s", strerror(errno));
	if (ftruncate(fd, (off_t)(2 * hsize))) {
		close(fd);
		SKIP("no huge pages to size it with");
	}
	user = mmap(NULL, 2 * hsize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (user == MAP_FAILED) {
		close(fd);
		SKIP("no huge pages to map: %s", strerror(errno));
	}
	if (madvise(user, 2 * hsize, MADV_POPULATE_WRITE)) {
		munmap(user, 2 * hsize);
		close(fd);
		SKIP("no huge pages to fault in: %s", strerror(errno));
	}
	memcpy(user + hsize + P(3) + 10, "huge", 4);
	ASSERT_OK(pfn_source_file_pinnable(fd, hsize + P(3) + 10, P(1)));

	src = pfn_source_file_create(fd, hsize + P(3) + 10, P(1), true);
	ASSERT_FALSE(IS_ERR(src));
	ASSERT_EQ(2, src->npages);
	ASSERT_EQ(10, src->first_offset);
	ASSERT_OK(src->ops->pin(src, 0, 2, true, pfns));
	src->ops->rw(src, 0, 10, buf, 4, false);
	ASSERT_EQ(0, memcmp(buf, "huge", 4));
	src->ops->rw(src, 1, 0, "HUGE", 4, true);
	ASSERT_EQ(0, memcmp(user + hsize + P(4), "HUGE", 4));
	ASSERT_OK(pfn_identify_range((uintptr_t)user + hsize + P(3), 2, upfns,
				     PFN_IDENTIFY));
	ASSERT_EQ(upfns[0], pfns[0]);
	ASSERT_EQ(upfns[1], pfns[1]);
	src->ops->unpin(src, pfns[0], 2);
	pfn_source_destroy(src);
	munmap(user, 2 * hsize);
	close(fd);
	ASSERT_EQ(0, pfn_file_ids_live());
}
