// SPDX-License-Identifier: MIT
/*
 * Fault injection the kernel's way: a program writes N to its thread's
 * /proc/self/task/<tid>/fail-nth (or /proc/thread-self/fail-nth), and the
 * Nth failure point from then on fails; reading the file back gives how
 * many points are still to go, "0\n" once the fault has fired. Sweeps arm
 * N = 1, 2, ... before a command until it succeeds, and after every
 * failure check that nothing the ABI can see changed: the IOVA ranges,
 * what the mock domain maps, the pin counts, the next object ID, the
 * next descriptor number.
 */
#include <pthread.h>

#include "e2e/e2e_utils.h"

#define BUF_PAGES 16
#define BUF_LEN (BUF_PAGES * PAGE_SZ)
#define MAX_NTH 5000

TEST(shim_is_active)
{
	uint32_t ioas = 0;
	int fd;

	fd = open("/dev/iommu", O_RDWR);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(1, ioas);
	ASSERT_EQ(0, close(fd));
}

/* What read() gives from the start of the file, as a string. */
static void read_text(int fd, char *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len - 1, 0);

	buf[n > 0 ? n : 0] = 0;
}

static void arm_fire_and_read_back(const char *path)
{
	uint32_t ioas = 0;
	char text[16];
	int fd, nfd;

	fd = open_iommu();
	ASSERT_GE(fd, 0);
	nfd = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(nfd, 0);
	read_text(nfd, text, sizeof(text));
	ASSERT_STREQ("0\n", text);
	ASSERT_EQ(1, write(nfd, "1", 1));
	ASSERT_ERRNO(ENOMEM, ioas_alloc(fd, &ioas));
	/* The fault fired: the counter is spent. */
	read_text(nfd, text, sizeof(text));
	ASSERT_STREQ("0\n", text);
	/* The failed command took nothing: the first ID is still free. */
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(1, ioas);
	ASSERT_EQ(0, close(nfd));
	ASSERT_EQ(0, close(fd));
}

TEST(failnth_through_proc_self_task_tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/fail-nth",
		 (int)e2e_gettid());
	arm_fire_and_read_back(path);
}

TEST(failnth_through_proc_thread_self)
{
	arm_fire_and_read_back("/proc/thread-self/fail-nth");
}

TEST(failnth_through_proc_pid_task_tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/fail-nth",
		 (int)getpid(), (int)e2e_gettid());
	arm_fire_and_read_back(path);
}

TEST(failnth_reads_what_is_left)
{
	uint32_t ioas = 0;
	char text[16];
	int fd, nfd;
	long left;

	fd = open_iommu();
	nfd = failnth_open(e2e_gettid());
	ASSERT_GE(nfd, 0);
	ASSERT_EQ(4, write(nfd, "1000", 4));
	read_text(nfd, text, sizeof(text));
	ASSERT_STREQ("1000\n", text);
	/* A command passes some failure points without reaching the Nth. */
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	left = failnth_read(nfd);
	ASSERT_LT(0, left);
	ASSERT_GT(1000, left);
	/* 0 disarms. */
	ASSERT_EQ(2, write(nfd, "0\n", 2));
	ASSERT_EQ(0, failnth_read(nfd));
	for (int i = 0; i != 20; i++) {
		ASSERT_EQ(0, ioas_alloc(fd, &ioas));
		ASSERT_EQ(0, destroy(fd, ioas));
	}
	/* Arming, then disarming before any command, leaves nothing armed. */
	ASSERT_EQ(0, failnth_arm(nfd, 1));
	ASSERT_EQ(1, failnth_read(nfd));
	ASSERT_EQ(0, failnth_arm(nfd, 0));
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, close(nfd));
	ASSERT_EQ(0, close(fd));
}

TEST(failnth_file_reads_like_a_file)
{
	char text[16] = {};
	int nfd;

	nfd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	ASSERT_GE(nfd, 0);
	ASSERT_EQ(0, failnth_arm(nfd, 12));
	/* Sequential reads move along, then reach the end. */
	ASSERT_EQ(1, read(nfd, text, 1));
	ASSERT_EQ(2, read(nfd, text + 1, sizeof(text) - 2));
	ASSERT_STREQ("12\n", text);
	ASSERT_EQ(0, read(nfd, text, sizeof(text)));
	/* pread does not move the position. */
	ASSERT_EQ(3, pread(nfd, text, sizeof(text), 0));
	ASSERT_EQ(2, pread(nfd, text, sizeof(text), 1));
	ASSERT_EQ(0, pread(nfd, text, sizeof(text), 3));
	/* No ioctls on it. */
	ASSERT_ERRNO(ENOTTY, ioctl(nfd, IOMMU_IOAS_ALLOC, text));
	ASSERT_EQ(0, failnth_arm(nfd, 0));
	ASSERT_EQ(0, close(nfd));
}

TEST(failnth_bad_values)
{
	int nfd = failnth_open(e2e_gettid());

	ASSERT_GE(nfd, 0);
	ASSERT_EQ(0, failnth_arm(nfd, 7));
	ASSERT_ERRNO(EINVAL, failnth_write(nfd, "x"));
	ASSERT_ERRNO(EINVAL, failnth_write(nfd, "-1"));
	ASSERT_ERRNO(EINVAL, failnth_write(nfd, "1x"));
	ASSERT_ERRNO(EINVAL, failnth_write(nfd, "\n"));
	ASSERT_ERRNO(EINVAL, write(nfd, "5", 0));
	/* A refused value leaves the counter alone. */
	ASSERT_EQ(7, failnth_read(nfd));
	ASSERT_EQ(0, failnth_arm(nfd, 0));
	ASSERT_EQ(0, close(nfd));
}

/*
 * The kernel parses with kstrtouint: every 32-bit value is taken (and
 * reads back), anything past 32 bits is ERANGE.
 */
TEST(failnth_large_values)
{
	int nfd = failnth_open(e2e_gettid());

	ASSERT_GE(nfd, 0);
	EXPECT_EQ(10, failnth_write(nfd, "4294967295"));
	EXPECT_EQ(4294967295L, failnth_read(nfd));
	EXPECT_EQ(10, failnth_write(nfd, "2147483648"));
	EXPECT_EQ(2147483648L, failnth_read(nfd));
	ASSERT_EQ(0, failnth_arm(nfd, 0));
	EXPECT_ERRNO(ERANGE, failnth_write(nfd, "4294967296"));
	EXPECT_ERRNO(ERANGE, failnth_write(nfd, "99999999999999999999999"));
	ASSERT_EQ(0, failnth_read(nfd));
	ASSERT_EQ(0, close(nfd));
}

/* The counter is the thread's, not the open file's. */
TEST(failnth_outlives_its_file)
{
	uint32_t ioas = 0;
	int fd = open_iommu(), nfd;

	nfd = failnth_open(e2e_gettid());
	ASSERT_EQ(0, failnth_arm(nfd, 1));
	ASSERT_EQ(0, close(nfd));
	ASSERT_ERRNO(ENOMEM, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, close(fd));
}

/* ---- other threads ---- */

struct other {
	pthread_t thread;
	pid_t tid;
	int fd;
	int go, done;		/* the main thread's turn, and the thread's */
	int alloc_errno;	/* what the thread's IOAS_ALLOC gave */
	long counter;		/* its fail-nth read from its own file */
	bool arm_itself;
};

static void *other_thread(void *arg)
{
	struct other *o = arg;
	uint32_t ioas = 0;
	int nfd;

	__atomic_store_n(&o->tid, e2e_gettid(), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&o->go, __ATOMIC_ACQUIRE))
		usleep(100);
	nfd = failnth_open(o->tid);
	o->counter = failnth_read(nfd);
	if (o->arm_itself)
		failnth_arm(nfd, 1);
	o->alloc_errno = ioas_alloc(o->fd, &ioas) ? errno : 0;
	close(nfd);
	__atomic_store_n(&o->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void other_start(struct other *o, int fd, bool arm_itself)
{
	o->fd = fd;
	o->arm_itself = arm_itself;
	ASSERT_EQ(0, pthread_create(&o->thread, NULL, other_thread, o));
	while (!__atomic_load_n(&o->tid, __ATOMIC_ACQUIRE))
		usleep(100);
}

static void other_finish(struct other *o)
{
	__atomic_store_n(&o->go, 1, __ATOMIC_RELEASE);
	ASSERT_EQ(0, pthread_join(o->thread, NULL));
}

/*
 * Another thread's file names that thread's counter: writing it cannot
 * arm the writer. (The kernel arms the other thread; the shim, which can
 * only reach the calling thread's counter, refuses with EPERM.)
 */
TEST(failnth_of_another_thread_does_not_arm_this_one)
{
	struct other o = {};
	uint32_t ioas = 0;
	ssize_t rc;
	int fd, nfd;

	fd = open_iommu();
	other_start(&o, fd, false);
	nfd = failnth_open(o.tid);
	ASSERT_GE(nfd, 0);
	rc = failnth_write(nfd, "1");
	if (rc < 0) {
		ASSERT_EQ(EPERM, errno);
		TH_LOG("writing another thread's fail-nth: EPERM");
	}
	/* This thread is not armed. */
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	other_finish(&o);
	/* The other thread: armed by the write if it was accepted. */
	ASSERT_EQ(rc < 0 ? 0 : ENOMEM, o.alloc_errno);
	ASSERT_EQ(0, close(nfd));
	ASSERT_EQ(0, close(fd));
}

/* Each thread arms itself alone; new threads start disarmed. */
TEST(failnth_is_per_thread)
{
	struct other o = {}, o2 = {};
	uint32_t ioas = 0;
	int fd, nfd;

	fd = open_iommu();
	nfd = failnth_open(e2e_gettid());
	ASSERT_EQ(0, failnth_arm(nfd, 1));
	/* A thread made while this one is armed is not. */
	other_start(&o, fd, false);
	other_finish(&o);
	ASSERT_EQ(0, o.counter);
	ASSERT_EQ(0, o.alloc_errno);
	ASSERT_EQ(1, failnth_read(nfd));
	/* One that arms itself fails alone. */
	other_start(&o2, fd, true);
	other_finish(&o2);
	ASSERT_EQ(ENOMEM, o2.alloc_errno);
	ASSERT_EQ(1, failnth_read(nfd));
	ASSERT_ERRNO(ENOMEM, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, failnth_read(nfd));
	ASSERT_EQ(0, close(nfd));
	ASSERT_EQ(0, close(fd));
}

/* ---- sweeps: fail each point of a command in turn ---- */

struct world {
	int fd, nfd;
	uint32_t ioas, ioas2, stdev, hwpt, stdev2, hwpt2;
	char *buf, *buf2;
	uint64_t iova;		/* buf, mapped in ioas */
	int afd;
};

/* Two IOASes with a mock domain each; buf mapped in the first. */
static void world_init(struct world *w)
{
	w->fd = open_iommu();
	ASSERT_GE(w->fd, 0);
	w->nfd = failnth_open(e2e_gettid());
	ASSERT_GE(w->nfd, 0);
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas));
	ASSERT_EQ(0, ioas_alloc(w->fd, &w->ioas2));
	ASSERT_EQ(0, mock_domain(w->fd, w->ioas, &w->stdev, &w->hwpt));
	ASSERT_EQ(0, mock_domain(w->fd, w->ioas2, &w->stdev2, &w->hwpt2));
	w->buf = e2e_buffer(BUF_LEN);
	w->buf2 = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(w->buf);
	ASSERT_NONNULL(w->buf2);
	w->iova = MOCK_APERTURE_START;
	ASSERT_EQ(0, ioas_map(w->fd, w->ioas, w->buf, BUF_LEN, &w->iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, create_access(w->fd, w->ioas,
				   MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
				   &w->afd));
}

/* What the ABI shows of the world; compared before and after. */
struct snapshot {
	struct iommu_iova_range ranges[4], ranges2[4];
	uint32_t num, num2, next_id;
	int next_fd;
	bool buf_mapped, buf2_mapped2;
	int buf_pins, buf2_pins;
	uint64_t unmapped2;
};

static int pins_of(int fd, const void *buf)
{
	for (unsigned int refs = 0; refs != 4; refs++)
		if (!check_refs(fd, buf, BUF_LEN, refs))
			return refs;
	return -1;
}

/* Taken with fail-nth disarmed; changes nothing it looks at. */
static void snapshot_take(struct world *w, struct snapshot *s)
{
	int d;

	memset(s, 0, sizeof(*s));
	s->num = 4;
	ASSERT_EQ(0, iova_ranges(w->fd, w->ioas, s->ranges, &s->num, NULL));
	s->num2 = 4;
	ASSERT_EQ(0, iova_ranges(w->fd, w->ioas2, s->ranges2, &s->num2, NULL));
	ASSERT_EQ(0, ioas_alloc(w->fd, &s->next_id));
	ASSERT_EQ(0, destroy(w->fd, s->next_id));
	d = dup(0);
	ASSERT_LE(0, d);
	s->next_fd = d;
	ASSERT_EQ(0, close(d));
	s->buf_mapped = !check_map(w->fd, w->hwpt, w->iova, w->buf, BUF_LEN);
	s->buf2_mapped2 = !check_map(w->fd, w->hwpt2, MOCK_APERTURE_START,
				     w->buf2, BUF_LEN);
	s->buf_pins = pins_of(w->fd, w->buf);
	s->buf2_pins = pins_of(w->fd, w->buf2);
}

static void snapshot_same(const struct snapshot *a, const struct snapshot *b,
			  unsigned int nth)
{
	if (memcmp(a, b, sizeof(*a)))
		TH_LOG("state changed by the command failed at point %u", nth);
	ASSERT_EQ(a->num, b->num);
	ASSERT_EQ(0, memcmp(a->ranges, b->ranges, sizeof(a->ranges)));
	ASSERT_EQ(a->num2, b->num2);
	ASSERT_EQ(0, memcmp(a->ranges2, b->ranges2, sizeof(a->ranges2)));
	ASSERT_EQ(a->next_id, b->next_id);
	ASSERT_EQ(a->next_fd, b->next_fd);
	ASSERT_EQ(a->buf_mapped, b->buf_mapped);
	ASSERT_EQ(a->buf2_mapped2, b->buf2_mapped2);
	ASSERT_EQ(a->buf_pins, b->buf_pins);
	ASSERT_EQ(a->buf2_pins, b->buf2_pins);
}

/*
 * Arm N = 1, 2, ... and run @cmd until it succeeds. Every failure must
 * be ENOMEM or EFAULT (an injected pin failure), the first ENOMEM, the
 * counter spent, and the state as it was. Returns the N that succeeded.
 */
static unsigned int sweep(struct world *w, int (*cmd)(struct world *w))
{
	struct snapshot before, after;
	unsigned int nth;

	snapshot_take(w, &before);
	for (nth = 1; nth != MAX_NTH; nth++) {
		int rc, err;
		long left;

		ASSERT_EQ(0, failnth_arm(w->nfd, nth));
		rc = cmd(w);
		err = errno;
		if (!rc)
			break;
		/* The failure was the injected one: the counter is spent. */
		left = failnth_read(w->nfd);
		if (left) {
			ASSERT_EQ(0, failnth_arm(w->nfd, 0));
			TH_LOG("point %u: errno %d, but the fault never fired",
			       nth, err);
		}
		ASSERT_EQ(0, left);
		if (nth == 1)
			ASSERT_EQ(ENOMEM, err);
		else if (err != ENOMEM)
			ASSERT_EQ(EFAULT, err);
		snapshot_take(w, &after);
		snapshot_same(&before, &after, nth);
	}
	ASSERT_EQ(0, failnth_arm(w->nfd, 0));
	ASSERT_LT(1, nth);
	ASSERT_GT(MAX_NTH, nth);
	return nth;
}

static int cmd_map(struct world *w)
{
	uint64_t iova = MOCK_APERTURE_START;

	return ioas_map(w->fd, w->ioas2, w->buf2, BUF_LEN, &iova,
			MAP_FIXED_RW);
}

TEST(sweep_map_with_a_domain)
{
	struct snapshot s;
	struct world w;
	unsigned int n;

	world_init(&w);
	n = sweep(&w, cmd_map);
	TH_LOG("IOMMU_IOAS_MAP succeeded at point %u", n);
	snapshot_take(&w, &s);
	ASSERT_TRUE(s.buf2_mapped2);
	ASSERT_EQ(1, s.buf2_pins);
	ASSERT_EQ(0, close(w.fd));
}

static int cmd_copy(struct world *w)
{
	uint64_t iova = MOCK_APERTURE_START;

	return ioas_copy(w->fd, w->ioas2, w->ioas, w->iova, BUF_LEN, &iova,
			 MAP_FIXED_RW);
}

TEST(sweep_copy_into_a_domain)
{
	struct world w;
	unsigned int n;

	world_init(&w);
	n = sweep(&w, cmd_copy);
	TH_LOG("IOMMU_IOAS_COPY succeeded at point %u", n);
	/* ioas2 maps buf now, through its own domain, pinned once. */
	ASSERT_EQ(0, check_map(w.fd, w.hwpt2, MOCK_APERTURE_START, w.buf,
			       BUF_LEN));
	ASSERT_EQ(1, pins_of(w.fd, w.buf));
	ASSERT_EQ(0, close(w.fd));
}

static uint32_t swept_stdev;

static int cmd_mock_domain(struct world *w)
{
	return mock_domain(w->fd, w->ioas, &swept_stdev, NULL);
}

TEST(sweep_attach_a_device_to_a_mapped_ioas)
{
	struct world w;
	unsigned int n;

	world_init(&w);
	/* Without its domain the IOAS holds no pins: attaching makes them. */
	ASSERT_EQ(0, destroy(w.fd, w.stdev));
	ASSERT_EQ(0, pins_of(w.fd, w.buf));
	w.hwpt = 0;
	n = sweep(&w, cmd_mock_domain);
	TH_LOG("IOMMU_TEST_OP_MOCK_DOMAIN succeeded at point %u", n);
	ASSERT_EQ(1, pins_of(w.fd, w.buf));
	ASSERT_EQ(0, destroy(w.fd, swept_stdev));
	ASSERT_EQ(0, pins_of(w.fd, w.buf));
	ASSERT_EQ(0, close(w.fd));
}

static uint32_t swept_item;

static int cmd_access_pages(struct world *w)
{
	return access_pages(w->fd, w->afd, w->iova, BUF_LEN, w->buf,
			    MOCK_FLAGS_ACCESS_WRITE, &swept_item);
}

TEST(sweep_access_pages)
{
	struct world w;
	unsigned int n;

	world_init(&w);
	n = sweep(&w, cmd_access_pages);
	TH_LOG("IOMMU_TEST_OP_ACCESS_PAGES succeeded at point %u", n);
	ASSERT_EQ(0, destroy_access_pages(w.fd, w.afd, swept_item));
	/* Only the earlier items existed; none leaked from a failure. */
	ASSERT_ERRNO(ENOENT, destroy_access_pages(w.fd, w.afd, 0));
	ASSERT_EQ(0, close(w.afd));
	ASSERT_EQ(0, close(w.fd));
}

static int swept_afd = -1;

static int cmd_create_access(struct world *w)
{
	return create_access(w->fd, w->ioas2, 0, &swept_afd);
}

TEST(sweep_create_access)
{
	struct world w;
	unsigned int n;

	world_init(&w);
	n = sweep(&w, cmd_create_access);
	TH_LOG("IOMMU_TEST_OP_CREATE_ACCESS succeeded at point %u", n);
	ASSERT_ERRNO(EBUSY, destroy(w.fd, w.ioas2));
	ASSERT_EQ(0, close(swept_afd));
	ASSERT_EQ(0, destroy(w.fd, w.stdev2));
	ASSERT_EQ(0, destroy(w.fd, w.ioas2));
	ASSERT_EQ(0, close(w.fd));
}

static int cmd_vfio_map_dma(struct world *w)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map),
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)w->buf2,
		.iova = MOCK_APERTURE_START,
		.size = BUF_LEN,
	};

	return ioctl(w->fd, VFIO_IOMMU_MAP_DMA, &map);
}

TEST(sweep_vfio_map_dma)
{
	struct snapshot s;
	uint32_t id;
	struct world w;
	unsigned int n;

	world_init(&w);
	id = w.ioas2;
	ASSERT_EQ(0, vfio_ioas(w.fd, IOMMU_VFIO_IOAS_SET, &id));
	ASSERT_EQ(0, ioctl(w.fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU));
	n = sweep(&w, cmd_vfio_map_dma);
	TH_LOG("VFIO_IOMMU_MAP_DMA succeeded at point %u", n);
	snapshot_take(&w, &s);
	ASSERT_TRUE(s.buf2_mapped2);
	ASSERT_EQ(0, close(w.fd));
}

/*
 * open() of /dev/iommu allocates nothing (it stays async-signal-safe): the
 * context is made at the descriptor's first command. A fault there fails
 * that command with ENOMEM and leaves nothing behind; the next command
 * works on a fresh context.
 */
TEST(failnth_first_command_makes_the_context)
{
	unsigned int nth;
	uint32_t id = 0;
	int nfd, fd;

	nfd = failnth_open(e2e_gettid());
	ASSERT_EQ(0, failnth_arm(nfd, 1));
	fd = open_iommu();
	ASSERT_LE(0, fd);
	/* The open reached no fault point. */
	ASSERT_EQ(1, failnth_read(nfd));
	for (nth = 1; nth != 100; nth++) {
		ASSERT_EQ(0, failnth_arm(nfd, nth));
		if (!ioas_alloc(fd, &id))
			break;
		ASSERT_EQ(ENOMEM, errno);
		ASSERT_EQ(0, failnth_read(nfd));
	}
	ASSERT_EQ(0, failnth_arm(nfd, 0));
	ASSERT_LT(1, nth);
	ASSERT_EQ(1, id);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, close(nfd));
}
