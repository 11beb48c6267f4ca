// SPDX-License-Identifier: MIT
/*
 * Fault queues of the Linux 7.2 ABI, driven as a program drives
 * /dev/iommu: IOMMU_FAULT_QUEUE_ALLOC and its descriptor (read of struct
 * iommu_hwpt_pgfault records, write of struct iommu_hwpt_page_response,
 * poll, select and epoll), IOMMU_HWPT_ALLOC with FAULT_ID_VALID, test op
 * TRIGGER_IOPF, and what attach, replace, detach, close and destroy do
 * to pending faults.
 *
 * The kernel is the reference: drivers/iommu/iommufd/eventq.c
 * (iommufd_fault_alloc, iommufd_fault_fops_read/write,
 * iommufd_eventq_fops_poll, iommufd_auto_response_faults),
 * hw_pagetable.c (iommufd_hwpt_alloc) and selftest.c
 * (iommufd_test_trigger_iopf).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <unistd.h>

#include "iommufd/eventq_utils.h"
#include "iommufd/iommufd_utils.h"
#include "harness/rng.h"

#define PG TEST_PAGE_SIZE
#define BUF_LEN (16 * PG)
#define IOVA MOCK_APERTURE_START
#define REC sizeof(struct iommu_hwpt_pgfault)
#define RSP sizeof(struct iommu_hwpt_page_response)
#define FAULT IOMMU_HWPT_FAULT_ID_VALID
#define CTX (self->ctx)
#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/* ---- helpers ---- */

static int fault_alloc(struct uiommufd_ctx *ctx, uint32_t *id, int *fd)
{
	struct iommu_fault_alloc cmd = { .size = sizeof(cmd) };
	int rc = uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &cmd);

	if (!rc) {
		*id = cmd.out_fault_id;
		*fd = cmd.out_fault_fd;
	}
	return rc;
}

static int trigger(struct uiommufd_ctx *ctx, uint32_t dev_id, uint32_t pasid,
		   uint32_t grpid, uint32_t perm, uint64_t addr)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_TRIGGER_IOPF, 0);
	cmd.trigger_iopf.dev_id = dev_id;
	cmd.trigger_iopf.pasid = pasid;
	cmd.trigger_iopf.grpid = grpid;
	cmd.trigger_iopf.perm = perm;
	cmd.trigger_iopf.addr = addr;
	return test_cmd(ctx, &cmd);
}

static int respond(int fd, uint32_t cookie, uint32_t code)
{
	struct iommu_hwpt_page_response rsp = { cookie, code };

	return (int)uiommufd_fd_write(fd, &rsp, sizeof(rsp));
}

/* A HW pagetable with FAULT_ID_VALID naming @fault_id, on @pt_id. */
static int fault_hwpt(struct uiommufd_ctx *ctx, uint32_t idev, uint32_t pt_id,
		      uint32_t flags, uint32_t fault_id, const void *data,
		      uint32_t data_len, uint32_t *out)
{
	struct iommu_hwpt_alloc cmd = {
		.size = sizeof(cmd), .flags = flags, .dev_id = idev,
		.pt_id = pt_id, .fault_id = fault_id,
	};
	int rc;

	if (data) {
		cmd.data_type = IOMMU_HWPT_DATA_SELFTEST;
		cmd.data_len = data_len;
		cmd.data_uptr = (uintptr_t)data;
	}
	rc = uiommufd_ioctl(ctx, IOMMU_HWPT_ALLOC, &cmd);
	if (!rc)
		*out = cmd.out_hwpt_id;
	return rc;
}

/* ---- the fixture: a device on a fault-capable paging HW pagetable ---- */

FIXTURE(fq)
{
	struct uiommufd_ctx *ctx;
	uint8_t *buf;
	uint8_t *guard;		/* one page, then a hole */
	uint32_t ioas, stdev, idev, auto_hwpt;
	uint32_t fault_id, hwpt;
	int fd;
};

FIXTURE_SETUP(fq)
{
	uint64_t iova = IOVA;
	uint32_t pt;

	self->buf = test_buffer(BUF_LEN);
	ASSERT_NONNULL(self->buf);
	self->guard = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->guard);
	ASSERT_EQ(0, mprotect(self->guard + PG, PG, PROT_NONE));
	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(CTX, &self->ioas));
	ASSERT_EQ(0, ioas_map(CTX, self->ioas, self->buf, BUF_LEN, &iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, &self->stdev,
				      &self->auto_hwpt, &self->idev));
	ASSERT_EQ(0, fault_alloc(CTX, &self->fault_id, &self->fd));
	ASSERT_EQ(0, fault_hwpt(CTX, self->idev, self->ioas, FAULT,
				self->fault_id, NULL, 0, &self->hwpt));
	pt = self->hwpt;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	ASSERT_EQ(self->hwpt, pt);
}

FIXTURE_TEARDOWN(fq)
{
	if (self->fd >= 0)
		uiommufd_fd_close(self->fd);
	uiommufd_ctx_close(self->ctx);
	munmap(self->buf, BUF_LEN);
	munmap(self->guard, 2 * PG);
}

/* ---- IOMMU_FAULT_QUEUE_ALLOC ---- */

TEST(alloc_size_flags_and_descriptor)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	struct {
		struct iommu_fault_alloc cmd;
		uint8_t tail[8];
	} b;
	uint32_t next;
	int fds;

	ASSERT_NONNULL(ctx);
	next = hwt_next_id(ctx);
	fds = open_fds();
	/* Below the minimum (through out_fault_fd): EINVAL. */
	memset(&b, 0, sizeof(b));
	b.cmd.size = sizeof(b.cmd) - 1;
	EXPECT_FAILS_WHY(EINVAL,
			 uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &b));
	/* Longer with a non-zero tail: E2BIG; zero tail: fine. */
	b.cmd.size = sizeof(b);
	b.tail[7] = 1;
	EXPECT_FAILS_WHY(E2BIG,
			 uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &b));
	/* Any flag: EOPNOTSUPP. */
	for (unsigned int bit = 0; bit != 32; bit++) {
		memset(&b, 0, sizeof(b));
		b.cmd.size = sizeof(b.cmd);
		b.cmd.flags = 1u << bit;
		EXPECT_FAILS_WHY(EOPNOTSUPP,
				 uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC,
						&b));
	}
	/* Bad pointers: EFAULT. */
	EXPECT_FAILS_WHY(EFAULT, uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC,
						 BAD_PTR));
	EXPECT_EQ(next, hwt_next_id(ctx));
	EXPECT_EQ(fds, open_fds());

	/* Outputs are whatever was there: the kernel overwrites them. */
	memset(&b, 0, sizeof(b));
	b.cmd.size = sizeof(b);
	b.cmd.out_fault_id = 77;
	b.cmd.out_fault_fd = 77;
	ASSERT_EQ(0, uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, &b));
	EXPECT_EQ(next, b.cmd.out_fault_id);
	/* Ours and the library's own second descriptor of the pipe. */
	EXPECT_EQ(fds + 2, open_fds());
	{
		int fd = (int)b.cmd.out_fault_fd;
		char c;

		EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
		EXPECT_EQ(O_RDWR, fcntl(fd, F_GETFL) & O_ACCMODE);
		/* Nothing queued: writable, not readable; read gives 0. */
		EXPECT_EQ(POLLOUT | POLLWRNORM, poll_now(fd));
		EXPECT_EQ(0, uiommufd_fd_read(fd, &c, 0));
		{
			struct iommu_hwpt_pgfault rec;

			EXPECT_EQ(0, uiommufd_fd_read(fd, &rec, sizeof(rec)));
		}
		/* Not seekable, as the kernel's nonseekable file. */
		EXPECT_EQ(-1, lseek(fd, 0, SEEK_SET));
		EXPECT_EQ(ESPIPE, errno);
		EXPECT_EQ(-1, pread(fd, &c, 1, 0));
		EXPECT_EQ(ESPIPE, errno);
		/* The descriptor holds the object. */
		EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(ctx, next));
		EXPECT_EQ(0, uiommufd_fd_close(fd));
		EXPECT_EQ(0, ioctl_destroy(ctx, next));
		EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(ctx, next));
	}
	EXPECT_EQ(fds, open_fds());
	uiommufd_ctx_close(ctx);
}

/* A reply that cannot be written: nothing made, no descriptor left. */
TEST(alloc_reply_unwritable)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	struct iommu_fault_alloc *cmd;
	uint32_t next;
	int fds;

	ASSERT_NONNULL(ctx);
	cmd = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, cmd);
	cmd->size = sizeof(*cmd);
	ASSERT_EQ(0, mprotect(cmd, PG, PROT_READ));
	next = hwt_next_id(ctx);
	fds = open_fds();
	EXPECT_FAILS_WHY(EFAULT,
			 uiommufd_ioctl(ctx, IOMMU_FAULT_QUEUE_ALLOC, cmd));
	EXPECT_EQ(next, hwt_next_id(ctx));
	EXPECT_EQ(fds, open_fds());
	munmap(cmd, PG);
	uiommufd_ctx_close(ctx);
}

TEST(linux_6_2_has_none)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	struct iommu_test_cmd cmd;
	uint32_t id;
	int fd;

	ASSERT_NONNULL(ctx);
	EXPECT_FAILS_WHY(ENOTTY, fault_alloc(ctx, &id, &fd));
	test_cmd_init(&cmd, IOMMU_TEST_OP_TRIGGER_IOPF, 0);
	cmd.size = 56;
	EXPECT_FAILS_WHY(EOPNOTSUPP,
			 uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &cmd));
	uiommufd_ctx_close(ctx);
}

/* ---- IOMMU_HWPT_ALLOC with FAULT_ID_VALID ---- */

TEST_F(fq, hwpt_holds_its_fault_queue)
{
	struct iommu_hwpt_selftest data = { .iotlb = 0 };
	uint32_t parent = 0, nested = 0, paging = 0, next;

	/* Wrong types and missing IDs: ENOENT, nothing left. */
	next = hwt_next_id(CTX);
	EXPECT_FAILS_WHY(ENOENT, fault_hwpt(CTX, self->idev, self->ioas, FAULT,
					    self->ioas, NULL, 0, &paging));
	EXPECT_FAILS_WHY(ENOENT, fault_hwpt(CTX, self->idev, self->ioas, FAULT,
					    self->hwpt, NULL, 0, &paging));
	EXPECT_FAILS_WHY(ENOENT, fault_hwpt(CTX, self->idev, self->ioas, FAULT,
					    0, NULL, 0, &paging));
	/* A nesting parent takes no faults. */
	EXPECT_FAILS_WHY(EOPNOTSUPP,
			 fault_hwpt(CTX, self->idev, self->ioas,
				    FAULT | IOMMU_HWPT_ALLOC_NEST_PARENT,
				    self->fault_id, NULL, 0, &paging));
	EXPECT_EQ(next, hwt_next_id(CTX));

	/* Nested on a parent, with the fault queue. */
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->ioas,
				IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0,
				&parent));
	ASSERT_EQ(0, fault_hwpt(CTX, self->idev, parent, FAULT, self->fault_id,
				&data, sizeof(data), &nested));
	/* Two HW pagetables and the descriptor hold it. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->fault_id));
	EXPECT_EQ(0, ioctl_destroy(CTX, nested));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->fault_id));
	EXPECT_EQ(0, ioctl_destroy(CTX, parent));
	/* The device leaves the fixture's HW pagetable, then it goes. */
	EXPECT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->hwpt));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->fault_id));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	EXPECT_EQ(0, ioctl_destroy(CTX, self->fault_id));
}

/* ---- TRIGGER_IOPF and read ---- */

TEST_F(fq, trigger_read_respond)
{
	struct iommu_hwpt_pgfault rec[2];

	EXPECT_FALSE(readable(self->fd));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 7, IOMMU_PGFAULT_PERM_READ |
				     IOMMU_PGFAULT_PERM_WRITE, 0xabcd000));
	EXPECT_EQ(POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM,
		  poll_now(self->fd));
	memset(rec, 0xff, sizeof(rec));
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ(IOMMU_PGFAULT_FLAGS_LAST_PAGE, rec[0].flags);
	EXPECT_EQ(self->idev, rec[0].dev_id);
	EXPECT_EQ(0, rec[0].pasid);
	EXPECT_EQ(7, rec[0].grpid);
	EXPECT_EQ(IOMMU_PGFAULT_PERM_READ | IOMMU_PGFAULT_PERM_WRITE,
		  rec[0].perm);
	EXPECT_EQ(0, rec[0].__reserved);
	EXPECT_EQ(0xabcd000, rec[0].addr);
	EXPECT_EQ(0, rec[0].length);
	EXPECT_EQ(1, rec[0].cookie);
	/* The second record was not touched. */
	EXPECT_EQ(0xffffffffu, rec[1].flags);
	EXPECT_FALSE(readable(self->fd));
	EXPECT_EQ(0, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ((int)RSP, respond(self->fd, 1, IOMMUFD_PAGE_RESP_SUCCESS));
	/* Answered twice: the cookie is gone. */
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 1,
					 IOMMUFD_PAGE_RESP_SUCCESS));
	/* A fault on a device without a fault queue: none, and 0. */
	{
		uint32_t stdev2 = 0, idev2 = 0;

		ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, &stdev2, NULL,
					      &idev2));
		EXPECT_EQ(0, trigger(CTX, idev2, 0, 1, 0, 0x1000));
		EXPECT_FALSE(readable(self->fd));
		EXPECT_EQ(0, ioctl_destroy(CTX, stdev2));
	}
	/* Not a device: ENOENT. */
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, self->stdev, 0, 0, 0, 0));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, self->hwpt, 0, 0, 0, 0));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, 9999, 0, 0, 0, 0));
	EXPECT_FALSE(readable(self->fd));
}

TEST_F(fq, read_rules)
{
	struct iommu_hwpt_pgfault rec[3];
	uint8_t *edge = self->guard + PG - REC;

	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 1, 0, 0x1000));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 2, 0, 0x2000));
	/* Not whole records: ESPIPE, whatever is queued. */
	EXPECT_FAILS_WHY(ESPIPE, uiommufd_fd_read(self->fd, rec, REC - 1));
	EXPECT_FAILS_WHY(ESPIPE, uiommufd_fd_read(self->fd, rec, REC + 1));
	EXPECT_FAILS_WHY(ESPIPE, uiommufd_fd_read(self->fd, rec, 1));
	/* Too short for the first group: EINVAL. */
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(self->fd, rec, 0));
	/* Bad buffers: EFAULT, the fault stays. */
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, BAD_PTR, REC));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, NULL, REC));
	EXPECT_FAILS_WHY(EFAULT,
			 uiommufd_fd_read(self->fd, self->guard + PG, REC));
	EXPECT_TRUE(readable(self->fd));
	/* The first fits before the hole: its bytes, the second stays. */
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, edge, 2 * REC));
	memcpy(&rec[0], edge, REC);
	EXPECT_EQ(1, rec[0].grpid);
	EXPECT_EQ(1, rec[0].cookie);
	EXPECT_TRUE(readable(self->fd));
	/* More room than queued: what there is. */
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ(2, rec[0].grpid);
	EXPECT_EQ(2, rec[0].cookie);
	EXPECT_FALSE(readable(self->fd));
	/* Not a library descriptor, or one without reads. */
	EXPECT_FAILS_WHY(EBADF, uiommufd_fd_read(0, rec, REC));
	EXPECT_FAILS_WHY(EBADF, uiommufd_fd_read(-1, rec, REC));
	{
		int afd = -1;

		ASSERT_EQ(0, test_create_access(CTX, self->ioas, 0, &afd));
		EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(afd, rec, REC));
		EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(afd, rec, RSP));
		EXPECT_EQ(0, uiommufd_fd_close(afd));
	}
}

TEST_F(fq, write_rules)
{
	struct iommu_hwpt_pgfault rec[4];
	struct iommu_hwpt_page_response rsp[3];
	uint8_t *edge = self->guard + PG - RSP;

	for (unsigned int i = 0; i != 4; i++)
		ASSERT_EQ(0, trigger(CTX, self->idev, 0, i, 0, 0x1000 * i));
	ASSERT_EQ(4 * REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_FAILS_WHY(ESPIPE, uiommufd_fd_write(self->fd, rsp, RSP - 1));
	EXPECT_FAILS_WHY(ESPIPE, uiommufd_fd_write(self->fd, rsp, RSP + 4));
	EXPECT_EQ(0, uiommufd_fd_write(self->fd, rsp, 0));
	/* Bad codes and unknown cookies: EINVAL, nothing consumed. */
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 1, 2));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 1, UINT32_MAX));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 0, 0));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 5, 0));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, UINT32_MAX, 0));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_write(self->fd, BAD_PTR, RSP));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_write(self->fd, NULL, RSP));
	/* Records before a bad one are consumed: their bytes come back. */
	rsp[0] = (struct iommu_hwpt_page_response){ 1, 0 };
	rsp[1] = (struct iommu_hwpt_page_response){ 9, 0 };
	rsp[2] = (struct iommu_hwpt_page_response){ 2, 0 };
	EXPECT_EQ(RSP, uiommufd_fd_write(self->fd, rsp, sizeof(rsp)));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 1, 0));
	rsp[1] = (struct iommu_hwpt_page_response){ 3, 7 };
	EXPECT_EQ(0 * RSP + RSP, uiommufd_fd_write(self->fd, &rsp[2],
						    sizeof(rsp[2])) );
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(self->fd, &rsp[1], RSP));
	/* One before the hole, one past it. */
	memcpy(edge, &(struct iommu_hwpt_page_response){ 3, 1 }, RSP);
	EXPECT_EQ(RSP, uiommufd_fd_write(self->fd, edge, 2 * RSP));
	/* A cookie answered twice in one write: the second is EINVAL. */
	rsp[0] = (struct iommu_hwpt_page_response){ 4, 0 };
	rsp[1] = (struct iommu_hwpt_page_response){ 4, 0 };
	EXPECT_EQ(RSP, uiommufd_fd_write(self->fd, rsp, 2 * RSP));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 4, 0));
}

/* Cookies are the lowest free from 1; out-of-order answers are fine. */
TEST_F(fq, many_outstanding_out_of_order)
{
	enum { N = 200 };
	static struct iommu_hwpt_pgfault rec[N];
	uint32_t order[N];
	struct rng rng;

	rng_init(&rng, test_seed());
	for (unsigned int i = 0; i != N; i++)
		ASSERT_EQ(0, trigger(CTX, self->idev, 0, i, i & 0xf, i * PG));
	/* In two reads: groups come in the order raised. */
	ASSERT_EQ(50 * REC, uiommufd_fd_read(self->fd, rec, 50 * REC));
	ASSERT_EQ((N - 50) * REC,
		  uiommufd_fd_read(self->fd, rec + 50, sizeof(rec)));
	for (unsigned int i = 0; i != N; i++) {
		EXPECT_EQ(i, rec[i].grpid);
		EXPECT_EQ(i + 1, rec[i].cookie);
		EXPECT_EQ((uint64_t)i * PG, rec[i].addr);
		order[i] = i + 1;
	}
	for (unsigned int i = N - 1; i; i--) {
		unsigned int j = rng_below(&rng, i + 1);
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	/* Answer half, in random order; their cookies come back first. */
	for (unsigned int i = 0; i != N / 2; i++)
		ASSERT_EQ((int)RSP, respond(self->fd, order[i], i & 1));
	for (unsigned int i = 0; i != N / 2; i++)
		EXPECT_FAILS_WHY(EINVAL, respond(self->fd, order[i], 0));
	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, trigger(CTX, self->idev, 0, 1000 + i, 0, 0));
	ASSERT_EQ(3 * REC, uiommufd_fd_read(self->fd, rec, 3 * REC));
	{
		uint32_t answered[N / 2];

		memcpy(answered, order, sizeof(answered));
		for (unsigned int i = 1; i < N / 2; i++)
			for (unsigned int j = i; j && answered[j - 1] >
						 answered[j]; j--) {
				uint32_t t = answered[j];

				answered[j] = answered[j - 1];
				answered[j - 1] = t;
			}
		for (unsigned int i = 0; i != 3; i++)
			EXPECT_EQ(answered[i], rec[i].cookie);
		for (unsigned int i = 0; i != 3; i++)
			EXPECT_EQ((int)RSP,
				  respond(self->fd, rec[i].cookie, 0));
	}
	for (unsigned int i = N / 2; i != N; i++)
		ASSERT_EQ((int)RSP, respond(self->fd, order[i], 0));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 1, 0));
}

/* ---- PASIDs ---- */

TEST_F(fq, pasid_faults)
{
	struct iommu_hwpt_selftest data = { .iotlb = 0 };
	struct iommu_hwpt_pgfault rec[2];
	uint32_t stdev = 0, idev = 0, hwpt = 0, pt, parent = 0, nested = 0;

	ASSERT_EQ(0, test_mock_domain_flags(CTX, self->ioas,
					    MOCK_FLAGS_DEVICE_PASID, &stdev,
					    NULL, &idev));
	ASSERT_EQ(0, fault_hwpt(CTX, idev, self->ioas,
				FAULT | IOMMU_HWPT_ALLOC_PASID, self->fault_id,
				NULL, 0, &hwpt));
	/* PASIDs attach only beside a RID on a PASID capable one. */
	pt = hwpt;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, stdev, &pt));
	pt = hwpt;
	ASSERT_EQ(0, test_pasid_attach(CTX, stdev, 5, &pt));
	ASSERT_EQ(0, trigger(CTX, idev, 5, 3, IOMMU_PGFAULT_PERM_EXEC, 0x5000));
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ(IOMMU_PGFAULT_FLAGS_LAST_PAGE |
			  IOMMU_PGFAULT_FLAGS_PASID_VALID,
		  rec[0].flags);
	EXPECT_EQ(idev, rec[0].dev_id);
	EXPECT_EQ(5, rec[0].pasid);
	EXPECT_EQ(3, rec[0].grpid);
	/* A PASID with nothing attached, RID on a paging one: not there. */
	EXPECT_EQ(0, trigger(CTX, idev, 6, 0, 0, 0));
	EXPECT_FALSE(readable(self->fd));
	/* Detaching the PASID answers its faults, read or not. */
	ASSERT_EQ(0, trigger(CTX, idev, 5, 4, 0, 0x6000));
	EXPECT_TRUE(readable(self->fd));
	ASSERT_EQ(0, test_pasid_detach(CTX, stdev, 5));
	EXPECT_FALSE(readable(self->fd));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, rec[0].cookie, 0));
	EXPECT_EQ(0, trigger(CTX, idev, 5, 0, 0, 0));
	EXPECT_FALSE(readable(self->fd));

	/* The RID on a nested one with faults takes unattached PASIDs'. */
	ASSERT_EQ(0, hwpt_alloc(CTX, idev, self->ioas,
				IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0,
				&parent));
	ASSERT_EQ(0, fault_hwpt(CTX, idev, parent, FAULT, self->fault_id,
				&data, sizeof(data), &nested));
	pt = nested;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, stdev, &pt));
	ASSERT_EQ(0, trigger(CTX, idev, 9, 1, 0, 0x9000));
	ASSERT_EQ(0, trigger(CTX, idev, 0, 2, 0, 0xa000));
	ASSERT_EQ(2 * REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ(9, rec[0].pasid);
	EXPECT_EQ(IOMMU_PGFAULT_FLAGS_LAST_PAGE |
			  IOMMU_PGFAULT_FLAGS_PASID_VALID,
		  rec[0].flags);
	EXPECT_EQ(0, rec[1].pasid);
	EXPECT_EQ(IOMMU_PGFAULT_FLAGS_LAST_PAGE, rec[1].flags);
	/* Both came through the RID: its replace answers both. */
	pt = self->ioas;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, stdev, &pt));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, rec[0].cookie, 0));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, rec[1].cookie, 0));
	EXPECT_EQ(0, ioctl_destroy(CTX, stdev));
	EXPECT_EQ(0, ioctl_destroy(CTX, nested));
	EXPECT_EQ(0, ioctl_destroy(CTX, parent));
	EXPECT_EQ(0, ioctl_destroy(CTX, hwpt));
}

/* ---- what attach, replace and detach do to pending faults ---- */

TEST_F(fq, replace_and_detach_answer_pending)
{
	struct iommu_hwpt_pgfault rec[2];
	uint32_t hwpt2 = 0, pt, stdev2 = 0, idev2 = 0;

	ASSERT_EQ(0, fault_hwpt(CTX, self->idev, self->ioas, FAULT,
				self->fault_id, NULL, 0, &hwpt2));
	/* A second device on the same HW pagetable keeps its faults. */
	ASSERT_EQ(0, test_mock_domain(CTX, self->hwpt, &stdev2, NULL, &idev2));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 1, 0, 0x1000));
	ASSERT_EQ(0, trigger(CTX, idev2, 0, 2, 0, 0x2000));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 3, 0, 0x3000));
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, rec, REC));
	EXPECT_EQ(1, rec[0].grpid);
	/* Replace onto the same one: nothing happens. */
	pt = self->hwpt;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_TRUE(readable(self->fd));
	/* To another (same queue): the old attachment's faults go. */
	pt = hwpt2;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_FAILS_WHY(EINVAL, respond(self->fd, rec[0].cookie, 0));
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ(2, rec[0].grpid);
	EXPECT_EQ(idev2, rec[0].dev_id);
	EXPECT_FALSE(readable(self->fd));
	/* Faults now come through the new attachment. */
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 4, 0, 0x4000));
	EXPECT_TRUE(readable(self->fd));
	/* Detach (the device goes): its faults go; the other's stay. */
	ASSERT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_FALSE(readable(self->fd));
	EXPECT_EQ((int)RSP, respond(self->fd, rec[0].cookie, 0));
	ASSERT_EQ(0, trigger(CTX, idev2, 0, 5, 0, 0x5000));
	ASSERT_EQ(0, ioctl_destroy(CTX, stdev2));
	EXPECT_FALSE(readable(self->fd));
	EXPECT_EQ(0, ioctl_destroy(CTX, hwpt2));
}

/* Close with faults pending, then everything goes in any order. */
TEST_F(fq, close_with_faults_pending)
{
	struct iommu_hwpt_pgfault rec;

	for (unsigned int i = 0; i != 8; i++)
		ASSERT_EQ(0, trigger(CTX, self->idev, 0, i, 0, 0));
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, &rec, REC));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	/* Raised with nobody to read: answered at once. */
	EXPECT_EQ(0, trigger(CTX, self->idev, 0, 9, 0, 0));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->fault_id));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->hwpt));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->fault_id));
}

/* The context closes with a queue full, its descriptor still open. */
TEST_F(fq, context_close_with_everything_live)
{
	struct iommu_hwpt_pgfault rec;

	for (unsigned int i = 0; i != 8; i++)
		ASSERT_EQ(0, trigger(CTX, self->idev, 0, i, 0, 0));
	ASSERT_EQ(REC, uiommufd_fd_read(self->fd, &rec, REC));
	uiommufd_ctx_close(CTX);
	/* The descriptor keeps the context: still readable and answerable. */
	EXPECT_TRUE(readable(self->fd));
	EXPECT_EQ((int)RSP, respond(self->fd, rec.cookie, 0));
	EXPECT_EQ(REC, uiommufd_fd_read(self->fd, &rec, REC));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	self->ctx = NULL;
}

/* A descriptor closed with close(2) is noticed at the next context close. */
TEST_F(fq, closed_behind_the_librarys_back)
{
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 1, 0, 0));
	EXPECT_EQ(0, close(self->fd));
	EXPECT_FAILS_WHY(EBADF, uiommufd_fd_read(self->fd, BAD_PTR, REC));
	self->fd = -1;
}

/* ---- readiness: poll, select, epoll ---- */

TEST_F(fq, epoll_level_and_edge)
{
	struct epoll_event ev, out[2];
	struct iommu_hwpt_pgfault rec[4];
	int lt = epoll_create1(EPOLL_CLOEXEC);
	int et = epoll_create1(EPOLL_CLOEXEC);

	ASSERT_GE(lt, 0);
	ASSERT_GE(et, 0);
	ev.events = EPOLLIN;
	ev.data.u32 = 1;
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_ADD, self->fd, &ev));
	ev.events = EPOLLIN | EPOLLET;
	ASSERT_EQ(0, epoll_ctl(et, EPOLL_CTL_ADD, self->fd, &ev));
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 1, 0, 0));
	/* Level: as long as something is queued. Edge: once per fault. */
	EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(EPOLLIN, out[0].events);
	EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(1, epoll_wait(et, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 2, 0, 0));
	EXPECT_EQ(1, epoll_wait(et, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	ASSERT_EQ(2 * REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	/* Writable always. */
	ev.events = EPOLLOUT;
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_MOD, self->fd, &ev));
	EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
	EXPECT_TRUE(out[0].events & EPOLLOUT);
	close(lt);
	close(et);
}

TEST_F(fq, nonblocking_read_returns_zero)
{
	struct iommu_hwpt_pgfault rec;
	int fl = fcntl(self->fd, F_GETFL);

	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, fl | O_NONBLOCK));
	EXPECT_EQ(0, uiommufd_fd_read(self->fd, &rec, REC));
	ASSERT_EQ(0, trigger(CTX, self->idev, 0, 1, 0, 0));
	EXPECT_EQ(REC, uiommufd_fd_read(self->fd, &rec, REC));
	EXPECT_EQ(0, uiommufd_fd_read(self->fd, &rec, REC));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, fl));
	/* Blocking or not, read never waits. */
	EXPECT_EQ(0, uiommufd_fd_read(self->fd, &rec, REC));
}

TEST_F(fq, waiters_woken_from_another_thread)
{
	struct iommu_hwpt_pgfault rec[3];

	for (int how = 0; how != 3; how++) {
		struct waiter w = { .fd = self->fd, .how = how };
		pthread_t t;

		ASSERT_EQ(0, pthread_create(&t, NULL, wait_thread, &w));
		while (atomic_load(&w.state) != 1)
			sched_yield();
		/* Let it block; it must not see anything yet. */
		usleep(20000);
		EXPECT_EQ(1, atomic_load(&w.state));
		ASSERT_EQ(0, trigger(CTX, self->idev, 0, how, 0, 0));
		ASSERT_EQ(0, pthread_join(t, NULL));
		EXPECT_EQ(1, w.rc);
		ASSERT_EQ(REC, uiommufd_fd_read(self->fd, rec, sizeof(rec)));
		EXPECT_EQ((int)RSP, respond(self->fd, rec[0].cookie, 0));
	}
}

/* Raisers, readers and responders at once (for TSan). */
struct racer {
	struct uiommufd_ctx *ctx;
	uint32_t idev;
	int fd;
	unsigned int n;
	atomic_uint *answered;
};

static void *raise_thread(void *arg)
{
	struct racer *r = arg;

	for (unsigned int i = 0; i != r->n; i++)
		if (trigger(r->ctx, r->idev, 0, i, 0, 0))
			break;
	return NULL;
}

static void *answer_thread(void *arg)
{
	struct racer *r = arg;
	struct iommu_hwpt_pgfault rec[16];

	while (atomic_load(r->answered) < 2 * r->n) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, 1000) < 0)
			break;
		n = uiommufd_fd_read(r->fd, rec, sizeof(rec));
		if (n < 0)
			break;
		for (ssize_t i = 0; i < n / (ssize_t)REC; i++) {
			if (respond(r->fd, rec[i].cookie, 0) != (int)RSP)
				return NULL;
			atomic_fetch_add(r->answered, 1);
		}
		test_progress();
	}
	return NULL;
}

TEST_F(fq, threads_raise_read_answer)
{
	atomic_uint answered = 0;
	struct racer r = { CTX, self->idev, self->fd, 500, &answered };
	pthread_t t[4];

	r.n = test_iterations(500);
	if (!r.n)
		r.n = 1;
	ASSERT_EQ(0, pthread_create(&t[0], NULL, raise_thread, &r));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, raise_thread, &r));
	ASSERT_EQ(0, pthread_create(&t[2], NULL, answer_thread, &r));
	ASSERT_EQ(0, pthread_create(&t[3], NULL, answer_thread, &r));
	for (int i = 0; i != 4; i++)
		ASSERT_EQ(0, pthread_join(t[i], NULL));
	EXPECT_EQ(2 * r.n, atomic_load(&answered));
	EXPECT_FALSE(readable(self->fd));
}

/* ---- fault injection ---- */

/* Nothing queued, nothing awaiting an answer, no object or fd more. */
TEST_F(fq, fail_nth_sweep)
{
	struct iommu_hwpt_pgfault rec[2];
	unsigned int failed = 0;
	uint32_t next = hwt_next_id(CTX);
	int fds = open_fds();

	/* FAULT_QUEUE_ALLOC */
	for (unsigned int nth = 1;; nth++) {
		uint32_t id;
		int fd, rc;

		uiommufd_fail_nth_set(nth);
		rc = fault_alloc(CTX, &id, &fd);
		uiommufd_fail_nth_set(0);
		if (!rc) {
			EXPECT_EQ(next, id);
			EXPECT_EQ(0, uiommufd_fd_close(fd));
			EXPECT_EQ(0, ioctl_destroy(CTX, id));
			break;
		}
		failed++;
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_EQ(next, hwt_next_id(CTX));
		EXPECT_EQ(fds, open_fds());
		ASSERT_LT(nth, 100);
	}
	EXPECT_GT(failed, 0);
	/* TRIGGER_IOPF */
	failed = 0;
	for (unsigned int nth = 1;; nth++) {
		int rc;

		uiommufd_fail_nth_set(nth);
		rc = trigger(CTX, self->idev, 0, nth, 0, 0);
		uiommufd_fail_nth_set(0);
		if (!rc)
			break;
		failed++;
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_FALSE(readable(self->fd));
		ASSERT_LT(nth, 100);
	}
	EXPECT_GT(failed, 0);
	EXPECT_TRUE(readable(self->fd));
	/* read: the cookie's slot */
	failed = 0;
	for (unsigned int nth = 1;; nth++) {
		ssize_t rc;

		uiommufd_fail_nth_set(nth);
		rc = uiommufd_fd_read(self->fd, rec, sizeof(rec));
		uiommufd_fail_nth_set(0);
		if (rc >= 0) {
			EXPECT_EQ(REC, rc);
			EXPECT_EQ(1, rec[0].cookie);
			break;
		}
		failed++;
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_TRUE(readable(self->fd));
		EXPECT_FAILS_WHY(EINVAL, respond(self->fd, 1, 0));
		ASSERT_LT(nth, 100);
	}
	EXPECT_GT(failed, 0);
	EXPECT_FALSE(readable(self->fd));
	/* write and destroy cannot fail */
	uiommufd_fail_nth_set(1);
	EXPECT_EQ((int)RSP, respond(self->fd, 1, 0));
	uiommufd_fail_nth_set(0);
	/* HWPT_ALLOC naming the queue: a failure takes no reference. */
	failed = 0;
	next = hwt_next_id(CTX);
	for (unsigned int nth = 1;; nth++) {
		uint32_t hwpt;
		int rc;

		uiommufd_fail_nth_set(nth);
		rc = fault_hwpt(CTX, self->idev, self->ioas, FAULT,
				self->fault_id, NULL, 0, &hwpt);
		uiommufd_fail_nth_set(0);
		if (!rc) {
			EXPECT_EQ(next, hwpt);
			EXPECT_EQ(0, ioctl_destroy(CTX, hwpt));
			break;
		}
		failed++;
		EXPECT_EQ(next, hwt_next_id(CTX));
		ASSERT_LT(nth, 1000);
	}
	EXPECT_GT(failed, 0);
	/* Every reference came back: the queue goes once its users do. */
	EXPECT_EQ(0, ioctl_destroy(CTX, self->stdev));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->hwpt));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	EXPECT_EQ(0, ioctl_destroy(CTX, self->fault_id));
}
