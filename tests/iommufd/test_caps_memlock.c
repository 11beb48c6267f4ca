// SPDX-License-Identifier: MIT
/*
 * What a context's callers hold, and what its pinned pages may lock:
 * uiommufd_ctx_attr.caps and .memlock, through uiommufd_ioctl().
 *
 *  - CAP_SYS_RESOURCE: IOMMU_OPTION RLIMIT_MODE SET is EPERM without it
 *    and changes nothing; with it the mode changes. Given in the
 *    attributes, both run whatever this process holds; not given, the
 *    context has what its opener held in effect as it opened.
 *  - CAP_IPC_LOCK: held, pinned pages are charged to nobody (pinned_vm
 *    still counts them); not held, to the user (RLIMIT_MODE 0), or to the
 *    process (RLIMIT_MODE 1, or a context opened as /dev/vfio/vfio).
 *  - memlock: the limit those charges go against, in place of
 *    RLIMIT_MEMLOCK, which stays as it was. A map (with a mock domain, so
 *    it pins) or an access pin that would go over it is ENOMEM at exactly
 *    the page that goes over, and changes nothing; unmapping refunds.
 *    Per user, the count is the user's across contexts and the limit is
 *    the mapping context's, as the kernel charges user->locked_vm against
 *    the mapping task's limit.
 *
 * The counters are the library's (iopt/accounting.h). Every test runs in a
 * child of its own, so each starts from zero.
 */
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "iommufd/iommufd_utils.h"
#include "iopt/accounting.h"

#define PSZ TEST_PAGE_SIZE
#define P(n) ((uint64_t)(n) * PSZ)
#define BASE MOCK_APERTURE_START
#define BUF_PAGES 96
#define NEEDS_PIN MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES
#define LOCK CAP_BIT(CAP_IPC_LOCK)
#define RES CAP_BIT(CAP_SYS_RESOURCE)
#define NO_CAPS 0ull

/* ---- contexts ---- */

#define CAPS_DEFAULT UINT64_MAX		/* not given: the opener's */
#define MEMLOCK_DEFAULT (UINT64_MAX - 1) /* not given: RLIMIT_MEMLOCK */

static struct uiommufd_ctx *open_ctx(unsigned int flags, uint64_t caps,
				     uint64_t memlock)
{
	struct uiommufd_ctx_attr attr = {
		.size = sizeof(attr),
		.flags = flags,
	};

	if (caps != CAPS_DEFAULT) {
		attr.set |= UIOMMUFD_ATTR_CAPS;
		attr.caps = caps;
	}
	if (memlock != MEMLOCK_DEFAULT) {
		attr.set |= UIOMMUFD_ATTR_MEMLOCK;
		attr.memlock = memlock;
	}
	return uiommufd_ctx_open_attr(&attr);
}

static int rlimit_mode_set(struct uiommufd_ctx *ctx, uint64_t val)
{
	return ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET,
			    0, &val);
}

static uint64_t rlimit_mode_get(struct uiommufd_ctx *ctx)
{
	uint64_t val = 99;

	ASSERT_EQ(0, ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE,
				  IOMMU_OPTION_OP_GET, 0, &val));
	return val;
}

/* An IOAS with a mock domain attached: every map through it pins. */
static uint32_t pinning_ioas(struct uiommufd_ctx *ctx)
{
	uint32_t ioas = 0;

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, NULL, NULL, NULL));
	return ioas;
}

/* Map @npages of @buf at page @at of the aperture. */
static int map_pages(struct uiommufd_ctx *ctx, uint32_t ioas, void *buf,
		     unsigned int at, unsigned int npages)
{
	uint64_t iova = BASE + P(at);

	return ioas_map(ctx, ioas, buf, P(npages), &iova, MAP_FIXED_RW);
}

static int unmap_pages(struct uiommufd_ctx *ctx, uint32_t ioas,
		       unsigned int at, unsigned int npages)
{
	uint64_t unmapped = 0;
	int rc = ioas_unmap(ctx, ioas, BASE + P(at), P(npages), &unmapped);

	if (!rc)
		ASSERT_EQ(P(npages), unmapped);
	return rc;
}

static uint64_t user_locked(void)
{
	return iopt_account_user_locked(getuid());
}

/* The three counters at once: user, process, pinned_vm. */
#define EXPECT_COUNTS(user, process, pinned)                               \
	do {                                                               \
		EXPECT_EQ((uint64_t)(user), user_locked());                \
		EXPECT_EQ((uint64_t)(process),                             \
			  iopt_account_process_locked());                  \
		EXPECT_EQ((uint64_t)(pinned), iopt_account_pinned());      \
	} while (0)

static uint8_t *buffer(void)
{
	uint8_t *buf = test_buffer(P(BUF_PAGES));

	ASSERT_NONNULL(buf);
	return buf;
}

/* ---- the calling thread's capabilities ---- */

struct capsets {
	struct __user_cap_header_struct hdr;
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
};

static void caps_get(struct capsets *c)
{
	memset(c, 0, sizeof(*c));
	c->hdr.version = _LINUX_CAPABILITY_VERSION_3;
	ASSERT_EQ(0, syscall(SYS_capget, &c->hdr, c->data));
}

static bool cap_in(const struct capsets *c, int cap, bool permitted)
{
	uint32_t word = permitted ? c->data[cap / 32].permitted :
				    c->data[cap / 32].effective;

	return word & (1u << (cap % 32));
}

/* Raise or drop @cap in the effective set: 0, or -1 if not permitted. */
static int cap_effective(int cap, bool on)
{
	struct capsets c;

	caps_get(&c);
	if (on)
		c.data[cap / 32].effective |= 1u << (cap % 32);
	else
		c.data[cap / 32].effective &= ~(1u << (cap % 32));
	return syscall(SYS_capset, &c.hdr, c.data);
}

/* ---- CAP_SYS_RESOURCE: RLIMIT_MODE SET ---- */

TEST(rlimit_mode_set_without_sys_resource)
{
	static const uint64_t without[] = {
		NO_CAPS, LOCK, CAP_BIT(CAP_SYS_ADMIN),
		((2ull << 40) - 1) & ~RES,
	};

	for (unsigned int i = 0; i != sizeof(without) / sizeof(without[0]);
	     i++) {
		struct uiommufd_ctx *ctx = open_ctx(0, without[i],
						    MEMLOCK_DEFAULT);

		ASSERT_NONNULL(ctx);
		EXPECT_FAILS_WHY(EPERM, rlimit_mode_set(ctx, 1));
		EXPECT_TRUE(reason_has("CAP_SYS_RESOURCE"));
		EXPECT_EQ(0, rlimit_mode_get(ctx));
		EXPECT_FAILS_WHY(EPERM, rlimit_mode_set(ctx, 0));
		/* Even a bad value is refused for the capability first. */
		EXPECT_FAILS_WHY(EPERM, rlimit_mode_set(ctx, 7));
		EXPECT_EQ(0, rlimit_mode_get(ctx));
		uiommufd_ctx_close(ctx);
	}
}

TEST(rlimit_mode_set_with_sys_resource)
{
	static const uint64_t with[] = { RES, RES | LOCK, (2ull << 40) - 1 };

	for (unsigned int i = 0; i != sizeof(with) / sizeof(with[0]); i++) {
		struct uiommufd_ctx *ctx = open_ctx(0, with[i],
						    MEMLOCK_DEFAULT);

		ASSERT_NONNULL(ctx);
		ASSERT_EQ(0, rlimit_mode_set(ctx, 1));
		EXPECT_EQ(1, rlimit_mode_get(ctx));
		ASSERT_EQ(0, rlimit_mode_set(ctx, 0));
		EXPECT_EQ(0, rlimit_mode_get(ctx));
		EXPECT_FAILS_WHY(EINVAL, rlimit_mode_set(ctx, 2));
		EXPECT_EQ(0, rlimit_mode_get(ctx));
		uiommufd_ctx_close(ctx);
	}
}

/* After the EPERM the context still charges per user. */
TEST(rlimit_mode_eperm_keeps_user_accounting)
{
	struct uiommufd_ctx *ctx = open_ctx(0, NO_CAPS, MEMLOCK_DEFAULT);
	uint8_t *buf = buffer();
	uint32_t ioas;

	ASSERT_NONNULL(ctx);
	ASSERT_FAILS_WHY(EPERM, rlimit_mode_set(ctx, 1));
	ioas = pinning_ioas(ctx);
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 8));
	EXPECT_COUNTS(8, 0, 8);
	uiommufd_ctx_close(ctx);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}

/*
 * Not given, the capabilities are the opener's effective set as the
 * context opened: dropping or raising one later changes new contexts,
 * not that one.
 */
TEST(default_caps_are_the_openers)
{
	struct uiommufd_ctx *before, *after;
	struct capsets c;
	bool held, permitted;

	caps_get(&c);
	held = cap_in(&c, CAP_SYS_RESOURCE, false);
	permitted = cap_in(&c, CAP_SYS_RESOURCE, true);
	before = open_ctx(0, CAPS_DEFAULT, MEMLOCK_DEFAULT);
	ASSERT_NONNULL(before);
	if (!held) {
		/* A process without it: its contexts are without it. */
		EXPECT_FAILS_WHY(EPERM, rlimit_mode_set(before, 1));
		uiommufd_ctx_close(before);
		if (!permitted)
			return;
		ASSERT_EQ(0, cap_effective(CAP_SYS_RESOURCE, true));
		after = open_ctx(0, CAPS_DEFAULT, MEMLOCK_DEFAULT);
		ASSERT_NONNULL(after);
		EXPECT_EQ(0, rlimit_mode_set(after, 1));
		uiommufd_ctx_close(after);
		return;
	}
	ASSERT_EQ(0, cap_effective(CAP_SYS_RESOURCE, false));
	after = open_ctx(0, CAPS_DEFAULT, MEMLOCK_DEFAULT);
	ASSERT_NONNULL(after);
	/* Opened with it: kept. Opened without: refused. */
	EXPECT_EQ(0, rlimit_mode_set(before, 1));
	EXPECT_EQ(1, rlimit_mode_get(before));
	EXPECT_FAILS_WHY(EPERM, rlimit_mode_set(after, 1));
	EXPECT_EQ(0, rlimit_mode_get(after));
	/* Given caps win over what the opener holds, either way. */
	uiommufd_ctx_close(after);
	after = open_ctx(0, RES, MEMLOCK_DEFAULT);
	ASSERT_NONNULL(after);
	EXPECT_EQ(0, rlimit_mode_set(after, 1));
	uiommufd_ctx_close(after);
	ASSERT_EQ(0, cap_effective(CAP_SYS_RESOURCE, true));
	EXPECT_EQ(0, rlimit_mode_set(before, 0));
	after = open_ctx(0, NO_CAPS, MEMLOCK_DEFAULT);
	ASSERT_NONNULL(after);
	EXPECT_FAILS_WHY(EPERM, rlimit_mode_set(after, 1));
	uiommufd_ctx_close(after);
	uiommufd_ctx_close(before);
}

/* ---- CAP_IPC_LOCK: who pinned pages are charged to ---- */

struct acct_case {
	const char *name;
	unsigned int flags;	/* UIOMMUFD_CTX_VFIO */
	uint64_t caps;
	bool mm_mode;		/* RLIMIT_MODE 1 */
	/* What 8 pinned pages add to: user, process. */
	unsigned int user, process;
};

static const struct acct_case acct_cases[] = {
	{ "no caps", 0, NO_CAPS, false, 8, 0 },
	{ "ipc_lock", 0, LOCK, false, 0, 0 },
	{ "all", 0, (2ull << 40) - 1, false, 0, 0 },
	{ "sys_resource, mode 1", 0, RES, true, 0, 8 },
	{ "ipc_lock and sys_resource, mode 1", 0, LOCK | RES, true, 0, 0 },
	{ "vfio, no caps", UIOMMUFD_CTX_VFIO, NO_CAPS, false, 0, 8 },
	{ "vfio, ipc_lock", UIOMMUFD_CTX_VFIO, LOCK, false, 0, 0 },
};

/*
 * Each case maps 8 pages into an IOAS with a mock domain, then 4 more
 * through an access pin on a second IOAS without one: the counters move
 * as the case says, pinned_vm always; everything is refunded.
 */
TEST(accounting_by_caps_and_mode)
{
	uint8_t *buf = buffer();

	for (unsigned int i = 0;
	     i != sizeof(acct_cases) / sizeof(acct_cases[0]); i++) {
		const struct acct_case *c = &acct_cases[i];
		struct uiommufd_ctx *ctx = open_ctx(c->flags, c->caps, 0);
		uint32_t ioas, ioas2 = 0, item = 0;
		int fd = -1;

		TH_LOG("case %s", c->name);
		ASSERT_NONNULL(ctx);
		if (c->mm_mode)
			ASSERT_EQ(0, rlimit_mode_set(ctx, 1));
		/* A /dev/vfio/vfio context reads as mode 1, as the kernel's. */
		EXPECT_EQ(c->mm_mode || c->flags, rlimit_mode_get(ctx));
		/* memlock 0: anything charged would fail. */
		ioas = pinning_ioas(ctx);
		if (c->user || c->process) {
			EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf, 0, 8));
			EXPECT_COUNTS(0, 0, 0);
			uiommufd_ctx_close(ctx);
			ctx = open_ctx(c->flags, c->caps,
				       UIOMMUFD_MEMLOCK_UNLIMITED);
			ASSERT_NONNULL(ctx);
			if (c->mm_mode)
				ASSERT_EQ(0, rlimit_mode_set(ctx, 1));
			ioas = pinning_ioas(ctx);
		}
		ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 8));
		EXPECT_COUNTS(c->user, c->process, 8);
		ASSERT_EQ(0, ioas_alloc(ctx, &ioas2));
		ASSERT_EQ(0, map_pages(ctx, ioas2, buf + P(16), 0, 8));
		EXPECT_COUNTS(c->user, c->process, 8);
		ASSERT_EQ(0, test_create_access(ctx, ioas2, NEEDS_PIN, &fd));
		ASSERT_EQ(0, test_access_pages(ctx, fd, BASE, P(4),
					       buf + P(16), 0, &item));
		EXPECT_COUNTS(c->user * 12 / 8, c->process * 12 / 8, 12);
		ASSERT_EQ(0, test_destroy_access_pages(ctx, fd, item));
		EXPECT_COUNTS(c->user, c->process, 8);
		ASSERT_EQ(0, unmap_pages(ctx, ioas, 0, 8));
		EXPECT_COUNTS(0, 0, 0);
		ASSERT_EQ(0, uiommufd_fd_close(fd));
		uiommufd_ctx_close(ctx);
		EXPECT_COUNTS(0, 0, 0);
	}
	munmap(buf, P(BUF_PAGES));
}

/*
 * Not given, CAP_IPC_LOCK is the opener's: a context opened while this
 * process held it charges nothing even after it is dropped.
 */
TEST(default_ipc_lock_is_the_openers)
{
	struct uiommufd_ctx *before, *after;
	uint8_t *buf = buffer();
	uint32_t ioas_b, ioas_a;
	struct capsets c;

	caps_get(&c);
	if (!cap_in(&c, CAP_IPC_LOCK, false)) {
		/* Without it: charged, per user. */
		after = open_ctx(0, CAPS_DEFAULT, UIOMMUFD_MEMLOCK_UNLIMITED);
		ASSERT_NONNULL(after);
		ioas_a = pinning_ioas(after);
		ASSERT_EQ(0, map_pages(after, ioas_a, buf, 0, 4));
		EXPECT_COUNTS(4, 0, 4);
		uiommufd_ctx_close(after);
		munmap(buf, P(BUF_PAGES));
		return;
	}
	before = open_ctx(0, CAPS_DEFAULT, UIOMMUFD_MEMLOCK_UNLIMITED);
	ASSERT_NONNULL(before);
	ASSERT_EQ(0, cap_effective(CAP_IPC_LOCK, false));
	after = open_ctx(0, CAPS_DEFAULT, UIOMMUFD_MEMLOCK_UNLIMITED);
	ASSERT_NONNULL(after);
	ioas_b = pinning_ioas(before);
	ioas_a = pinning_ioas(after);
	ASSERT_EQ(0, map_pages(before, ioas_b, buf, 0, 4));
	EXPECT_COUNTS(0, 0, 4);
	ASSERT_EQ(0, map_pages(after, ioas_a, buf + P(8), 0, 4));
	EXPECT_COUNTS(4, 0, 8);
	uiommufd_ctx_close(after);
	uiommufd_ctx_close(before);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}

/* ---- memlock ---- */

/*
 * The limit, whatever the accounting mode charges against it: 16 pages
 * map, the 17th is ENOMEM and changes nothing, an unmap refunds and the
 * page maps again.
 */
struct limit_case {
	const char *name;
	unsigned int flags;
	uint64_t caps;
	bool mm_mode;
	bool per_process;
};

static const struct limit_case limit_cases[] = {
	{ "per user", 0, NO_CAPS, false, false },
	{ "per process, mode 1", 0, RES, true, true },
	{ "per process, vfio", UIOMMUFD_CTX_VFIO, NO_CAPS, false, true },
};

static uint64_t locked(const struct limit_case *c)
{
	return c->per_process ? iopt_account_process_locked() : user_locked();
}

static uint64_t other_locked(const struct limit_case *c)
{
	return c->per_process ? user_locked() : iopt_account_process_locked();
}

TEST(memlock_limit_at_the_page)
{
	uint8_t *buf = buffer();

	for (unsigned int i = 0;
	     i != sizeof(limit_cases) / sizeof(limit_cases[0]); i++) {
		const struct limit_case *c = &limit_cases[i];
		struct uiommufd_ctx *ctx = open_ctx(c->flags, c->caps, P(16));
		uint32_t ioas;

		TH_LOG("case %s", c->name);
		ASSERT_NONNULL(ctx);
		if (c->mm_mode)
			ASSERT_EQ(0, rlimit_mode_set(ctx, 1));
		ioas = pinning_ioas(ctx);
		/* 17 at once: refused whole. */
		EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf, 0, 17));
		EXPECT_TRUE(reason_has("limit"));
		EXPECT_EQ(0, locked(c));
		EXPECT_EQ(0, iopt_account_pinned());
		EXPECT_FAILS_WHY(ENOENT, unmap_pages(ctx, ioas, 0, 17));
		EXPECT_EQ(0, test_check_refs(ctx, buf, P(17), 0));
		/*
		 * 15 (an area of 12 and three of one page), then 2 is one too
		 * many, then 1 fits exactly.
		 */
		ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 12));
		for (unsigned int page = 12; page != 15; page++)
			ASSERT_EQ(0, map_pages(ctx, ioas, buf + P(page), page,
					       1));
		EXPECT_EQ(15, locked(c));
		EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(15), 15, 2));
		EXPECT_EQ(15, locked(c));
		EXPECT_EQ(15, iopt_account_pinned());
		EXPECT_FAILS_WHY(ENOENT, unmap_pages(ctx, ioas, 15, 2));
		EXPECT_EQ(0, test_check_refs(ctx, buf + P(15), P(2), 0));
		ASSERT_EQ(0, map_pages(ctx, ioas, buf + P(15), 15, 1));
		EXPECT_EQ(16, locked(c));
		/* The 17th page. */
		EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(16), 16, 1));
		EXPECT_EQ(16, locked(c));
		EXPECT_EQ(16, iopt_account_pinned());
		EXPECT_EQ(0, other_locked(c));
		EXPECT_FAILS_WHY(ENOENT, unmap_pages(ctx, ioas, 16, 1));
		EXPECT_EQ(0, test_check_refs(ctx, buf + P(16), P(1), 0));
		EXPECT_EQ(0, test_check_refs(ctx, buf, P(16), 1));
		/* An unmap refunds: the page maps now, and no other. */
		ASSERT_EQ(0, unmap_pages(ctx, ioas, 14, 1));
		EXPECT_EQ(15, locked(c));
		ASSERT_EQ(0, map_pages(ctx, ioas, buf + P(16), 16, 1));
		EXPECT_EQ(16, locked(c));
		EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(14), 14, 1));
		EXPECT_EQ(16, locked(c));
		/* Memory mapped twice is charged twice, as the kernel does. */
		ASSERT_EQ(0, unmap_pages(ctx, ioas, 0, 12));
		EXPECT_EQ(4, locked(c));
		ASSERT_EQ(0, map_pages(ctx, ioas, buf + P(12), 32, 4));
		EXPECT_EQ(8, locked(c));
		ASSERT_EQ(0, map_pages(ctx, ioas, buf + P(40), 40, 8));
		EXPECT_EQ(16, locked(c));
		EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(48), 48, 1));
		uiommufd_ctx_close(ctx);
		EXPECT_COUNTS(0, 0, 0);
	}
	munmap(buf, P(BUF_PAGES));
}

/* Bytes that are not a whole page count down to whole pages. */
TEST(memlock_rounds_down_to_pages)
{
	static const struct {
		uint64_t bytes;
		unsigned int pages;
	} cases[] = {
		{ P(3) + PSZ - 1, 3 }, { P(1), 1 }, { PSZ - 1, 0 }, { 1, 0 },
	};
	uint8_t *buf = buffer();

	for (unsigned int i = 0; i != sizeof(cases) / sizeof(cases[0]); i++) {
		struct uiommufd_ctx *ctx = open_ctx(0, NO_CAPS, cases[i].bytes);
		uint32_t ioas;

		ASSERT_NONNULL(ctx);
		ioas = pinning_ioas(ctx);
		if (cases[i].pages)
			ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0,
					       cases[i].pages));
		EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(32), 32, 1));
		EXPECT_EQ(cases[i].pages, user_locked());
		uiommufd_ctx_close(ctx);
	}
	munmap(buf, P(BUF_PAGES));
}

/* An access pin is charged against the limit as a domain's is. */
TEST(memlock_access_pin_counts)
{
	struct uiommufd_ctx *ctx = open_ctx(0, NO_CAPS, P(16));
	uint8_t *buf = buffer();
	uint32_t ioas = 0, item = 0, item2 = 0, dom;
	int fd = -1;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	/* No domain: mapping pins nothing, charges nothing. */
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 32));
	EXPECT_COUNTS(0, 0, 0);
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &fd));
	EXPECT_FAILS_WHY(ENOMEM, test_access_pages(ctx, fd, BASE, P(17), buf, 0,
					       &item));
	EXPECT_COUNTS(0, 0, 0);
	EXPECT_EQ(0, test_check_refs(ctx, buf, P(17), 0));
	ASSERT_EQ(0, test_access_pages(ctx, fd, BASE, P(12), buf, 0, &item));
	EXPECT_COUNTS(12, 0, 12);
	EXPECT_FAILS_WHY(ENOMEM, test_access_pages(ctx, fd, BASE + P(12), P(5),
					       buf + P(12), 0, &item2));
	EXPECT_COUNTS(12, 0, 12);
	ASSERT_EQ(0, test_access_pages(ctx, fd, BASE + P(12), P(4),
				       buf + P(12), 0, &item2));
	EXPECT_COUNTS(16, 0, 16);
	/* Pinning a page already pinned costs nothing more. */
	ASSERT_EQ(0, test_access_pages(ctx, fd, BASE + P(2), P(1), buf + P(2),
				       0, &item2));
	EXPECT_COUNTS(16, 0, 16);
	EXPECT_FAILS_WHY(ENOMEM, test_access_pages(ctx, fd, BASE + P(16), P(1),
					       buf + P(16), 0, NULL));
	/* A domain attached now needs the other 16 pages: over. */
	EXPECT_FAILS_WHY(ENOMEM, test_mock_domain(ctx, ioas, NULL, NULL, NULL));
	EXPECT_COUNTS(16, 0, 16);
	/* Page 2 stays pinned by the second pin of it. */
	ASSERT_EQ(0, test_destroy_access_pages(ctx, fd, item));
	EXPECT_COUNTS(5, 0, 5);
	ASSERT_EQ(0, test_destroy_access_pages(ctx, fd, item2));
	EXPECT_COUNTS(4, 0, 4);
	ASSERT_EQ(0, test_access_pages(ctx, fd, BASE + P(16), P(12),
				       buf + P(16), 0, &item));
	EXPECT_COUNTS(16, 0, 16);
	/* A separate IOAS with a domain charges the same user. */
	dom = pinning_ioas(ctx);
	EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, dom, buf + P(64), 0, 1));
	ASSERT_EQ(0, uiommufd_fd_close(fd));
	EXPECT_COUNTS(0, 0, 0);
	ASSERT_EQ(0, map_pages(ctx, dom, buf + P(64), 0, 16));
	EXPECT_COUNTS(16, 0, 16);
	uiommufd_ctx_close(ctx);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}

/* memlock 0: nothing can be pinned; with CAP_IPC_LOCK everything can. */
TEST(memlock_zero)
{
	struct uiommufd_ctx *ctx = open_ctx(0, NO_CAPS, 0);
	uint8_t *buf = buffer();
	uint32_t ioas = 0, stdev = 0, next = 0;
	int fd = -1;

	ASSERT_NONNULL(ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 4));
	EXPECT_FAILS_WHY(ENOMEM, test_mock_domain(ctx, ioas, &stdev, NULL, NULL));
	ASSERT_EQ(0, test_create_access(ctx, ioas, NEEDS_PIN, &fd));
	EXPECT_FAILS_WHY(ENOMEM, test_access_pages(ctx, fd, BASE, P(1), buf, 0,
					       NULL));
	EXPECT_COUNTS(0, 0, 0);
	ASSERT_EQ(0, uiommufd_fd_close(fd));
	/* No device was left behind: the next ID follows the IOAS's. */
	ASSERT_EQ(0, ioas_alloc(ctx, &next));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(ctx, next + 1));
	EXPECT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);

	ctx = open_ctx(0, LOCK, 0);
	ASSERT_NONNULL(ctx);
	ioas = pinning_ioas(ctx);
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, BUF_PAGES));
	EXPECT_COUNTS(0, 0, BUF_PAGES);
	uiommufd_ctx_close(ctx);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}

/*
 * The limit replaces RLIMIT_MEMLOCK for the context, which stays as it
 * was: with the process's own limit at 16 pages, a context without a
 * memlock stops at 16, one with more or unlimited goes past it.
 */
TEST(memlock_over_rlimit)
{
	struct rlimit before, now, low;
	struct uiommufd_ctx *ctx;
	uint8_t *buf = buffer();
	uint32_t ioas;

	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &before));
	if (before.rlim_max != RLIM_INFINITY && before.rlim_max < P(17))
		SKIP("RLIMIT_MEMLOCK's hard limit is below 17 pages");
	low = before;
	low.rlim_cur = P(16);
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &low));

	/* Not given: RLIMIT_MEMLOCK, read at each charge. */
	ctx = open_ctx(0, NO_CAPS, MEMLOCK_DEFAULT);
	ASSERT_NONNULL(ctx);
	ioas = pinning_ioas(ctx);
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 16));
	EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(16), 16, 1));
	low.rlim_cur = P(17);
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &low));
	EXPECT_EQ(0, map_pages(ctx, ioas, buf + P(16), 16, 1));
	low.rlim_cur = P(16);
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &low));
	uiommufd_ctx_close(ctx);

	/* More than RLIMIT_MEMLOCK. */
	ctx = open_ctx(0, NO_CAPS, P(48));
	ASSERT_NONNULL(ctx);
	ioas = pinning_ioas(ctx);
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, 48));
	EXPECT_EQ(48, user_locked());
	EXPECT_FAILS_WHY(ENOMEM, map_pages(ctx, ioas, buf + P(48), 48, 1));
	uiommufd_ctx_close(ctx);

	/* Unlimited. */
	ctx = open_ctx(0, NO_CAPS, UIOMMUFD_MEMLOCK_UNLIMITED);
	ASSERT_NONNULL(ctx);
	ioas = pinning_ioas(ctx);
	ASSERT_EQ(0, map_pages(ctx, ioas, buf, 0, BUF_PAGES));
	EXPECT_EQ(BUF_PAGES, user_locked());
	/* The process's limit is what it was set to, all along. */
	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &now));
	EXPECT_EQ(low.rlim_cur, now.rlim_cur);
	EXPECT_EQ(low.rlim_max, now.rlim_max);
	uiommufd_ctx_close(ctx);
	munmap(buf, P(BUF_PAGES));
}

/* Opening and charging under a memlock leaves RLIMIT_MEMLOCK alone. */
TEST(memlock_leaves_rlimit_alone)
{
	static const uint64_t limits[] = { 0, P(16), 64 << 20,
					   UIOMMUFD_MEMLOCK_UNLIMITED };
	struct rlimit before, now;
	uint8_t *buf = buffer();

	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &before));
	for (unsigned int i = 0; i != sizeof(limits) / sizeof(limits[0]);
	     i++) {
		struct uiommufd_ctx *ctx = open_ctx(0, NO_CAPS, limits[i]);
		uint32_t ioas;

		ASSERT_NONNULL(ctx);
		ioas = pinning_ioas(ctx);
		map_pages(ctx, ioas, buf, 0, 8);
		ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &now));
		EXPECT_EQ(before.rlim_cur, now.rlim_cur);
		EXPECT_EQ(before.rlim_max, now.rlim_max);
		uiommufd_ctx_close(ctx);
	}
	/* Through the environment as well. */
	ASSERT_EQ(0, setenv("UIOMMUFD_MEMLOCK", "64K", 1));
	{
		struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);

		ASSERT_NONNULL(ctx);
		ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &now));
		EXPECT_EQ(before.rlim_cur, now.rlim_cur);
		uiommufd_ctx_close(ctx);
	}
	munmap(buf, P(BUF_PAGES));
}

/*
 * Two contexts with different limits, one user: the count is the user's,
 * the limit the mapping context's (the kernel charges user->locked_vm
 * against the mapping task's RLIMIT_MEMLOCK).
 */
TEST(two_contexts_one_user)
{
	struct uiommufd_ctx *a = open_ctx(0, NO_CAPS, P(16));
	struct uiommufd_ctx *b = open_ctx(0, NO_CAPS, P(32));
	uint8_t *buf = buffer();
	uint32_t ioas_a, ioas_b;

	ASSERT_NONNULL(a);
	ASSERT_NONNULL(b);
	ioas_a = pinning_ioas(a);
	ioas_b = pinning_ioas(b);
	ASSERT_EQ(0, map_pages(a, ioas_a, buf, 0, 10));
	EXPECT_EQ(10, user_locked());
	ASSERT_EQ(0, map_pages(b, ioas_b, buf + P(10), 0, 10));
	EXPECT_EQ(20, user_locked());
	/* A's limit is 16: the user is at 20 already. */
	EXPECT_FAILS_WHY(ENOMEM, map_pages(a, ioas_a, buf + P(20), 10, 1));
	EXPECT_EQ(20, user_locked());
	/* B's is 32: 12 more fit, the 13th does not. */
	ASSERT_EQ(0, map_pages(b, ioas_b, buf + P(20), 10, 12));
	EXPECT_EQ(32, user_locked());
	EXPECT_FAILS_WHY(ENOMEM, map_pages(b, ioas_b, buf + P(32), 22, 1));
	/* A's refund makes room under B's limit, not under A's own. */
	ASSERT_EQ(0, unmap_pages(a, ioas_a, 0, 10));
	EXPECT_EQ(22, user_locked());
	EXPECT_FAILS_WHY(ENOMEM, map_pages(a, ioas_a, buf, 0, 1));
	ASSERT_EQ(0, map_pages(b, ioas_b, buf + P(32), 22, 10));
	EXPECT_EQ(32, user_locked());
	/* B lets go of 22: A maps up to its own 16. */
	ASSERT_EQ(0, unmap_pages(b, ioas_b, 0, 22));
	EXPECT_EQ(10, user_locked());
	ASSERT_EQ(0, map_pages(a, ioas_a, buf, 0, 6));
	EXPECT_EQ(16, user_locked());
	EXPECT_FAILS_WHY(ENOMEM, map_pages(a, ioas_a, buf + P(6), 6, 1));
	EXPECT_EQ(0, iopt_account_process_locked());
	EXPECT_EQ(16, iopt_account_pinned());
	uiommufd_ctx_close(a);
	EXPECT_EQ(10, user_locked());
	uiommufd_ctx_close(b);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}

/* The same with per-process charging: one process counter. */
TEST(two_contexts_one_process)
{
	struct uiommufd_ctx *a = open_ctx(UIOMMUFD_CTX_VFIO, NO_CAPS, P(16));
	struct uiommufd_ctx *b = open_ctx(0, RES, P(32));
	uint8_t *buf = buffer();
	uint32_t ioas_a, ioas_b;

	ASSERT_NONNULL(a);
	ASSERT_NONNULL(b);
	ASSERT_EQ(0, rlimit_mode_set(b, 1));
	ioas_a = pinning_ioas(a);
	ioas_b = pinning_ioas(b);
	ASSERT_EQ(0, map_pages(b, ioas_b, buf, 0, 20));
	EXPECT_COUNTS(0, 20, 20);
	EXPECT_FAILS_WHY(ENOMEM, map_pages(a, ioas_a, buf + P(20), 0, 1));
	ASSERT_EQ(0, map_pages(b, ioas_b, buf + P(20), 20, 12));
	EXPECT_FAILS_WHY(ENOMEM, map_pages(b, ioas_b, buf + P(32), 32, 1));
	EXPECT_COUNTS(0, 32, 32);
	ASSERT_EQ(0, unmap_pages(b, ioas_b, 0, 20));
	ASSERT_EQ(0, map_pages(a, ioas_a, buf + P(40), 0, 4));
	EXPECT_FAILS_WHY(ENOMEM, map_pages(a, ioas_a, buf + P(44), 4, 1));
	EXPECT_COUNTS(0, 16, 16);
	uiommufd_ctx_close(b);
	uiommufd_ctx_close(a);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}

/* Per user and per process do not mix: each has its own count. */
TEST(user_and_process_counts_apart)
{
	struct uiommufd_ctx *u = open_ctx(0, NO_CAPS, P(16));
	struct uiommufd_ctx *p = open_ctx(UIOMMUFD_CTX_VFIO, NO_CAPS, P(16));
	uint8_t *buf = buffer();
	uint32_t ioas_u, ioas_p;

	ASSERT_NONNULL(u);
	ASSERT_NONNULL(p);
	ioas_u = pinning_ioas(u);
	ioas_p = pinning_ioas(p);
	ASSERT_EQ(0, map_pages(u, ioas_u, buf, 0, 16));
	ASSERT_EQ(0, map_pages(p, ioas_p, buf + P(16), 0, 16));
	EXPECT_COUNTS(16, 16, 32);
	EXPECT_FAILS_WHY(ENOMEM, map_pages(u, ioas_u, buf + P(32), 16, 1));
	EXPECT_FAILS_WHY(ENOMEM, map_pages(p, ioas_p, buf + P(32), 16, 1));
	uiommufd_ctx_close(u);
	uiommufd_ctx_close(p);
	EXPECT_COUNTS(0, 0, 0);
	munmap(buf, P(BUF_PAGES));
}
