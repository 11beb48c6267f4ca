// SPDX-License-Identifier: MIT
/*
 * The ioctl ABI of every v6.2 command (IOMMU_DESTROY .. IOMMU_VFIO_IOAS)
 * and of IOMMU_TEST_CMD ops 1-9, against the kernel's behaviour as
 * ../shared/spec/UAPI.md sections 1-4 and 8 describe it:
 *
 *  - the size rules, table driven over every request (below min, zero,
 *    non-zero and zero tails, unreadable tails, bad and read-only argument
 *    structs, outputs written only up to the caller's size), and after
 *    each failure a check that the command left no trace;
 *  - request encoding (holes, numbers out of range, direction/size bits);
 *  - flags and reserved fields;
 *  - ID arguments given objects of the wrong type, and access descriptor
 *    arguments given descriptors that are not accesses;
 *  - bad pointers inside commands (arrays, user buffers);
 *  - boundary values;
 *  - both layouts of the test command (56 and 72 bytes).
 *
 * A context answers as one Linux release: the table-driven size rules
 * and the world of objects run under 7.2 and 6.2 alike, each with the
 * test command in its own layout (72 bytes from 68; 56 from 52).
 *
 * Every expected failure also checks that uiommufd_last_reason() says why.
 */
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>

#include "iommufd/iommufd_utils.h"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

#define PAGE TEST_PAGE_SIZE
#define BUF_LEN (4 * PAGE)
#define GUARD 0xa5
#define SZ_16M (16ULL * 1024 * 1024)
#define DEFAULT_TEMP_LIMIT 65536
#define NEEDS_PIN MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES
/*
 * A page-aligned address nothing maps: below any executable, library or
 * mmap() placement (checked with mincore() before use).
 */
#define UNMAPPED_VA ((void *)(uintptr_t)0x40000)

/* @call fails with @err, and the library says why. */
#define EXPECT_ERR(err, call)                                              \
	do {                                                               \
		int _rc;                                                   \
		int _err;                                                  \
		errno = 0;                                                 \
		_rc = (call);                                              \
		_err = errno;                                              \
		EXPECT_EQ(-1, _rc);                                        \
		EXPECT_EQ((err), _err);                                    \
		if (_rc == -1)                                             \
			EXPECT_TRUE(has_reason());                         \
	} while (0)

/* Like EXPECT_ERR, with a line of context when it does not hold. */
static bool fails_with(int err, int rc, const char *what, uint64_t arg)
{
	int seen = errno;
	bool ok = rc == -1 && seen == err;

	if (ok && !has_reason()) {
		TH_LOG("%s (%#llx): no reason recorded", what,
		       (unsigned long long)arg);
		return false;
	}
	if (!ok)
		TH_LOG("%s (%#llx): rc %d errno %d (%s), want errno %d (%s)",
		       what, (unsigned long long)arg, rc, rc ? seen : 0,
		       rc ? strerror(seen) : "-", err, strerror(err));
	return ok;
}

#define EXPECT_FAILS(err, call, what, arg)                                 \
	do {                                                               \
		int _rc;                                                   \
		errno = 0;                                                 \
		_rc = (call);                                              \
		EXPECT_TRUE(fails_with((err), _rc, (what), (arg)));        \
	} while (0)

/* Two RW pages followed by a PROT_NONE page; returns the first. */
static uint8_t *guarded_pages(void)
{
	uint8_t *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + 2 * PAGE, PAGE, PROT_NONE)) {
		munmap(p, 3 * PAGE);
		return NULL;
	}
	memset(p, 0, 2 * PAGE);
	return p;
}

#define GUARD_PAGE(p) ((p) + 2 * PAGE)

static bool is_unmapped(void *va, size_t len)
{
	unsigned char vec[16];

	if (len > sizeof(vec) * PAGE)
		return false;
	return mincore(va, len, vec) == -1 && errno == ENOMEM;
}

static bool all_bytes(const void *p, int c, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i != len; i++)
		if (b[i] != (uint8_t)c)
			return false;
	return true;
}

static int raw_test_cmd(struct uiommufd_ctx *ctx, void *cmd, uint32_t size)
{
	memcpy(cmd, &size, sizeof(size));
	return uiommufd_ioctl(ctx, IOMMU_TEST_CMD, cmd);
}

/* The lowest descriptor number open() would hand out now. */
static int next_fd(void)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0)
		close(fd);
	return fd;
}

/* ------------------------------------------------------------------ */
/* The size rules, table driven                                        */
/* ------------------------------------------------------------------ */

/* What one command needs: a context, IOASes, mapped memory. */
struct state {
	struct uiommufd_ctx *ctx;
	uint32_t ioas;
	uint32_t ioas2;
	uint64_t iova;
	void *buf;
	struct iommu_iova_range ranges[4];
};

struct abi_cmd {
	const char *name;
	uint32_t kernel;	/* the release the context answers as */
	unsigned long request;
	uint32_t size;
	uint32_t min_size;
	/* Make what the command works on in st->ctx: 0 or -1. */
	int (*setup)(struct state *st);
	/* Write the whole command (@size bytes) into @cmd. */
	void (*fill)(struct state *st, void *cmd);
	/* The result with the struct in read-only memory: 0 or EFAULT. */
	int ro_errno;
	/* Its effect happens before its outputs are written back. */
	bool ro_keeps_effect;
};

static int setup_ioas(struct state *st)
{
	return ioas_alloc(st->ctx, &st->ioas);
}

static int setup_mapped(struct state *st)
{
	if (setup_ioas(st))
		return -1;
	st->iova = 0;
	return ioas_map(st->ctx, st->ioas, st->buf, BUF_LEN, &st->iova,
			MAP_RW);
}

static int setup_two(struct state *st)
{
	if (setup_mapped(st))
		return -1;
	return ioas_alloc(st->ctx, &st->ioas2);
}

static int setup_vfio(struct state *st)
{
	uint32_t id;

	if (setup_ioas(st))
		return -1;
	id = st->ioas;
	return vfio_ioas(st->ctx, IOMMU_VFIO_IOAS_SET, &id);
}

static void fill_destroy(struct state *st, void *p)
{
	struct iommu_destroy *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->id = st->ioas;
}

static void fill_ioas_alloc(struct state *st, void *p)
{
	memset(p, 0, sizeof(struct iommu_ioas_alloc));
}

static void fill_allow_iovas(struct state *st, void *p)
{
	struct iommu_ioas_allow_iovas *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	st->ranges[0].start = 0x100000;
	st->ranges[0].last = 0x1fffff;
	cmd->ioas_id = st->ioas;
	cmd->num_iovas = 1;
	cmd->allowed_iovas = (uintptr_t)st->ranges;
}

static void fill_ioas_copy(struct state *st, void *p)
{
	struct iommu_ioas_copy *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->flags = MAP_RW;
	cmd->dst_ioas_id = st->ioas2;
	cmd->src_ioas_id = st->ioas;
	cmd->length = BUF_LEN;
	cmd->src_iova = st->iova;
}

static void fill_iova_ranges(struct state *st, void *p)
{
	struct iommu_ioas_iova_ranges *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	memset(st->ranges, 0, sizeof(st->ranges));
	cmd->ioas_id = st->ioas;
	cmd->num_iovas = 4;
	cmd->allowed_iovas = (uintptr_t)st->ranges;
}

static void fill_ioas_map(struct state *st, void *p)
{
	struct iommu_ioas_map *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->flags = MAP_RW;
	cmd->ioas_id = st->ioas;
	cmd->user_va = (uintptr_t)st->buf;
	cmd->length = BUF_LEN;
}

/* Unmap everything: the bytes unmapped come back in length. */
static void fill_ioas_unmap(struct state *st, void *p)
{
	struct iommu_ioas_unmap *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->ioas_id = st->ioas;
	cmd->iova = 0;
	cmd->length = UINT64_MAX;
}

static void fill_option(struct state *st, void *p)
{
	struct iommu_option *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->option_id = IOMMU_OPTION_HUGE_PAGES;
	cmd->op = IOMMU_OPTION_OP_GET;
	cmd->object_id = st->ioas;
	cmd->val64 = 0x1234;
}

static void fill_vfio_ioas(struct state *st, void *p)
{
	struct iommu_vfio_ioas *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = IOMMU_VFIO_IOAS_GET;
}

static void fill_memory_limit(struct state *st, void *p)
{
	struct iommu_test_cmd *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT;
	cmd->memory_limit.limit = DEFAULT_TEMP_LIMIT;
}

static void fill_mock_domain(struct state *st, void *p)
{
	struct iommu_test_cmd *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd->id = st->ioas;
}

/* The test command as Linux 6.2 declared it: 56 bytes, no more. */
static void fill_memory_limit_v6_2(struct state *st, void *p)
{
	struct iommu_test_cmd_v6_2 *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT;
	cmd->memory_limit.limit = DEFAULT_TEMP_LIMIT;
}

static void fill_mock_domain_v6_2(struct state *st, void *p)
{
	struct iommu_test_cmd_v6_2 *cmd = p;

	memset(cmd, 0, sizeof(*cmd));
	cmd->op = IOMMU_TEST_OP_MOCK_DOMAIN;
	cmd->id = st->ioas;
}

#define ABI_CMD_AS(_var, _kernel, _name, _req, _size, _min, _setup, _fill, \
		   _ro, _keeps)                                            \
	static const struct abi_cmd _var = {                               \
		.name = _name,                                             \
		.kernel = _kernel,                                         \
		.request = _req,                                           \
		.size = _size,                                             \
		.min_size = _min,                                          \
		.setup = _setup,                                           \
		.fill = _fill,                                             \
		.ro_errno = _ro,                                           \
		.ro_keeps_effect = _keeps,                                 \
	}

/* A command with one layout in both releases: _var and _var##_v6_2. */
#define ABI_CMD(_var, _req, _struct, _min, _setup, _fill, _ro, _keeps)     \
	ABI_CMD_AS(_var, UIOMMUFD_KERNEL_7_2, #_req, _req, sizeof(_struct), \
		   _min, _setup, _fill, _ro, _keeps);                      \
	ABI_CMD_AS(_var##_v6_2, UIOMMUFD_KERNEL_6_2, #_req " (6.2)", _req, \
		   sizeof(_struct), _min, _setup, _fill, _ro, _keeps)

/* Sizes and minimum sizes as UAPI.md section 2 tabulates them. */
ABI_CMD(c_destroy, IOMMU_DESTROY, struct iommu_destroy, 8, setup_ioas,
	fill_destroy, 0, true);
ABI_CMD(c_ioas_alloc, IOMMU_IOAS_ALLOC, struct iommu_ioas_alloc, 12, NULL,
	fill_ioas_alloc, EFAULT, false);
ABI_CMD(c_allow_iovas, IOMMU_IOAS_ALLOW_IOVAS, struct iommu_ioas_allow_iovas,
	24, setup_ioas, fill_allow_iovas, 0, true);
ABI_CMD(c_ioas_copy, IOMMU_IOAS_COPY, struct iommu_ioas_copy, 40, setup_two,
	fill_ioas_copy, EFAULT, false);
ABI_CMD(c_iova_ranges, IOMMU_IOAS_IOVA_RANGES, struct iommu_ioas_iova_ranges,
	32, setup_ioas, fill_iova_ranges, EFAULT, false);
ABI_CMD(c_ioas_map, IOMMU_IOAS_MAP, struct iommu_ioas_map, 40, setup_ioas,
	fill_ioas_map, EFAULT, false);
ABI_CMD(c_ioas_unmap, IOMMU_IOAS_UNMAP, struct iommu_ioas_unmap, 24,
	setup_mapped, fill_ioas_unmap, EFAULT, true);
ABI_CMD(c_option, IOMMU_OPTION, struct iommu_option, 24, setup_ioas,
	fill_option, EFAULT, false);
ABI_CMD(c_vfio_ioas, IOMMU_VFIO_IOAS, struct iommu_vfio_ioas, 12, setup_vfio,
	fill_vfio_ioas, EFAULT, false);
/*
 * The test command has the layout of the context's release: 72 bytes from
 * 68 under 7.2 (the 56-byte command is below its minimum), 56 from 52
 * under 6.2 (past 56 a non-zero byte is E2BIG, zeros do not matter).
 */
ABI_CMD_AS(c_memory_limit, UIOMMUFD_KERNEL_7_2, "IOMMU_TEST_CMD",
	   IOMMU_TEST_CMD, IOMMU_TEST_CMD_SIZE, IOMMU_TEST_CMD_MIN_SIZE, NULL,
	   fill_memory_limit, 0, true);
ABI_CMD_AS(c_mock_domain, UIOMMUFD_KERNEL_7_2, "IOMMU_TEST_CMD",
	   IOMMU_TEST_CMD, IOMMU_TEST_CMD_SIZE, IOMMU_TEST_CMD_MIN_SIZE,
	   setup_ioas, fill_mock_domain, EFAULT, false);
ABI_CMD_AS(c_memory_limit_v6_2, UIOMMUFD_KERNEL_6_2, "IOMMU_TEST_CMD (6.2)",
	   IOMMU_TEST_CMD, IOMMU_TEST_CMD_V6_2_SIZE,
	   IOMMU_TEST_CMD_V6_2_MIN_SIZE, NULL, fill_memory_limit_v6_2, 0,
	   true);
ABI_CMD_AS(c_mock_domain_v6_2, UIOMMUFD_KERNEL_6_2, "IOMMU_TEST_CMD (6.2)",
	   IOMMU_TEST_CMD, IOMMU_TEST_CMD_V6_2_SIZE,
	   IOMMU_TEST_CMD_V6_2_MIN_SIZE, setup_ioas, fill_mock_domain_v6_2,
	   EFAULT, false);

/* What a call gave: its result and the struct afterwards. */
struct outcome {
	int rc;
	int err;
	uint8_t bytes[128];
};

static void state_open(struct state *st, void *buf, const struct abi_cmd *c)
{
	memset(st, 0, sizeof(*st));
	st->buf = buf;
	st->ctx = ctx_open_as(c->kernel, false, 0);
	ASSERT_NE(NULL, st->ctx);
	if (c->setup)
		ASSERT_EQ(0, c->setup(st));
}

static void state_close(struct state *st)
{
	uiommufd_ctx_close(st->ctx);
	st->ctx = NULL;
}

/* Fill the command at @arg, claim @size, issue it, record the result. */
static void issue(struct state *st, const struct abi_cmd *c, void *arg,
		  uint32_t size, struct outcome *out)
{
	c->fill(st, arg);
	memcpy(arg, &size, sizeof(size));
	errno = 0;
	out->rc = uiommufd_ioctl(st->ctx, c->request, arg);
	out->err = out->rc ? errno : 0;
	if (out->rc)
		EXPECT_TRUE(has_reason());
	memcpy(out->bytes, arg, c->size);
}

FIXTURE(cmd)
{
	const struct abi_cmd *c;
	struct state st;
	struct outcome ref;
	uint8_t *buf;
	uint8_t *pages;
};

FIXTURE_VARIANT(cmd)
{
	const struct abi_cmd *c;
};

FIXTURE_VARIANT_ADD(cmd, destroy) { .c = &c_destroy };
FIXTURE_VARIANT_ADD(cmd, ioas_alloc) { .c = &c_ioas_alloc };
FIXTURE_VARIANT_ADD(cmd, allow_iovas) { .c = &c_allow_iovas };
FIXTURE_VARIANT_ADD(cmd, ioas_copy) { .c = &c_ioas_copy };
FIXTURE_VARIANT_ADD(cmd, iova_ranges) { .c = &c_iova_ranges };
FIXTURE_VARIANT_ADD(cmd, ioas_map) { .c = &c_ioas_map };
FIXTURE_VARIANT_ADD(cmd, ioas_unmap) { .c = &c_ioas_unmap };
FIXTURE_VARIANT_ADD(cmd, option) { .c = &c_option };
FIXTURE_VARIANT_ADD(cmd, vfio_ioas) { .c = &c_vfio_ioas };
FIXTURE_VARIANT_ADD(cmd, test_memory_limit) { .c = &c_memory_limit };
FIXTURE_VARIANT_ADD(cmd, test_mock_domain) { .c = &c_mock_domain };
/* The same under Linux 6.2, the test command in its 6.2 layout. */
FIXTURE_VARIANT_ADD(cmd, destroy_v6_2) { .c = &c_destroy_v6_2 };
FIXTURE_VARIANT_ADD(cmd, ioas_alloc_v6_2) { .c = &c_ioas_alloc_v6_2 };
FIXTURE_VARIANT_ADD(cmd, allow_iovas_v6_2) { .c = &c_allow_iovas_v6_2 };
FIXTURE_VARIANT_ADD(cmd, ioas_copy_v6_2) { .c = &c_ioas_copy_v6_2 };
FIXTURE_VARIANT_ADD(cmd, iova_ranges_v6_2) { .c = &c_iova_ranges_v6_2 };
FIXTURE_VARIANT_ADD(cmd, ioas_map_v6_2) { .c = &c_ioas_map_v6_2 };
FIXTURE_VARIANT_ADD(cmd, ioas_unmap_v6_2) { .c = &c_ioas_unmap_v6_2 };
FIXTURE_VARIANT_ADD(cmd, option_v6_2) { .c = &c_option_v6_2 };
FIXTURE_VARIANT_ADD(cmd, vfio_ioas_v6_2) { .c = &c_vfio_ioas_v6_2 };
FIXTURE_VARIANT_ADD(cmd, test_memory_limit_v6_2)
{
	.c = &c_memory_limit_v6_2
};
FIXTURE_VARIANT_ADD(cmd, test_mock_domain_v6_2)
{
	.c = &c_mock_domain_v6_2
};

/*
 * The reference: the command at exactly its size on a fresh context. It
 * must succeed, or the table is wrong.
 */
FIXTURE_SETUP(cmd)
{
	self->c = variant->c;
	self->buf = test_buffer(BUF_LEN);
	ASSERT_NE(NULL, self->buf);
	memset(self->buf, 0x3c, BUF_LEN);
	self->pages = guarded_pages();
	ASSERT_NE(NULL, self->pages);

	state_open(&self->st, self->buf, self->c);
	issue(&self->st, self->c, self->pages, self->c->size, &self->ref);
	ASSERT_EQ(0, self->ref.rc);
	state_close(&self->st);
	memset(self->pages, 0, 2 * PAGE);
	state_open(&self->st, self->buf, self->c);
}

FIXTURE_TEARDOWN(cmd)
{
	state_close(&self->st);
	if (self->pages)
		munmap(self->pages, 3 * PAGE);
	if (self->buf)
		munmap(self->buf, BUF_LEN);
}

#define EXPECT_SAME_OUTCOME(c, want, got, upto)                            \
	do {                                                               \
		EXPECT_EQ((want)->rc, (got)->rc);                          \
		EXPECT_EQ((want)->err, (got)->err);                        \
		EXPECT_EQ(0, memcmp((want)->bytes + 4, (got)->bytes + 4,   \
				    (upto) - 4));                          \
	} while (0)

/*
 * After a failed call: the same command at its exact size does just what
 * it did on a fresh context, so the failure changed nothing.
 */
static void check_no_trace(struct _fixture_data_cmd *self)
{
	uint8_t arg[128] __attribute__((aligned(8))) = {};
	struct outcome again;

	issue(&self->st, self->c, arg, self->c->size, &again);
	EXPECT_SAME_OUTCOME(self->c, &self->ref, &again, self->c->size);
}

/* The result of an issued call again, as rc and errno. */
static int replay(const struct outcome *out)
{
	errno = out->err;
	return out->rc;
}

/* A failure of the size rules: @err, and nothing happened. */
static void expect_size_failure(struct _fixture_data_cmd *self, void *arg,
				uint32_t size, int err)
{
	struct outcome out;

	issue(&self->st, self->c, arg, size, &out);
	EXPECT_FAILS(err, replay(&out), self->c->name, size);
}

TEST_F(cmd, size_below_min)
{
	const uint32_t sizes[] = { 0, 1, 3, 4, self->c->min_size - 1 };

	for (size_t i = 0; i != ARRAY_SIZE(sizes); i++)
		expect_size_failure(self, self->pages, sizes[i], EINVAL);
	check_no_trace(self);
}

TEST_F(cmd, size_tail_nonzero)
{
	uint8_t *arg = self->pages;
	uint32_t size = self->c->size;

	/* The last byte of a longer struct. */
	arg[size + 7] = 1;
	expect_size_failure(self, arg, size + 8, E2BIG);
	/* The first byte past the known struct. */
	arg[size + 7] = 0;
	arg[size] = 0x80;
	expect_size_failure(self, arg, size + 8, E2BIG);
	/* One byte, far out, in a struct of two pages. */
	arg[size] = 0;
	arg[2 * PAGE - 1] = 1;
	expect_size_failure(self, arg, 2 * PAGE, E2BIG);
	check_no_trace(self);
}

TEST_F(cmd, size_tail_zero_same_as_exact)
{
	uint8_t *arg = self->pages;
	uint32_t size = self->c->size;
	struct outcome out;

	memset(arg + size + 8, GUARD, 64);
	issue(&self->st, self->c, arg, size + 8, &out);
	EXPECT_SAME_OUTCOME(self->c, &self->ref, &out, size);
	/* Written back only up to the kernel's struct. */
	EXPECT_TRUE(all_bytes(arg + size, 0, 8));
	EXPECT_TRUE(all_bytes(arg + size + 8, GUARD, 64));
}

/* A zero tail larger than any buffer the library reads it into. */
TEST_F(cmd, size_tail_zero_two_pages)
{
	struct outcome out;

	issue(&self->st, self->c, self->pages, 2 * PAGE, &out);
	EXPECT_SAME_OUTCOME(self->c, &self->ref, &out, self->c->size);
}

TEST_F(cmd, size_exact_guard_untouched)
{
	uint8_t *arg = self->pages;
	uint32_t size = self->c->size;
	struct outcome out;

	memset(arg + size, GUARD, 64);
	issue(&self->st, self->c, arg, size, &out);
	EXPECT_SAME_OUTCOME(self->c, &self->ref, &out, size);
	EXPECT_TRUE(all_bytes(arg + size, GUARD, 64));
}

/* Every size from 0 to well past the struct, each on a fresh context. */
TEST_F(cmd, every_size)
{
	const struct abi_cmd *c = self->c;
	uint8_t *arg = self->pages;

	for (uint32_t size = 0; size <= c->size + 24; size++) {
		for (int tail = 0; tail != 2; tail++) {
			struct outcome out;
			int want;

			if (tail && size <= c->size)
				continue;
			state_close(&self->st);
			state_open(&self->st, self->buf, c);
			memset(arg, 0, 2 * PAGE);
			if (tail)
				arg[size - 1] = 0x01;
			issue(&self->st, c, arg, size, &out);
			want = size < c->min_size ? EINVAL : tail ? E2BIG : 0;
			if (want) {
				EXPECT_FAILS(want, replay(&out), c->name,
					     size);
				continue;
			}
			/* Only what the caller's size covers is compared. */
			EXPECT_SAME_OUTCOME(c, &self->ref, &out,
					    size < c->size ? size : c->size);
			if (out.rc)
				TH_LOG("%s: size %u failed", c->name, size);
		}
	}
}

TEST_F(cmd, size_unreadable_tail)
{
	uint32_t size = self->c->size;
	uint8_t *guard = GUARD_PAGE(self->pages);

	/* The struct ends where the PROT_NONE page starts. */
	expect_size_failure(self, guard - size, size + 8, EFAULT);
	expect_size_failure(self, guard - size, UINT32_MAX, EFAULT);
	/* Readable zeros first, then the unreadable page. */
	memset(guard - size - 16, 0, size + 16);
	expect_size_failure(self, guard - size - 16, size + 64, EFAULT);
	check_no_trace(self);
}

TEST_F(cmd, bad_arg_pointer)
{
	void *const bad[] = {
		NULL, BAD_PTR, (void *)(uintptr_t)-1, (void *)(uintptr_t)-4,
		GUARD_PAGE(self->pages),
	};
	uint8_t *guard = GUARD_PAGE(self->pages);
	uint32_t size = self->c->size;

	for (size_t i = 0; i != ARRAY_SIZE(bad); i++)
		EXPECT_FAILS(EFAULT,
			     uiommufd_ioctl(self->st.ctx, self->c->request,
					    bad[i]),
			     self->c->name, (uintptr_t)bad[i]);
	/* The size is readable, the rest of the struct is not. */
	memcpy(guard - 4, &size, 4);
	EXPECT_FAILS(EFAULT,
		     uiommufd_ioctl(self->st.ctx, self->c->request, guard - 4),
		     self->c->name, size);
	check_no_trace(self);
}

/*
 * The struct can be read but not written: a command with outputs fails
 * with EFAULT and leaves nothing behind (but a command whose effect is
 * done before it writes, UNMAP, keeps its effect); one without outputs
 * succeeds.
 */
TEST_F(cmd, read_only_struct)
{
	const struct abi_cmd *c = self->c;
	uint8_t arg[128] __attribute__((aligned(8))) = {};
	uint8_t *ro = self->pages;
	struct outcome out, again;

	c->fill(&self->st, ro);
	memcpy(ro, &c->size, 4);
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ));
	errno = 0;
	out.rc = uiommufd_ioctl(self->st.ctx, c->request, ro);
	out.err = out.rc ? errno : 0;
	if (out.rc)
		EXPECT_TRUE(has_reason());
	ASSERT_EQ(0, mprotect(ro, PAGE, PROT_READ | PROT_WRITE));
	if (!c->ro_errno) {
		EXPECT_EQ(0, out.rc);
		return;
	}
	EXPECT_EQ(-1, out.rc);
	EXPECT_EQ(c->ro_errno, out.err);
	/* Nothing came back. */
	memcpy(out.bytes, ro, c->size);
	c->fill(&self->st, arg);
	EXPECT_EQ(0, memcmp(arg + 4, out.bytes + 4, c->size - 4));

	issue(&self->st, c, arg, c->size, &again);
	if (c->ro_keeps_effect)
		EXPECT_NE(0, memcmp(self->ref.bytes, again.bytes, c->size));
	else
		EXPECT_SAME_OUTCOME(c, &self->ref, &again, c->size);
}

/* The effect of the read-only cases, in the terms UAPI.md uses. */
TEST(read_only_alloc_leaves_no_ioas)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct iommu_ioas_alloc *cmd;
	uint32_t id = 0;

	ASSERT_NE(NULL, ctx);
	cmd = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cmd);
	cmd->size = sizeof(*cmd);
	cmd->out_ioas_id = 0x77;
	ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ));
	EXPECT_ERR(EFAULT, uiommufd_ioctl(ctx, IOMMU_IOAS_ALLOC, cmd));
	EXPECT_EQ(0x77, cmd->out_ioas_id);
	EXPECT_ERR(ENOENT, ioctl_destroy(ctx, 1));
	EXPECT_EQ(0, ioas_alloc(ctx, &id));
	EXPECT_EQ(1, id);
	munmap(cmd, PAGE);
	uiommufd_ctx_close(ctx);
}

TEST(read_only_map_leaves_nothing_mapped)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	void *buf = test_buffer(BUF_LEN);
	struct iommu_ioas_map *cmd;
	uint64_t unmapped = 1;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;

	ASSERT_NE(NULL, ctx);
	ASSERT_NE(NULL, buf);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	ASSERT_EQ(0, test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	cmd = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cmd);
	*cmd = (struct iommu_ioas_map){
		.size = sizeof(*cmd),
		.flags = MAP_RW,
		.ioas_id = ioas,
		.user_va = (uintptr_t)buf,
		.length = BUF_LEN,
	};
	ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ));
	EXPECT_ERR(EFAULT, uiommufd_ioctl(ctx, IOMMU_IOAS_MAP, cmd));
	/* Nothing mapped, nothing pinned. */
	EXPECT_EQ(0, test_check_refs(ctx, buf, BUF_LEN, 0));
	EXPECT_EQ(0, ioas_unmap(ctx, ioas, 0, UINT64_MAX, &unmapped));
	EXPECT_EQ(0, unmapped);
	EXPECT_EQ(0, ioctl_destroy(ctx, stdev));
	munmap(cmd, PAGE);
	munmap(buf, BUF_LEN);
	uiommufd_ctx_close(ctx);
}

/* ------------------------------------------------------------------ */
/* Request encoding                                                    */
/* ------------------------------------------------------------------ */

TEST(request_below_base)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint8_t arg[64] __attribute__((aligned(8))) = { 8 };
	/* Not VFIO's numbers (0x64-0x66, 0x70-0x72): nothing there. */
	const unsigned int nrs[] = { 0x00, 0x01, 0x3b, 0x63, 0x67, 0x6f,
				     0x73, 0x7e, 0x7f };

	ASSERT_NE(NULL, ctx);
	EXPECT_ERR(ENOTTY, uiommufd_ioctl(ctx, _IO(';', 0x7f), arg));
	for (size_t i = 0; i != ARRAY_SIZE(nrs); i++) {
		EXPECT_FAILS(ENOTTY,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nrs[i]),
					    arg),
			     "nr", nrs[i]);
		/* The argument is never read. */
		EXPECT_FAILS(ENOTTY,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nrs[i]),
					    BAD_PTR),
			     "nr with a bad pointer", nrs[i]);
	}
	uiommufd_ctx_close(ctx);
}

/* Commands from 0x89 on that uiommufd answers, as 7.2, so far. */
static bool nr_built(unsigned int nr)
{
	return nr >= 0x89 && nr <= 0x94;
}

/*
 * 0x89..0x9f: no command in the table (those not built yet, and the
 * holes). The size is read first.
 */
TEST(request_holes)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint8_t arg[128] __attribute__((aligned(8))) = { 8 };
	uint32_t id = 0;

	ASSERT_NE(NULL, ctx);
	for (unsigned int nr = 0x89; nr <= 0x9f; nr++) {
		if (nr_built(nr))
			continue;
		EXPECT_FAILS(ENOTTY,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nr), arg),
			     "hole", nr);
		EXPECT_FAILS(EFAULT,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nr),
					    BAD_PTR),
			     "hole with a bad pointer", nr);
		EXPECT_FAILS(EFAULT,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nr), NULL),
			     "hole with NULL", nr);
	}
	/* Nothing was created by any of them. */
	EXPECT_EQ(0, ioas_alloc(ctx, &id));
	EXPECT_EQ(1, id);
	uiommufd_ctx_close(ctx);
}

/* Past IOMMU_TEST_CMD the request goes to VFIO compat: unread, ENOTTY. */
TEST(request_past_test_cmd)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	uint8_t arg[128] __attribute__((aligned(8))) = { 72 };

	ASSERT_NE(NULL, ctx);
	for (unsigned int nr = 0xa1; nr <= 0xff; nr++) {
		EXPECT_FAILS(ENOTTY,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nr), arg),
			     "nr", nr);
		EXPECT_FAILS(ENOTTY,
			     uiommufd_ioctl(ctx, _IO(IOMMUFD_TYPE, nr),
					    BAD_PTR),
			     "nr with a bad pointer", nr);
	}
	uiommufd_ctx_close(ctx);
}

/*
 * The whole request must match: direction or size bits, or another
 * type character, make it unknown (after the size is read).
 */
TEST(request_exact_encoding)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	const unsigned long wrong[] = {
		_IOWR(IOMMUFD_TYPE, 0x80, struct iommu_destroy),
		_IOW(IOMMUFD_TYPE, 0x80, struct iommu_destroy),
		_IOR(IOMMUFD_TYPE, 0x80, struct iommu_destroy),
		_IOC(_IOC_NONE, IOMMUFD_TYPE, 0x80, 1),
		_IO('x', 0x80),
		_IO(0, 0x80),
		_IO(0xff, 0x80),
	};
	struct iommu_destroy cmd;
	uint32_t ioas = 0;

	ASSERT_NE(NULL, ctx);
	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	for (size_t i = 0; i != ARRAY_SIZE(wrong); i++) {
		cmd = (struct iommu_destroy){ .size = sizeof(cmd), .id = ioas };
		EXPECT_FAILS(ENOTTY, uiommufd_ioctl(ctx, wrong[i], &cmd),
			     "request", wrong[i]);
		EXPECT_FAILS(EFAULT, uiommufd_ioctl(ctx, wrong[i], BAD_PTR),
			     "request with a bad pointer", wrong[i]);
	}
	/* None of them destroyed the IOAS. */
	cmd = (struct iommu_destroy){ .size = sizeof(cmd), .id = ioas };
	EXPECT_EQ(0, uiommufd_ioctl(ctx, IOMMU_DESTROY, &cmd));
	uiommufd_ctx_close(ctx);
}

/* Unknown alloc-like requests create nothing. */
TEST(request_wrong_type_alloc)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	uint32_t id = 0;

	ASSERT_NE(NULL, ctx);
	EXPECT_ERR(ENOTTY, uiommufd_ioctl(ctx, _IO('x', 0x81), &cmd));
	EXPECT_ERR(ENOTTY,
		   uiommufd_ioctl(ctx,
				  _IOWR(IOMMUFD_TYPE, 0x81,
					struct iommu_ioas_alloc),
				  &cmd));
	EXPECT_EQ(0, cmd.out_ioas_id);
	EXPECT_EQ(0, ioas_alloc(ctx, &id));
	EXPECT_EQ(1, id);
	uiommufd_ctx_close(ctx);
}

/*
 * ioctl(2) passes the request as an unsigned int: bits above 31 of the
 * C argument never reach the kernel, so they cannot change the command.
 */
TEST(request_upper_bits_ignored)
{
	struct uiommufd_ctx *ctx;
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };

	if (sizeof(unsigned long) < 8)
		SKIP("unsigned long has no bits above 31");
	ctx = uiommufd_ctx_open(0);
	ASSERT_NE(NULL, ctx);
	EXPECT_EQ(0, uiommufd_ioctl(ctx, (unsigned long)IOMMU_IOAS_ALLOC |
						 (1UL << 32),
				    &cmd));
	EXPECT_EQ(1, cmd.out_ioas_id);
	uiommufd_ctx_close(ctx);
}

/* UAPI.md section 1, the IOMMU_DESTROY example, exactly. */
TEST(request_destroy_example)
{
	struct uiommufd_ctx *ctx = uiommufd_ctx_open(0);
	struct {
		struct iommu_destroy cmd;
		__u64 future;
	} big = {};

	ASSERT_NE(NULL, ctx);
	big.cmd.size = sizeof(big);
	big.cmd.id = 0;
	big.future = 0;
	EXPECT_ERR(ENOENT, uiommufd_ioctl(ctx, IOMMU_DESTROY, &big));
	big.future = 1;
	EXPECT_ERR(E2BIG, uiommufd_ioctl(ctx, IOMMU_DESTROY, &big));
	big.cmd.size = sizeof(big.cmd);
	EXPECT_ERR(ENOENT, uiommufd_ioctl(ctx, IOMMU_DESTROY, &big));
	big.cmd.size = sizeof(big.cmd) - 1;
	EXPECT_ERR(EINVAL, uiommufd_ioctl(ctx, IOMMU_DESTROY, &big));
	uiommufd_ctx_close(ctx);
}

/* ------------------------------------------------------------------ */
/* A world of objects of every type                                    */
/* ------------------------------------------------------------------ */

/*
 * ioas: one mock domain attached (stdev, hwpt, idev) and buf mapped at
 * iova; ioas2: empty, no domain; buf2 for ioas2, pinned by nothing. Under
 * each release, with the test command in its layout: under 6.2 the HW
 * pagetable is the device's own and the idev is not reported (0).
 */
FIXTURE(obj)
{
	struct uiommufd_ctx *ctx;
	bool v6_2;
	uint32_t ioas;
	uint32_t ioas2;
	uint32_t stdev;
	uint32_t hwpt;
	uint32_t idev;
	uint8_t *buf;
	uint8_t *buf2;
	uint64_t iova;
	int afd;
	uint8_t *pages;
};

FIXTURE_VARIANT(obj)
{
	uint32_t kernel;
};

FIXTURE_VARIANT_ADD(obj, newest) { .kernel = UIOMMUFD_KERNEL_7_2 };
FIXTURE_VARIANT_ADD(obj, v6_2) { .kernel = UIOMMUFD_KERNEL_6_2 };

/* MOCK_DOMAIN in the 56-byte Linux 6.2 command (a 6.2 context only). */
static int mock_domain_v6_2(struct uiommufd_ctx *ctx, uint32_t ioas_id,
			    uint32_t *dev_id, uint32_t *hwpt_id)
{
	struct iommu_test_cmd_v6_2 cmd = {
		.size = sizeof(cmd),
		.op = IOMMU_TEST_OP_MOCK_DOMAIN,
		.id = ioas_id,
	};
	int rc = uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd);

	if (rc)
		return rc;
	*dev_id = cmd.mock_domain.out_device_id;
	*hwpt_id = cmd.mock_domain.out_hwpt_id;
	return 0;
}

FIXTURE_SETUP(obj)
{
	self->afd = -1;
	self->buf = test_buffer(BUF_LEN);
	ASSERT_NE(NULL, self->buf);
	self->buf2 = test_buffer(BUF_LEN);
	ASSERT_NE(NULL, self->buf2);
	for (size_t i = 0; i != BUF_LEN; i++) {
		self->buf[i] = i * 7 + 1;
		self->buf2[i] = i * 11 + 3;
	}
	self->pages = guarded_pages();
	ASSERT_NE(NULL, self->pages);
	self->v6_2 = variant->kernel == UIOMMUFD_KERNEL_6_2;
	self->ctx = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NE(NULL, self->ctx);
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas));
	if (self->v6_2)
		ASSERT_EQ(0, mock_domain_v6_2(self->ctx, self->ioas,
					      &self->stdev, &self->hwpt));
	else
		ASSERT_EQ(0, test_mock_domain(self->ctx, self->ioas,
					      &self->stdev, &self->hwpt,
					      &self->idev));
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas, self->buf, BUF_LEN,
			      &self->iova, MAP_RW));
	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas2));
}

FIXTURE_TEARDOWN(obj)
{
	if (self->afd >= 0)
		uiommufd_fd_close(self->afd);
	uiommufd_ctx_close(self->ctx);
	if (self->pages)
		munmap(self->pages, 3 * PAGE);
	if (self->buf)
		munmap(self->buf, BUF_LEN);
	if (self->buf2)
		munmap(self->buf2, BUF_LEN);
}

/* The world is as setup left it. */
static void check_world(struct _fixture_data_obj *self)
{
	struct iommu_iova_range r[2];
	uint32_t num = 0;
	uint64_t unmapped = 0;

	EXPECT_EQ(0, test_check_map(self->ctx, self->hwpt, self->iova, BUF_LEN,
				    self->buf));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf, BUF_LEN, 1));
	EXPECT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas2, r, 2, &num,
				      NULL));
	EXPECT_EQ(1, num);
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas2, 0, UINT64_MAX,
				&unmapped));
	EXPECT_EQ(0, unmapped);
}

/* IDs that are not an IOAS: none, unused, and every other type. */
static size_t non_ioas_ids(struct _fixture_data_obj *self, uint32_t *ids)
{
	size_t n = 0;

	ids[n++] = 0;
	ids[n++] = 1000;
	ids[n++] = UINT32_MAX;
	ids[n++] = self->hwpt;
	ids[n++] = self->idev;
	ids[n++] = self->stdev;
	return n;
}

/* ------------------------------------------------------------------ */
/* Flags and reserved fields                                           */
/* ------------------------------------------------------------------ */

TEST_F(obj, ioas_alloc_flags)
{
	for (unsigned int bit = 0; bit != 32; bit++) {
		struct iommu_ioas_alloc cmd = {
			.size = sizeof(cmd),
			.flags = 1u << bit,
		};

		EXPECT_FAILS(EOPNOTSUPP,
			     uiommufd_ioctl(self->ctx, IOMMU_IOAS_ALLOC, &cmd),
			     "IOAS_ALLOC flags", cmd.flags);
		EXPECT_EQ(0, cmd.out_ioas_id);
	}
	/* The first free ID after the five objects is still free. */
	EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->ioas2 + 1));
	check_world(self);
}

static int map_raw(struct _fixture_data_obj *self, uint32_t flags,
		   uint32_t reserved)
{
	struct iommu_ioas_map cmd = {
		.size = sizeof(cmd),
		.flags = flags,
		.ioas_id = self->ioas2,
		.__reserved = reserved,
		.user_va = (uintptr_t)self->buf,
		.length = PAGE,
		.iova = 0x100000,
	};

	return uiommufd_ioctl(self->ctx, IOMMU_IOAS_MAP, &cmd);
}

TEST_F(obj, ioas_map_flags_and_reserved)
{
	for (unsigned int bit = 3; bit != 32; bit++) {
		EXPECT_FAILS(EOPNOTSUPP, map_raw(self, 1u << bit, 0),
			     "MAP flag", 1u << bit);
		EXPECT_FAILS(EOPNOTSUPP,
			     map_raw(self, MAP_FIXED_RW | 1u << bit, 0),
			     "MAP valid flags plus", 1u << bit);
	}
	EXPECT_FAILS(EOPNOTSUPP, map_raw(self, MAP_FIXED_RW, 1),
		     "MAP __reserved", 1);
	EXPECT_FAILS(EOPNOTSUPP, map_raw(self, MAP_FIXED_RW, 0x80000000u),
		     "MAP __reserved", 0x80000000u);
	check_world(self);
	/* The same command with valid flags works. */
	EXPECT_EQ(0, map_raw(self, MAP_FIXED_RW, 0));
}

/*
 * Unknown COPY flags are EOPNOTSUPP. MOCK_FLAGS_ACCESS_SYZ is one under
 * 6.2; under 7.2 it is the test build's: src_iova is {u32 nth area, u32
 * offset} of the source IOAS.
 */
TEST_F(obj, ioas_copy_flags)
{
	uint64_t dst = 0x100000, unmapped = 0;
	uint8_t rd[16];

	for (unsigned int bit = 3; bit != 32; bit++) {
		if (!self->v6_2 && 1u << bit == MOCK_FLAGS_ACCESS_SYZ)
			continue;
		EXPECT_FAILS(EOPNOTSUPP,
			     ioas_copy(self->ctx, self->ioas2, self->ioas,
				       self->iova, BUF_LEN, &dst,
				       MAP_FIXED_RW | 1u << bit),
			     "COPY flag", 1u << bit);
	}
	check_world(self);
	/* Area 0 of ioas from its second page: {nth 0, offset PAGE}. */
	if (self->v6_2) {
		EXPECT_ERR(EOPNOTSUPP,
			   ioas_copy(self->ctx, self->ioas2, self->ioas,
				     (uint64_t)PAGE << 32, PAGE, &dst,
				     MAP_FIXED_RW | MOCK_FLAGS_ACCESS_SYZ));
	} else {
		EXPECT_EQ(0, ioas_copy(self->ctx, self->ioas2, self->ioas,
				       (uint64_t)PAGE << 32, PAGE, &dst,
				       MAP_FIXED_RW | MOCK_FLAGS_ACCESS_SYZ));
		EXPECT_EQ(0x100000, dst);
		/* It maps the second page of buf. */
		ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, 0,
						&self->afd));
		EXPECT_EQ(0, test_access_rw(self->ctx, self->afd, dst, rd,
					    sizeof(rd), 0));
		EXPECT_EQ(0, memcmp(rd, self->buf + PAGE, sizeof(rd)));
		EXPECT_EQ(0, uiommufd_fd_close(self->afd));
		self->afd = -1;
		EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas2, dst, PAGE,
					&unmapped));
		EXPECT_EQ(PAGE, unmapped);
		/* Other flags with it are still unknown. */
		EXPECT_ERR(EOPNOTSUPP,
			   ioas_copy(self->ctx, self->ioas2, self->ioas,
				     (uint64_t)PAGE << 32, PAGE, &dst,
				     MAP_FIXED_RW | MOCK_FLAGS_ACCESS_SYZ |
					     1u << 3));
	}
	check_world(self);
	EXPECT_EQ(0, ioas_copy(self->ctx, self->ioas2, self->ioas, self->iova,
			       BUF_LEN, &dst, MAP_FIXED_RW));
}

TEST_F(obj, iova_ranges_and_allow_iovas_reserved)
{
	struct iommu_iova_range range = { 0x100000, 0x1fffff };
	struct iommu_ioas_iova_ranges ranges = {
		.size = sizeof(ranges),
		.ioas_id = self->ioas2,
		.num_iovas = 1,
		.allowed_iovas = (uintptr_t)&range,
		.out_iova_alignment = 0x55,
	};
	struct iommu_ioas_allow_iovas allow = {
		.size = sizeof(allow),
		.ioas_id = self->ioas2,
		.num_iovas = 1,
		.allowed_iovas = (uintptr_t)&range,
	};
	const uint32_t reserved[] = { 1, 0x100, 0x80000000u };

	for (size_t i = 0; i != ARRAY_SIZE(reserved); i++) {
		ranges.__reserved = reserved[i];
		EXPECT_FAILS(EOPNOTSUPP,
			     uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES,
					    &ranges),
			     "IOVA_RANGES __reserved", reserved[i]);
		/* Nothing written back. */
		EXPECT_EQ(1, ranges.num_iovas);
		EXPECT_EQ(0x55, ranges.out_iova_alignment);
		EXPECT_EQ(0x100000, range.start);
		allow.__reserved = reserved[i];
		EXPECT_FAILS(EOPNOTSUPP,
			     uiommufd_ioctl(self->ctx, IOMMU_IOAS_ALLOW_IOVAS,
					    &allow),
			     "ALLOW_IOVAS __reserved", reserved[i]);
	}
	/* Nothing was allowed: a reserved range over it is fine. */
	EXPECT_EQ(0, test_add_reserved(self->ctx, self->ioas2, 0x100000,
				       0x100000));
}

static int option_raw(struct _fixture_data_obj *self,
		      struct iommu_option *cmd)
{
	cmd->size = sizeof(*cmd);
	cmd->val64 = 0xdeadbeef;
	return uiommufd_ioctl(self->ctx, IOMMU_OPTION, cmd);
}

TEST_F(obj, option_reserved_id_op)
{
	struct iommu_option cmd;
	const uint32_t ids[] = { 2, 3, 0x100, UINT32_MAX };
	const uint16_t ops[] = { 2, 3, 0x100, UINT16_MAX };

	for (uint32_t opt = 0; opt != 2; opt++) {
		uint32_t obj = opt == IOMMU_OPTION_HUGE_PAGES ? self->ioas : 0;

		for (uint16_t op = 0; op != 2; op++) {
			cmd = (struct iommu_option){ .option_id = opt,
						     .op = op,
						     .object_id = obj,
						     .__reserved = 1 };
			EXPECT_FAILS(EOPNOTSUPP, option_raw(self, &cmd),
				     "OPTION __reserved, option", opt);
			EXPECT_EQ(0xdeadbeef, cmd.val64);
		}
		for (size_t i = 0; i != ARRAY_SIZE(ops); i++) {
			cmd = (struct iommu_option){ .option_id = opt,
						     .op = ops[i],
						     .object_id = obj };
			EXPECT_FAILS(EOPNOTSUPP, option_raw(self, &cmd),
				     "OPTION unknown op", ops[i]);
			EXPECT_EQ(0xdeadbeef, cmd.val64);
		}
	}
	for (size_t i = 0; i != ARRAY_SIZE(ids); i++) {
		cmd = (struct iommu_option){ .option_id = ids[i],
					     .op = IOMMU_OPTION_OP_GET,
					     .object_id = self->ioas };
		EXPECT_FAILS(EOPNOTSUPP, option_raw(self, &cmd),
			     "OPTION unknown option_id", ids[i]);
		EXPECT_EQ(0xdeadbeef, cmd.val64);
	}
}

/* RLIMIT_MODE is global: any object_id is refused, before privilege. */
TEST_F(obj, option_rlimit_mode_object_id)
{
	const uint32_t ids[] = { 1, self->ioas, self->hwpt, UINT32_MAX };
	struct iommu_option cmd;

	for (size_t i = 0; i != ARRAY_SIZE(ids); i++) {
		for (uint16_t op = 0; op != 2; op++) {
			cmd = (struct iommu_option){
				.option_id = IOMMU_OPTION_RLIMIT_MODE,
				.op = op,
				.object_id = ids[i],
			};
			EXPECT_FAILS(EOPNOTSUPP, option_raw(self, &cmd),
				     "RLIMIT_MODE object_id", ids[i]);
			EXPECT_EQ(0xdeadbeef, cmd.val64);
		}
	}
	cmd = (struct iommu_option){ .option_id = IOMMU_OPTION_RLIMIT_MODE,
				     .op = IOMMU_OPTION_OP_GET };
	EXPECT_EQ(0, option_raw(self, &cmd));
	EXPECT_EQ(0, cmd.val64);
}

TEST_F(obj, vfio_ioas_reserved_and_op)
{
	struct iommu_vfio_ioas cmd;
	const uint16_t ops[] = { 3, 4, 0x100, UINT16_MAX };
	const uint16_t reserved[] = { 1, 0x8000 };
	uint32_t id = 0;

	for (size_t i = 0; i != ARRAY_SIZE(reserved); i++) {
		for (uint16_t op = 0; op != 3; op++) {
			cmd = (struct iommu_vfio_ioas){
				.size = sizeof(cmd),
				.ioas_id = self->ioas,
				.op = op,
				.__reserved = reserved[i],
			};
			EXPECT_FAILS(EOPNOTSUPP,
				     uiommufd_ioctl(self->ctx, IOMMU_VFIO_IOAS,
						    &cmd),
				     "VFIO_IOAS __reserved, op", op);
		}
	}
	for (size_t i = 0; i != ARRAY_SIZE(ops); i++) {
		cmd = (struct iommu_vfio_ioas){
			.size = sizeof(cmd),
			.ioas_id = self->ioas,
			.op = ops[i],
		};
		EXPECT_FAILS(EOPNOTSUPP,
			     uiommufd_ioctl(self->ctx, IOMMU_VFIO_IOAS, &cmd),
			     "VFIO_IOAS op", ops[i]);
	}
	/* The refused SETs set nothing. */
	EXPECT_ERR(ENODEV, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_GET, &id));
}

/* Ops 10 on came after 6.2: unknown there, as ops no release has. */
TEST_F(obj, test_cmd_unknown_op)
{
	const uint32_t ops[] = { 0, 24, 1000, 0x10000, UINT32_MAX };
	const uint32_t ops_after_6_2[] = { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
					   IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
					   IOMMU_TEST_OP_DMABUF_REVOKE };
	struct iommu_test_cmd cmd;

	for (size_t i = 0; i != ARRAY_SIZE(ops) + ARRAY_SIZE(ops_after_6_2);
	     i++) {
		uint32_t op = i < ARRAY_SIZE(ops) ?
				      ops[i] :
				      ops_after_6_2[i - ARRAY_SIZE(ops)];

		if (!self->v6_2 && i >= ARRAY_SIZE(ops))
			break;
		memset(&cmd, 0, sizeof(cmd));
		cmd.op = op;
		cmd.id = self->ioas;
		EXPECT_FAILS(EOPNOTSUPP, test_cmd(self->ctx, &cmd), "test op",
			     op);
		/* In every size of the release's layout. */
		EXPECT_FAILS(EOPNOTSUPP,
			     raw_test_cmd(self->ctx, &cmd,
					  self->v6_2 ?
						  IOMMU_TEST_CMD_V6_2_SIZE :
						  IOMMU_TEST_CMD_MIN_SIZE),
			     "test op, release's size", op);
		if (self->v6_2)
			EXPECT_FAILS(EOPNOTSUPP,
				     raw_test_cmd(self->ctx, &cmd,
						  IOMMU_TEST_CMD_V6_2_MIN_SIZE),
				     "test op, 6.2 minimum size", op);
		else
			EXPECT_FAILS(EINVAL,
				     raw_test_cmd(self->ctx, &cmd,
						  IOMMU_TEST_CMD_V6_2_SIZE),
				     "test op, 6.2 size under 7.2", op);
	}
	check_world(self);
}

TEST_F(obj, create_access_flags)
{
	int fd = next_fd();
	int afd = -1;

	for (unsigned int bit = 1; bit != 32; bit++) {
		EXPECT_FAILS(EOPNOTSUPP,
			     test_create_access(self->ctx, self->ioas2,
						1u << bit, &afd),
			     "CREATE_ACCESS flag", 1u << bit);
		EXPECT_FAILS(EOPNOTSUPP,
			     test_create_access(self->ctx, self->ioas2,
						NEEDS_PIN | 1u << bit, &afd),
			     "CREATE_ACCESS valid flag plus", 1u << bit);
	}
	EXPECT_EQ(-1, afd);
	/* No descriptor was used up, nothing holds ioas2. */
	EXPECT_EQ(fd, next_fd());
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas2));
}

TEST_F(obj, access_pages_and_rw_flags)
{
	uint8_t rd[16];

	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas, NEEDS_PIN,
					&self->afd));
	for (unsigned int bit = 0; bit != 32; bit++) {
		uint32_t flag = 1u << bit;
		/* MOCK_FLAGS_ACCESS_SYZ came after 6.2. */
		bool syz_known = !self->v6_2 && flag == MOCK_FLAGS_ACCESS_SYZ;

		if (flag != MOCK_FLAGS_ACCESS_WRITE && !syz_known)
			EXPECT_FAILS(EOPNOTSUPP,
				     test_access_pages(self->ctx, self->afd,
						       self->iova, PAGE,
						       self->buf, flag, NULL),
				     "ACCESS_PAGES flag", flag);
		if (flag != MOCK_ACCESS_RW_WRITE &&
		    flag != MOCK_ACCESS_RW_SLOW_PATH && !syz_known)
			EXPECT_FAILS(EOPNOTSUPP,
				     test_access_rw(self->ctx, self->afd,
						    self->iova, rd, sizeof(rd),
						    flag),
				     "ACCESS_RW flag", flag);
	}
	/* Nothing pinned by the refused calls. */
	EXPECT_ERR(ENOENT, test_destroy_access_pages(self->ctx, self->afd, 0));
	check_world(self);
}

/* ------------------------------------------------------------------ */
/* ID arguments given the wrong object                                 */
/* ------------------------------------------------------------------ */

TEST_F(obj, destroy_ids)
{
	uint32_t id = 0;

	EXPECT_FAILS(ENOENT, ioctl_destroy(self->ctx, 0), "DESTROY", 0);
	EXPECT_FAILS(ENOENT, ioctl_destroy(self->ctx, 1000), "DESTROY", 1000);
	EXPECT_FAILS(ENOENT, ioctl_destroy(self->ctx, UINT32_MAX), "DESTROY",
		     UINT32_MAX);
	/* Objects something depends on. */
	EXPECT_FAILS(EBUSY, ioctl_destroy(self->ctx, self->ioas), "DESTROY",
		     self->ioas);
	EXPECT_FAILS(EBUSY, ioctl_destroy(self->ctx, self->hwpt), "DESTROY",
		     self->hwpt);
	if (self->idev)
		EXPECT_FAILS(EBUSY, ioctl_destroy(self->ctx, self->idev),
			     "DESTROY", self->idev);
	check_world(self);
	/* An ID just destroyed is gone. */
	ASSERT_EQ(0, ioas_alloc(self->ctx, &id));
	EXPECT_EQ(0, ioctl_destroy(self->ctx, id));
	EXPECT_FAILS(ENOENT, ioctl_destroy(self->ctx, id), "DESTROY again",
		     id);
}

TEST_F(obj, allow_iovas_ids)
{
	struct iommu_iova_range range = { 0x100000, 0x1fffff };
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);

	for (size_t i = 0; i != n; i++)
		EXPECT_FAILS(ENOENT,
			     ioas_allow_iovas(self->ctx, ids[i], &range, 1),
			     "ALLOW_IOVAS ioas_id", ids[i]);
	check_world(self);
}

TEST_F(obj, copy_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);
	uint64_t dst;

	for (size_t i = 0; i != n; i++) {
		dst = 0x100000;
		EXPECT_FAILS(ENOENT,
			     ioas_copy(self->ctx, ids[i], self->ioas,
				       self->iova, BUF_LEN, &dst,
				       MAP_FIXED_RW),
			     "COPY dst_ioas_id", ids[i]);
		EXPECT_FAILS(ENOENT,
			     ioas_copy(self->ctx, self->ioas2, ids[i],
				       self->iova, BUF_LEN, &dst,
				       MAP_FIXED_RW),
			     "COPY src_ioas_id", ids[i]);
		EXPECT_FAILS(ENOENT,
			     ioas_copy(self->ctx, self->ioas2, ids[i],
				       self->iova, BUF_LEN, NULL, MAP_RW),
			     "COPY src_ioas_id, automatic IOVA", ids[i]);
	}
	check_world(self);
}

TEST_F(obj, iova_ranges_ids)
{
	struct iommu_iova_range range = { 0x77, 0x77 };
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);
	uint32_t num;

	for (size_t i = 0; i != n; i++) {
		num = 0x55;
		EXPECT_FAILS(ENOENT,
			     ioas_iova_ranges(self->ctx, ids[i], &range, 1,
					      &num, NULL),
			     "IOVA_RANGES ioas_id", ids[i]);
		EXPECT_EQ(1, num);
		EXPECT_EQ(0x77, range.start);
	}
}

TEST_F(obj, map_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);
	uint64_t iova;

	for (size_t i = 0; i != n; i++) {
		iova = 0x100000;
		EXPECT_FAILS(ENOENT,
			     ioas_map(self->ctx, ids[i], self->buf, PAGE,
				      &iova, MAP_FIXED_RW),
			     "MAP ioas_id", ids[i]);
		EXPECT_FAILS(ENOENT,
			     ioas_map(self->ctx, ids[i], self->buf, PAGE,
				      &iova, MAP_RW),
			     "MAP ioas_id, automatic IOVA", ids[i]);
	}
	check_world(self);
}

TEST_F(obj, unmap_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);

	for (size_t i = 0; i != n; i++) {
		EXPECT_FAILS(ENOENT,
			     ioas_unmap(self->ctx, ids[i], self->iova, BUF_LEN,
					NULL),
			     "UNMAP ioas_id", ids[i]);
		EXPECT_FAILS(ENOENT,
			     ioas_unmap(self->ctx, ids[i], 0, UINT64_MAX,
					NULL),
			     "UNMAP all, ioas_id", ids[i]);
	}
	check_world(self);
}

TEST_F(obj, option_huge_pages_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);
	uint64_t val;

	for (size_t i = 0; i != n; i++) {
		val = 0x55;
		EXPECT_FAILS(ENOENT,
			     ioctl_option(self->ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_GET, ids[i], &val),
			     "HUGE_PAGES GET object_id", ids[i]);
		EXPECT_EQ(0x55, val);
		val = 0;
		EXPECT_FAILS(ENOENT,
			     ioctl_option(self->ctx, IOMMU_OPTION_HUGE_PAGES,
					  IOMMU_OPTION_OP_SET, ids[i], &val),
			     "HUGE_PAGES SET object_id", ids[i]);
	}
}

TEST_F(obj, vfio_ioas_set_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);
	uint32_t id;

	for (size_t i = 0; i != n; i++) {
		id = ids[i];
		EXPECT_FAILS(ENOENT,
			     vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_SET, &id),
			     "VFIO_IOAS SET ioas_id", ids[i]);
	}
	EXPECT_ERR(ENODEV, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_GET, &id));
	/* A failed SET keeps the IOAS set before. */
	id = self->ioas2;
	ASSERT_EQ(0, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = self->hwpt;
	EXPECT_ERR(ENOENT, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_SET, &id));
	id = 0;
	EXPECT_EQ(0, vfio_ioas(self->ctx, IOMMU_VFIO_IOAS_GET, &id));
	EXPECT_EQ(self->ioas2, id);
}

TEST_F(obj, add_reserved_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);

	for (size_t i = 0; i != n; i++)
		EXPECT_FAILS(ENOENT,
			     test_add_reserved(self->ctx, ids[i], 0x100000,
					       PAGE),
			     "ADD_RESERVED id", ids[i]);
	check_world(self);
}

TEST_F(obj, mock_domain_ids)
{
	uint32_t stdev = 0, hwpt = 0;

	EXPECT_FAILS(ENOENT, test_mock_domain(self->ctx, 0, NULL, NULL, NULL),
		     "MOCK_DOMAIN id", 0);
	EXPECT_FAILS(ENOENT,
		     test_mock_domain(self->ctx, 1000, NULL, NULL, NULL),
		     "MOCK_DOMAIN id", 1000);
	EXPECT_FAILS(ENOENT,
		     test_mock_domain(self->ctx, UINT32_MAX, NULL, NULL, NULL),
		     "MOCK_DOMAIN id", UINT32_MAX);
	if (self->v6_2) {
		/* 6.2 looked the ID up as an IOAS: nothing else is one. */
		EXPECT_FAILS(ENOENT,
			     test_mock_domain(self->ctx, self->stdev, NULL,
					      NULL, NULL),
			     "MOCK_DOMAIN id", self->stdev);
		EXPECT_FAILS(ENOENT,
			     test_mock_domain(self->ctx, self->hwpt, NULL,
					      NULL, NULL),
			     "MOCK_DOMAIN id", self->hwpt);
		EXPECT_FAILS(ENOENT,
			     mock_domain_v6_2(self->ctx, self->hwpt, &stdev,
					      &hwpt),
			     "MOCK_DOMAIN (56 bytes) id", self->hwpt);
	} else {
		/* It exists but is neither an IOAS nor a HW pagetable. */
		EXPECT_FAILS(EINVAL,
			     test_mock_domain(self->ctx, self->idev, NULL,
					      NULL, NULL),
			     "MOCK_DOMAIN id", self->idev);
		EXPECT_FAILS(EINVAL,
			     test_mock_domain(self->ctx, self->stdev, NULL,
					      NULL, NULL),
			     "MOCK_DOMAIN id", self->stdev);
	}
	/* None of them left an object: the next ID is still free. */
	EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->ioas2 + 1));
	check_world(self);
	if (self->v6_2)
		return;
	/* A HW pagetable is a fine target. */
	ASSERT_EQ(0, test_mock_domain(self->ctx, self->hwpt, &stdev, &hwpt,
				      NULL));
	EXPECT_EQ(self->hwpt, hwpt);
	EXPECT_EQ(0, ioctl_destroy(self->ctx, stdev));
}

TEST_F(obj, check_map_ids)
{
	const uint32_t ids[] = { 0, 1000, UINT32_MAX, self->ioas, self->ioas2,
				 self->idev, self->stdev };

	for (size_t i = 0; i != ARRAY_SIZE(ids); i++)
		EXPECT_FAILS(ENOENT,
			     test_check_map(self->ctx, ids[i], self->iova,
					    BUF_LEN, self->buf),
			     "MD_CHECK_MAP id", ids[i]);
	EXPECT_EQ(0, test_check_map(self->ctx, self->hwpt, self->iova, BUF_LEN,
				    self->buf));
}

TEST_F(obj, create_access_ids)
{
	uint32_t ids[8];
	size_t n = non_ioas_ids(self, ids);
	int fd = next_fd();
	int afd = -1;

	for (size_t i = 0; i != n; i++) {
		EXPECT_FAILS(ENOENT,
			     test_create_access(self->ctx, ids[i], 0, &afd),
			     "CREATE_ACCESS id", ids[i]);
		EXPECT_FAILS(ENOENT,
			     test_create_access(self->ctx, ids[i], NEEDS_PIN,
						&afd),
			     "CREATE_ACCESS (pinning) id", ids[i]);
	}
	EXPECT_EQ(-1, afd);
	EXPECT_EQ(fd, next_fd());
	check_world(self);
}

/* The three ops that name an access descriptor, given @fd. */
static void expect_not_access(struct _fixture_data_obj *self, int fd,
			      const char *what)
{
	uint8_t rd[16];

	EXPECT_FAILS(EBADFD, test_destroy_access_pages(self->ctx, fd, 0), what,
		     (uint32_t)fd);
	EXPECT_FAILS(EBADFD,
		     test_access_pages(self->ctx, fd, self->iova, PAGE,
				       self->buf, 0, NULL),
		     what, (uint32_t)fd);
	EXPECT_FAILS(EBADFD,
		     test_access_rw(self->ctx, fd, self->iova, rd, sizeof(rd),
				    0),
		     what, (uint32_t)fd);
	EXPECT_FAILS(EBADFD,
		     test_access_rw(self->ctx, fd, self->iova, rd, sizeof(rd),
				    MOCK_ACCESS_RW_WRITE),
		     what, (uint32_t)fd);
}

TEST_F(obj, access_fd_not_an_access)
{
	int null_fd = open("/dev/null", O_RDWR);
	int afd = -1;

	ASSERT_LE(0, null_fd);
	expect_not_access(self, -1, "fd -1");
	expect_not_access(self, INT_MIN, "fd INT_MIN");
	expect_not_access(self, null_fd, "/dev/null");
	expect_not_access(self, 1, "stdout");
	expect_not_access(self, 100000, "fd never opened");
	/* The ID of an object is no descriptor. */
	expect_not_access(self, self->ioas2, "an IOAS id");
	/* A closed access. */
	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, NEEDS_PIN,
					&afd));
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	expect_not_access(self, afd, "closed access fd");
	close(null_fd);
	check_world(self);
	/* The access held ioas2; it is gone. */
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas2));
}

/*
 * An access descriptor closed with close(2): the next command naming it
 * finds no access and releases it, also when the number now names
 * another file.
 */
TEST_F(obj, access_fd_closed_behind_the_library)
{
	int afd = -1, other;

	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, 0, &afd));
	ASSERT_EQ(0, close(afd));
	expect_not_access(self, afd, "access fd closed with close(2)");
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas2));

	ASSERT_EQ(0, ioas_alloc(self->ctx, &self->ioas2));
	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, 0, &afd));
	ASSERT_EQ(0, close(afd));
	other = open("/dev/null", O_RDONLY);
	ASSERT_EQ(afd, other);
	expect_not_access(self, afd, "access fd number reused");
	close(other);
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas2));
}

/* ------------------------------------------------------------------ */
/* Bad pointers inside commands                                        */
/* ------------------------------------------------------------------ */

#define ALLOW_A_START 0x40000000ULL
#define ALLOW_A_LAST 0x40ffffffULL
#define ALLOW_B_START 0x80000000ULL
#define ALLOW_B_LAST 0x80ffffffULL

/* Automatic IOVAs of ioas2 come from the allowed range A. */
static void expect_allowed_a(struct _fixture_data_obj *self)
{
	uint64_t iova = 0;

	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas2, self->buf, PAGE, &iova,
			      MAP_RW));
	EXPECT_LE(ALLOW_A_START, iova);
	EXPECT_GE(ALLOW_A_LAST, iova + PAGE - 1);
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas2, iova, PAGE, NULL));
}

TEST_F(obj, allow_iovas_bad_array)
{
	struct iommu_iova_range a = { ALLOW_A_START, ALLOW_A_LAST };
	struct iommu_iova_range *split;

	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas2, &a, 1));
	expect_allowed_a(self);

	EXPECT_ERR(EFAULT, ioas_allow_iovas(self->ctx, self->ioas2, BAD_PTR,
					    1));
	EXPECT_ERR(EFAULT, ioas_allow_iovas(self->ctx, self->ioas2, BAD_PTR,
					    UINT32_MAX));
	EXPECT_ERR(EFAULT,
		   ioas_allow_iovas(self->ctx, self->ioas2,
				    (void *)GUARD_PAGE(self->pages), 1));
	/* Entry 0 (range B) readable, entry 1 not. */
	split = (void *)(GUARD_PAGE(self->pages) - sizeof(*split));
	split->start = ALLOW_B_START;
	split->last = ALLOW_B_LAST;
	EXPECT_ERR(EFAULT, ioas_allow_iovas(self->ctx, self->ioas2, split, 2));
	/* Still A, and only A. */
	expect_allowed_a(self);
	EXPECT_ERR(EADDRINUSE, test_add_reserved(self->ctx, self->ioas2,
						 ALLOW_A_START, PAGE));
	EXPECT_EQ(0, test_add_reserved(self->ctx, self->ioas2, ALLOW_B_START,
				       PAGE));
}

/* No entries: the pointer is not read and the restriction goes. */
TEST_F(obj, allow_iovas_none_ignores_pointer)
{
	struct iommu_iova_range a = { ALLOW_A_START, ALLOW_A_LAST };

	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas2, &a, 1));
	EXPECT_ERR(EADDRINUSE, test_add_reserved(self->ctx, self->ioas2,
						 ALLOW_A_START, PAGE));
	EXPECT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas2, BAD_PTR, 0));
	EXPECT_EQ(0, test_add_reserved(self->ctx, self->ioas2, ALLOW_A_START,
				       PAGE));
}

TEST_F(obj, iova_ranges_bad_array)
{
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = self->ioas2,
		.num_iovas = 1,
		.allowed_iovas = (uintptr_t)BAD_PTR,
		.out_iova_alignment = 0x55,
	};

	EXPECT_ERR(EFAULT,
		   uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES, &cmd));
	/* Nothing written back. */
	EXPECT_EQ(1, cmd.num_iovas);
	EXPECT_EQ(0x55, cmd.out_iova_alignment);

	cmd.allowed_iovas = (uintptr_t)GUARD_PAGE(self->pages);
	cmd.num_iovas = 4;
	EXPECT_ERR(EFAULT,
		   uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES, &cmd));
	EXPECT_EQ(4, cmd.num_iovas);
	EXPECT_EQ(0x55, cmd.out_iova_alignment);

	/* Capacity 0: the array is not touched, the count comes back. */
	cmd.allowed_iovas = (uintptr_t)BAD_PTR;
	cmd.num_iovas = 0;
	EXPECT_ERR(EMSGSIZE,
		   uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES, &cmd));
	EXPECT_EQ(1, cmd.num_iovas);
	EXPECT_EQ(1, cmd.out_iova_alignment);
}

/* No domain: nothing is pinned at map time, so nothing is read. */
TEST_F(obj, map_unmapped_user_va_no_domain)
{
	uint64_t iova = MOCK_APERTURE_START, unmapped = 0;
	uint32_t stdev = 0;

	ASSERT_TRUE(is_unmapped(UNMAPPED_VA, 2 * PAGE));
	EXPECT_EQ(0, ioas_map(self->ctx, self->ioas2, UNMAPPED_VA, 2 * PAGE,
			      &iova, MAP_FIXED_RW));
	/* Pinning it now, for a domain, cannot work. */
	EXPECT_ERR(EFAULT,
		   test_mock_domain(self->ctx, self->ioas2, &stdev, NULL,
				    NULL));
	EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->ioas2 + 1));
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas2, iova, 2 * PAGE,
				&unmapped));
	EXPECT_EQ(2 * PAGE, unmapped);
	/* Nothing is attached to ioas2. */
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas2));
}

TEST_F(obj, map_unmapped_user_va_domain)
{
	uint8_t *hole = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	uint64_t iova = 0, unmapped = 1;

	ASSERT_NE(MAP_FAILED, hole);
	ASSERT_TRUE(is_unmapped(UNMAPPED_VA, 2 * PAGE));
	EXPECT_ERR(EFAULT, ioas_map(self->ctx, self->ioas, UNMAPPED_VA,
				    2 * PAGE, &iova, MAP_RW));
	/* A hole in the middle of the range. */
	ASSERT_EQ(0, munmap(hole + PAGE, PAGE));
	EXPECT_ERR(EFAULT, ioas_map(self->ctx, self->ioas, hole, 3 * PAGE,
				    &iova, MAP_RW));
	/* Nothing left pinned or mapped. */
	EXPECT_EQ(0, test_check_refs(self->ctx, hole, PAGE, 0));
	EXPECT_EQ(0, test_check_refs(self->ctx, hole + 2 * PAGE, PAGE, 0));
	check_world(self);
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas, 0, UINT64_MAX,
				&unmapped));
	EXPECT_EQ(BUF_LEN, unmapped);
	munmap(hole, PAGE);
	munmap(hole + 2 * PAGE, PAGE);
}

TEST_F(obj, check_map_and_refs_bad_uptr)
{
	ASSERT_TRUE(is_unmapped(UNMAPPED_VA, BUF_LEN));
	EXPECT_ERR(EFAULT, test_check_map(self->ctx, self->hwpt, self->iova,
					  BUF_LEN, UNMAPPED_VA));
	EXPECT_ERR(EFAULT, test_check_refs(self->ctx, UNMAPPED_VA, BUF_LEN,
					   0));
	/* The last page of the range is the unreadable (PROT_NONE) one. */
	EXPECT_ERR(EFAULT, test_check_refs(self->ctx, self->pages, 3 * PAGE,
					   0));
}

/*
 * The kernel checks page by page (one get_user_pages_fast() per page), so
 * a first page that does not match fails before a later unreadable page
 * is reached.
 */
TEST_F(obj, check_mismatch_before_unreadable)
{
	uint8_t *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	/* self->pages is not what is mapped at iova. */
	EXPECT_ERR(EINVAL, test_check_map(self->ctx, self->hwpt, self->iova,
					  3 * PAGE, self->pages));
	/* Its first page is not pinned once. */
	EXPECT_ERR(EIO, test_check_refs(self->ctx, self->pages, 3 * PAGE, 1));
	/* The same with an unmapped page at the end. */
	ASSERT_EQ(0, munmap(p + 2 * PAGE, PAGE));
	EXPECT_ERR(EINVAL, test_check_map(self->ctx, self->hwpt, self->iova,
					  3 * PAGE, p));
	EXPECT_ERR(EIO, test_check_refs(self->ctx, p, 3 * PAGE, 1));
	munmap(p, 2 * PAGE);
}

static void map_ioas2(struct _fixture_data_obj *self, uint64_t *iova)
{
	*iova = 0;
	ASSERT_EQ(0, ioas_map(self->ctx, self->ioas2, self->buf2, BUF_LEN,
			      iova, MAP_RW));
}

/* Read back what ioas2 holds at @iova through the access. */
static void expect_iova_holds(struct _fixture_data_obj *self, int afd,
			      uint64_t iova, const uint8_t *want, size_t len)
{
	uint8_t rd[64];

	ASSERT_GE(sizeof(rd), len);
	memset(rd, 0, sizeof(rd));
	EXPECT_EQ(0, test_access_rw(self->ctx, afd, iova, rd, len, 0));
	EXPECT_EQ(0, memcmp(rd, want, len));
}

TEST_F(obj, access_rw_bad_uptr)
{
	uint8_t *edge = GUARD_PAGE(self->pages) - 8;
	uint8_t want[32];
	uint64_t iova;

	map_ioas2(self, &iova);
	memcpy(want, self->buf2 + 100, sizeof(want));
	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, 0, &self->afd));
	memset(edge, 0xee, 8);
	for (int slow = 0; slow != 2; slow++) {
		uint32_t f = slow ? MOCK_ACCESS_RW_SLOW_PATH : 0;

		EXPECT_ERR(EFAULT, test_access_rw(self->ctx, self->afd,
						  iova + 100, BAD_PTR, 32, f));
		EXPECT_ERR(EFAULT,
			   test_access_rw(self->ctx, self->afd, iova + 100,
					  BAD_PTR, 32,
					  f | MOCK_ACCESS_RW_WRITE));
		/* Half readable: nothing of it reaches the IOVA. */
		EXPECT_ERR(EFAULT,
			   test_access_rw(self->ctx, self->afd, iova + 100,
					  edge, 32, f | MOCK_ACCESS_RW_WRITE));
		EXPECT_ERR(EFAULT, test_access_rw(self->ctx, self->afd,
						  iova + 100, edge, 32, f));
		expect_iova_holds(self, self->afd, iova + 100, want,
				  sizeof(want));
		EXPECT_EQ(0, memcmp(self->buf2 + 100, want, sizeof(want)));
	}
	/* A read-only destination. */
	ASSERT_EQ(0, mprotect(self->pages, PAGE, PROT_READ));
	EXPECT_ERR(EFAULT, test_access_rw(self->ctx, self->afd, iova,
					  self->pages, 16, 0));
	ASSERT_EQ(0, mprotect(self->pages, PAGE, PROT_READ | PROT_WRITE));
}

TEST_F(obj, access_pages_bad_uptr)
{
	uint64_t iova;
	uint32_t item = 0;

	map_ioas2(self, &iova);
	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, NEEDS_PIN,
					&self->afd));
	/* Not the memory behind the IOVA: EBADE, as the kernel's page check. */
	EXPECT_ERR(EBADE, test_access_pages(self->ctx, self->afd, iova, PAGE,
					    self->buf2 + PAGE, 0, NULL));
	EXPECT_ERR(EBADE, test_access_pages(self->ctx, self->afd, iova,
					    2 * PAGE, self->pages, 0, NULL));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf2, BUF_LEN, 0));
	EXPECT_ERR(ENOENT, test_destroy_access_pages(self->ctx, self->afd, 0));
	/* Not memory at all. */
	ASSERT_TRUE(is_unmapped(UNMAPPED_VA, PAGE));
	EXPECT_ERR(EFAULT, test_access_pages(self->ctx, self->afd, iova, PAGE,
					     UNMAPPED_VA, 0, NULL));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf2, BUF_LEN, 0));
	EXPECT_ERR(ENOENT, test_destroy_access_pages(self->ctx, self->afd, 0));
	/* The right memory works, and pins. */
	ASSERT_EQ(0, test_access_pages(self->ctx, self->afd, iova, PAGE,
				       self->buf2, 0, &item));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf2, PAGE, 1));
	EXPECT_EQ(0, test_destroy_access_pages(self->ctx, self->afd, item));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf2, BUF_LEN, 0));
}

/* ------------------------------------------------------------------ */
/* Boundary values                                                     */
/* ------------------------------------------------------------------ */

TEST_F(obj, map_u64_max)
{
	uint64_t iova;

	iova = UINT64_MAX;
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, self->buf, PAGE,
				       &iova, MAP_FIXED_RW));
	iova = UINT64_MAX;
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, self->buf, PAGE,
				       &iova, MAP_RW));
	iova = 0;
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, self->buf,
				       UINT64_MAX, &iova, MAP_FIXED_RW));
	iova = 0;
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, self->buf,
				       UINT64_MAX, &iova, MAP_RW));
	check_world(self);
}

TEST_F(obj, map_length_zero)
{
	uint64_t iova = 0x100000;

	EXPECT_ERR(EINVAL, ioas_map(self->ctx, self->ioas2, self->buf, 0,
				    &iova, MAP_FIXED_RW));
	EXPECT_ERR(EINVAL, ioas_map(self->ctx, self->ioas2, self->buf, 0,
				    &iova, MAP_RW));
	EXPECT_ERR(EINVAL, ioas_map(self->ctx, self->ioas, self->buf, 0,
				    &iova, MAP_RW));
	/* Too long for any address space, though below U64_MAX. */
	EXPECT_ERR(EINVAL, ioas_map(self->ctx, self->ioas2, NULL,
				    UINT64_MAX - 1, &iova, MAP_RW));
	check_world(self);
}

/* user_va + length wraps past the top: refused before any pin. */
TEST_F(obj, map_user_va_wraps)
{
	void *top = (void *)(uintptr_t)(UINT64_MAX - PAGE + 1);
	uint64_t iova = 0;

	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, top, 2 * PAGE,
				       &iova, MAP_RW));
	/* Ending exactly at 2^64 wraps too (check_add_overflow(uptr, len)). */
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, top, PAGE,
				       &iova, MAP_RW));
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas, top, 2 * PAGE,
				       &iova, MAP_RW));
	iova = MOCK_APERTURE_START;
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas,
				       self->buf + PAGE, UINT64_MAX - PAGE,
				       &iova, MAP_FIXED_RW));
	check_world(self);
}

TEST_F(obj, map_fixed_at_top)
{
	uint64_t iova = UINT64_MAX - PAGE + 1, unmapped = 0;
	struct iommu_iova_range r[2];
	uint32_t num = 0;

	EXPECT_EQ(0, ioas_map(self->ctx, self->ioas2, self->buf, PAGE, &iova,
			      MAP_FIXED_RW));
	EXPECT_EQ(UINT64_MAX - PAGE + 1, iova);
	EXPECT_EQ(0, ioas_iova_ranges(self->ctx, self->ioas2, r, 2, &num,
				      NULL));
	EXPECT_EQ(1, num);
	EXPECT_EQ(UINT64_MAX, r[0].last);
	/* The same place again overlaps. */
	EXPECT_ERR(EEXIST, ioas_map(self->ctx, self->ioas2, self->buf, PAGE,
				    &iova, MAP_FIXED_RW));
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas2, UINT64_MAX - PAGE + 1,
				PAGE, &unmapped));
	EXPECT_EQ(PAGE, unmapped);
	/* One page more would pass the top. */
	iova = UINT64_MAX - PAGE + 1;
	EXPECT_ERR(EOVERFLOW, ioas_map(self->ctx, self->ioas2, self->buf,
				       2 * PAGE, &iova, MAP_FIXED_RW));
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas2, 0, UINT64_MAX,
				&unmapped));
	EXPECT_EQ(0, unmapped);
}

TEST_F(obj, unmap_u64_max)
{
	struct iommu_ioas_unmap cmd = {
		.size = sizeof(cmd),
		.ioas_id = self->ioas2,
		.iova = 0,
		.length = UINT64_MAX,
	};

	EXPECT_ERR(EOVERFLOW, ioas_unmap(self->ctx, self->ioas, UINT64_MAX,
					 PAGE, NULL));
	EXPECT_ERR(EOVERFLOW, ioas_unmap(self->ctx, self->ioas, self->iova,
					 UINT64_MAX, NULL));
	EXPECT_ERR(EOVERFLOW, ioas_unmap(self->ctx, self->ioas, UINT64_MAX,
					 UINT64_MAX, NULL));
	check_world(self);
	/* iova 0, length U64_MAX: everything, also when that is nothing. */
	EXPECT_EQ(0, uiommufd_ioctl(self->ctx, IOMMU_IOAS_UNMAP, &cmd));
	EXPECT_EQ(0, cmd.length);
	cmd.ioas_id = self->ioas;
	cmd.length = UINT64_MAX;
	EXPECT_EQ(0, uiommufd_ioctl(self->ctx, IOMMU_IOAS_UNMAP, &cmd));
	EXPECT_EQ(BUF_LEN, cmd.length);
}

TEST_F(obj, copy_u64_max)
{
	uint64_t dst;

	dst = 0x100000;
	EXPECT_ERR(EOVERFLOW, ioas_copy(self->ctx, self->ioas2, self->ioas,
					self->iova, UINT64_MAX, &dst,
					MAP_FIXED_RW));
	dst = 0x100000;
	EXPECT_ERR(EOVERFLOW, ioas_copy(self->ctx, self->ioas2, self->ioas,
					UINT64_MAX, PAGE, &dst,
					MAP_FIXED_RW));
	dst = UINT64_MAX;
	EXPECT_ERR(EOVERFLOW, ioas_copy(self->ctx, self->ioas2, self->ioas,
					self->iova, PAGE, &dst, MAP_FIXED_RW));
	dst = UINT64_MAX;
	EXPECT_ERR(EOVERFLOW, ioas_copy(self->ctx, self->ioas2, self->ioas,
					self->iova, PAGE, &dst, MAP_RW));
	check_world(self);
}

/* UAPI.md: the EMSGSIZE rules of IOVA_RANGES, with two ranges. */
TEST_F(obj, iova_ranges_capacity)
{
	struct iommu_iova_range r[3];
	struct iommu_ioas_iova_ranges cmd = {
		.size = sizeof(cmd),
		.ioas_id = self->ioas2,
		.allowed_iovas = (uintptr_t)r,
	};

	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas2, PAGE, PAGE));

	memset(r, GUARD, sizeof(r));
	cmd.num_iovas = 0;
	cmd.out_iova_alignment = 0x55;
	EXPECT_ERR(EMSGSIZE,
		   uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES, &cmd));
	EXPECT_EQ(2, cmd.num_iovas);
	EXPECT_EQ(1, cmd.out_iova_alignment);
	EXPECT_TRUE(all_bytes(r, GUARD, sizeof(r)));

	cmd.num_iovas = 1;
	cmd.out_iova_alignment = 0x55;
	EXPECT_ERR(EMSGSIZE,
		   uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES, &cmd));
	EXPECT_EQ(2, cmd.num_iovas);
	EXPECT_EQ(1, cmd.out_iova_alignment);
	EXPECT_EQ(0, r[0].start);
	EXPECT_EQ(PAGE - 1, r[0].last);
	EXPECT_TRUE(all_bytes(&r[1], GUARD, 2 * sizeof(r[1])));

	cmd.num_iovas = 2;
	EXPECT_EQ(0, uiommufd_ioctl(self->ctx, IOMMU_IOAS_IOVA_RANGES, &cmd));
	EXPECT_EQ(2, cmd.num_iovas);
	EXPECT_EQ(2 * PAGE, r[1].start);
	EXPECT_EQ(UINT64_MAX, r[1].last);
	EXPECT_TRUE(all_bytes(&r[2], GUARD, sizeof(r[2])));
}

TEST_F(obj, allow_iovas_ranges)
{
	const struct {
		struct iommu_iova_range r[3];
		uint32_t num;
		int err;
	} cases[] = {
		/* start >= last */
		{ { { 0x1000, 0x1000 } }, 1, EINVAL },
		{ { { 0x2000, 0x1fff } }, 1, EINVAL },
		{ { { UINT64_MAX, UINT64_MAX } }, 1, EINVAL },
		{ { { 0x1000, 0x1fff }, { 0x5000, 0x4000 } }, 2, EINVAL },
		/* overlapping in one call */
		{ { { 0x1000, 0x1fff }, { 0x1000, 0x1fff } }, 2, EINVAL },
		{ { { 0x1000, 0x2fff }, { 0x2fff, 0x3fff } }, 2, EINVAL },
		{ { { 0x1000, 0x8fff }, { 0x2000, 0x2fff } }, 2, EINVAL },
		{ { { 0x5000, 0x5fff }, { 0x1000, 0x1fff },
		    { 0x0, 0x5000 } }, 3, EINVAL },
		/* intersecting the reserved [0x10000000, +PAGE) */
		{ { { 0x0fffffff, 0x10000000 } }, 1, EADDRINUSE },
		{ { { 0x1000, 0x1fff }, { 0x10000fff, 0x20000000 } }, 2,
		  EADDRINUSE },
		{ { { 0, UINT64_MAX } }, 1, EADDRINUSE },
	};
	struct iommu_iova_range a = { ALLOW_A_START, ALLOW_A_LAST };
	struct iommu_iova_range ok[2] = { { 0x1000, 0x1fff },
					  { 0x2000, 0x2fff } };

	ASSERT_EQ(0, test_add_reserved(self->ctx, self->ioas2, 0x10000000,
				       PAGE));
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas2, &a, 1));
	for (size_t i = 0; i != ARRAY_SIZE(cases); i++)
		EXPECT_FAILS(cases[i].err,
			     ioas_allow_iovas(self->ctx, self->ioas2,
					      cases[i].r, cases[i].num),
			     "ALLOW_IOVAS case", i);
	expect_allowed_a(self);
	/* Adjacent ranges do not overlap. */
	EXPECT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas2, ok, 2));
}

TEST_F(obj, add_reserved_ranges)
{
	struct iommu_iova_range a = { ALLOW_A_START, ALLOW_A_LAST };

	EXPECT_ERR(EINVAL, test_add_reserved(self->ctx, self->ioas2, 0x1000,
					     0));
	EXPECT_ERR(EOVERFLOW, test_add_reserved(self->ctx, self->ioas2,
						UINT64_MAX, 2));
	EXPECT_ERR(EOVERFLOW, test_add_reserved(self->ctx, self->ioas2, PAGE,
						UINT64_MAX));
	ASSERT_EQ(0, ioas_allow_iovas(self->ctx, self->ioas2, &a, 1));
	EXPECT_ERR(EADDRINUSE, test_add_reserved(self->ctx, self->ioas2,
						 ALLOW_A_LAST, 1));
	EXPECT_ERR(EADDRINUSE, test_add_reserved(self->ctx, self->ioas2,
						 ALLOW_A_START - 1, 2));
	/* Over a mapping. */
	EXPECT_ERR(EADDRINUSE, test_add_reserved(self->ctx, self->ioas,
						 self->iova + BUF_LEN - 1, 1));
	EXPECT_ERR(EADDRINUSE, test_add_reserved(self->ctx, self->ioas, 0,
						 self->iova + 1));
	check_world(self);
	/* The very top, and right next to the allowed range, are fine. */
	EXPECT_EQ(0, test_add_reserved(self->ctx, self->ioas2, UINT64_MAX, 1));
	EXPECT_EQ(0, test_add_reserved(self->ctx, self->ioas2,
				       ALLOW_A_LAST + 1, PAGE));
}

TEST_F(obj, temp_memory_limit)
{
	const uint32_t bad[] = { 0, 1, 11 };

	for (size_t i = 0; i != ARRAY_SIZE(bad); i++)
		EXPECT_FAILS(EINVAL,
			     test_set_temp_memory_limit(self->ctx, bad[i]),
			     "limit", bad[i]);
	EXPECT_EQ(0, test_set_temp_memory_limit(self->ctx, 12));
	EXPECT_EQ(0, test_set_temp_memory_limit(self->ctx, UINT32_MAX));
	EXPECT_EQ(0, test_set_temp_memory_limit(self->ctx,
						DEFAULT_TEMP_LIMIT));
}

TEST_F(obj, check_map_alignment)
{
	const struct {
		uint64_t iova, length, uptr;
	} bad[] = {
		{ self->iova + 1, MOCK_PAGE_SIZE, (uintptr_t)self->buf },
		{ self->iova + MOCK_PAGE_SIZE / 2, MOCK_PAGE_SIZE,
		  (uintptr_t)self->buf },
		{ self->iova, 1, (uintptr_t)self->buf },
		{ self->iova, MOCK_PAGE_SIZE + 1, (uintptr_t)self->buf },
		{ self->iova, MOCK_PAGE_SIZE, (uintptr_t)self->buf + 1 },
		{ self->iova, MOCK_PAGE_SIZE,
		  (uintptr_t)self->buf + MOCK_PAGE_SIZE / 2 },
		/* uptr + length wraps */
		{ self->iova, 2 * MOCK_PAGE_SIZE,
		  UINT64_MAX - MOCK_PAGE_SIZE + 1 },
	};

	for (size_t i = 0; i != ARRAY_SIZE(bad); i++) {
		EXPECT_FAILS(EINVAL,
			     test_check_map(self->ctx, self->hwpt, bad[i].iova,
					    bad[i].length,
					    (void *)(uintptr_t)bad[i].uptr),
			     "MD_CHECK_MAP case", i);
		/*
		 * 6.2 checked before the ID is looked up; 7.2 looks it up
		 * first (it checks against the domain's IO page).
		 */
		EXPECT_FAILS(variant->kernel == UIOMMUFD_KERNEL_6_2 ?
				     EINVAL : ENOENT,
			     test_check_map(self->ctx, 0, bad[i].iova,
					    bad[i].length,
					    (void *)(uintptr_t)bad[i].uptr),
			     "MD_CHECK_MAP with id 0, case", i);
	}
	/* Aligned but not what is mapped there. */
	EXPECT_ERR(EINVAL, test_check_map(self->ctx, self->hwpt, self->iova,
					  PAGE, self->buf + MOCK_PAGE_SIZE));
	EXPECT_ERR(EINVAL, test_check_map(self->ctx, self->hwpt,
					  self->iova + BUF_LEN, PAGE,
					  self->buf));
	EXPECT_EQ(0, test_check_map(self->ctx, self->hwpt,
				    self->iova + MOCK_PAGE_SIZE,
				    MOCK_PAGE_SIZE,
				    self->buf + MOCK_PAGE_SIZE));
}

TEST_F(obj, check_refs_alignment_and_count)
{
	EXPECT_ERR(EINVAL, test_check_refs(self->ctx,
					   self->buf + MOCK_PAGE_SIZE, PAGE,
					   1));
	EXPECT_ERR(EINVAL, test_check_refs(self->ctx, self->buf + 1, PAGE, 1));
	EXPECT_ERR(EINVAL, test_check_refs(self->ctx, self->buf,
					   MOCK_PAGE_SIZE, 1));
	EXPECT_ERR(EINVAL, test_check_refs(self->ctx, self->buf, PAGE + 1, 1));
	EXPECT_ERR(EINVAL,
		   test_check_refs(self->ctx,
				   (void *)(uintptr_t)(UINT64_MAX - PAGE + 1),
				   2 * PAGE, 0));
	/* Pinned once by the domain. */
	EXPECT_ERR(EIO, test_check_refs(self->ctx, self->buf, BUF_LEN, 0));
	EXPECT_ERR(EIO, test_check_refs(self->ctx, self->buf, BUF_LEN, 2));
	EXPECT_ERR(EIO, test_check_refs(self->ctx, self->pages, PAGE, 1));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf, BUF_LEN, 1));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->pages, PAGE, 0));
}

TEST_F(obj, access_length_limits)
{
	uint8_t rd[16];
	uint64_t iova;

	map_ioas2(self, &iova);
	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas2, NEEDS_PIN,
					&self->afd));
	EXPECT_ERR(ENOMEM, test_access_pages(self->ctx, self->afd, iova,
					     SZ_16M + 1, NULL, 0, NULL));
	EXPECT_ERR(ENOMEM, test_access_pages(self->ctx, self->afd, iova,
					     UINT64_MAX, NULL, 0, NULL));
	EXPECT_ERR(ENOMEM, test_access_rw(self->ctx, self->afd, iova, rd,
					  SZ_16M + 1, 0));
	EXPECT_ERR(ENOMEM, test_access_rw(self->ctx, self->afd, iova, rd,
					  UINT64_MAX, MOCK_ACCESS_RW_WRITE));
	/* 16 MiB itself is allowed: it fails on the unmapped IOVA. */
	EXPECT_ERR(ENOENT, test_access_pages(self->ctx, self->afd, iova,
					     SZ_16M, NULL, 0, NULL));
	EXPECT_ERR(ENOENT, test_access_rw(self->ctx, self->afd, iova,
					  self->buf, SZ_16M, 0));
	/* Zero and wrapping ranges. */
	EXPECT_ERR(EINVAL, test_access_pages(self->ctx, self->afd, iova, 0,
					     NULL, 0, NULL));
	EXPECT_ERR(EINVAL, test_access_rw(self->ctx, self->afd, iova, rd, 0,
					  0));
	EXPECT_ERR(EOVERFLOW, test_access_pages(self->ctx, self->afd,
						UINT64_MAX, 2, NULL, 0, NULL));
	EXPECT_ERR(EOVERFLOW, test_access_rw(self->ctx, self->afd, UINT64_MAX,
					     rd, 2, 0));
	EXPECT_ERR(ENOENT, test_destroy_access_pages(self->ctx, self->afd, 0));
	EXPECT_EQ(0, test_check_refs(self->ctx, self->buf2, BUF_LEN, 0));
}

/*
 * The kernel refuses a length over 16 MiB before it looks at the flags,
 * the descriptor or the access (selftest.c: "Prevent syzkaller from
 * triggering a WARN_ON in kvzalloc()" comes first).
 */
TEST_F(obj, access_length_checked_first)
{
	uint8_t rd[16];

	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas, 0, &self->afd));
	EXPECT_ERR(ENOMEM, test_access_pages(self->ctx, -1, self->iova,
					     SZ_16M + 1, NULL, 0, NULL));
	EXPECT_ERR(ENOMEM, test_access_pages(self->ctx, self->afd, self->iova,
					     SZ_16M + 1, NULL, 1u << 5, NULL));
	/* An access that cannot pin. */
	EXPECT_ERR(ENOMEM, test_access_pages(self->ctx, self->afd, self->iova,
					     SZ_16M + 1, NULL, 0, NULL));
	EXPECT_ERR(ENOMEM, test_access_rw(self->ctx, -1, self->iova, rd,
					  SZ_16M + 1, 0));
	EXPECT_ERR(ENOMEM, test_access_rw(self->ctx, self->afd, self->iova, rd,
					  SZ_16M + 1, 1u << 5));
}

/* The read-only cases of the test ops with outputs. */
TEST_F(obj, test_cmd_read_only_outputs)
{
	struct iommu_test_cmd *cmd;
	int fd = next_fd();

	cmd = mmap(NULL, PAGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cmd);

	/*
	 * CREATE_ACCESS: no descriptor, nothing holds ioas2. Each command
	 * zeroed whole (under 6.2 past 56 bytes only zeros are allowed).
	 */
	test_cmd_init(cmd, IOMMU_TEST_OP_CREATE_ACCESS, self->ioas2);
	cmd->size = sizeof(*cmd);
	cmd->create_access.flags = NEEDS_PIN;
	ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ));
	EXPECT_ERR(EFAULT, uiommufd_ioctl(self->ctx, IOMMU_TEST_CMD, cmd));
	ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ | PROT_WRITE));
	EXPECT_EQ(fd, next_fd());

	/* ACCESS_PAGES: nothing stays pinned, no item. */
	ASSERT_EQ(0, test_create_access(self->ctx, self->ioas, NEEDS_PIN,
					&self->afd));
	test_cmd_init(cmd, IOMMU_TEST_OP_ACCESS_PAGES, self->afd);
	cmd->size = sizeof(*cmd);
	cmd->access_pages.iova = self->iova;
	cmd->access_pages.length = PAGE;
	cmd->access_pages.uptr = (uintptr_t)self->buf;
	ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ));
	EXPECT_ERR(EFAULT, uiommufd_ioctl(self->ctx, IOMMU_TEST_CMD, cmd));
	ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ | PROT_WRITE));
	EXPECT_ERR(ENOENT, test_destroy_access_pages(self->ctx, self->afd, 0));
	ASSERT_EQ(0, uiommufd_fd_close(self->afd));
	self->afd = -1;
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas2));

	/*
	 * MOCK_DOMAIN, 56 and 72 bytes: no device, no HW pagetable. Under
	 * 7.2 the 56-byte command is below the minimum: EINVAL, unread.
	 */
	for (int v62 = 0; v62 != 2; v62++) {
		test_cmd_init(cmd, IOMMU_TEST_OP_MOCK_DOMAIN, self->ioas);
		cmd->size = v62 ? IOMMU_TEST_CMD_V6_2_SIZE : sizeof(*cmd);
		ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ));
		EXPECT_ERR(v62 && !self->v6_2 ? EINVAL : EFAULT,
			   uiommufd_ioctl(self->ctx, IOMMU_TEST_CMD, cmd));
		ASSERT_EQ(0, mprotect(cmd, PAGE, PROT_READ | PROT_WRITE));
		/* ioas2's ID is the lowest free one again. */
		EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->ioas2));
		EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->ioas2 + 1));
		EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->ioas2 + 2));
	}
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->stdev));
	/* Under 6.2 the HW pagetable is the caller's to destroy. */
	if (self->v6_2)
		EXPECT_EQ(0, ioctl_destroy(self->ctx, self->hwpt));
	EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, self->hwpt));
	EXPECT_EQ(0, ioas_unmap(self->ctx, self->ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(0, ioctl_destroy(self->ctx, self->ioas));
	munmap(cmd, PAGE);
}

/* ------------------------------------------------------------------ */
/* Both layouts of IOMMU_TEST_CMD                                      */
/* ------------------------------------------------------------------ */

FIXTURE(layout)
{
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	int afd;
	uint8_t raw[128] __attribute__((aligned(8)));
};

/*
 * Each release takes its own layout: 6.2 from 52 bytes (past 56 a zero
 * tail, so 64 and 72 bytes too), 7.2 from 68.
 */
FIXTURE_VARIANT(layout)
{
	uint32_t kernel;
	uint32_t size;
};

FIXTURE_VARIANT_ADD(layout, v6_2_min)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_V6_2_MIN_SIZE
};
FIXTURE_VARIANT_ADD(layout, v6_2)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_V6_2_SIZE
};
FIXTURE_VARIANT_ADD(layout, v6_2_between)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = 64
};
FIXTURE_VARIANT_ADD(layout, v6_2_newest_size)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = IOMMU_TEST_CMD_SIZE
};
FIXTURE_VARIANT_ADD(layout, v6_2_zero_tail)
{
	.kernel = UIOMMUFD_KERNEL_6_2, .size = 80
};
FIXTURE_VARIANT_ADD(layout, newest_min)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = IOMMU_TEST_CMD_MIN_SIZE
};
FIXTURE_VARIANT_ADD(layout, newest)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = IOMMU_TEST_CMD_SIZE
};
FIXTURE_VARIANT_ADD(layout, zero_tail)
{
	.kernel = UIOMMUFD_KERNEL_7_2, .size = 80
};

FIXTURE_SETUP(layout)
{
	self->afd = -1;
	self->buf = test_buffer(BUF_LEN);
	ASSERT_NE(NULL, self->buf);
	for (size_t i = 0; i != BUF_LEN; i++)
		self->buf[i] = i * 13 + 5;
	self->ctx = ctx_open_as(variant->kernel, false, 0);
	ASSERT_NE(NULL, self->ctx);
}

FIXTURE_TEARDOWN(layout)
{
	if (self->afd >= 0)
		uiommufd_fd_close(self->afd);
	uiommufd_ctx_close(self->ctx);
	if (self->buf)
		munmap(self->buf, BUF_LEN);
}

/*
 * Send @cmd with the variant's size: bytes past that size hold a guard
 * pattern (zeros up to 80 for the zero-tail variant), which must be
 * neither needed nor written. Outputs come back into @cmd.
 */
static int layout_cmd(struct _fixture_data_layout *self, uint32_t size,
		      struct iommu_test_cmd *cmd)
{
	size_t known = sizeof(*cmd);
	size_t in = size < known ? size : known;
	int rc, err;

	memset(self->raw, GUARD, sizeof(self->raw));
	memcpy(self->raw, cmd, in);
	if (size > known)
		memset(self->raw + known, 0, size - known);
	rc = raw_test_cmd(self->ctx, self->raw, size);
	err = errno;
	EXPECT_TRUE(all_bytes(self->raw + size, GUARD,
			      sizeof(self->raw) - size));
	if (rc)
		EXPECT_TRUE(has_reason());
	memcpy(cmd, self->raw, in);
	errno = err;
	return rc;
}

TEST_F(layout, ops_1_to_9)
{
	bool v6_2 = variant->kernel == UIOMMUFD_KERNEL_6_2;
	uint32_t size = variant->size;
	struct iommu_test_cmd cmd;
	uint32_t ioas = 0, stdev, hwpt, item, num = 0;
	uint64_t iova = 0;
	uint8_t rd[64];

	ASSERT_EQ(0, ioas_alloc(self->ctx, &ioas));

	/* Each command zeroed whole (see test_cmd_init()). */
	test_cmd_init(&cmd, IOMMU_TEST_OP_ADD_RESERVED, ioas);
	cmd.add_reserved.start = PAGE;
	cmd.add_reserved.length = PAGE;
	ASSERT_EQ(0, layout_cmd(self, size, &cmd));
	EXPECT_ERR(EMSGSIZE, ioas_iova_ranges(self->ctx, ioas, NULL, 0, &num,
					      NULL));
	EXPECT_EQ(2, num);

	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, ioas);
	cmd.mock_domain.out_idev_id = 0x5555;
	ASSERT_EQ(0, layout_cmd(self, size, &cmd));
	/* out_device_id (v6.2) and out_stdev_id share offset 16. */
	stdev = cmd.mock_domain.out_stdev_id;
	hwpt = cmd.mock_domain.out_hwpt_id;
	EXPECT_NE(0, stdev);
	EXPECT_NE(0, hwpt);
	EXPECT_NE(stdev, hwpt);
	/* 6.2's layout has no out_idev_id: the caller's bytes stay. */
	if (v6_2)
		EXPECT_EQ(0x5555, cmd.mock_domain.out_idev_id);
	else
		EXPECT_NE(0x5555, cmd.mock_domain.out_idev_id);

	ASSERT_EQ(0, ioas_map(self->ctx, ioas, self->buf, BUF_LEN, &iova,
			      MAP_RW));
	test_cmd_init(&cmd, IOMMU_TEST_OP_MD_CHECK_MAP, hwpt);
	cmd.check_map.iova = iova;
	cmd.check_map.length = BUF_LEN;
	cmd.check_map.uptr = (uintptr_t)self->buf;
	EXPECT_EQ(0, layout_cmd(self, size, &cmd));
	cmd.check_map.uptr += PAGE;
	cmd.check_map.length = PAGE;
	EXPECT_ERR(EINVAL, layout_cmd(self, size, &cmd));

	test_cmd_init(&cmd, IOMMU_TEST_OP_MD_CHECK_REFS, 0);
	cmd.check_refs.length = BUF_LEN;
	cmd.check_refs.uptr = (uintptr_t)self->buf;
	cmd.check_refs.refs = 1;
	EXPECT_EQ(0, layout_cmd(self, size, &cmd));
	cmd.check_refs.refs = 0;
	EXPECT_ERR(EIO, layout_cmd(self, size, &cmd));

	test_cmd_init(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, ioas);
	cmd.create_access.flags = NEEDS_PIN;
	ASSERT_EQ(0, layout_cmd(self, size, &cmd));
	self->afd = cmd.create_access.out_access_fd;
	EXPECT_EQ(1, uiommufd_fd_owned(self->afd));

	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_PAGES, self->afd);
	cmd.access_pages.iova = iova;
	cmd.access_pages.length = PAGE;
	cmd.access_pages.uptr = (uintptr_t)self->buf;
	cmd.access_pages.out_access_pages_id = 0x5555;
	ASSERT_EQ(0, layout_cmd(self, size, &cmd));
	item = cmd.access_pages.out_access_pages_id;
	EXPECT_NE(0x5555, item);

	test_cmd_init(&cmd, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, self->afd);
	cmd.destroy_access_pages.access_pages_id = item;
	EXPECT_EQ(0, layout_cmd(self, size, &cmd));
	EXPECT_ERR(ENOENT, layout_cmd(self, size, &cmd));

	memset(rd, 0, sizeof(rd));
	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_RW, self->afd);
	cmd.access_rw.iova = iova + 1;
	cmd.access_rw.length = sizeof(rd);
	cmd.access_rw.uptr = (uintptr_t)rd;
	EXPECT_EQ(0, layout_cmd(self, size, &cmd));
	EXPECT_EQ(0, memcmp(rd, self->buf + 1, sizeof(rd)));
	memset(rd, 0x42, sizeof(rd));
	cmd.access_rw.flags = MOCK_ACCESS_RW_WRITE;
	EXPECT_EQ(0, layout_cmd(self, size, &cmd));
	EXPECT_TRUE(all_bytes(self->buf + 1, 0x42, sizeof(rd)));

	test_cmd_init(&cmd, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0);
	cmd.memory_limit.limit = 11;
	EXPECT_ERR(EINVAL, layout_cmd(self, size, &cmd));
	cmd.memory_limit.limit = DEFAULT_TEMP_LIMIT;
	EXPECT_EQ(0, layout_cmd(self, size, &cmd));

	/*
	 * Teardown as each release's callers do it: under 6.2 they own the
	 * HW pagetable, under 7.2 it goes with the device.
	 */
	ASSERT_EQ(0, uiommufd_fd_close(self->afd));
	self->afd = -1;
	EXPECT_EQ(0, ioctl_destroy(self->ctx, stdev));
	if (v6_2) {
		EXPECT_ERR(EBUSY, ioctl_destroy(self->ctx, ioas));
		EXPECT_EQ(0, ioctl_destroy(self->ctx, hwpt));
	}
	EXPECT_ERR(ENOENT, ioctl_destroy(self->ctx, hwpt));
	EXPECT_EQ(0, ioas_unmap(self->ctx, ioas, 0, UINT64_MAX, NULL));
	EXPECT_EQ(0, ioctl_destroy(self->ctx, ioas));
}

/* The unknown-op rule and the ID rules hold in every layout. */
TEST_F(layout, errors)
{
	struct iommu_test_cmd cmd;
	uint32_t ioas = 0;

	test_cmd_init(&cmd, 0, 0);
	EXPECT_ERR(EOPNOTSUPP, layout_cmd(self, variant->size, &cmd));
	cmd.op = 1000;
	EXPECT_ERR(EOPNOTSUPP, layout_cmd(self, variant->size, &cmd));
	/* 6.2 knew ops 1 to 9 only. */
	if (variant->kernel == UIOMMUFD_KERNEL_6_2) {
		cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE;
		EXPECT_ERR(EOPNOTSUPP, layout_cmd(self, variant->size, &cmd));
	}
	test_cmd_init(&cmd, IOMMU_TEST_OP_MOCK_DOMAIN, 0);
	EXPECT_ERR(ENOENT, layout_cmd(self, variant->size, &cmd));
	test_cmd_init(&cmd, IOMMU_TEST_OP_CREATE_ACCESS, 0);
	cmd.create_access.flags = 2;
	EXPECT_ERR(EOPNOTSUPP, layout_cmd(self, variant->size, &cmd));
	test_cmd_init(&cmd, IOMMU_TEST_OP_ACCESS_RW, (uint32_t)-1);
	cmd.access_rw.length = 1;
	EXPECT_ERR(EBADFD, layout_cmd(self, variant->size, &cmd));
	/* Nothing was created. */
	EXPECT_EQ(0, ioas_alloc(self->ctx, &ioas));
	EXPECT_EQ(1, ioas);
}

/*
 * Sizes around both layouts, with zero and non-zero tails, in a context
 * answering as each release: 7.2 takes 72 bytes from 68, so the 56-byte
 * command is EINVAL (below the minimum, before anything is read); 6.2
 * takes 56 bytes from 52, and past 56 only zeros.
 */
TEST(test_cmd_sizes)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	uint8_t raw[128] __attribute__((aligned(8)));
	struct iommu_test_cmd cmd;

	ASSERT_NE(NULL, ctx);
	test_cmd_init(&cmd, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0);
	cmd.memory_limit.limit = DEFAULT_TEMP_LIMIT;
	memset(raw, 0, sizeof(raw));
	memcpy(raw, &cmd, sizeof(cmd));
	EXPECT_ERR(EINVAL, raw_test_cmd(ctx, raw, 51));
	EXPECT_ERR(EINVAL, raw_test_cmd(ctx, raw, 52));
	EXPECT_ERR(EINVAL, raw_test_cmd(ctx, raw, 56));
	EXPECT_ERR(EINVAL, raw_test_cmd(ctx, raw, 67));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 68));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 72));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 80));
	raw[79] = 1;
	EXPECT_ERR(E2BIG, raw_test_cmd(ctx, raw, 80));
	raw[79] = 0;
	raw[72] = 1;
	EXPECT_ERR(E2BIG, raw_test_cmd(ctx, raw, 80));
	/* Past a short size, the bytes do not matter. */
	memset(raw + 72, 0xff, sizeof(raw) - 72);
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 72));
	memset(raw + 68, 0xff, sizeof(raw) - 68);
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 68));
	/* The v6.2 struct as the 6.2 header declares it. */
	{
		struct iommu_test_cmd_v6_2 old = {
			.size = sizeof(old),
			.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
			.memory_limit.limit = DEFAULT_TEMP_LIMIT,
		};

		ASSERT_EQ(56, sizeof(old));
		EXPECT_ERR(EINVAL, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &old));
		/* Refused on its size: the bad limit is never looked at. */
		old.memory_limit.limit = 0;
		EXPECT_ERR(EINVAL, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &old));
	}
	uiommufd_ctx_close(ctx);
}

TEST(test_cmd_sizes_v6_2)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	uint8_t raw[128] __attribute__((aligned(8)));
	struct iommu_test_cmd cmd;

	ASSERT_NE(NULL, ctx);
	test_cmd_init(&cmd, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0);
	cmd.memory_limit.limit = DEFAULT_TEMP_LIMIT;
	memset(raw, 0, sizeof(raw));
	memcpy(raw, &cmd, sizeof(cmd));
	EXPECT_ERR(EINVAL, raw_test_cmd(ctx, raw, 51));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 52));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 56));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 64));
	/* 72 bytes with a zero tail is the 56-byte command. */
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 72));
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 80));
	raw[79] = 1;
	EXPECT_ERR(E2BIG, raw_test_cmd(ctx, raw, 80));
	raw[79] = 0;
	/* Past 56 every byte is 6.2's tail: @last of today's struct too. */
	raw[56] = 1;
	EXPECT_ERR(E2BIG, raw_test_cmd(ctx, raw, 72));
	raw[56] = 0;
	raw[71] = 1;
	EXPECT_ERR(E2BIG, raw_test_cmd(ctx, raw, 72));
	raw[71] = 0;
	/* Past a short size, the bytes do not matter. */
	memset(raw + 56, 0xff, sizeof(raw) - 56);
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 56));
	memset(raw + 52, 0xff, sizeof(raw) - 52);
	EXPECT_EQ(0, raw_test_cmd(ctx, raw, 52));
	/* The v6.2 struct as the 6.2 header declares it. */
	{
		struct iommu_test_cmd_v6_2 old = {
			.size = sizeof(old),
			.op = IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
			.memory_limit.limit = DEFAULT_TEMP_LIMIT,
		};

		ASSERT_EQ(56, sizeof(old));
		EXPECT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &old));
		old.memory_limit.limit = 0;
		EXPECT_ERR(EINVAL, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &old));
	}
	uiommufd_ctx_close(ctx);
}

/*
 * The v6.2 MOCK_DOMAIN in the 56-byte struct, under 6.2: outputs, HWPT of
 * its own. Under 7.2 the same struct is below the minimum: nothing made,
 * nothing written.
 */
TEST(test_cmd_v6_2_mock_domain)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	struct uiommufd_ctx *ctx72 = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	struct {
		struct iommu_test_cmd_v6_2 cmd;
		uint8_t guard[16];
	} old;
	uint32_t ioas = 0, id = 0;

	ASSERT_NE(NULL, ctx);
	ASSERT_NE(NULL, ctx72);
	ASSERT_EQ(0, ioas_alloc(ctx72, &ioas));
	memset(&old, GUARD, sizeof(old));
	memset(&old.cmd, 0, sizeof(old.cmd));
	old.cmd.size = sizeof(old.cmd);
	old.cmd.op = IOMMU_TEST_OP_MOCK_DOMAIN;
	old.cmd.id = ioas;
	EXPECT_ERR(EINVAL, uiommufd_ioctl(ctx72, IOMMU_TEST_CMD, &old.cmd));
	EXPECT_TRUE(all_bytes(old.guard, GUARD, sizeof(old.guard)));
	EXPECT_EQ(0, old.cmd.mock_domain.out_device_id);
	EXPECT_EQ(0, old.cmd.mock_domain.out_hwpt_id);
	EXPECT_EQ(0, ioctl_destroy(ctx72, ioas));
	EXPECT_EQ(0, ioas_alloc(ctx72, &id));
	EXPECT_EQ(1, id);
	uiommufd_ctx_close(ctx72);

	ASSERT_EQ(0, ioas_alloc(ctx, &ioas));
	old.cmd.id = ioas;
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &old.cmd));
	EXPECT_TRUE(all_bytes(old.guard, GUARD, sizeof(old.guard)));
	EXPECT_NE(0, old.cmd.mock_domain.out_device_id);
	EXPECT_NE(0, old.cmd.mock_domain.out_hwpt_id);
	EXPECT_EQ(0, old.cmd.last);
	EXPECT_ERR(EBUSY, ioctl_destroy(ctx, old.cmd.mock_domain.out_hwpt_id));
	EXPECT_EQ(0, ioctl_destroy(ctx, old.cmd.mock_domain.out_device_id));
	EXPECT_EQ(0, ioctl_destroy(ctx, old.cmd.mock_domain.out_hwpt_id));
	EXPECT_EQ(0, ioctl_destroy(ctx, ioas));
	uiommufd_ctx_close(ctx);
}
