// SPDX-License-Identifier: MIT
/*
 * IOMMU_IOAS_CHANGE_PROCESS, driven through uiommufd_ioctl() as a program
 * drives /dev/iommu. The kernel is the reference (drivers/iommu/iommufd/
 * ioas.c iommufd_ioas_change_process(), pages.c iopt_pages_update_pinned(),
 * the uapi's struct iommu_ioas_change_process):
 *  - __reserved not zero is EOPNOTSUPP, a size below 8 EINVAL, Linux 6.2
 *    has no such command (ENOTTY); a context with nothing mapped succeeds;
 *  - every mapping of every IOAS must be of a file (IOAS_MAP_FILE): a
 *    user-memory map or a dma-buf map anywhere is EINVAL and nothing
 *    changes;
 *  - every pinned page charged to another process is charged to the
 *    caller, all or nothing: the caller is charged first, the old charges
 *    are refunded after (so in USER mode, one user, the user's count
 *    doubles for a moment and must fit the caller's limit twice), and on
 *    ENOMEM nothing changes;
 *  - the caller becomes the pages' source: later pins charge it, unpins
 *    refund it; pages two IOASes share (IOAS_COPY) move once.
 *
 * The other process is a forked child that only waits; this process runs
 * commands for it as a broker does (process_user_set(), with its memfd
 * number given by process_user_fd_set()), the command structs in a
 * mailbox both processes map. The counters are the library's
 * (iopt/accounting.h); every test runs in a process of its own, so each
 * starts from zero. Every failure must come with a reason.
 *
 * The suite ends with fail-nth sweeps: for every N the command either
 * does exactly what it does unfaulted or fails leaving every charge and
 * every source as it was.
 */
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "base/mem.h"
#include "base/process.h"
#include "iommufd/iommufd_private.h"
#include "iommufd/iommufd_utils.h"
#include "iopt/accounting.h"

#define PG TEST_PAGE_SIZE
#define P(n) ((uint64_t)(n) * PG)
#define NPAGES 8
#define FILE_PAGES 64
#define IOVA (MOCK_APERTURE_START + 0x200000)
#define MAP_R IOMMU_IOAS_MAP_READABLE
#define MAP_W IOMMU_IOAS_MAP_WRITEABLE
#define MAP_FIX IOMMU_IOAS_MAP_FIXED_IOVA
#define LOCK CAP_BIT(CAP_IPC_LOCK)
#define RES CAP_BIT(CAP_SYS_RESOURCE)
#define NEEDS_PIN MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES
#define MODE_USER IOPT_PAGES_ACCOUNT_USER
#define MODE_MM IOPT_PAGES_ACCOUNT_MM
#define MODE_NONE IOPT_PAGES_ACCOUNT_NONE
#define NO_MEMLOCK 0	/* open_mode(): not given, RLIMIT_MEMLOCK */

#define ASSERT_DONE(call)                                                  \
	do {                                                               \
		int _rc = (call);                                          \
		if (_rc)                                                   \
			TH_LOG("%s: %s (%s)", #call, strerror(errno),      \
			       uiommufd_last_reason() ?: "no reason");     \
		ASSERT_EQ(0, _rc);                                         \
	} while (0)

/* ---- the other process -------------------------------------------------- */

/* The command structs, at one address in both processes. */
struct mailbox {
	struct iommu_ioas_map_file map_file;
	struct iommu_ioas_change_process change;
};

/* A forked child that waits until its pipe closes, then exits 0. */
struct child {
	pid_t pid;
	int go;
};

static struct mailbox *mailbox_new(void)
{
	struct mailbox *mb = mmap(NULL, sizeof(*mb), PROT_READ | PROT_WRITE,
				  MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, mb);
	return mb;
}

static void child_start(struct child *c)
{
	int go[2];
	char byte;

	ASSERT_EQ(0, pipe2(go, O_CLOEXEC));
	fflush(stdout);
	c->pid = fork();
	ASSERT_LE(0, c->pid);
	if (!c->pid) {
		close(go[1]);
		/* Until the test closes its end, or ends. */
		while (read(go[0], &byte, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(go[0]);
	c->go = go[1];
}

/* Let the child go and reap it, judged by progress. */
static void child_reap(struct child *c)
{
	int status = 0;

	if (c->pid <= 0)
		return;
	close(c->go);
	ASSERT_EQ(0, test_wait_child(c->pid, &status, 30, 0));
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	c->pid = 0;
}

/*
 * IOAS_MAP_FILE of @fd's [@start, @start + @length) at @iova, read-write,
 * run for process @pid (0: this one), whose number for the file is @fd.
 */
static int map_file_as(struct uiommufd_ctx *ctx, struct mailbox *mb,
		       pid_t pid, uint32_t ioas, int fd, uint64_t start,
		       uint64_t length, uint64_t iova)
{
	int rc, err;

	mb->map_file = (struct iommu_ioas_map_file){
		.size = sizeof(mb->map_file),
		.flags = MAP_R | MAP_W | MAP_FIX,
		.ioas_id = ioas,
		.fd = fd,
		.start = start,
		.length = length,
		.iova = iova,
	};
	process_user_set(pid);
	process_user_fd_set(fd, fd);
	rc = uiommufd_ioctl(ctx, IOMMU_IOAS_MAP_FILE, &mb->map_file);
	err = errno;
	process_user_fd_reset();
	process_user_set(0);
	errno = err;
	return rc;
}

static int change_process(struct uiommufd_ctx *ctx)
{
	struct iommu_ioas_change_process cmd = { .size = sizeof(cmd) };

	return uiommufd_ioctl(ctx, IOMMU_IOAS_CHANGE_PROCESS, &cmd);
}

/* ---- contexts ----------------------------------------------------------- */

static int rlimit_mode_set(struct uiommufd_ctx *ctx, uint64_t val)
{
	return ioctl_option(ctx, IOMMU_OPTION_RLIMIT_MODE, IOMMU_OPTION_OP_SET,
			    0, &val);
}

/*
 * A context charging pinned pages as @mode says: USER (no capability),
 * MM (CAP_SYS_RESOURCE and RLIMIT_MODE 1, or opened as /dev/vfio/vfio
 * when @vfio) or NONE (CAP_IPC_LOCK), against @memlock bytes (NO_MEMLOCK:
 * RLIMIT_MEMLOCK of the process charged).
 */
static struct uiommufd_ctx *open_mode(int mode, bool vfio, uint64_t memlock)
{
	struct uiommufd_ctx_attr attr = {
		.size = sizeof(attr),
		.flags = vfio ? UIOMMUFD_CTX_VFIO : 0,
		.set = UIOMMUFD_ATTR_CAPS,
	};
	struct uiommufd_ctx *ctx;

	if (mode == MODE_NONE)
		attr.caps = LOCK;
	else if (mode == MODE_MM && !vfio)
		attr.caps = RES;
	if (memlock != NO_MEMLOCK) {
		attr.set |= UIOMMUFD_ATTR_MEMLOCK;
		attr.memlock = memlock;
	}
	ctx = uiommufd_ctx_open_attr(&attr);
	ASSERT_NONNULL(ctx);
	if (mode == MODE_MM && !vfio)
		ASSERT_DONE(rlimit_mode_set(ctx, 1));
	return ctx;
}

/* ---- what is charged to whom -------------------------------------------- */

/*
 * @self_n pinned pages charged to this process and @child_n to @child, as
 * @mode charges them: the process's pinned count unless NONE, its locked
 * memory in MM mode, the user's in USER mode; the total always.
 */
#define CHARGES(mode, child, self_n, child_n)                              \
	do {                                                               \
		pid_t _me = process_self(), _ch = (child);                 \
		uint64_t _s = (self_n), _c = (child_n);                    \
		bool _none = (mode) == MODE_NONE, _mm = (mode) == MODE_MM; \
		ASSERT_EQ(_none ? 0 : _s,                                  \
			  iopt_account_process_pinned_of(_me));            \
		ASSERT_EQ(_mm ? _s : 0,                                    \
			  iopt_account_process_locked_of(_me));            \
		ASSERT_EQ(_none ? 0 : _c,                                  \
			  iopt_account_process_pinned_of(_ch));            \
		ASSERT_EQ(_mm ? _c : 0,                                    \
			  iopt_account_process_locked_of(_ch));            \
		ASSERT_EQ((mode) == MODE_USER ? _s + _c : 0,               \
			  iopt_account_user_locked(getuid()));             \
		ASSERT_EQ(_s + _c, iopt_account_pinned());                 \
	} while (0)

static struct iommufd_ioas *ioas_of(struct uiommufd_ctx *ctx, uint32_t id)
{
	struct iommufd_object *obj = index_store_load(&ctx->objects, id);

	ASSERT_NONNULL(obj);
	ASSERT_EQ(IOMMUFD_OBJ_IOAS, obj->type);
	return container_of(obj, struct iommufd_ioas, obj);
}

/* The pages object mapped at @iova of @ioas. */
static struct iopt_pages *pages_at(struct uiommufd_ctx *ctx, uint32_t ioas,
				   uint64_t iova)
{
	struct iopt_area *area;

	area = iopt_area_iter_first(&ioas_of(ctx, ioas)->iopt, iova, iova);
	ASSERT_NONNULL(area);
	ASSERT_NONNULL(area->pages);
	return area->pages;
}

static pid_t source_at(struct uiommufd_ctx *ctx, uint32_t ioas, uint64_t iova)
{
	return pages_at(ctx, ioas, iova)->source_pid;
}

/* The byte at @off of the test's files. */
static uint8_t pat(uint64_t off)
{
	return (uint8_t)(off * 5 + off / PG * 31 + 3);
}

static int memfd_pat(uint64_t size)
{
	int fd = memfd_create("change_process", MFD_CLOEXEC);
	uint8_t *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, (off_t)size));
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	for (uint64_t i = 0; i != size; i++)
		p[i] = pat(i);
	munmap(p, size);
	return fd;
}

/* Lower (or raise, up to the hard limit) this process's memlock limit. */
static void memlock_rlimit_pages(uint64_t npages)
{
	struct rlimit rl;

	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &rl));
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < P(npages))
		SKIP("RLIMIT_MEMLOCK's hard limit is below %llu pages",
		     (unsigned long long)npages);
	rl.rlim_cur = P(npages);
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &rl));
}

/* ---- a context, a child, a file ----------------------------------------- */

FIXTURE(cp)
{
	struct uiommufd_ctx *ctx;
	struct mailbox *mb;
	struct child child;
	uint32_t ioas, stdev, hwpt;
	int mfd;
	uint8_t *view;		/* this process's shared mapping of it */
	int mode;
};

FIXTURE_VARIANT(cp)
{
	int mode;
	bool vfio;
};

FIXTURE_VARIANT_ADD(cp, user)
{
	.mode = MODE_USER,
};

FIXTURE_VARIANT_ADD(cp, mm)
{
	.mode = MODE_MM,
};

FIXTURE_VARIANT_ADD(cp, vfio)
{
	.mode = MODE_MM,
	.vfio = true,
};

FIXTURE_VARIANT_ADD(cp, ipc_lock)
{
	.mode = MODE_NONE,
};

FIXTURE_SETUP(cp)
{
	self->mode = variant->mode;
	self->mb = mailbox_new();
	self->mfd = memfd_pat(P(FILE_PAGES));
	self->view = mmap(NULL, P(FILE_PAGES), PROT_READ | PROT_WRITE,
			  MAP_SHARED, self->mfd, 0);
	ASSERT_NE(MAP_FAILED, self->view);
	child_start(&self->child);
	self->ctx = open_mode(variant->mode, variant->vfio,
			      UIOMMUFD_MEMLOCK_UNLIMITED);
	ASSERT_DONE(ioas_alloc(self->ctx, &self->ioas));
	ASSERT_DONE(test_mock_domain(self->ctx, self->ioas, &self->stdev,
				     &self->hwpt, NULL));
}

FIXTURE_TEARDOWN(cp)
{
	process_user_set(0);
	process_user_fd_reset();
	if (self->ctx)
		uiommufd_ctx_close(self->ctx);
	/* Nothing stays charged to anyone. */
	ASSERT_EQ(0, iopt_account_pinned());
	ASSERT_EQ(0, iopt_account_user_locked(getuid()));
	ASSERT_EQ(0, iopt_account_process_pinned_of(process_self()));
	ASSERT_EQ(0, iopt_account_process_locked_of(process_self()));
	if (self->child.pid > 0) {
		ASSERT_EQ(0, iopt_account_process_pinned_of(self->child.pid));
		ASSERT_EQ(0, iopt_account_process_locked_of(self->child.pid));
	}
	child_reap(&self->child);
	munmap(self->view, P(FILE_PAGES));
	close(self->mfd);
	munmap(self->mb, sizeof(*self->mb));
}

/* ---- the checks before any mapping is looked at ------------------------- */

TEST(order_of_checks)
{
	struct uiommufd_ctx *ctx = ctx_open_as(0, true, 0);
	uint8_t *page = mmap(NULL, PG, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct iommu_ioas_change_process *cmd = (void *)page;
	const uint32_t below[] = { 0, 1, 4, 7 };
	uint8_t *buf = test_buffer(P(4));
	uint32_t ioas = 0;
	uint64_t iova = IOVA;

	ASSERT_NONNULL(ctx);
	ASSERT_NE(MAP_FAILED, page);
	ASSERT_NONNULL(buf);
	/* An empty context: nothing to move, success. */
	ASSERT_DONE(change_process(ctx));
	/* The size first: below the 8 bytes of the struct, EINVAL. */
	for (size_t i = 0; i != sizeof(below) / sizeof(below[0]); i++) {
		memset(page, 0, PG);
		cmd->size = below[i];
		cmd->__reserved = 1;
		ASSERT_FAILS_WHY(EINVAL, uiommufd_ioctl(
			ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	}
	/* Then __reserved: EOPNOTSUPP, before any mapping is looked at. */
	ASSERT_DONE(ioas_alloc(ctx, &ioas));
	ASSERT_DONE(ioas_map(ctx, ioas, buf, P(4), &iova,
			     MAP_FIXED_RW));
	memset(page, 0, PG);
	cmd->size = sizeof(*cmd);
	cmd->__reserved = 1;
	ASSERT_FAILS_WHY(EOPNOTSUPP, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	cmd->__reserved = 0x80000000u;
	ASSERT_FAILS_WHY(EOPNOTSUPP, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	/* A user mapping: EINVAL. */
	cmd->__reserved = 0;
	ASSERT_FAILS_WHY(EINVAL, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	ASSERT_DONE(ioas_unmap(ctx, ioas, 0, UINT64_MAX, NULL));
	/* The extensible-struct rules: zeros past it are fine, else E2BIG. */
	memset(page, 0, PG);
	cmd->size = 16;
	page[15] = 1;
	ASSERT_FAILS_WHY(E2BIG, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	page[15] = 0;
	ASSERT_DONE(uiommufd_ioctl(ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	cmd->size = PG;
	ASSERT_DONE(uiommufd_ioctl(ctx, IOMMU_IOAS_CHANGE_PROCESS, cmd));
	/* Unreadable: EFAULT. */
	ASSERT_FAILS_WHY(EFAULT, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, BAD_PTR));
	/* IOASes with nothing mapped: success. */
	ASSERT_DONE(ioas_alloc(ctx, &ioas));
	ASSERT_DONE(change_process(ctx));
	uiommufd_ctx_close(ctx);
	munmap(page, PG);
	munmap(buf, P(4));
}

/* Linux 6.2 had no IOAS_CHANGE_PROCESS: ENOTTY, whatever the struct. */
TEST(not_in_6_2)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	struct iommu_ioas_change_process cmd = { .size = sizeof(cmd) };
	uint32_t ioas = 0;

	ASSERT_NONNULL(ctx);
	ASSERT_FAILS_WHY(ENOTTY, change_process(ctx));
	cmd.__reserved = 1;
	ASSERT_FAILS_WHY(ENOTTY, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, &cmd));
	cmd.size = 0;
	ASSERT_FAILS_WHY(ENOTTY, uiommufd_ioctl(
		ctx, IOMMU_IOAS_CHANGE_PROCESS, &cmd));
	ASSERT_DONE(ioas_alloc(ctx, &ioas));
	ASSERT_FAILS_WHY(ENOTTY, change_process(ctx));
	uiommufd_ctx_close(ctx);
}

/* ---- what may be moved -------------------------------------------------- */

/*
 * IOASes with nothing mapped, or whose mappings are gone: nothing to
 * move, success, nothing charged.
 */
TEST_F(cp, nothing_mapped)
{
	uint32_t ioas2 = 0;

	ASSERT_DONE(change_process(self->ctx));
	ASSERT_DONE(ioas_alloc(self->ctx, &ioas2));
	ASSERT_DONE(change_process(self->ctx));
	ASSERT_DONE(map_file_as(self->ctx, self->mb, self->child.pid,
				self->ioas, self->mfd, 0, P(NPAGES), IOVA));
	ASSERT_DONE(ioas_unmap(self->ctx, self->ioas, IOVA, P(NPAGES), NULL));
	CHARGES(self->mode, self->child.pid, 0, 0);
	ASSERT_DONE(change_process(self->ctx));
	CHARGES(self->mode, self->child.pid, 0, 0);
}

/*
 * This process's own file mappings, pinned by a domain: success, and
 * nothing changes (they are charged to the caller already).
 */
TEST_F(cp, same_process_changes_nothing)
{
	struct uiommufd_ctx *ctx = self->ctx;
	uint32_t ioas2 = 0;

	ASSERT_DONE(map_file_as(ctx, self->mb, 0, self->ioas, self->mfd, 0,
				P(NPAGES), IOVA));
	ASSERT_DONE(ioas_alloc(ctx, &ioas2));
	/* Not pinned: no domain on this IOAS. */
	ASSERT_DONE(map_file_as(ctx, self->mb, 0, ioas2, self->mfd, P(16),
				P(4), IOVA));
	CHARGES(self->mode, self->child.pid, NPAGES, 0);
	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, self->child.pid, NPAGES, 0);
	ASSERT_EQ(process_self(), source_at(ctx, self->ioas, IOVA));
	ASSERT_EQ(process_self(), source_at(ctx, ioas2, IOVA));
	/* Again: the same. */
	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, self->child.pid, NPAGES, 0);
	ASSERT_DONE(test_check_map(ctx, self->hwpt, IOVA, P(NPAGES),
				   self->view));
	ASSERT_DONE(ioas_unmap(ctx, self->ioas, IOVA, P(NPAGES), NULL));
	CHARGES(self->mode, self->child.pid, 0, 0);
}

/*
 * The child's file mapping, pinned by a domain, is charged to the child;
 * CHANGE_PROCESS charges it to this process, refunds the child, and makes
 * this process the source; the mapping is untouched; unmapping refunds
 * this process.
 */
TEST_F(cp, moves_the_childs_charges)
{
	struct uiommufd_ctx *ctx = self->ctx;
	pid_t child = self->child.pid;
	uint64_t unmapped = 0;

	ASSERT_DONE(map_file_as(ctx, self->mb, child, self->ioas, self->mfd,
				P(4), P(NPAGES), IOVA));
	ASSERT_EQ(IOVA, self->mb->map_file.iova);
	ASSERT_EQ(child, source_at(ctx, self->ioas, IOVA));
	CHARGES(self->mode, child, 0, NPAGES);
	ASSERT_DONE(test_check_map(ctx, self->hwpt, IOVA, P(NPAGES),
				   self->view + P(4)));

	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, child, NPAGES, 0);
	ASSERT_EQ(process_self(), source_at(ctx, self->ioas, IOVA));
	ASSERT_DONE(test_check_map(ctx, self->hwpt, IOVA, P(NPAGES),
				   self->view + P(4)));
	ASSERT_DONE(test_check_refs(ctx, self->view + P(4), P(NPAGES), 1));
	/* Nothing left to move: the same again. */
	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, child, NPAGES, 0);

	ASSERT_DONE(ioas_unmap(ctx, self->ioas, IOVA, P(NPAGES), &unmapped));
	ASSERT_EQ(P(NPAGES), unmapped);
	CHARGES(self->mode, child, 0, 0);
}

/*
 * Pages two IOASes share (IOAS_COPY, one pages object, pinned once) move
 * once, not once per area; pages of another mapping of the child in
 * another IOAS move too, and the caller's own stay.
 */
TEST_F(cp, shared_pages_move_once)
{
	struct uiommufd_ctx *ctx = self->ctx;
	pid_t child = self->child.pid, me = process_self();
	uint32_t ioas2 = 0, ioas3 = 0, stdev2 = 0, hwpt2 = 0;
	uint64_t iova = IOVA + P(64);

	ASSERT_DONE(ioas_alloc(ctx, &ioas2));
	ASSERT_DONE(test_mock_domain(ctx, ioas2, &stdev2, &hwpt2, NULL));
	ASSERT_DONE(ioas_alloc(ctx, &ioas3));
	ASSERT_DONE(map_file_as(ctx, self->mb, child, self->ioas, self->mfd,
				0, P(NPAGES), IOVA));
	ASSERT_DONE(ioas_copy(ctx, ioas2, self->ioas, IOVA, P(NPAGES), &iova,
			      MAP_R | MAP_W | MAP_FIX));
	ASSERT_EQ(pages_at(ctx, self->ioas, IOVA), pages_at(ctx, ioas2, iova));
	/* And a copy of a part, where no domain is. */
	ASSERT_DONE(ioas_copy(ctx, ioas3, self->ioas, IOVA + P(2), P(4), &iova,
			      MAP_R | MAP_FIX));
	CHARGES(self->mode, child, 0, NPAGES);
	/* The child's second mapping, and one of this process. */
	ASSERT_DONE(map_file_as(ctx, self->mb, child, ioas2, self->mfd, P(16),
				P(4), IOVA));
	ASSERT_DONE(map_file_as(ctx, self->mb, 0, ioas2, self->mfd, P(32),
				P(2), IOVA + P(16)));
	CHARGES(self->mode, child, 2, NPAGES + 4);

	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, child, NPAGES + 6, 0);
	ASSERT_EQ(me, source_at(ctx, self->ioas, IOVA));
	ASSERT_EQ(me, source_at(ctx, ioas2, IOVA));
	ASSERT_EQ(me, source_at(ctx, ioas2, IOVA + P(64)));
	ASSERT_EQ(me, source_at(ctx, ioas3, IOVA + P(64)));
	ASSERT_DONE(test_check_map(ctx, hwpt2, IOVA + P(64), P(NPAGES),
				   self->view));
	ASSERT_DONE(test_check_map(ctx, hwpt2, IOVA, P(4),
				   self->view + P(16)));

	/* Unpinning from either side refunds this process. */
	ASSERT_DONE(ioas_unmap(ctx, self->ioas, 0, UINT64_MAX, NULL));
	CHARGES(self->mode, child, NPAGES + 6, 0);
	ASSERT_DONE(ioas_unmap(ctx, ioas2, IOVA + P(64), P(NPAGES), NULL));
	CHARGES(self->mode, child, 6, 0);
	ASSERT_DONE(ioctl_destroy(ctx, stdev2));
	CHARGES(self->mode, child, 0, 0);
}

/*
 * A user-memory mapping anywhere, pinned or not, in the IOAS of the
 * file mappings or another: EINVAL, with nothing changed (charges,
 * sources), and the IOASes still usable.
 */
TEST_F(cp, refuses_user_memory)
{
	struct uiommufd_ctx *ctx = self->ctx;
	pid_t child = self->child.pid;
	uint8_t *buf = test_buffer(P(4));
	uint32_t ioas2 = 0, ioas3 = 0;
	uint64_t iova = IOVA + P(32);

	ASSERT_NONNULL(buf);
	ASSERT_DONE(ioas_alloc(ctx, &ioas2));
	ASSERT_DONE(ioas_alloc(ctx, &ioas3));
	ASSERT_DONE(map_file_as(ctx, self->mb, child, self->ioas, self->mfd,
				0, P(NPAGES), IOVA));
	ASSERT_DONE(map_file_as(ctx, self->mb, child, ioas3, self->mfd, 0,
				P(2), IOVA));
	CHARGES(self->mode, child, 0, NPAGES);

	/* In a second IOAS, not pinned (no domain there). */
	ASSERT_DONE(ioas_map(ctx, ioas2, buf, P(4), &iova, MAP_FIXED_RW));
	ASSERT_FAILS_WHY(EINVAL, change_process(ctx));
	CHARGES(self->mode, child, 0, NPAGES);
	ASSERT_EQ(child, source_at(ctx, self->ioas, IOVA));
	ASSERT_EQ(child, source_at(ctx, ioas3, IOVA));
	ASSERT_DONE(ioas_unmap(ctx, ioas2, iova, P(4), NULL));

	/* In the IOAS of the file mapping, pinned by its domain. */
	ASSERT_DONE(ioas_map(ctx, self->ioas, buf, P(4), &iova, MAP_FIXED_RW));
	CHARGES(self->mode, child, 4, NPAGES);
	ASSERT_FAILS_WHY(EINVAL, change_process(ctx));
	CHARGES(self->mode, child, 4, NPAGES);
	ASSERT_EQ(child, source_at(ctx, self->ioas, IOVA));
	ASSERT_EQ(child, source_at(ctx, ioas3, IOVA));
	/* Nothing stays locked: the IOASes still map and unmap. */
	ASSERT_DONE(map_file_as(ctx, self->mb, 0, ioas2, self->mfd, 0, P(1),
				IOVA));
	ASSERT_DONE(ioas_unmap(ctx, self->ioas, iova, P(4), NULL));
	CHARGES(self->mode, child, 0, NPAGES);

	/* Only files again: moved. */
	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, child, NPAGES, 0);
	ASSERT_EQ(process_self(), source_at(ctx, ioas3, IOVA));
	munmap(buf, P(4));
}

/* A dma-buf mapping (IOAS_MAP_FILE of one) is not a file's: EINVAL. */
TEST_F(cp, refuses_dmabuf)
{
	struct uiommufd_ctx *ctx = self->ctx;
	pid_t child = self->child.pid;
	struct iommu_test_cmd get;
	uint32_t ioas2 = 0;
	int dfd;

	ASSERT_DONE(map_file_as(ctx, self->mb, child, self->ioas, self->mfd,
				0, P(NPAGES), IOVA));
	test_cmd_init(&get, IOMMU_TEST_OP_DMABUF_GET, 0);
	get.dmabuf_get.length = P(4);
	get.dmabuf_get.open_flags = O_CLOEXEC;
	dfd = test_cmd(ctx, &get);
	ASSERT_GE(dfd, 0);
	ASSERT_DONE(ioas_alloc(ctx, &ioas2));
	ASSERT_DONE(map_file_as(ctx, self->mb, 0, ioas2, dfd, 0, P(4), IOVA));
	ASSERT_FAILS_WHY(EINVAL, change_process(ctx));
	CHARGES(self->mode, child, 0, NPAGES);
	ASSERT_EQ(child, source_at(ctx, self->ioas, IOVA));
	/* In the IOAS with the domain as well. */
	ASSERT_DONE(ioas_unmap(ctx, ioas2, 0, UINT64_MAX, NULL));
	ASSERT_DONE(map_file_as(ctx, self->mb, 0, self->ioas, dfd, 0, P(4),
				IOVA + P(32)));
	ASSERT_FAILS_WHY(EINVAL, change_process(ctx));
	CHARGES(self->mode, child, 0, NPAGES);
	ASSERT_EQ(child, source_at(ctx, self->ioas, IOVA));
	ASSERT_DONE(ioas_unmap(ctx, self->ioas, IOVA + P(32), P(4), NULL));
	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, child, NPAGES, 0);
	ASSERT_EQ(0, uiommufd_fd_close(dfd));
}

/*
 * After the move the caller is the pages' source: pins taken later (a
 * domain attached, an access's pin) charge the caller, not the process
 * that mapped; unpins refund the caller.
 */
TEST_F(cp, later_pins_charge_the_new_process)
{
	struct uiommufd_ctx *ctx = self->ctx;
	pid_t child = self->child.pid, me = process_self();
	uint32_t ioas2 = 0, ioas3 = 0, stdev2 = 0, hwpt2 = 0, item = 0;
	int afd = -1;

	/* Not pinned when mapped: no domain on these IOASes. */
	ASSERT_DONE(ioas_alloc(ctx, &ioas2));
	ASSERT_DONE(ioas_alloc(ctx, &ioas3));
	ASSERT_DONE(map_file_as(ctx, self->mb, child, ioas2, self->mfd, 0,
				P(NPAGES), IOVA));
	ASSERT_DONE(map_file_as(ctx, self->mb, child, ioas3, self->mfd, P(16),
				P(4), IOVA));
	/* Pinned: moved with its charge. */
	ASSERT_DONE(map_file_as(ctx, self->mb, child, self->ioas, self->mfd,
				P(32), P(2), IOVA));
	CHARGES(self->mode, child, 0, 2);
	ASSERT_DONE(change_process(ctx));
	CHARGES(self->mode, child, 2, 0);
	ASSERT_EQ(me, source_at(ctx, ioas2, IOVA));
	ASSERT_EQ(me, source_at(ctx, ioas3, IOVA));

	/* A domain pins the whole of ioas2: charged here. */
	ASSERT_DONE(test_mock_domain(ctx, ioas2, &stdev2, &hwpt2, NULL));
	CHARGES(self->mode, child, NPAGES + 2, 0);
	ASSERT_DONE(test_check_map(ctx, hwpt2, IOVA, P(NPAGES), self->view));
	/* An access pins two pages of ioas3: charged here. */
	ASSERT_DONE(test_create_access(ctx, ioas3, NEEDS_PIN, &afd));
	ASSERT_DONE(test_access_pages(ctx, afd, IOVA + P(1), P(2),
				      self->view + P(17), 0, &item));
	CHARGES(self->mode, child, NPAGES + 4, 0);
	ASSERT_DONE(test_destroy_access_pages(ctx, afd, item));
	CHARGES(self->mode, child, NPAGES + 2, 0);
	ASSERT_EQ(0, uiommufd_fd_close(afd));
	ASSERT_DONE(ioctl_destroy(ctx, stdev2));
	CHARGES(self->mode, child, 2, 0);
	ASSERT_DONE(ioctl_destroy(ctx, self->stdev));
	CHARGES(self->mode, child, 0, 0);
}

/* ---- all or nothing: the caller's limit --------------------------------- */

/*
 * USER mode, one user: the kernel charges the caller (the user's
 * locked_vm, against the caller's limit) before it refunds the child, so
 * the user's count must fit twice for a moment. The child's 8 pages fit
 * a limit of 12; moving them needs 16: ENOMEM, nothing changed. With 4
 * of them unmapped, 4 + 4 fit.
 */
TEST(user_mode_limit_counts_twice)
{
	struct mailbox *mb = mailbox_new();
	int mfd = memfd_pat(P(FILE_PAGES));
	struct uiommufd_ctx *ctx;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	struct child c;

	child_start(&c);
	ctx = open_mode(MODE_USER, false, P(12));
	ASSERT_DONE(ioas_alloc(ctx, &ioas));
	ASSERT_DONE(test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	/* Two areas of 4 pages, two pages objects. */
	ASSERT_DONE(map_file_as(ctx, mb, c.pid, ioas, mfd, 0, P(4), IOVA));
	ASSERT_DONE(map_file_as(ctx, mb, c.pid, ioas, mfd, P(4), P(4),
				IOVA + P(4)));
	CHARGES(MODE_USER, c.pid, 0, 8);
	ASSERT_FAILS_WHY(ENOMEM, change_process(ctx));
	CHARGES(MODE_USER, c.pid, 0, 8);
	ASSERT_EQ(c.pid, source_at(ctx, ioas, IOVA));
	/* Nothing stays locked. */
	ASSERT_DONE(ioas_unmap(ctx, ioas, IOVA + P(4), P(4), NULL));
	CHARGES(MODE_USER, c.pid, 0, 4);
	ASSERT_DONE(change_process(ctx));
	CHARGES(MODE_USER, c.pid, 4, 0);
	ASSERT_EQ(process_self(), source_at(ctx, ioas, IOVA));
	uiommufd_ctx_close(ctx);
	CHARGES(MODE_USER, c.pid, 0, 0);
	child_reap(&c);
	close(mfd);
	munmap(mb, sizeof(*mb));
}

/*
 * No limit given: the caller's own RLIMIT_MEMLOCK, as the kernel's
 * task_rlimit(current). The child (its limit as inherited) maps 8 pages;
 * this process's limit at 15 pages is one short of 2 x 8 in USER mode,
 * 7 short of 8 in MM mode (with 7 of its own), then raised: it moves.
 */
struct rlimit_case {
	const char *name;
	int mode;
	bool vfio;
	unsigned int own;	/* pages of this process's own, pinned */
	unsigned int short_limit, limit;
};

static const struct rlimit_case rlimit_cases[] = {
	{ "user", MODE_USER, false, 0, 15, 16 },
	{ "user, own pages", MODE_USER, false, 2, 17, 18 },
	{ "mm", MODE_MM, false, 0, 7, 8 },
	{ "mm, own pages", MODE_MM, false, 7, 14, 15 },
	{ "vfio, own pages", MODE_MM, true, 3, 10, 11 },
};

TEST(caller_rlimit_all_or_nothing)
{
	struct mailbox *mb = mailbox_new();
	int mfd = memfd_pat(P(FILE_PAGES));
	uint8_t *view = mmap(NULL, P(8), PROT_READ, MAP_SHARED, mfd, 0);
	struct rlimit saved;

	ASSERT_NE(MAP_FAILED, view);
	ASSERT_EQ(0, getrlimit(RLIMIT_MEMLOCK, &saved));
	for (unsigned int i = 0;
	     i != sizeof(rlimit_cases) / sizeof(rlimit_cases[0]); i++) {
		const struct rlimit_case *rc = &rlimit_cases[i];
		struct uiommufd_ctx *ctx;
		uint32_t ioas = 0, stdev = 0, hwpt = 0;
		struct child c;

		TH_LOG("case %s", rc->name);
		ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &saved));
		child_start(&c);
		ctx = open_mode(rc->mode, rc->vfio, NO_MEMLOCK);
		ASSERT_DONE(ioas_alloc(ctx, &ioas));
		ASSERT_DONE(test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
		if (rc->own)
			ASSERT_DONE(map_file_as(ctx, mb, 0, ioas, mfd, P(32),
						P(rc->own), IOVA + P(32)));
		ASSERT_DONE(map_file_as(ctx, mb, c.pid, ioas, mfd, 0, P(8),
					IOVA));
		CHARGES(rc->mode, c.pid, rc->own, 8);
		memlock_rlimit_pages(rc->short_limit);
		ASSERT_FAILS_WHY(ENOMEM, change_process(ctx));
		CHARGES(rc->mode, c.pid, rc->own, 8);
		ASSERT_EQ(c.pid, source_at(ctx, ioas, IOVA));
		memlock_rlimit_pages(rc->limit);
		ASSERT_DONE(change_process(ctx));
		CHARGES(rc->mode, c.pid, rc->own + 8, 0);
		ASSERT_EQ(process_self(), source_at(ctx, ioas, IOVA));
		ASSERT_DONE(test_check_map(ctx, hwpt, IOVA, P(8), view));
		uiommufd_ctx_close(ctx);
		CHARGES(rc->mode, c.pid, 0, 0);
		child_reap(&c);
	}
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &saved));
	munmap(view, P(8));
	close(mfd);
	munmap(mb, sizeof(*mb));
}

/*
 * MM mode with a limit given: per process, this process's own 6 pages
 * and the child's 8 do not fit 12 together: ENOMEM, nothing changed;
 * once its own are unmapped, the child's move.
 */
TEST(mm_mode_limit_per_process)
{
	struct mailbox *mb = mailbox_new();
	int mfd = memfd_pat(P(FILE_PAGES));
	struct uiommufd_ctx *ctx;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	struct child c;

	child_start(&c);
	ctx = open_mode(MODE_MM, false, P(12));
	ASSERT_DONE(ioas_alloc(ctx, &ioas));
	ASSERT_DONE(test_mock_domain(ctx, ioas, &stdev, &hwpt, NULL));
	ASSERT_DONE(map_file_as(ctx, mb, 0, ioas, mfd, P(32), P(6),
				IOVA + P(32)));
	/* Each process has a limit of its own: 6 + 8 charged. */
	ASSERT_DONE(map_file_as(ctx, mb, c.pid, ioas, mfd, 0, P(8), IOVA));
	CHARGES(MODE_MM, c.pid, 6, 8);
	ASSERT_FAILS_WHY(ENOMEM, change_process(ctx));
	CHARGES(MODE_MM, c.pid, 6, 8);
	ASSERT_EQ(c.pid, source_at(ctx, ioas, IOVA));
	ASSERT_DONE(ioas_unmap(ctx, ioas, IOVA + P(32), P(6), NULL));
	CHARGES(MODE_MM, c.pid, 0, 8);
	ASSERT_DONE(change_process(ctx));
	CHARGES(MODE_MM, c.pid, 8, 0);
	/* Now at 8 of 12: 5 more pages of its own do not fit, 4 do. */
	ASSERT_FAILS_WHY(ENOMEM, map_file_as(ctx, mb, 0, ioas, mfd, P(32),
					     P(5), IOVA + P(32)));
	ASSERT_DONE(map_file_as(ctx, mb, 0, ioas, mfd, P(32), P(4),
				IOVA + P(32)));
	CHARGES(MODE_MM, c.pid, 12, 0);
	uiommufd_ctx_close(ctx);
	CHARGES(MODE_MM, c.pid, 0, 0);
	child_reap(&c);
	close(mfd);
	munmap(mb, sizeof(*mb));
}

/* ---- fail-nth sweeps ---------------------------------------------------- */

#define SW_IOAS 10
#define SW_MAPS 18

struct sweep_case {
	const char *name;
	int mode;
	bool own;	/* a mapping of this process's own too */
};

struct world {
	struct uiommufd_ctx *ctx;
	uint32_t ioas[SW_IOAS];
};

struct snap {
	uint64_t v[1024];
	unsigned int n;
};

static void snap_put(struct snap *s, uint64_t v)
{
	ASSERT_LT(s->n, 1024);
	s->v[s->n++] = v;
}

static void snap_take(struct world *w, pid_t child, struct snap *s)
{
	s->n = 0;
	for (unsigned int i = 0; i != SW_IOAS; i++) {
		struct io_pagetable *iopt = &ioas_of(w->ctx, w->ioas[i])->iopt;
		struct iopt_area *area;

		for (area = iopt_area_iter_first(iopt, 0, U64_MAX); area;
		     area = iopt_area_iter_next(area, 0, U64_MAX)) {
			struct iopt_pages *pages = area->pages;

			snap_put(s, iopt_area_iova(area));
			snap_put(s, pages->source_pid);
			snap_put(s, pages->source_user_known);
			snap_put(s, pages->source_user_known ?
					    pages->source_user : 0);
			snap_put(s, pages->npinned);
			snap_put(s, pages->last_npinned);
			snap_put(s, pages->refcount);
		}
	}
	snap_put(s, iopt_account_process_pinned_of(process_self()));
	snap_put(s, iopt_account_process_locked_of(process_self()));
	snap_put(s, iopt_account_process_pinned_of(child));
	snap_put(s, iopt_account_process_locked_of(child));
	snap_put(s, iopt_account_user_locked(getuid()));
	snap_put(s, iopt_account_pinned());
	snap_put(s, mem_live_count());
}

/* Whether @a and @b agree; the first difference is logged if @loud. */
static bool snap_same(const struct snap *a, const struct snap *b,
		      const char *what, unsigned int nth, bool loud)
{
	if (a->n != b->n) {
		if (loud)
			TH_LOG("%s, nth %u: %u values, then %u", what, nth,
			       a->n, b->n);
		return false;
	}
	for (unsigned int i = 0; i != a->n; i++) {
		if (a->v[i] != b->v[i]) {
			if (loud)
				TH_LOG("%s, nth %u: value %u was %#llx, now %#llx",
				       what, nth, i,
				       (unsigned long long)a->v[i],
				       (unsigned long long)b->v[i]);
			return false;
		}
	}
	return true;
}

/*
 * Ten IOASes (more than the first room for them), two with a domain;
 * the child maps 18 single pages (more distinct pages objects than the
 * first room for them) into the first, pinned, and two more into the
 * third, not pinned; copies share some of them into the second and the
 * last; this process maps its own when @c->own.
 */
static void world_build(struct world *w, const struct sweep_case *c,
			struct mailbox *mb, pid_t child, int mfd)
{
	uint64_t iova;

	memset(w, 0, sizeof(*w));
	w->ctx = open_mode(c->mode, false, UIOMMUFD_MEMLOCK_UNLIMITED);
	for (unsigned int i = 0; i != SW_IOAS; i++)
		ASSERT_DONE(ioas_alloc(w->ctx, &w->ioas[i]));
	ASSERT_DONE(test_mock_domain(w->ctx, w->ioas[0], NULL, NULL, NULL));
	ASSERT_DONE(test_mock_domain(w->ctx, w->ioas[1], NULL, NULL, NULL));
	for (unsigned int i = 0; i != SW_MAPS; i++)
		ASSERT_DONE(map_file_as(w->ctx, mb, child, w->ioas[0], mfd,
					P(i), P(1), IOVA + P(2 * i)));
	ASSERT_DONE(map_file_as(w->ctx, mb, child, w->ioas[2], mfd, P(20),
				P(2), IOVA));
	ASSERT_DONE(map_file_as(w->ctx, mb, child, w->ioas[2], mfd, P(24),
				P(2), IOVA + P(4)));
	for (unsigned int i = 0; i != 4; i++) {
		iova = IOVA + P(2 * i);
		ASSERT_DONE(ioas_copy(w->ctx, w->ioas[1], w->ioas[0], iova,
				      P(1), &iova, MAP_R | MAP_FIX));
		ASSERT_DONE(ioas_copy(w->ctx, w->ioas[SW_IOAS - 1],
				      w->ioas[0], iova, P(1), &iova,
				      MAP_R | MAP_FIX));
	}
	if (c->own)
		ASSERT_DONE(map_file_as(w->ctx, mb, 0, w->ioas[1], mfd, P(40),
					P(3), IOVA + P(40)));
	CHARGES(c->mode, child, c->own ? 3 : 0, SW_MAPS);
}

static void world_release(struct world *w, pid_t child)
{
	uiommufd_ctx_close(w->ctx);
	/* Zero in every mode. */
	CHARGES(MODE_USER, child, 0, 0);
}

static struct snap before, after, ref_after;

static void sweep(const struct sweep_case *c)
{
	struct mailbox *mb = mailbox_new();
	int mfd = memfd_pat(P(FILE_PAGES));
	unsigned int nth, failed = 0;
	struct world w;
	struct child ch;
	long live;
	bool fired = true;
	int rc;

	child_start(&ch);
	live = mem_live_count();
	world_build(&w, c, mb, ch.pid, mfd);
	snap_take(&w, ch.pid, &before);
	ASSERT_DONE(change_process(w.ctx));
	snap_take(&w, ch.pid, &ref_after);
	CHARGES(c->mode, ch.pid, SW_MAPS + (c->own ? 3 : 0), 0);
	ASSERT_FALSE(snap_same(&before, &ref_after, c->name, 0, false));
	world_release(&w, ch.pid);

	for (nth = 1; fired; nth++) {
		world_build(&w, c, mb, ch.pid, mfd);
		snap_take(&w, ch.pid, &before);
		uiommufd_fail_nth_set(nth);
		rc = change_process(w.ctx);
		fired = !uiommufd_fail_nth_get();
		uiommufd_fail_nth_set(0);
		if (rc) {
			int err = errno;

			if (!has_reason())
				TH_LOG("%s, nth %u: errno %d, no reason",
				       c->name, nth, err);
			ASSERT_TRUE(has_reason());
			ASSERT_TRUE(fired);
			ASSERT_TRUE(err == ENOMEM || err == EFAULT);
			snap_take(&w, ch.pid, &after);
			ASSERT_TRUE(snap_same(&before, &after, c->name, nth,
					      true));
			failed++;
		} else {
			snap_take(&w, ch.pid, &after);
			ASSERT_TRUE(snap_same(&ref_after, &after, c->name,
					      nth, true));
		}
		world_release(&w, ch.pid);
		ASSERT_LT(nth, 5000);
	}
	TH_LOG("%s: %u fault points, %u failed it", c->name, nth - 2, failed);
	ASSERT_GT(failed, 0);
	ASSERT_EQ(live, mem_live_count());
	child_reap(&ch);
	close(mfd);
	munmap(mb, sizeof(*mb));
}

#define SWEEP(tname, ...)                                                  \
	TEST(fail_nth_##tname)                                              \
	{                                                                   \
		static const struct sweep_case c = { .name = #tname,        \
						     __VA_ARGS__ };         \
		sweep(&c);                                                  \
	}

SWEEP(user, .mode = MODE_USER)
SWEEP(user_own, .mode = MODE_USER, .own = true)
SWEEP(mm, .mode = MODE_MM)
SWEEP(mm_own, .mode = MODE_MM, .own = true)
