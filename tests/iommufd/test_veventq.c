// SPDX-License-Identifier: MIT
/*
 * vIOMMU event queues of the Linux 7.2 ABI, driven as a program drives
 * /dev/iommu: IOMMU_VEVENTQ_ALLOC (argument order, sizes, one queue per
 * type and vIOMMU, references), its descriptor (read of struct
 * iommufd_vevent_header records with their payload, the depth and the
 * LOST_EVENTS header, sequence numbers, poll, select and epoll, no
 * write), and test op TRIGGER_VEVENT of the mock driver.
 *
 * The kernel is the reference: drivers/iommu/iommufd/eventq.c
 * (iommufd_veventq_alloc, iommufd_veventq_fops_read and its fetch and
 * restore, iommufd_eventq_fops_poll), iommufd_private.h
 * (iommufd_vevent_handler), driver.c (iommufd_viommu_report_event) and
 * selftest.c (iommufd_test_trigger_vevent, mock_domain_nop_attach: the
 * mock raises for the vdevice a device had when it attached to a nested
 * domain of the vIOMMU).
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <unistd.h>

#include "iommufd/eventq_utils.h"
#include "iommufd/iommufd_utils.h"
#include "harness/rng.h"

#define PG TEST_PAGE_SIZE
#define HDR sizeof(struct iommufd_vevent_header)
#define EV sizeof(struct vrec)
#define LOST IOMMU_VEVENTQ_FLAG_LOST_EVENTS
#define QTYPE IOMMU_VEVENTQ_TYPE_SELFTEST
#define MAX_DEPTH (1u << 19)
#define VIRT 0x1234u
#define VIRT2 0x5678u
#define DEPTH 16
#define CTX (self->ctx)

/* One record of the selftest type as read from the descriptor. */
struct vrec {
	struct iommufd_vevent_header hdr;
	struct iommu_viommu_event_selftest ev;
};
_Static_assert(sizeof(struct vrec) == 12, "8-byte header, 4-byte payload");

/* ---- helpers ---- */

static void veventq_init(struct iommu_veventq_alloc *cmd, uint32_t viommu_id,
			 uint32_t type, uint32_t depth)
{
	memset(cmd, 0, sizeof(*cmd));
	cmd->size = sizeof(*cmd);
	cmd->viommu_id = viommu_id;
	cmd->type = type;
	cmd->veventq_depth = depth;
}

static int veventq_cmd(struct uiommufd_ctx *ctx, void *cmd)
{
	return uiommufd_ioctl(ctx, IOMMU_VEVENTQ_ALLOC, cmd);
}

static int veventq_alloc(struct uiommufd_ctx *ctx, uint32_t viommu_id,
			 uint32_t type, uint32_t depth, uint32_t *id, int *fd)
{
	struct iommu_veventq_alloc cmd;
	int rc;

	veventq_init(&cmd, viommu_id, type, depth);
	rc = veventq_cmd(ctx, &cmd);
	if (!rc) {
		*id = cmd.out_veventq_id;
		*fd = (int)cmd.out_veventq_fd;
	}
	return rc;
}

static int trigger(struct uiommufd_ctx *ctx, uint32_t dev_id)
{
	struct iommu_test_cmd cmd;

	test_cmd_init(&cmd, IOMMU_TEST_OP_TRIGGER_VEVENT, 0);
	cmd.trigger_vevent.dev_id = dev_id;
	return test_cmd(ctx, &cmd);
}

/* The bytes a read should give: records appended in order. */
struct want {
	uint8_t b[512];
	size_t n;
};

static void want_ev(struct want *w, uint32_t seq, uint32_t virt_id)
{
	struct vrec r = { { 0, seq }, { virt_id } };

	memcpy(w->b + w->n, &r, EV);
	w->n += EV;
}

static void want_lost(struct want *w, uint32_t seq)
{
	struct iommufd_vevent_header h = { LOST, seq };

	memcpy(w->b + w->n, &h, HDR);
	w->n += HDR;
}

/* Logs the records in @b (@n bytes): L<seq> or <seq>:<virt_id>. */
static void log_records(const char *what, const uint8_t *b, size_t n)
{
	char line[512] = "";
	size_t at = 0, len = 0;

	while (at + HDR <= n && len < sizeof(line) - 40) {
		struct vrec r = { 0 };

		memcpy(&r, b + at, at + EV <= n ? EV : HDR);
		len += r.hdr.flags & LOST ?
			snprintf(line + len, 40, " L%u", r.hdr.sequence) :
			snprintf(line + len, 40, " %u:%#x", r.hdr.sequence,
				 r.ev.virt_id);
		at += r.hdr.flags & LOST ? HDR : EV;
	}
	TH_LOG("%s (%zu bytes):%s", what, n, line);
}

/* A read of @count bytes gives exactly @w's bytes. */
static bool read_is(int fd, size_t count, const struct want *w)
{
	uint8_t got[512];
	ssize_t rc;

	memset(got, 0xa5, sizeof(got));
	rc = uiommufd_fd_read(fd, got, count);
	if (rc == (ssize_t)w->n && !memcmp(got, w->b, w->n))
		return true;
	if (rc < 0)
		TH_LOG("read(%zu): -1 errno %d (%s)", count, errno,
		       uiommufd_last_reason());
	else
		log_records("got", got, (size_t)rc);
	log_records("want", w->b, w->n);
	return false;
}

/*
 * A read of @count bytes gives the records of @spec: "3" an event of
 * sequence 3 from VIRT, "3b" one from VIRT2, "3z" one of virt_id 0,
 * "L3" the lost-events header of sequence 3; "" nothing (0 bytes).
 */
static bool reads(int fd, size_t count, const char *spec)
{
	struct want w = { .n = 0 };

	while (*spec) {
		bool lost = *spec == 'L';
		char *end;
		unsigned long seq = strtoul(spec + lost, &end, 10);

		if (lost)
			want_lost(&w, seq);
		else
			want_ev(&w, seq, *end == 'b' ? VIRT2 :
					 *end == 'z' ? 0 : VIRT);
		spec = end + (*end == 'b' || *end == 'z');
		while (*spec == ' ')
			spec++;
	}
	return read_is(fd, count, &w);
}

/* ---- the fixture: a device whose vdevice raises into a queue ---- */

/*
 * A device with a vdevice (virt_id VIRT) on a vIOMMU, attached to a
 * nested HW pagetable of that vIOMMU, and a selftest vEVENTQ of DEPTH.
 */
FIXTURE(vq)
{
	struct uiommufd_ctx *ctx;
	uint32_t ioas, stdev, idev, auto_hwpt, parent, viommu, vdev, nested;
	uint32_t veventq;
	int fd;
};

FIXTURE_SETUP(vq)
{
	uint32_t pt;

	self->fd = -1;
	self->ctx = ctx_open_as(UIOMMUFD_KERNEL_7_2, false, 0);
	ASSERT_NONNULL(self->ctx);
	ASSERT_EQ(0, ioas_alloc(CTX, &self->ioas));
	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, &self->stdev,
				      &self->auto_hwpt, &self->idev));
	ASSERT_EQ(0, hwpt_alloc(CTX, self->idev, self->ioas,
				IOMMU_HWPT_ALLOC_NEST_PARENT, NULL, 0,
				&self->parent));
	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, NULL,
				  &self->viommu));
	ASSERT_EQ(0, vdevice_alloc(CTX, self->viommu, self->idev, VIRT,
				   &self->vdev));
	ASSERT_EQ(0, hwpt_alloc_nested(CTX, self->idev, self->viommu, 0,
				       &self->nested));
	pt = self->nested;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	ASSERT_EQ(0, veventq_alloc(CTX, self->viommu, QTYPE, DEPTH,
				   &self->veventq, &self->fd));
}

FIXTURE_TEARDOWN(vq)
{
	if (self->fd >= 0)
		uiommufd_fd_close(self->fd);
	if (self->ctx)
		uiommufd_ctx_close(self->ctx);
}

/* The fixture's queue again, empty, with @depth (the sequence restarts). */
static void requeue(struct _fixture_data_vq *self, uint32_t depth)
{
	ASSERT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	ASSERT_EQ(0, ioctl_destroy(CTX, self->veventq));
	ASSERT_EQ(0, veventq_alloc(CTX, self->viommu, QTYPE, depth,
				   &self->veventq, &self->fd));
}

/* Another device on the fixture's nested HW pagetable, vdevice @virt_id. */
static uint32_t attached_device(struct _fixture_data_vq *self,
				uint64_t virt_id, uint32_t *stdev)
{
	uint32_t idev = 0, pt = self->nested;

	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, stdev, NULL, &idev));
	ASSERT_EQ(0, vdevice_alloc(CTX, self->viommu, idev, virt_id, NULL));
	ASSERT_EQ(0, test_mock_domain_replace(CTX, *stdev, &pt));
	return idev;
}

/* ==== IOMMU_VEVENTQ_ALLOC ==== */

/*
 * flags, __reserved and the DEFAULT type first (EOPNOTSUPP), then the
 * depth (EINVAL), then the vIOMMU (ENOENT), then the type's slot on it
 * (EEXIST). Nothing is left by any of them.
 */
TEST_F(vq, alloc_checks_in_order)
{
	struct iommu_veventq_alloc cmd;
	uint32_t next = hwt_next_id(CTX);
	int fds = open_fds();
	const uint32_t not_viommu[] = {
		0, 9999, self->ioas, self->stdev, self->idev, self->parent,
		self->nested, self->auto_hwpt, self->vdev, self->veventq,
	};

	for (unsigned int bit = 0; bit != 32; bit++) {
		veventq_init(&cmd, 9999, QTYPE, 0);
		cmd.flags = 1u << bit;
		EXPECT_FAILS_WHY(EOPNOTSUPP, veventq_cmd(CTX, &cmd));
		veventq_init(&cmd, 9999, QTYPE, 0);
		cmd.__reserved = 1u << bit;
		EXPECT_FAILS_WHY(EOPNOTSUPP, veventq_cmd(CTX, &cmd));
	}
	veventq_init(&cmd, 9999, IOMMU_VEVENTQ_TYPE_DEFAULT, 0);
	EXPECT_FAILS_WHY(EOPNOTSUPP, veventq_cmd(CTX, &cmd));
	veventq_init(&cmd, self->viommu, IOMMU_VEVENTQ_TYPE_DEFAULT, DEPTH);
	EXPECT_FAILS_WHY(EOPNOTSUPP, veventq_cmd(CTX, &cmd));
	/* The depth, before the vIOMMU is looked up. */
	veventq_init(&cmd, 9999, QTYPE, 0);
	EXPECT_FAILS_WHY(EINVAL, veventq_cmd(CTX, &cmd));
	veventq_init(&cmd, 9999, QTYPE, MAX_DEPTH + 1);
	EXPECT_FAILS_WHY(EINVAL, veventq_cmd(CTX, &cmd));
	veventq_init(&cmd, self->viommu, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
		     UINT32_MAX);
	EXPECT_FAILS_WHY(EINVAL, veventq_cmd(CTX, &cmd));
	/* Not a vIOMMU, before the taken type is seen. */
	for (unsigned int i = 0; i != sizeof(not_viommu) / 4; i++) {
		veventq_init(&cmd, not_viommu[i], QTYPE, 1);
		EXPECT_FAILS_WHY(ENOENT, veventq_cmd(CTX, &cmd));
	}
	/* The fixture's vIOMMU has a selftest queue already. */
	veventq_init(&cmd, self->viommu, QTYPE, MAX_DEPTH);
	EXPECT_FAILS_WHY(EEXIST, veventq_cmd(CTX, &cmd));
	EXPECT_FAILS_WHY(EFAULT, veventq_cmd(CTX, BAD_PTR));
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(fds, open_fds());
	/* The queue is unharmed. */
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, 64, "0"));
}

/*
 * Any type but DEFAULT is taken, one queue per type on a vIOMMU; another
 * vIOMMU is another name space. Depths 1 and 1 << 19 are both fine. A
 * type freed (descriptor closed, queue destroyed) can be taken again.
 */
TEST_F(vq, alloc_types_and_depths)
{
	const uint32_t types[3] = { IOMMU_VEVENTQ_TYPE_ARM_SMMUV3,
				    IOMMU_VEVENTQ_TYPE_TEGRA241_CMDQV,
				    0x12345 };
	const uint32_t depths[3] = { MAX_DEPTH, 1, 7 };
	uint32_t q[3] = { 0 }, v2 = 0, q2 = 0, next;
	int f[3] = { -1, -1, -1 }, f2 = -1, fds;

	for (int i = 0; i != 3; i++)
		ASSERT_EQ(0, veventq_alloc(CTX, self->viommu, types[i],
					   depths[i], &q[i], &f[i]));
	EXPECT_NE(q[0], q[1]);
	EXPECT_NE(f[1], f[2]);
	next = hwt_next_id(CTX);
	fds = open_fds();
	for (int i = 0; i != 3; i++)
		EXPECT_FAILS_WHY(EEXIST, veventq_alloc(CTX, self->viommu,
						       types[i], 1, &q2, &f2));
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(fds, open_fds());
	/* A second vIOMMU on the same parent takes the selftest type. */
	ASSERT_EQ(0, viommu_alloc(CTX, self->idev, self->parent, NULL, &v2));
	ASSERT_EQ(0, veventq_alloc(CTX, v2, QTYPE, 1, &q2, &f2));
	/* Events of the selftest type go to the fixture's alone. */
	ASSERT_EQ(0, trigger(CTX, self->idev));
	for (int i = 0; i != 3; i++)
		EXPECT_FALSE(readable(f[i]));
	EXPECT_FALSE(readable(f2));
	EXPECT_TRUE(readable(self->fd));
	/* A type freed can be taken again. */
	EXPECT_EQ(0, uiommufd_fd_close(f[0]));
	EXPECT_EQ(0, ioctl_destroy(CTX, q[0]));
	ASSERT_EQ(0, veventq_alloc(CTX, self->viommu, types[0], 2, &q[0],
				   &f[0]));
	for (int i = 0; i != 3; i++) {
		EXPECT_EQ(0, uiommufd_fd_close(f[i]));
		EXPECT_EQ(0, ioctl_destroy(CTX, q[i]));
	}
	/* The descriptor holds the vEVENTQ, the vEVENTQ its vIOMMU. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, q2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v2));
	EXPECT_EQ(0, uiommufd_fd_close(f2));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, v2));
	EXPECT_EQ(0, ioctl_destroy(CTX, q2));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, q2));
	EXPECT_EQ(0, ioctl_destroy(CTX, v2));
}

/*
 * The struct's size: at least through out_veventq_fd (28 bytes, older
 * callers send no __reserved); longer only with a zero tail. A reply
 * that cannot be written leaves nothing: no ID, descriptor or slot.
 */
TEST_F(vq, alloc_size_rules_and_reply)
{
	struct {
		struct iommu_veventq_alloc cmd;
		uint8_t tail[8];
	} b;
	const uint32_t min = offsetof(struct iommu_veventq_alloc,
				      __reserved);
	const uint32_t smmu = IOMMU_VEVENTQ_TYPE_ARM_SMMUV3;
	struct iommu_veventq_alloc *ro;
	uint32_t next = hwt_next_id(CTX);
	int fds = open_fds();

	EXPECT_EQ(28u, min);
	memset(&b, 0, sizeof(b));
	veventq_init(&b.cmd, self->viommu, smmu, 1);
	b.cmd.size = min - 1;
	EXPECT_FAILS_WHY(EINVAL, veventq_cmd(CTX, &b));
	b.cmd.size = 0;
	EXPECT_FAILS_WHY(EINVAL, veventq_cmd(CTX, &b));
	b.cmd.size = sizeof(b);
	b.tail[7] = 1;
	EXPECT_FAILS_WHY(E2BIG, veventq_cmd(CTX, &b));
	ro = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	veventq_init(ro, self->viommu, smmu, 4);
	ASSERT_EQ(0, mprotect(ro, PG, PROT_READ));
	EXPECT_FAILS_WHY(EFAULT, veventq_cmd(CTX, ro));
	munmap(ro, PG);
	EXPECT_EQ(next, hwt_next_id(CTX));
	EXPECT_EQ(fds, open_fds());

	/* 28 bytes: whatever follows is neither read nor written. */
	memset(&b, 0, sizeof(b));
	veventq_init(&b.cmd, self->viommu, smmu, 1);
	b.cmd.size = min;
	b.cmd.__reserved = 0xdeadbeef;
	b.cmd.out_veventq_id = 77;
	b.cmd.out_veventq_fd = 77;
	ASSERT_EQ(0, veventq_cmd(CTX, &b));
	EXPECT_EQ(next, b.cmd.out_veventq_id);
	EXPECT_NE(77u, b.cmd.out_veventq_fd);
	EXPECT_EQ(0xdeadbeefu, b.cmd.__reserved);
	EXPECT_EQ(0, uiommufd_fd_close((int)b.cmd.out_veventq_fd));
	EXPECT_EQ(0, ioctl_destroy(CTX, next));
	/* Longer, zero tail: fine. */
	memset(&b, 0, sizeof(b));
	veventq_init(&b.cmd, self->viommu, smmu, 1);
	b.cmd.size = sizeof(b);
	ASSERT_EQ(0, veventq_cmd(CTX, &b));
	EXPECT_EQ(next, b.cmd.out_veventq_id);
	EXPECT_EQ(0, uiommufd_fd_close((int)b.cmd.out_veventq_fd));
	EXPECT_EQ(0, ioctl_destroy(CTX, next));
	EXPECT_EQ(fds, open_fds());
}

TEST(linux_6_2_has_none)
{
	struct uiommufd_ctx *ctx = ctx_open_as(UIOMMUFD_KERNEL_6_2, false, 0);
	struct iommu_veventq_alloc cmd;
	struct iommu_test_cmd tc;
	int fds = open_fds();

	ASSERT_NONNULL(ctx);
	veventq_init(&cmd, 1, QTYPE, 1);
	EXPECT_FAILS_WHY(ENOTTY, veventq_cmd(ctx, &cmd));
	test_cmd_init(&tc, IOMMU_TEST_OP_TRIGGER_VEVENT, 0);
	tc.trigger_vevent.dev_id = 1;
	tc.size = 56;
	EXPECT_FAILS_WHY(EOPNOTSUPP, uiommufd_ioctl(ctx, IOMMU_TEST_CMD, &tc));
	EXPECT_EQ(fds, open_fds());
	uiommufd_ctx_close(ctx);
}

/* ==== the descriptor ==== */

TEST_F(vq, descriptor_basics)
{
	uint8_t b[64];

	EXPECT_EQ(FD_CLOEXEC, fcntl(self->fd, F_GETFD));
	/* Nothing queued: neither readable nor (ever) writable. */
	EXPECT_EQ(0, poll_now(self->fd));
	EXPECT_TRUE(reads(self->fd, sizeof(b), ""));
	EXPECT_TRUE(reads(self->fd, HDR, ""));
	EXPECT_EQ(-1, lseek(self->fd, 0, SEEK_SET));
	EXPECT_EQ(ESPIPE, errno);
	/* No write at all, whatever the count or buffer. */
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(self->fd, b, EV));
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(self->fd, b, 0));
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(self->fd, BAD_PTR, EV));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->fd));
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(self->fd, b, EV));
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->fd));
	EXPECT_TRUE(reads(self->fd, sizeof(b), "0"));
	EXPECT_EQ(0, poll_now(self->fd));
	/* The descriptor holds the queue. */
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->veventq));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	EXPECT_EQ(0, ioctl_destroy(CTX, self->veventq));
	EXPECT_FAILS_WHY(ENOENT, ioctl_destroy(CTX, self->veventq));
	EXPECT_FAILS_WHY(EOPNOTSUPP, trigger(CTX, self->idev));
}

/*
 * The kernel's anon file is O_RDWR, though it has no write, and never
 * polls writable. The library's descriptor is the read end of a pipe,
 * which is what never polls writable; so, in process, F_GETFL says
 * O_RDONLY (a documented difference: docs/design.md 7.1). The shim
 * answers O_RDWR, as the kernel (test_shim_eventq_fds checks it).
 */
TEST_F(vq, descriptor_access_mode)
{
	EXPECT_EQ(O_RDONLY, fcntl(self->fd, F_GETFL) & O_ACCMODE);
	EXPECT_EQ(0, poll_now(self->fd));
}

/* ==== TRIGGER_VEVENT ==== */

/* Records of the vdevice's virt_id, sequence from 0, in the order raised. */
TEST_F(vq, trigger_payload_and_sequence)
{
	uint32_t stdev2 = 0, idev2 = attached_device(self, VIRT2, &stdev2);

	ASSERT_EQ(0, trigger(CTX, self->idev));
	ASSERT_EQ(0, trigger(CTX, idev2));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, 256, "0 1b 2"));
	EXPECT_FALSE(readable(self->fd));
	/* The sequence goes on after a drained queue. */
	ASSERT_EQ(0, trigger(CTX, idev2));
	EXPECT_TRUE(reads(self->fd, 256, "3b"));
	EXPECT_TRUE(reads(self->fd, 256, ""));
}

/* Refusals raise nothing and consume no sequence number. */
TEST_F(vq, trigger_refusals)
{
	uint32_t stdev2 = 0, idev2 = 0, v2 = 0, nested2 = 0, q2 = 0, pt;
	int f2 = -1;
	const uint32_t not_device[] = {
		0, 9999, self->stdev, self->ioas, self->viommu, self->vdev,
		self->nested, self->veventq,
	};

	for (unsigned int i = 0; i != sizeof(not_device) / 4; i++)
		EXPECT_FAILS_WHY(ENOENT, trigger(CTX, not_device[i]));
	/* A device without a vdevice. */
	ASSERT_EQ(0, test_mock_domain(CTX, self->ioas, &stdev2, NULL, &idev2));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, idev2));
	/* On a vIOMMU whose only queue is of another type. */
	ASSERT_EQ(0, viommu_alloc(CTX, idev2, self->parent, NULL, &v2));
	ASSERT_EQ(0, vdevice_alloc(CTX, v2, idev2, VIRT2, NULL));
	ASSERT_EQ(0, hwpt_alloc_nested(CTX, idev2, v2, 0, &nested2));
	pt = nested2;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, stdev2, &pt));
	EXPECT_FAILS_WHY(EOPNOTSUPP, trigger(CTX, idev2));
	ASSERT_EQ(0, veventq_alloc(CTX, v2, IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 4,
				   &q2, &f2));
	EXPECT_FAILS_WHY(EOPNOTSUPP, trigger(CTX, idev2));
	EXPECT_FALSE(readable(f2));
	EXPECT_FALSE(readable(self->fd));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, 256, "0"));
	EXPECT_EQ(0, uiommufd_fd_close(f2));
}

/*
 * As the kernel's mock: a device raises for the vdevice it had when it
 * attached to a nested HW pagetable of the vIOMMU. Attached elsewhere,
 * it raises nothing (ENOENT); its vdevice destroyed while it stays
 * attached, it still raises for that virt_id.
 */
TEST_F(vq, trigger_follows_the_attachment)
{
	uint32_t pt = self->ioas;

	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, self->idev));
	pt = self->parent;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, self->idev));
	pt = self->nested;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, 256, "0"));
	ASSERT_EQ(0, ioctl_destroy(CTX, self->vdev));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, 256, "1"));
	pt = self->ioas;
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, self->idev));
	pt = self->nested;
	EXPECT_FAILS_WHY(ENOENT, test_mock_domain_replace(CTX, self->stdev,
							  &pt));
}

/*
 * The payload is the virt_id's low 32 bits; a virt_id of 0 is "none" to
 * the kernel's mock (ENOENT), 1 << 32 is not (an event for 0).
 */
TEST_F(vq, trigger_virt_id_width)
{
	uint32_t st2 = 0, st3 = 0, st4 = 0, idev2, idev3, idev4;

	idev2 = attached_device(self, 0x100000000ull, &st2);
	idev3 = attached_device(self, 0xabcd00005678ull, &st3);
	idev4 = attached_device(self, 0, &st4);
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, idev4));
	ASSERT_EQ(0, trigger(CTX, idev2));
	ASSERT_EQ(0, trigger(CTX, idev3));
	EXPECT_TRUE(reads(self->fd, 256, "0z 1b"));
}

/*
 * Queued events outlive their vdevice; a device destroyed (its vdevice
 * a tombstone) raises nothing; the queue still holds the vIOMMU.
 */
TEST_F(vq, events_outlive_vdevice_and_device)
{
	uint32_t pt = self->ioas, stdev2 = 0, idev2;

	ASSERT_EQ(0, trigger(CTX, self->idev));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	ASSERT_EQ(0, test_mock_domain_replace(CTX, self->stdev, &pt));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->vdev));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, EV, "0"));
	/* A second device raises, then goes: its vdevice is a tombstone. */
	idev2 = attached_device(self, VIRT2, &stdev2);
	ASSERT_EQ(0, trigger(CTX, idev2));
	EXPECT_EQ(0, ioctl_destroy(CTX, stdev2));
	EXPECT_FAILS_WHY(ENOENT, trigger(CTX, idev2));
	EXPECT_TRUE(reads(self->fd, 256, "1 2b"));
	/* Only the queue (and the nested HW pagetable) hold the vIOMMU. */
	EXPECT_EQ(0, ioctl_destroy(CTX, self->nested));
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->viommu));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	EXPECT_FAILS_WHY(EBUSY, ioctl_destroy(CTX, self->viommu));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->veventq));
	EXPECT_EQ(0, ioctl_destroy(CTX, self->viommu));
}

/* ==== read ==== */

TEST_F(vq, read_rules)
{
	uint8_t *two, b[64];

	two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, mprotect(two + PG, PG, PROT_NONE));
	/* Below a header: EINVAL, queued or not. */
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(self->fd, b, 0));
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(self->fd, b, HDR - 1));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	ASSERT_EQ(0, trigger(CTX, self->idev));
	for (size_t n = 0; n != HDR; n++)
		EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(self->fd, b, n));
	/* A header but not the first event whole: EINVAL. */
	for (size_t n = HDR; n != EV; n++)
		EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(self->fd, b, n));
	/* Bad buffers: EFAULT, nothing consumed. */
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, BAD_PTR, EV));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, NULL, 64));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, two + PG, EV));
	/* The header fits before the hole, the payload not. */
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, two + PG - HDR,
						  EV));
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->fd));
	/* The first fits before the hole, the second's payload not. */
	ASSERT_EQ((ssize_t)EV, uiommufd_fd_read(self->fd, two + PG - EV - HDR,
						2 * EV));
	memcpy(b, two + PG - EV - HDR, EV);
	EXPECT_EQ(0u, ((struct vrec *)b)->hdr.sequence);
	EXPECT_EQ(VIRT, ((struct vrec *)b)->ev.virt_id);
	/* Room for one and a bit: one, the next stays. */
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, 2 * EV - 1, "1"));
	EXPECT_TRUE(reads(self->fd, EV, "2"));
	EXPECT_FALSE(readable(self->fd));
	EXPECT_TRUE(reads(self->fd, 64, ""));
	/* No record-multiple rule: any count from a header on. */
	ASSERT_EQ(0, trigger(CTX, self->idev));
	EXPECT_TRUE(reads(self->fd, EV + 5, "3"));
	EXPECT_FAILS_WHY(EBADF, uiommufd_fd_read(-1, b, EV));
	munmap(two, 2 * PG);
}

/* ==== the depth and the LOST_EVENTS header ==== */

/* Raise @n events from the fixture's device. */
#define RAISE(n)                                                           \
	do {                                                               \
		for (int _i = 0; _i != (n); _i++)                          \
			ASSERT_EQ(0, trigger(CTX, self->idev));            \
	} while (0)

/* The three cases of the kernel's lost-events rule, walked exactly. */
TEST_F(vq, lost_events_header)
{
	/* Depth 2, raise 3: e0 e1, then the lost header takes seq 2. */
	requeue(self, 2);
	RAISE(3);
	EXPECT_TRUE(reads(self->fd, 256, "0 1 L2"));
	EXPECT_FALSE(readable(self->fd));
	/* Raise 4: the header moves to the newest number. */
	requeue(self, 2);
	RAISE(4);
	EXPECT_TRUE(reads(self->fd, 256, "0 1 L3"));
	/* Raise 3, read one, raise one: the header goes, the gap stays. */
	requeue(self, 2);
	RAISE(3);
	EXPECT_TRUE(reads(self->fd, EV, "0"));
	RAISE(1);
	EXPECT_TRUE(reads(self->fd, 256, "1 3"));
	EXPECT_FALSE(readable(self->fd));
}

/*
 * The header is 8 bytes of its own, read with a header's room; it does
 * not count against the depth; alone it keeps the queue readable.
 */
TEST_F(vq, lost_header_reads_and_depth)
{
	requeue(self, 2);
	RAISE(3);
	/* Room for both events and 7 bytes: the header stays. */
	EXPECT_TRUE(reads(self->fd, 2 * EV + HDR - 1, "0 1"));
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->fd));
	EXPECT_TRUE(reads(self->fd, HDR, "L2"));
	EXPECT_EQ(0, poll_now(self->fd));
	/* Read one of e0 e1 L2: room for one event again. */
	requeue(self, 2);
	RAISE(3);
	EXPECT_TRUE(reads(self->fd, EV, "0"));
	RAISE(3);	/* e1 e3, then L4, moved to L5 */
	EXPECT_TRUE(reads(self->fd, 256, "1 3 L5"));
	/* Depth 1: only the header left, the next event replaces it. */
	requeue(self, 1);
	RAISE(2);
	EXPECT_TRUE(reads(self->fd, EV + HDR - 1, "0"));
	RAISE(1);
	EXPECT_TRUE(reads(self->fd, 256, "2"));
	RAISE(2);
	EXPECT_TRUE(reads(self->fd, 256, "3 L4"));
}

/* A read that faults on the header leaves it; raising then replaces it. */
TEST_F(vq, lost_header_survives_a_faulting_read)
{
	uint8_t *two = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, two);
	ASSERT_EQ(0, mprotect(two + PG, PG, PROT_NONE));
	requeue(self, 1);
	RAISE(2);
	/* e0 before the hole, the header past it: e0 only. */
	ASSERT_EQ((ssize_t)EV, uiommufd_fd_read(self->fd, two + PG - EV,
						EV + HDR));
	/* The header alone, across the hole: EFAULT, still there. */
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, two + PG - 4,
						  HDR));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, BAD_PTR, 64));
	EXPECT_TRUE(reads(self->fd, HDR, "L1"));
	/* Again, then an event raised while it is queued replaces it. */
	RAISE(2);
	EXPECT_TRUE(reads(self->fd, EV, "2"));
	EXPECT_FAILS_WHY(EFAULT, uiommufd_fd_read(self->fd, BAD_PTR, 64));
	RAISE(1);
	EXPECT_TRUE(reads(self->fd, 256, "4"));
	munmap(two, 2 * PG);
}

/* The largest depth holds that many events, the next raise is lost. */
TEST_F(vq, max_depth)
{
	const uint32_t n = MAX_DEPTH;
	static uint8_t big[MAX_DEPTH * 12 + 64];
	struct vrec r;

	requeue(self, n);
	for (uint32_t i = 0; i != n + 1; i++) {
		ASSERT_EQ(0, trigger(CTX, self->idev));
		if (!(i & 0xffff))
			test_progress();
	}
	ASSERT_EQ((ssize_t)(n * EV + HDR),
		  uiommufd_fd_read(self->fd, big, sizeof(big)));
	memcpy(&r, big + (n - 1) * EV, EV);
	EXPECT_EQ(0u, r.hdr.flags);
	EXPECT_EQ(n - 1, r.hdr.sequence);
	EXPECT_EQ(VIRT, r.ev.virt_id);
	memcpy(&r.hdr, big + n * EV, HDR);
	EXPECT_EQ(LOST, r.hdr.flags);
	EXPECT_EQ(n, r.hdr.sequence);
}

/* ==== lifetime ==== */

/* Closed: the queue still takes (and bounds) events until destroyed. */
TEST_F(vq, close_then_raise_then_destroy)
{
	requeue(self, 2);
	RAISE(3);
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	RAISE(5);
	EXPECT_EQ(0, ioctl_destroy(CTX, self->veventq));
	EXPECT_FAILS_WHY(EOPNOTSUPP, trigger(CTX, self->idev));
	/* Another one, from sequence 0. */
	ASSERT_EQ(0, veventq_alloc(CTX, self->viommu, QTYPE, 2,
				   &self->veventq, &self->fd));
	RAISE(1);
	EXPECT_TRUE(reads(self->fd, 256, "0"));
}

/*
 * The context closes with descriptors open: one still reads what was
 * queued, the other is closed with events unread.
 */
TEST_F(vq, context_close_with_descriptors_open)
{
	uint32_t q = 0;
	int fd = -1;

	ASSERT_EQ(0, veventq_alloc(CTX, self->viommu,
				   IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 3, &q, &fd));
	requeue(self, 2);
	RAISE(3);
	uiommufd_ctx_close(CTX);
	self->ctx = NULL;
	EXPECT_EQ(0, uiommufd_fd_close(fd));
	EXPECT_EQ(POLLIN | POLLRDNORM, poll_now(self->fd));
	EXPECT_TRUE(reads(self->fd, EV, "0"));
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_write(self->fd, &q, 4));
	EXPECT_TRUE(readable(self->fd));
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
}

/* ==== readiness: poll, select, epoll ==== */

TEST_F(vq, epoll_level_and_edge)
{
	struct epoll_event lev = { .events = EPOLLIN };
	struct epoll_event eev = { .events = EPOLLIN | EPOLLET };
	struct epoll_event out[2];
	int lt, et;

	requeue(self, 1);
	lt = epoll_create1(EPOLL_CLOEXEC);
	et = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(lt, 0);
	ASSERT_GE(et, 0);
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_ADD, self->fd, &lev));
	ASSERT_EQ(0, epoll_ctl(et, EPOLL_CTL_ADD, self->fd, &eev));
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	/* Depth 1: an event, then raises that only make or move the header. */
	for (int i = 0; i != 3; i++) {
		RAISE(1);
		/* Level: while something is queued. Edge: once per raise. */
		EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
		EXPECT_EQ(EPOLLIN, out[0].events);
		EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
		EXPECT_EQ(1, epoll_wait(et, out, 2, 0));
		EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	}
	/* A partial read leaves it readable (level), no new edge. */
	EXPECT_TRUE(reads(self->fd, EV, "0"));
	EXPECT_EQ(1, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	/* Never writable. */
	lev.events = EPOLLOUT;
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_MOD, self->fd, &lev));
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	EXPECT_TRUE(reads(self->fd, 64, "L2"));
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	lev.events = EPOLLIN;
	ASSERT_EQ(0, epoll_ctl(lt, EPOLL_CTL_MOD, self->fd, &lev));
	EXPECT_EQ(0, epoll_wait(lt, out, 2, 0));
	EXPECT_EQ(0, epoll_wait(et, out, 2, 0));
	close(lt);
	close(et);
}

TEST_F(vq, select_and_nonblocking)
{
	struct timeval tv = { 0, 0 };
	fd_set rd, wr;
	uint8_t b[64];
	int fl = fcntl(self->fd, F_GETFL);

	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(self->fd, &rd);
	FD_SET(self->fd, &wr);
	EXPECT_EQ(0, select(self->fd + 1, &rd, &wr, NULL, &tv));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, fl | O_NONBLOCK));
	EXPECT_TRUE(reads(self->fd, sizeof(b), ""));
	RAISE(1);
	FD_SET(self->fd, &rd);
	FD_SET(self->fd, &wr);
	EXPECT_EQ(1, select(self->fd + 1, &rd, &wr, NULL, &tv));
	EXPECT_TRUE(FD_ISSET(self->fd, &rd));
	EXPECT_FALSE(FD_ISSET(self->fd, &wr));
	EXPECT_TRUE(reads(self->fd, sizeof(b), "0"));
	EXPECT_TRUE(reads(self->fd, sizeof(b), ""));
	ASSERT_EQ(0, fcntl(self->fd, F_SETFL, fl));
	/* Blocking or not, a read never waits. */
	EXPECT_TRUE(reads(self->fd, sizeof(b), ""));
	EXPECT_FAILS_WHY(EINVAL, uiommufd_fd_read(self->fd, b, HDR - 1));
}

/*
 * A waiter never woken hangs the test: the harness judges that by
 * progress that stops, not by the clock.
 */
TEST_F(vq, waiters_woken_from_another_thread)
{
	for (int how = 0; how != 3; how++) {
		struct waiter w = { .fd = self->fd, .how = how };
		char seq[4] = { (char)('0' + how), 0 };
		pthread_t t;

		ASSERT_EQ(0, pthread_create(&t, NULL, wait_thread, &w));
		while (atomic_load(&w.state) != 1)
			sched_yield();
		/* Let it block; it must not see anything yet. */
		usleep(20000);
		EXPECT_EQ(1, atomic_load(&w.state));
		ASSERT_EQ(0, trigger(CTX, self->idev));
		ASSERT_EQ(0, pthread_join(t, NULL));
		EXPECT_EQ(1, w.rc);
		EXPECT_TRUE(reads(self->fd, 64, seq));
	}
}

/* ==== threads (for TSan) ==== */

struct racer {
	struct uiommufd_ctx *ctx;
	uint32_t idev;
	unsigned int n;
	atomic_int *failed;
};

static void *raise_thread(void *arg)
{
	struct racer *r = arg;

	for (unsigned int i = 0; i != r->n; i++)
		if (trigger(r->ctx, r->idev)) {
			atomic_store(r->failed, errno ? errno : -1);
			break;
		}
	return NULL;
}

struct reader {
	int fd;
	uint32_t last;		/* the sequence that ends it */
	atomic_int *failed;
	unsigned int events, losts, bad;
};

/* One reader: sequences strictly rise; records are whole and right. */
static void *read_thread(void *arg)
{
	struct reader *rd = arg;
	int64_t prev = -1;

	for (unsigned int i = 0; prev != rd->last && !atomic_load(rd->failed);
	     i++) {
		struct pollfd pfd = { .fd = rd->fd, .events = POLLIN };
		uint8_t b[100];
		ssize_t n, at = 0;

		if (poll(&pfd, 1, 100) < 0)
			break;
		n = uiommufd_fd_read(rd->fd, b, HDR + i % 90);
		if (n < 0 && errno != EINVAL) {
			rd->bad++;
			break;
		}
		while (at + (ssize_t)HDR <= n) {
			struct vrec r = { 0 };
			bool lost;

			memcpy(&r.hdr, b + at, HDR);
			lost = r.hdr.flags == LOST;
			if (!lost)
				memcpy(&r, b + at, EV);
			rd->bad += (int64_t)r.hdr.sequence <= prev;
			prev = r.hdr.sequence;
			if (!lost)
				rd->bad += r.hdr.flags || (r.ev.virt_id != VIRT &&
							   r.ev.virt_id != VIRT2);
			rd->losts += lost;
			rd->events += !lost;
			at += lost ? HDR : EV;
		}
		rd->bad += n > 0 && at != n;
		test_progress();
	}
	return NULL;
}

/*
 * Two raisers and one reader: at depth 3 losses, whose headers and gaps
 * keep the sequence rising; at the largest depth every event.
 */
TEST_F(vq, threads_raise_and_read)
{
	atomic_int failed = 0;
	uint32_t stdev2 = 0, idev2 = attached_device(self, VIRT2, &stdev2);
	unsigned int n = test_iterations(2000);
	const uint32_t depths[2] = { 3, MAX_DEPTH };

	for (int round = 0; round != 2; round++) {
		struct racer r1 = { CTX, self->idev, n, &failed };
		struct racer r2 = { CTX, idev2, n, &failed };
		struct reader rd = { .last = 2 * n - 1, .failed = &failed };
		pthread_t t[3];

		requeue(self, depths[round]);
		rd.fd = self->fd;
		ASSERT_EQ(0, pthread_create(&t[0], NULL, read_thread, &rd));
		ASSERT_EQ(0, pthread_create(&t[1], NULL, raise_thread, &r1));
		ASSERT_EQ(0, pthread_create(&t[2], NULL, raise_thread, &r2));
		for (int i = 0; i != 3; i++)
			ASSERT_EQ(0, pthread_join(t[i], NULL));
		EXPECT_EQ(0, atomic_load(&failed));
		EXPECT_EQ(0u, rd.bad);
		EXPECT_LE(rd.events, 2 * n);
		EXPECT_FALSE(readable(self->fd));
		if (depths[round] >= 2 * n) {
			EXPECT_EQ(2 * n, rd.events);
			EXPECT_EQ(0u, rd.losts);
		}
	}
}

/* ==== fault injection ==== */

TEST_F(vq, fail_nth_alloc)
{
	unsigned int failed = 0;
	uint32_t next = hwt_next_id(CTX);
	int fds = open_fds();

	for (unsigned int nth = 1;; nth++) {
		uint32_t id = 0;
		int fd = -1, rc;

		uiommufd_fail_nth_set(nth);
		rc = veventq_alloc(CTX, self->viommu,
				   IOMMU_VEVENTQ_TYPE_ARM_SMMUV3, 4, &id, &fd);
		uiommufd_fail_nth_set(0);
		if (!rc) {
			/* No slot held by a failure: the type was free. */
			EXPECT_EQ(next, id);
			EXPECT_EQ(0, uiommufd_fd_close(fd));
			EXPECT_EQ(0, ioctl_destroy(CTX, id));
			break;
		}
		failed++;
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_TRUE(has_reason());
		EXPECT_EQ(next, hwt_next_id(CTX));
		EXPECT_EQ(fds, open_fds());
		ASSERT_LT(nth, 100);
	}
	EXPECT_GT(failed, 0u);
	EXPECT_EQ(fds, open_fds());
	EXPECT_FALSE(readable(self->fd));
}

/*
 * A raise either queues its event or, its allocation failing, the lost
 * header with its sequence number and ENOMEM (as the kernel's).
 */
TEST_F(vq, fail_nth_trigger_and_read)
{
	unsigned int failed = 0, seq = 0;
	char spec[32];

	for (unsigned int nth = 1;; nth++) {
		int rc;

		uiommufd_fail_nth_set(nth);
		rc = trigger(CTX, self->idev);
		uiommufd_fail_nth_set(0);
		if (!rc) {
			snprintf(spec, sizeof(spec), "%u", seq);
			EXPECT_TRUE(reads(self->fd, 256, spec));
			break;
		}
		failed++;
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_TRUE(has_reason());
		snprintf(spec, sizeof(spec), "L%u", seq++);
		EXPECT_TRUE(reads(self->fd, 256, spec));
		ASSERT_LT(nth, 100);
	}
	EXPECT_GT(failed, 0u);
	/* After an event, a failing raise's header follows it. */
	RAISE(1);
	uiommufd_fail_nth_set(1);
	EXPECT_FAILS_WHY(ENOMEM, trigger(CTX, self->idev));
	uiommufd_fail_nth_set(0);
	snprintf(spec, sizeof(spec), "%u L%u", seq + 1, seq + 2);
	EXPECT_TRUE(reads(self->fd, 256, spec));

	/* Reading a lost header may fail (the kernel copies it): ENOMEM. */
	requeue(self, 1);
	RAISE(2);
	EXPECT_TRUE(reads(self->fd, EV, "0"));
	for (unsigned int nth = 1;; nth++) {
		uint8_t b[64];
		ssize_t rc;

		uiommufd_fail_nth_set(nth);
		rc = uiommufd_fd_read(self->fd, b, sizeof(b));
		uiommufd_fail_nth_set(0);
		if (rc >= 0) {
			struct iommufd_vevent_header h = { LOST, 1 };

			EXPECT_EQ((ssize_t)HDR, rc);
			EXPECT_EQ(0, memcmp(b, &h, HDR));
			break;
		}
		EXPECT_EQ(ENOMEM, errno);
		EXPECT_TRUE(readable(self->fd));
		ASSERT_LT(nth, 100);
	}
	EXPECT_FALSE(readable(self->fd));
	/* Destroy cannot fail. */
	EXPECT_EQ(0, uiommufd_fd_close(self->fd));
	self->fd = -1;
	uiommufd_fail_nth_set(1);
	EXPECT_EQ(0, ioctl_destroy(CTX, self->veventq));
	uiommufd_fail_nth_set(0);
}

/* ==== a model of the queue ==== */

struct model {
	struct { bool lost; uint32_t seq, virt; } rec[64];
	unsigned int n, events, depth;
	uint32_t seq;
};

static void model_raise(struct model *m, uint32_t virt)
{
	bool full = m->events == m->depth;

	/* The lost header, always last when queued, gives way. */
	if (m->n && m->rec[m->n - 1].lost)
		m->n--;
	m->rec[m->n].lost = full;
	m->rec[m->n].seq = m->seq++;
	m->rec[m->n].virt = virt;
	m->n++;
	m->events += !full;
}

/* What a read of @count gives: bytes into @w, or -EINVAL. */
static int model_read(struct model *m, size_t count, struct want *w)
{
	unsigned int i = 0;

	w->n = 0;
	if (count < HDR)
		return -EINVAL;
	for (; i != m->n; i++) {
		if ((m->rec[i].lost ? HDR : EV) > count - w->n) {
			if (!w->n)
				return -EINVAL;
			break;
		}
		if (m->rec[i].lost) {
			want_lost(w, m->rec[i].seq);
		} else {
			want_ev(w, m->rec[i].seq, m->rec[i].virt);
			m->events--;
		}
	}
	memmove(m->rec, m->rec + i, (m->n - i) * sizeof(m->rec[0]));
	m->n -= i;
	return 0;
}

/*
 * Random raises (from two vdevices) and reads of random sizes against
 * the model, every read's bytes and the readiness after each step
 * compared; depths 1 to 6. A fixed seed, then the run's.
 */
TEST_F(vq, differential_against_a_model)
{
	uint32_t stdev2 = 0, idev2 = attached_device(self, VIRT2, &stdev2);
	unsigned int rounds = test_iterations(40);
	struct rng rng;

	for (unsigned int round = 0; round != 2 * rounds; round++) {
		struct model m;

		/* A fixed seed first, then the run's (replayable) one. */
		if (round == 0 || round == rounds)
			rng_init(&rng, round ? test_seed() : 0x7665ull);
		memset(&m, 0, sizeof(m));
		m.depth = 1 + rng_below(&rng, 6);

		requeue(self, m.depth);
		for (unsigned int op = 0; op != 200; op++) {
			bool two = rng_chance(&rng, 1, 3);
			size_t count = rng_below(&rng, 6 * EV + 4);
			struct want w;

			if (rng_chance(&rng, 1, 2)) {
				ASSERT_EQ(0, trigger(CTX, two ? idev2 :
								self->idev));
				model_raise(&m, two ? VIRT2 : VIRT);
			} else if (model_read(&m, count, &w)) {
				EXPECT_FAILS_WHY(EINVAL,
					uiommufd_fd_read(self->fd, w.b, count));
			} else if (!read_is(self->fd, count, &w)) {
				TH_LOG("round %u op %u depth %u count %zu",
				       round, op, m.depth, count);
				ASSERT_TRUE(false);
			}
			ASSERT_EQ(m.n ? POLLIN | POLLRDNORM : 0,
				  poll_now(self->fd));
		}
		test_progress();
	}
}
