// SPDX-License-Identifier: MIT
/*
 * The descriptors /dev/iommu hands out besides its own, as files under
 * the shim: fault queues (IOMMU_FAULT_QUEUE_ALLOC), vEVENTQs
 * (IOMMU_VEVENTQ_ALLOC) and the test module's dma-bufs (test op
 * DMABUF_GET). A program that knows only the kernel's ABI passes them to
 * fcntl, dup, dup2, dup3, close, close_range, closefrom, select and exec,
 * and gets the kernel's answers (drivers/iommu/iommufd/eventq.c: the
 * queues are anonymous files opened O_RDWR, installed close-on-exec,
 * whose release drops the users reference the descriptor holds on the
 * object and the reference it holds on the context).
 *
 * Every check runs for each kind of descriptor it applies to, through a
 * table of what the kind does (struct kind): make the descriptor, use it
 * (raise an event, read it through one number, answer it through
 * another), and tell whether the object is still held. A queue's object
 * is held while any descriptor of it is open: IOMMU_DESTROY of it is
 * EBUSY then, and succeeds once the last one is gone (and, for a fault
 * queue, the HW pagetable naming it). That is how "the queue was
 * released" is seen from outside. A dma-buf has no object in the
 * context: its descriptors are checked by what they reach.
 *
 * A queue's descriptor holds its context, as the kernel's file does; and
 * whatever uiommufd keeps behind a queue must stay out of the program's
 * way: after a closefrom() above the queue's number the queue still
 * works, and the program's next files at the freed numbers are its own.
 *
 * Within one process only: fork and descriptor passing follow what
 * issue 10 settles for contexts. exec is covered as uiommufd documents
 * it today (the shim's state is per process; see the exec tests).
 *
 * Runs under uiommufd-run only; it links neither the library nor the shim.
 */
#include <linux/close_range.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/select.h>

#include "e2e/e2e_share.h"

#define EXEC_ENV "UIOMMUFD_E2E_EVENTQ_EXEC"
#define REC sizeof(struct iommu_hwpt_pgfault)
#define RSP sizeof(struct iommu_hwpt_page_response)
#define VREC (sizeof(struct iommufd_vevent_header) + \
	      sizeof(struct iommu_viommu_event_selftest))
#define VIRT_ID 0x99
#define DMABUF_LEN (4 * PAGE_SZ)
#define VBUF_LEN (8 * PAGE_SZ)

struct kind;

/* One descriptor under test and what stands behind it. */
struct world {
	const struct kind *k;
	int fd;			/* /dev/iommu */
	int qfd;		/* the descriptor, as the command returned it */
	uint32_t obj_id;	/* the queue's object (none for a dma-buf) */
	uint32_t raised;	/* events raised: the next one's tag */
	char *buf;		/* mapped and pinned in the context */
	size_t buf_len;
	/* fault queue */
	struct fault_world f;
	/* vEVENTQ and dma-buf */
	uint32_t ioas, stdev, idev, hwpt, viommu, vdev;
	uint64_t next_iova;
};

struct kind {
	const char *name;
	bool queue;		/* raises events read from the descriptor */
	bool has_obj;		/* an object IOMMU_DESTROY can name */
	size_t rec;		/* one record read */
	short idle;		/* poll events of an empty queue */
	void (*make)(struct world *w);
	/* Another descriptor of the kind in @w's context (and its object). */
	int (*make_another)(struct world *w, uint32_t *obj_id);
	/*
	 * Show that @rd and @wr reach @w's object: raise an event, read it
	 * through @rd and answer it through @wr (for a dma-buf: map it
	 * through @rd, revoke it through @wr). 0, or -1 after a TH_LOG.
	 */
	int (*use)(struct world *w, int rd, int wr);
	/* Raise one event; read one record through @fd (its tag out). */
	int (*raise)(struct world *w);
	int (*read_one)(struct world *w, int fd, uint32_t *tag);
	/* Drop what holds the object besides its descriptors. */
	void (*unhold)(struct world *w);
};

#define FAIL_IF(cond, ...)                                                 \
	do {                                                               \
		if (cond) {                                                \
			TH_LOG(__VA_ARGS__);                               \
			return -1;                                         \
		}                                                          \
	} while (0)

static short revents(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	return poll(&pfd, 1, 0) < 0 ? -1 : pfd.revents;
}

/* ---- fault queues ---- */

static void fault_make(struct world *w)
{
	fault_world_init(&w->f);
	w->fd = w->f.fd;
	w->qfd = w->f.qfd;
	w->obj_id = w->f.fault_id;
	w->ioas = w->f.ioas;
	w->next_iova = MOCK_APERTURE_START + 0x100000;
	w->buf = w->f.buf;
	w->buf_len = FAULT_WORLD_LEN;
}

static int fault_make_another(struct world *w, uint32_t *obj_id)
{
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };

	if (ioctl(w->fd, IOMMU_FAULT_QUEUE_ALLOC, &fa))
		return -1;
	*obj_id = fa.out_fault_id;
	return fa.out_fault_fd;
}

static int fault_raise(struct world *w)
{
	uint32_t tag = w->raised++;

	return trigger_iopf(w->fd, w->f.idev, tag, tag * PAGE_SZ);
}

static uint32_t last_cookie;

static int fault_read_one(struct world *w, int fd, uint32_t *tag)
{
	struct iommu_hwpt_pgfault rec;
	ssize_t n = read(fd, &rec, REC);

	FAIL_IF(n != REC, "read of fd %d: %zd (%s)", fd, n, strerror(errno));
	FAIL_IF(rec.dev_id != w->f.idev, "dev_id %u, not %u", rec.dev_id,
		w->f.idev);
	*tag = rec.grpid;
	last_cookie = rec.cookie;
	return 0;
}

static int fault_use(struct world *w, int rd, int wr)
{
	struct iommu_hwpt_page_response rsp = {
		.code = IOMMUFD_PAGE_RESP_SUCCESS,
	};
	uint32_t want = w->raised, tag = ~0u;
	ssize_t n;

	FAIL_IF(fault_raise(w), "TRIGGER_IOPF: %s", strerror(errno));
	FAIL_IF(revents(rd) != (POLLIN | POLLOUT),
		"fd %d polls %#x with a fault queued", rd, revents(rd));
	if (fault_read_one(w, rd, &tag))
		return -1;
	FAIL_IF(tag != want, "read group %u, not %u", tag, want);
	FAIL_IF(revents(rd) != POLLOUT, "fd %d polls %#x once read", rd,
		revents(rd));
	rsp.cookie = last_cookie;
	n = write(wr, &rsp, RSP);
	FAIL_IF(n != RSP, "answer through fd %d: %zd (%s)", wr, n,
		strerror(errno));
	/* Answered: the cookie is no more. */
	errno = 0;
	n = write(wr, &rsp, RSP);
	FAIL_IF(n != -1 || errno != EINVAL,
		"a second answer through fd %d: %zd (%s), not EINVAL", wr, n,
		strerror(errno));
	return 0;
}

/* The device detached (its faults answered) and the HW pagetable gone. */
static void fault_unhold(struct world *w)
{
	ASSERT_EQ(0, destroy(w->fd, w->f.stdev));
	ASSERT_EQ(0, destroy(w->fd, w->f.hwpt));
}

static const struct kind fault_kind = {
	.name = "fault queue",
	.queue = true,
	.has_obj = true,
	.rec = REC,
	.idle = POLLOUT,
	.make = fault_make,
	.make_another = fault_make_another,
	.use = fault_use,
	.raise = fault_raise,
	.read_one = fault_read_one,
	.unhold = fault_unhold,
};

/* ---- vEVENTQs ---- */

static int viommu_alloc(int fd, uint32_t dev_id, uint32_t hwpt_id,
			uint32_t *out)
{
	struct iommu_viommu_alloc cmd = {
		.size = sizeof(cmd),
		.type = IOMMU_VIOMMU_TYPE_SELFTEST,
		.dev_id = dev_id,
		.hwpt_id = hwpt_id,
	};
	int rc = ioctl(fd, IOMMU_VIOMMU_ALLOC, &cmd);

	if (!rc)
		*out = cmd.out_viommu_id;
	return rc;
}

/* A selftest vEVENTQ of @viommu: its descriptor, or -1. */
static int veventq_alloc(int fd, uint32_t viommu, uint32_t *id)
{
	struct iommu_veventq_alloc cmd = {
		.size = sizeof(cmd),
		.viommu_id = viommu,
		.type = IOMMU_VEVENTQ_TYPE_SELFTEST,
		.veventq_depth = 64,
	};

	if (ioctl(fd, IOMMU_VEVENTQ_ALLOC, &cmd))
		return -1;
	*id = cmd.out_veventq_id;
	return cmd.out_veventq_fd;
}

/*
 * A mapped IOAS with a mock device, a nesting parent on it, a vIOMMU of
 * the device with a vdevice for it, the device attached to a nested HW
 * pagetable of the vIOMMU, and the vIOMMU's selftest vEVENTQ.
 */
static void vevent_make(struct world *w)
{
	struct iommu_test_cmd md = { .op = IOMMU_TEST_OP_MOCK_DOMAIN };
	struct iommu_hwpt_alloc ha = { .size = sizeof(ha),
				       .flags = IOMMU_HWPT_ALLOC_NEST_PARENT };
	struct iommu_vdevice_alloc va = { .size = sizeof(va),
					  .virt_id = VIRT_ID };
	struct iommu_test_cmd rp = { .op = IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE };
	struct iommu_hwpt_selftest nd = { .iotlb = IOMMU_TEST_IOTLB_DEFAULT };
	uint64_t iova = MOCK_APERTURE_START;

	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	w->buf_len = VBUF_LEN;
	w->buf = e2e_buffer(w->buf_len);
	ASSERT_NONNULL(w->buf);
	md.id = w->ioas;
	ASSERT_EQ(0, test_cmd(w->fd, &md));
	w->stdev = md.mock_domain.out_stdev_id;
	w->idev = md.mock_domain.out_idev_id;
	ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, w->buf_len, &iova,
			      MAP_FIXED_RW));
	ha.dev_id = w->idev;
	ha.pt_id = w->ioas;
	ASSERT_EQ(0, ioctl(w->fd, IOMMU_HWPT_ALLOC, &ha));
	w->hwpt = ha.out_hwpt_id;
	ASSERT_EQ(0, viommu_alloc(w->fd, w->idev, w->hwpt, &w->viommu));
	va.viommu_id = w->viommu;
	va.dev_id = w->idev;
	ASSERT_EQ(0, ioctl(w->fd, IOMMU_VDEVICE_ALLOC, &va));
	w->vdev = va.out_vdevice_id;
	/* The mock device reports events while on a nested HW pagetable. */
	ha = (struct iommu_hwpt_alloc){
		.size = sizeof(ha),
		.dev_id = w->idev,
		.pt_id = w->viommu,
		.data_type = IOMMU_HWPT_DATA_SELFTEST,
		.data_len = sizeof(nd),
		.data_uptr = (uintptr_t)&nd,
	};
	ASSERT_EQ(0, ioctl(w->fd, IOMMU_HWPT_ALLOC, &ha));
	rp.id = w->stdev;
	rp.mock_domain_replace.pt_id = ha.out_hwpt_id;
	ASSERT_EQ(0, test_cmd(w->fd, &rp));
	w->qfd = veventq_alloc(w->fd, w->viommu, &w->obj_id);
	if (w->qfd < 0 && errno == ENOTTY)
		SKIP("IOMMU_VEVENTQ_ALLOC is ENOTTY: vEVENTQs not built yet");
	ASSERT_GE(w->qfd, 0);
}

/* On a second vIOMMU of the same device and parent. */
static int vevent_make_another(struct world *w, uint32_t *obj_id)
{
	uint32_t viommu = 0;

	if (viommu_alloc(w->fd, w->idev, w->hwpt, &viommu))
		return -1;
	return veventq_alloc(w->fd, viommu, obj_id);
}

static int vevent_raise(struct world *w)
{
	struct iommu_test_cmd cmd = {
		.op = IOMMU_TEST_OP_TRIGGER_VEVENT,
		.trigger_vevent = { .dev_id = w->idev },
	};

	w->raised++;
	return test_cmd(w->fd, &cmd);
}

/* The tag of a vEVENT is its sequence number: 0, 1, ... per queue. */
static int vevent_read_one(struct world *w, int fd, uint32_t *tag)
{
	struct {
		struct iommufd_vevent_header hdr;
		struct iommu_viommu_event_selftest ev;
	} rec;
	ssize_t n = read(fd, &rec, VREC);

	FAIL_IF(n != VREC, "read of fd %d: %zd (%s)", fd, n, strerror(errno));
	FAIL_IF(rec.hdr.flags, "header flags %#x", rec.hdr.flags);
	FAIL_IF(rec.ev.virt_id != VIRT_ID, "virt_id %#x", rec.ev.virt_id);
	*tag = rec.hdr.sequence;
	return 0;
}

static int vevent_use(struct world *w, int rd, int wr)
{
	uint32_t want = w->raised, tag = ~0u;
	char junk[VREC] = {};
	ssize_t n;

	FAIL_IF(vevent_raise(w), "TRIGGER_VEVENT: %s", strerror(errno));
	/* Never writable: the kernel's vEVENTQ file has no write. */
	FAIL_IF(revents(rd) != POLLIN, "fd %d polls %#x with an event queued",
		rd, revents(rd));
	if (vevent_read_one(w, rd, &tag))
		return -1;
	FAIL_IF(tag != want, "read sequence %u, not %u", tag, want);
	FAIL_IF(revents(rd) != 0, "fd %d polls %#x once read", rd,
		revents(rd));
	errno = 0;
	n = write(wr, junk, sizeof(junk));
	FAIL_IF(n != -1 || errno != EINVAL,
		"write through fd %d: %zd (%s), not EINVAL", wr, n,
		strerror(errno));
	return 0;
}

/* Only its descriptors hold a vEVENTQ. */
static void vevent_unhold(struct world *w)
{
}

static const struct kind vevent_kind = {
	.name = "vEVENTQ",
	.queue = true,
	.has_obj = true,
	.rec = VREC,
	.idle = 0,
	.make = vevent_make,
	.make_another = vevent_make_another,
	.use = vevent_use,
	.raise = vevent_raise,
	.read_one = vevent_read_one,
	.unhold = vevent_unhold,
};

/* ---- the test module's dma-bufs ---- */

static void dmabuf_make(struct world *w)
{
	uint64_t iova = MOCK_APERTURE_START;

	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	ASSERT_EQ(0, mock_domain(w->fd, w->ioas, &w->stdev, &w->hwpt));
	w->buf_len = VBUF_LEN;
	w->buf = e2e_buffer(w->buf_len);
	ASSERT_NONNULL(w->buf);
	ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, w->buf_len, &iova,
			      MAP_FIXED_RW));
	w->next_iova = MOCK_APERTURE_START + 0x100000;
	w->qfd = dmabuf_get(w->fd, DMABUF_LEN, O_CLOEXEC);
	ASSERT_GT(w->qfd, 2);
}

static int dmabuf_make_another(struct world *w, uint32_t *obj_id)
{
	*obj_id = 0;
	return dmabuf_get(w->fd, DMABUF_LEN, O_CLOEXEC);
}

/* Mapped through @rd; revoked (a new mapping ENODEV) and back through @wr. */
static int dmabuf_use(struct world *w, int rd, int wr)
{
	uint64_t iova = w->next_iova, unmapped = 0;

	w->next_iova += 2 * DMABUF_LEN;
	FAIL_IF(map_file(w->fd, w->ioas, rd, 0, DMABUF_LEN, iova),
		"MAP_FILE of fd %d: %s", rd, strerror(errno));
	FAIL_IF(dmabuf_revoke(w->fd, wr, true), "DMABUF_REVOKE of fd %d: %s",
		wr, strerror(errno));
	errno = 0;
	FAIL_IF(map_file(w->fd, w->ioas, rd, 0, PAGE_SZ, iova + DMABUF_LEN) !=
			-1 || errno != ENODEV,
		"MAP_FILE of fd %d revoked: %s, not ENODEV", rd,
		strerror(errno));
	FAIL_IF(dmabuf_revoke(w->fd, wr, false), "DMABUF_REVOKE 0 of fd %d: %s",
		wr, strerror(errno));
	FAIL_IF(ioas_unmap(w->fd, w->ioas, iova, DMABUF_LEN, &unmapped) ||
			unmapped != DMABUF_LEN,
		"unmap of the dma-buf: %s, %#llx bytes", strerror(errno),
		(unsigned long long)unmapped);
	return 0;
}

static void dmabuf_unhold(struct world *w)
{
}

static const struct kind dmabuf_kind = {
	.name = "dma-buf",
	.make = dmabuf_make,
	.make_another = dmabuf_make_another,
	.use = dmabuf_use,
	.unhold = dmabuf_unhold,
};

static const struct kind *const kinds[] = {
	&fault_kind, &vevent_kind, &dmabuf_kind,
};

/* ---- the object's life ---- */

enum { HELD = 1, RELEASED = 0 };

/*
 * IOMMU_DESTROY of @id: EBUSY while a descriptor (or anything else)
 * holds it, HELD; success, RELEASED (and the object is gone); -errno.
 */
static int obj_state(int fd, uint32_t id)
{
	if (!destroy(fd, id))
		return RELEASED;
	return errno == EBUSY ? HELD : -errno;
}

/* ---- the fixtures: every kind, and the queues alone ---- */

#define FDS_SEEN 256

FIXTURE(efd) {
	struct world w;
	/* What was open before the world was made: not the world's. */
	bool open_before[FDS_SEEN];
};

FIXTURE_VARIANT(efd) {
	const struct kind *k;
};

FIXTURE_VARIANT_ADD(efd, fault) { .k = &fault_kind };
FIXTURE_VARIANT_ADD(efd, vevent) { .k = &vevent_kind };
FIXTURE_VARIANT_ADD(efd, dmabuf) { .k = &dmabuf_kind };

FIXTURE_SETUP(efd)
{
	for (int fd = 0; fd != FDS_SEEN; fd++)
		self->open_before[fd] = fd_is_open(fd);
	memset(&self->w, 0, sizeof(self->w));
	self->w.fd = -1;
	self->w.k = variant->k;
	variant->k->make(&self->w);
}

/* The context goes: everything in it is freed before the process ends. */
FIXTURE_TEARDOWN(efd)
{
	if (self->w.fd >= 0)
		close(self->w.fd);
}

FIXTURE(queue) {
	struct world w;
};

FIXTURE_VARIANT(queue) {
	const struct kind *k;
};

FIXTURE_VARIANT_ADD(queue, fault) { .k = &fault_kind };
FIXTURE_VARIANT_ADD(queue, vevent) { .k = &vevent_kind };

FIXTURE_SETUP(queue)
{
	memset(&self->w, 0, sizeof(self->w));
	self->w.fd = -1;
	self->w.k = variant->k;
	variant->k->make(&self->w);
}

FIXTURE_TEARDOWN(queue)
{
	if (self->w.fd >= 0)
		close(self->w.fd);
}

/*
 * The last descriptor of @w's object is closed: the object goes with
 * IOMMU_DESTROY now (a dma-buf: the numbers are closed).
 */
static void check_released(struct world *w, int last)
{
	ASSERT_FALSE(fd_is_open(last));
	if (w->k->has_obj) {
		ASSERT_EQ(RELEASED, obj_state(w->fd, w->obj_id));
	} else {
		ASSERT_ERRNO(EBADF, dmabuf_revoke(w->fd, last, true));
		ASSERT_ERRNO(EBADF, map_file(w->fd, w->ioas, last, 0, PAGE_SZ,
					     w->next_iova));
	}
}

static void check_held(struct world *w)
{
	if (w->k->has_obj)
		ASSERT_EQ(HELD, obj_state(w->fd, w->obj_id));
}

/* ---- fcntl ---- */

/* The kernel installs the descriptor with get_unused_fd_flags(O_CLOEXEC). */
TEST_F(efd, fresh_descriptor_is_cloexec_and_rdwr)
{
	struct world *w = &self->w;
	int fl;

	ASSERT_EQ(FD_CLOEXEC, fcntl(w->qfd, F_GETFD));
	fl = fcntl(w->qfd, F_GETFL);
	ASSERT_LE(0, fl);
	ASSERT_EQ(0, fl & O_NONBLOCK);
	/*
	 * Both event queue files come from anon_inode_getfile(..., O_RDWR),
	 * the vEVENTQ's too (it has no write, so write() is EINVAL, but it
	 * is open for writing). A dma-buf's flags are DMABUF_GET's
	 * open_flags, not checked here.
	 */
	if (w->k->queue)
		EXPECT_EQ(O_RDWR, fl & O_ACCMODE);
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	ASSERT_EQ(0, close(w->qfd));
}

/* F_SETFL O_NONBLOCK: read never blocked anyway; it still reads. */
TEST_F(efd, setfl_nonblock)
{
	struct world *w = &self->w;
	char big[4 * REC];
	uint32_t tag = ~0u;
	int fl = fcntl(w->qfd, F_GETFL);

	ASSERT_LE(0, fl);
	ASSERT_EQ(0, fcntl(w->qfd, F_SETFL, fl | O_NONBLOCK));
	ASSERT_EQ(O_NONBLOCK, fcntl(w->qfd, F_GETFL) & O_NONBLOCK);
	/* The descriptor flag is apart from the status flags. */
	ASSERT_EQ(FD_CLOEXEC, fcntl(w->qfd, F_GETFD));
	if (w->k->queue) {
		/* Empty: 0 bytes, not EAGAIN. */
		ASSERT_EQ(0, read(w->qfd, big, w->k->rec));
		ASSERT_EQ(w->k->idle, revents(w->qfd));
		ASSERT_EQ(0, w->k->raise(w));
		ASSERT_EQ(0, w->k->read_one(w, w->qfd, &tag));
		ASSERT_EQ(w->raised - 1, tag);
		ASSERT_EQ(0, read(w->qfd, big, w->k->rec));
	}
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	ASSERT_EQ(0, fcntl(w->qfd, F_SETFL, fl));
	ASSERT_EQ(0, fcntl(w->qfd, F_GETFL) & O_NONBLOCK);
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	ASSERT_EQ(0, close(w->qfd));
}

/* F_SETFD clears and sets close-on-exec of one number only. */
TEST_F(efd, setfd_is_per_number)
{
	struct world *w = &self->w;
	int d = dup(w->qfd);

	ASSERT_GE(d, 0);
	ASSERT_EQ(0, fcntl(d, F_GETFD));
	ASSERT_EQ(0, fcntl(w->qfd, F_SETFD, 0));
	ASSERT_EQ(0, fcntl(w->qfd, F_GETFD));
	ASSERT_EQ(0, fcntl(d, F_SETFD, FD_CLOEXEC));
	ASSERT_EQ(FD_CLOEXEC, fcntl(d, F_GETFD));
	ASSERT_EQ(0, fcntl(w->qfd, F_GETFD));
	ASSERT_EQ(0, w->k->use(w, d, w->qfd));
	ASSERT_EQ(0, close(d));
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	ASSERT_EQ(0, close(w->qfd));
}

/*
 * F_DUPFD and F_DUPFD_CLOEXEC (and dup): numbers of the same queue, an
 * event read through one is answered through another, and the object
 * lives until the last of them is closed.
 */
TEST_F(efd, fcntl_dupfd_numbers_share_the_object)
{
	struct world *w = &self->w;
	int n, m, d;

	n = fcntl(w->qfd, F_DUPFD, 100);
	ASSERT_LE(100, n);
	ASSERT_EQ(0, fcntl(n, F_GETFD));
	m = fcntl(w->qfd, F_DUPFD_CLOEXEC, 100);
	ASSERT_LE(100, m);
	ASSERT_NE(n, m);
	ASSERT_EQ(FD_CLOEXEC, fcntl(m, F_GETFD));
	d = dup(m);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, fcntl(d, F_GETFD));
	ASSERT_EQ(0, w->k->use(w, n, m));
	ASSERT_EQ(0, w->k->use(w, m, w->qfd));
	ASSERT_EQ(0, w->k->use(w, w->qfd, n));
	ASSERT_EQ(0, w->k->use(w, d, n));
	/* Status flags are the file's: set through one, seen through all. */
	ASSERT_EQ(0, fcntl(n, F_SETFL, fcntl(n, F_GETFL) | O_NONBLOCK));
	ASSERT_EQ(O_NONBLOCK, fcntl(m, F_GETFL) & O_NONBLOCK);
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(0, w->k->use(w, m, n));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(n));
	ASSERT_EQ(0, close(d));
	check_held(w);
	if (!w->k->has_obj)
		ASSERT_EQ(0, w->k->use(w, m, m));
	ASSERT_EQ(0, close(m));
	check_released(w, m);
}

/* ---- dup2 and dup3 ---- */

TEST_F(efd, dup2_dup3_onto_free_numbers)
{
	struct world *w = &self->w;
	int n, m;

	n = free_number(200);
	ASSERT_EQ(n, dup2(w->qfd, n));
	ASSERT_EQ(0, fcntl(n, F_GETFD));
	m = free_number(n + 1);
	ASSERT_EQ(m, dup3(w->qfd, m, O_CLOEXEC));
	ASSERT_EQ(FD_CLOEXEC, fcntl(m, F_GETFD));
	ASSERT_EQ(0, w->k->use(w, n, m));
	ASSERT_EQ(0, w->k->use(w, m, w->qfd));
	/* Onto itself: dup2 does nothing, dup3 refuses. */
	ASSERT_EQ(n, dup2(n, n));
	ASSERT_ERRNO(EINVAL, dup3(n, n, 0));
	ASSERT_EQ(0, w->k->use(w, n, n));
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(0, close(m));
	ASSERT_EQ(0, w->k->use(w, n, n));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(n));
	check_released(w, n);
}

/* A dup onto a number holding a context closes that context. */
TEST_F(efd, dup2_onto_a_context_closes_it)
{
	struct world *w = &self->w;
	uint32_t ioas = 0, stdev = 0, hwpt = 0;
	uint64_t iova = MOCK_APERTURE_START;
	char *buf = e2e_buffer(4 * PAGE_SZ);
	int c;

	ASSERT_NONNULL(buf);
	c = open_iommu();
	ASSERT_GE(c, 0);
	ASSERT_EQ(0, ioas_alloc(c, &ioas));
	ASSERT_EQ(0, mock_domain(c, ioas, &stdev, &hwpt));
	ASSERT_EQ(0, ioas_map(c, ioas, buf, 4 * PAGE_SZ, &iova, MAP_FIXED_RW));
	ASSERT_EQ(1, pins(w->fd, buf, 4 * PAGE_SZ));
	ASSERT_EQ(c, dup3(w->qfd, c, O_CLOEXEC));
	/* c's context is gone with its pins; the number is the queue. */
	ASSERT_EQ(0, pins(w->fd, buf, 4 * PAGE_SZ));
	ASSERT_ERRNO(ENOTTY, ioas_alloc(c, &ioas));
	ASSERT_EQ(0, w->k->use(w, c, w->qfd));
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(0, w->k->use(w, c, c));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(c));
	check_released(w, c);
}

/* A dup onto a number holding another of the kind releases that one. */
TEST_F(efd, dup2_onto_another_of_the_kind_releases_it)
{
	struct world *w = &self->w;
	uint32_t other_id = 0;
	int other;

	other = w->k->make_another(w, &other_id);
	ASSERT_GE(other, 0);
	ASSERT_NE(w->qfd, other);
	if (w->k->has_obj)
		ASSERT_EQ(HELD, obj_state(w->fd, other_id));
	ASSERT_EQ(other, dup2(w->qfd, other));
	if (w->k->has_obj)
		ASSERT_EQ(RELEASED, obj_state(w->fd, other_id));
	ASSERT_EQ(0, w->k->use(w, other, w->qfd));
	ASSERT_EQ(0, w->k->use(w, w->qfd, other));
	ASSERT_EQ(0, close(other));
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(w->qfd));
	check_released(w, w->qfd);
}

/*
 * dup2 of another file onto the last descriptor releases the object, with
 * events pending (a fault read and not answered, one not read); the
 * number is that file now, in every call.
 */
TEST_F(efd, dup2_of_another_file_onto_the_last_descriptor)
{
	struct world *w = &self->w;
	uint32_t tag = ~0u;
	int pipefd[2];
	char byte = 0;

	if (w->k->queue) {
		ASSERT_EQ(0, w->k->raise(w));
		ASSERT_EQ(0, w->k->raise(w));
		ASSERT_EQ(0, w->k->read_one(w, w->qfd, &tag));
	} else {
		ASSERT_EQ(0, map_file(w->fd, w->ioas, w->qfd, 0, DMABUF_LEN,
				      w->next_iova));
	}
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	ASSERT_EQ(w->qfd, dup2(pipefd[0], w->qfd));
	if (w->k->has_obj)
		ASSERT_EQ(RELEASED, obj_state(w->fd, w->obj_id));
	/* The number reads the pipe, and is no queue or dma-buf. */
	ASSERT_EQ(1, write(pipefd[1], "x", 1));
	ASSERT_EQ(1, read(w->qfd, &byte, 1));
	ASSERT_EQ('x', byte);
	ASSERT_ERRNO(EINVAL, dmabuf_revoke(w->fd, w->qfd, true));
	ASSERT_ERRNO(EINVAL, map_file(w->fd, w->ioas, w->qfd, 0, PAGE_SZ,
				      w->next_iova + DMABUF_LEN));
	ASSERT_EQ(POLLOUT, revents(pipefd[1]));
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(0, close(pipefd[0]));
	ASSERT_EQ(0, close(pipefd[1]));
	if (!w->k->queue) {
		/* The mapping held the dma-buf: it still unmaps. */
		uint64_t unmapped = 0;

		ASSERT_EQ(0, ioas_unmap(w->fd, w->ioas, w->next_iova,
					DMABUF_LEN, &unmapped));
		ASSERT_EQ(DMABUF_LEN, unmapped);
	}
}

/* The same with another descriptor of the object open: it stays. */
TEST_F(efd, dup2_of_another_file_onto_one_of_two)
{
	struct world *w = &self->w;
	int d = fcntl(w->qfd, F_DUPFD_CLOEXEC, 0);
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	ASSERT_GE(d, 0);
	ASSERT_GE(null_fd, 0);
	ASSERT_EQ(w->qfd, dup2(null_fd, w->qfd));
	ASSERT_EQ(0, w->k->use(w, d, d));
	ASSERT_EQ(0, read(w->qfd, &null_fd, 1));
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(0, close(null_fd));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(d));
	check_released(w, d);
}

/* ---- close_range and closefrom ---- */

TEST_F(efd, close_range_of_the_descriptor)
{
	struct world *w = &self->w;

	ASSERT_LT(w->fd, w->qfd);
	if (w->k->queue)
		ASSERT_EQ(0, w->k->raise(w));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close_range(w->qfd, w->qfd, 0));
	check_released(w, w->qfd);
}

/* A range of several numbers of it, and nothing outside the range. */
TEST_F(efd, close_range_of_its_numbers)
{
	struct world *w = &self->w;
	int lo = free_number(300), n[3], keep;

	for (int i = 0; i != 3; i++) {
		n[i] = fcntl(w->qfd, F_DUPFD, lo);
		ASSERT_LE(lo, n[i]);
	}
	keep = fcntl(w->qfd, F_DUPFD_CLOEXEC, n[2] + 1);
	ASSERT_LT(n[2], keep);
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(0, close_range(n[0], n[2], 0));
	for (int i = 0; i != 3; i++)
		ASSERT_FALSE(fd_is_open(n[i]));
	ASSERT_EQ(0, w->k->use(w, keep, keep));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close_range(keep, keep, 0));
	check_released(w, keep);
}

/* CLOSE_RANGE_CLOEXEC closes nothing; it sets close-on-exec. */
TEST_F(efd, close_range_cloexec_only_marks)
{
	struct world *w = &self->w;
	int d = dup(w->qfd);

	ASSERT_GE(d, 0);
	ASSERT_EQ(0, fcntl(d, F_GETFD));
	ASSERT_EQ(0, close_range(w->qfd < d ? w->qfd : d, ~0U,
				 CLOSE_RANGE_CLOEXEC));
	ASSERT_EQ(FD_CLOEXEC, fcntl(d, F_GETFD));
	ASSERT_EQ(FD_CLOEXEC, fcntl(w->qfd, F_GETFD));
	ASSERT_EQ(0, w->k->use(w, d, w->qfd));
	ASSERT_EQ(0, w->k->use(w, w->qfd, d));
	ASSERT_EQ(0, close(d));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(w->qfd));
	check_released(w, w->qfd);
}

/* closefrom: released as by close; the library copes with the rest. */
TEST_F(efd, closefrom_the_descriptor)
{
	struct world *w = &self->w;
	uint32_t other_id = 0;
	int other;

	ASSERT_LT(w->fd, w->qfd);
	if (w->k->queue)
		ASSERT_EQ(0, w->k->raise(w));
	w->k->unhold(w);
	check_held(w);
	closefrom(w->qfd);
	check_released(w, w->qfd);
	/* Another of the kind, made after: a dma-buf maps, a queue holds. */
	other = w->k->make_another(w, &other_id);
	ASSERT_GE(other, 0);
	if (w->k == &dmabuf_kind)
		ASSERT_EQ(0, w->k->use(w, other, other));
	if (w->k->has_obj)
		ASSERT_EQ(HELD, obj_state(w->fd, other_id));
	ASSERT_EQ(0, close(other));
	if (w->k->has_obj)
		ASSERT_EQ(RELEASED, obj_state(w->fd, other_id));
}

/*
 * Everything above the descriptor closed (closefrom(qfd + 1), as a
 * program does before it execs a helper): the descriptor keeps working
 * as the kernel's file does (readable when an event comes, read,
 * answered), and the files the program opens next at the freed numbers
 * are its own: nothing of the queue reads them, writes them or closes
 * them, not even when the queue is released and destroyed.
 */
TEST_F(efd, closefrom_above_keeps_the_descriptor_working)
{
	struct world *w = &self->w;
	int pipes[4][2];
	char got[8];

	ASSERT_LT(w->fd, w->qfd);
	closefrom(w->qfd + 1);
	for (int i = 0; i != 4; i++) {
		ASSERT_EQ(0, pipe2(pipes[i], O_CLOEXEC | O_NONBLOCK));
		ASSERT_EQ(3, write(pipes[i][1], "abc", 3));
	}
	/* Whatever the descriptor does, the pipes are checked after. */
	for (int round = 0; round != 3; round++)
		EXPECT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(w->qfd));
	check_released(w, w->qfd);
	for (int i = 0; i != 4; i++) {
		ssize_t n;

		EXPECT_TRUE(fd_is_open(pipes[i][0]));
		EXPECT_TRUE(fd_is_open(pipes[i][1]));
		n = read(pipes[i][0], got, sizeof(got));
		if (n != 3)
			TH_LOG("pipe %d (fds %d, %d): read %zd (%s), not abc",
			       i, pipes[i][0], pipes[i][1], n,
			       n < 0 ? strerror(errno) : "short");
		EXPECT_EQ(3, n);
		EXPECT_EQ(0, memcmp(got, "abc", 3));
		close(pipes[i][0]);
		close(pipes[i][1]);
	}
}

/*
 * The same for the other ways a program hits numbers it never got: a
 * close() of each number above the queue's (EBADF where nothing of the
 * program's is open), a dup2() of a pipe onto each of them (the number
 * becomes the pipe), and close_range() over them all.
 */
TEST_F(efd, closing_or_reusing_numbers_above_keeps_it_working)
{
	struct world *w = &self->w;
	int p[2], top = w->qfd + 16, end;
	char got[8];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	/*
	 * Making the world opened no number above the queue's for the
	 * program: every one that was not open before is the library's,
	 * or free.
	 */
	ASSERT_LE(top, FDS_SEEN);
	for (int fd = w->qfd + 1; fd != top; fd++) {
		if (fd == p[0] || fd == p[1] || self->open_before[fd])
			continue;
		errno = 0;
		EXPECT_EQ(-1, close(fd));
		EXPECT_EQ(EBADF, errno);
	}
	EXPECT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	for (int fd = w->qfd + 1; fd != top; fd++) {
		if (fd == p[0] || fd == p[1] || self->open_before[fd])
			continue;
		ASSERT_EQ(fd, dup2(p[1], fd));
		ASSERT_EQ(3, write(fd, "abc", 3));
		ASSERT_EQ(3, read(p[0], got, sizeof(got)));
		EXPECT_EQ(0, memcmp(got, "abc", 3));
		EXPECT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	}
	for (int fd = w->qfd + 1; fd != top; fd++)
		if (!self->open_before[fd] && fd != p[0] && fd != p[1])
			ASSERT_EQ(0, close_range(fd, fd, 0));
	EXPECT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	/* One range over them, up to the first the world did not make. */
	end = w->qfd + 1;
	while (end != top && !self->open_before[end])
		end++;
	ASSERT_EQ(0, close_range(w->qfd + 1, end - 1, 0));
	EXPECT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	close(p[0]);
	close(p[1]);
	w->k->unhold(w);
	ASSERT_EQ(0, close(w->qfd));
	check_released(w, w->qfd);
}

/* ---- the queue keeps its context ---- */

/*
 * The kernel's queue file holds its context (iommufd_ctx_get()): the
 * context's last /dev/iommu descriptor closed, what was raised before is
 * still read and answered, the context's pages stay pinned, and they go
 * with the queue's last descriptor.
 */
TEST_F(queue, descriptor_keeps_the_context_open)
{
	struct world *w = &self->w;
	uint32_t tag[2] = { ~0u, ~0u };
	int c = open_iommu(), d;

	ASSERT_GE(c, 0);
	ASSERT_EQ(1, pins(c, w->buf, w->buf_len));
	ASSERT_EQ(0, w->k->raise(w));
	ASSERT_EQ(0, w->k->raise(w));
	d = dup(w->qfd);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, close(w->fd));
	w->fd = -1;
	ASSERT_EQ(1, pins(c, w->buf, w->buf_len));
	ASSERT_EQ(w->k->idle | POLLIN, revents(d));
	ASSERT_EQ(0, w->k->read_one(w, d, &tag[0]));
	ASSERT_EQ(0, w->k->read_one(w, w->qfd, &tag[1]));
	ASSERT_EQ(0, tag[0]);
	ASSERT_EQ(1, tag[1]);
	ASSERT_EQ(w->k->idle, revents(w->qfd));
	if (w->k == &fault_kind) {
		struct iommu_hwpt_page_response rsp = { .cookie = last_cookie };

		ASSERT_EQ(RSP, write(d, &rsp, RSP));
	}
	ASSERT_EQ(0, close(w->qfd));
	ASSERT_EQ(1, pins(c, w->buf, w->buf_len));
	ASSERT_EQ(0, close(d));
	ASSERT_EQ(0, pins(c, w->buf, w->buf_len));
	ASSERT_EQ(0, close(c));
}

/* ---- select ---- */

struct selector {
	int fd, other;
	atomic_int state;
	int rc;
	bool fd_set, other_set;
};

static void *selector(void *arg)
{
	struct selector *s = arg;
	fd_set rd;

	FD_ZERO(&rd);
	FD_SET(s->fd, &rd);
	FD_SET(s->other, &rd);
	atomic_store(&s->state, 1);
	s->rc = select((s->fd > s->other ? s->fd : s->other) + 1, &rd, NULL,
		       NULL, NULL);
	s->fd_set = FD_ISSET(s->fd, &rd);
	s->other_set = FD_ISSET(s->other, &rd);
	atomic_store(&s->state, 2);
	return NULL;
}

/*
 * select() in another thread, on a dup of the queue at a high number and
 * a pipe nothing is written to, wakes when an event is raised, with the
 * queue's bit alone set; with a timeout of 0 it says what poll says
 * (a fault queue always writable, a vEVENTQ never).
 */
TEST_F(queue, select_woken_from_another_thread)
{
	struct world *w = &self->w;
	struct timeval zero = {};
	struct selector s = {};
	uint32_t tag = ~0u;
	int pipefd[2], hi;
	fd_set rd, wr;
	pthread_t t;

	hi = fcntl(w->qfd, F_DUPFD_CLOEXEC, 900);
	ASSERT_LE(900, hi);
	ASSERT_EQ(0, pipe2(pipefd, O_CLOEXEC));
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(hi, &rd);
	FD_SET(hi, &wr);
	ASSERT_EQ(w->k->idle ? 1 : 0, select(hi + 1, &rd, &wr, NULL, &zero));
	ASSERT_FALSE(FD_ISSET(hi, &rd));
	ASSERT_EQ(!!w->k->idle, !!FD_ISSET(hi, &wr));
	for (int round = 0; round != 2; round++) {
		s = (struct selector){ .fd = round ? w->qfd : hi,
				       .other = pipefd[0] };
		ASSERT_EQ(0, pthread_create(&t, NULL, selector, &s));
		while (atomic_load(&s.state) != 1)
			sched_yield();
		usleep(20000);
		EXPECT_EQ(1, atomic_load(&s.state));
		ASSERT_EQ(0, w->k->raise(w));
		ASSERT_EQ(0, pthread_join(t, NULL));
		EXPECT_EQ(1, s.rc);
		EXPECT_TRUE(s.fd_set);
		EXPECT_FALSE(s.other_set);
		FD_ZERO(&rd);
		FD_ZERO(&wr);
		FD_SET(hi, &rd);
		FD_SET(hi, &wr);
		ASSERT_EQ(w->k->idle ? 2 : 1,
			  select(hi + 1, &rd, &wr, NULL, &zero));
		ASSERT_TRUE(FD_ISSET(hi, &rd));
		ASSERT_EQ(0, w->k->read_one(w, round ? hi : w->qfd, &tag));
		ASSERT_EQ(round, tag);
		if (w->k == &fault_kind) {
			struct iommu_hwpt_page_response rsp = {
				.cookie = last_cookie,
			};

			ASSERT_EQ(RSP, write(hi, &rsp, RSP));
		}
	}
	close(pipefd[0]);
	close(pipefd[1]);
	ASSERT_EQ(0, close(hi));
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	ASSERT_EQ(0, close(w->qfd));
}

/* ---- exec ---- */

/*
 * exec runs this program again, told by EXEC_ENV what to check:
 * "KIND,MODE,FD" with KIND an index in kinds[], MODE 'c' (FD was
 * close-on-exec: it must be closed) or 'k' (FD_CLOEXEC was cleared: it
 * must be open). It reports through its exit status.
 *
 * A kept descriptor is the kernel's file still: a queue would read the
 * parent's events (the kernel shares the queue), a dma-buf would still be
 * one. The shim's state is per process and exec starts it afresh, so in
 * uiommufd the number is open but is no queue and no dma-buf any more:
 * reads reach the pipe behind it (one byte of readiness, not a record)
 * and DMABUF_REVOKE does not know it. That is uiommufd's documented
 * difference (README, design section 8) until shared contexts land; what
 * the kernel would also answer (open, readable, mappable) is checked as
 * the kernel's.
 */
static char self_exe[4096];

__attribute__((constructor)) static void exec_child_main(void)
{
	const char *env = getenv(EXEC_ENV);
	const struct kind *k;
	char mode, rec[64];
	int idx, fd;

	if (!env)
		return;
	CHILD_CHECK(sscanf(env, "%d,%c,%d", &idx, &mode, &fd) == 3);
	CHILD_CHECK(idx >= 0 && idx < 3);
	k = kinds[idx];
	if (mode == 'c') {
		errno = 0;
		CHILD_CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF);
		_exit(0);
	}
	CHILD_CHECK(fcntl(fd, F_GETFD) == 0);
	if (k->queue) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		/* The parent raised one: readable, as the kernel's. */
		CHILD_CHECK(poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN));
		/* No record: the pipe's byte (uiommufd's difference). */
		n = read(fd, rec, k->rec);
		dprintf(1, "# exec'd image: read of the kept %s: %zd\n",
			k->name, n);
		CHILD_CHECK(n != (ssize_t)k->rec);
	} else {
		uint32_t ioas = 0;
		int c = open_iommu();

		CHILD_CHECK(c >= 0);
		CHILD_CHECK(!ioas_alloc(c, &ioas));
		/* Mappable, as the kernel's dma-buf. */
		CHILD_CHECK(!map_file(c, ioas, fd, 0, DMABUF_LEN,
				      MOCK_APERTURE_START));
		/* But a plain memfd to this image's library. */
		errno = 0;
		CHILD_CHECK(dmabuf_revoke(c, fd, true) == -1 &&
			    errno == EINVAL);
		CHILD_CHECK(!close(c));
	}
	_exit(0);
}

__attribute__((constructor)) static void find_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n > 0)
		self_exe[n] = 0;
}

static int kind_index(const struct kind *k)
{
	for (int i = 0; i != 3; i++)
		if (kinds[i] == k)
			return i;
	return -1;
}

/* Fork and exec this program with @mode for @fd: its wait status. */
static int exec_self(const struct kind *k, char mode, int fd)
{
	char env[64];
	pid_t pid;

	snprintf(env, sizeof(env), "%d,%c,%d", kind_index(k), mode, fd);
	pid = fork_child();
	if (pid < 0)
		return -3000;
	if (!pid) {
		setenv(EXEC_ENV, env, 1);
		execl(self_exe, self_exe, (char *)NULL);
		_exit(127);
	}
	return wait_child(pid, WAIT_STALL_S);
}

TEST_F(efd, exec_closes_the_cloexec_descriptor)
{
	struct world *w = &self->w;

	ASSERT_NE(0, self_exe[0]);
	ASSERT_EQ(FD_CLOEXEC, fcntl(w->qfd, F_GETFD));
	if (w->k->queue)
		ASSERT_EQ(0, w->k->raise(w));
	ASSERT_EQ(0, exec_self(w->k, 'c', w->qfd));
	/* Ours is as it was. */
	if (w->k->queue) {
		uint32_t tag = ~0u;

		ASSERT_EQ(0, w->k->read_one(w, w->qfd, &tag));
		ASSERT_EQ(0, tag);
	}
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(w->qfd));
	check_released(w, w->qfd);
}

TEST_F(efd, exec_keeps_a_cleared_descriptor_open)
{
	struct world *w = &self->w;
	uint32_t tag = ~0u;

	ASSERT_NE(0, self_exe[0]);
	ASSERT_EQ(0, fcntl(w->qfd, F_SETFD, 0));
	if (w->k->queue)
		ASSERT_EQ(0, w->k->raise(w));
	ASSERT_EQ(0, exec_self(w->k, 'k', w->qfd));
	/*
	 * The parent's queue still holds its event (uiommufd: the exec'd
	 * image had no queue to read it from), and works on.
	 */
	if (w->k->queue) {
		ASSERT_EQ(0, w->k->read_one(w, w->qfd, &tag));
		ASSERT_EQ(0, tag);
		if (w->k == &fault_kind) {
			struct iommu_hwpt_page_response rsp = {
				.cookie = last_cookie,
			};

			ASSERT_EQ(RSP, write(w->qfd, &rsp, RSP));
		}
	}
	ASSERT_EQ(0, w->k->use(w, w->qfd, w->qfd));
	w->k->unhold(w);
	check_held(w);
	ASSERT_EQ(0, close(w->qfd));
	check_released(w, w->qfd);
}
