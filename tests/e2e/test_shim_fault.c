// SPDX-License-Identifier: MIT
/*
 * Fault queues through the preload path: a program that knows only the
 * kernel's ABI allocates a fault queue, points a HW pagetable at it,
 * raises IO page faults with the test module and serves them from the
 * descriptor with plain read(), write(), poll(), select() and epoll, as
 * it would on Linux 7.2 (drivers/iommu/iommufd/eventq.c).
 *
 * Runs under uiommufd-run only; it links neither the library nor the shim.
 */
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/uio.h>

#include "e2e/e2e_utils.h"

#define REC sizeof(struct iommu_hwpt_pgfault)
#define RSP sizeof(struct iommu_hwpt_page_response)

static short revents(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };

	return poll(&pfd, 1, 0) < 0 ? -1 : pfd.revents;
}

TEST(read_write_poll)
{
	struct iommu_hwpt_pgfault rec[4];
	struct iommu_hwpt_page_response rsp[2];
	struct fault_world w;
	char c;

	fault_world_init(&w);
	EXPECT_EQ(POLLOUT, revents(w.qfd));
	EXPECT_EQ(0, read(w.qfd, rec, sizeof(rec)));
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 7, 0x7000));
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 8, 0x8000));
	EXPECT_EQ(POLLIN | POLLOUT, revents(w.qfd));
	ASSERT_ERRNO(ESPIPE, read(w.qfd, rec, REC + 1));
	ASSERT_ERRNO(EINVAL, read(w.qfd, rec, 0));
	{
		/* An address nothing is mapped at, hidden from the compiler. */
		void *volatile bad = (void *)16;

		ASSERT_ERRNO(EFAULT, read(w.qfd, bad, REC));
	}
	ASSERT_ERRNO(ESPIPE, pread(w.qfd, rec, REC, 0));
	ASSERT_ERRNO(ESPIPE, lseek(w.qfd, 0, SEEK_CUR));
	/* No ioctls on it, as the kernel's file has none. */
	ASSERT_ERRNO(ENOTTY, ioctl(w.qfd, IOMMU_DESTROY, &c));
	ASSERT_EQ(2 * REC, read(w.qfd, rec, sizeof(rec)));
	EXPECT_EQ(w.idev, rec[0].dev_id);
	EXPECT_EQ(7, rec[0].grpid);
	EXPECT_EQ(0x7000, rec[0].addr);
	EXPECT_EQ(IOMMU_PGFAULT_FLAGS_LAST_PAGE, rec[0].flags);
	EXPECT_EQ(8, rec[1].grpid);
	EXPECT_NE(rec[0].cookie, rec[1].cookie);
	EXPECT_EQ(POLLOUT, revents(w.qfd));
	rsp[0].cookie = rec[1].cookie;
	rsp[0].code = IOMMUFD_PAGE_RESP_SUCCESS;
	rsp[1].cookie = rec[0].cookie;
	rsp[1].code = IOMMUFD_PAGE_RESP_INVALID;
	ASSERT_ERRNO(ESPIPE, write(w.qfd, rsp, RSP - 1));
	ASSERT_EQ(2 * RSP, write(w.qfd, rsp, sizeof(rsp)));
	ASSERT_ERRNO(EINVAL, write(w.qfd, rsp, RSP));
	/* The queue is busy while its descriptor and HW pagetable live. */
	ASSERT_ERRNO(EBUSY, destroy(w.fd, w.fault_id));
	fault_world_fini(&w);
}

TEST(dup_and_close)
{
	struct iommu_hwpt_pgfault rec;
	struct fault_world w;
	int copy;

	fault_world_init(&w);
	copy = dup(w.qfd);
	ASSERT_GE(copy, 0);
	ASSERT_EQ(0, close(w.qfd));
	w.qfd = -1;
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 1, 0));
	EXPECT_EQ(POLLIN | POLLOUT, revents(copy));
	ASSERT_EQ(REC, read(copy, &rec, REC));
	/* The last descriptor's close answers what is pending. */
	ASSERT_EQ(0, close(copy));
	ASSERT_EQ(0, destroy(w.fd, w.stdev));
	ASSERT_EQ(0, destroy(w.fd, w.hwpt));
	ASSERT_EQ(0, destroy(w.fd, w.fault_id));
	fault_world_fini(&w);
}

struct waiter {
	int qfd, how;
	atomic_int state;
	int ok;
};

static void *waiter(void *arg)
{
	struct waiter *wt = arg;

	atomic_store(&wt->state, 1);
	if (wt->how == 0) {
		struct pollfd pfd = { .fd = wt->qfd, .events = POLLIN };

		wt->ok = poll(&pfd, 1, -1) == 1;
	} else if (wt->how == 1) {
		fd_set rd;

		FD_ZERO(&rd);
		FD_SET(wt->qfd, &rd);
		wt->ok = select(wt->qfd + 1, &rd, NULL, NULL, NULL) == 1;
	} else {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
		int ep = epoll_create1(EPOLL_CLOEXEC);

		wt->ok = ep >= 0 &&
			 !epoll_ctl(ep, EPOLL_CTL_ADD, wt->qfd, &ev) &&
			 epoll_wait(ep, &ev, 1, -1) == 1;
		close(ep);
	}
	atomic_store(&wt->state, 2);
	return NULL;
}

TEST(waiters_woken_by_a_fault)
{
	struct iommu_hwpt_pgfault rec;
	struct fault_world w;

	fault_world_init(&w);
	for (int how = 0; how != 3; how++) {
		struct waiter wt = { .qfd = w.qfd, .how = how };
		pthread_t t;

		ASSERT_EQ(0, pthread_create(&t, NULL, waiter, &wt));
		while (atomic_load(&wt.state) != 1)
			sched_yield();
		usleep(20000);
		EXPECT_EQ(1, atomic_load(&wt.state));
		ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, how, 0));
		ASSERT_EQ(0, pthread_join(t, NULL));
		EXPECT_EQ(1, wt.ok);
		ASSERT_EQ(REC, read(w.qfd, &rec, REC));
	}
	fault_world_fini(&w);
}

TEST(epoll_edge_triggered_per_fault)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET }, out;
	struct iommu_hwpt_pgfault rec[2];
	struct fault_world w;
	int ep;

	fault_world_init(&w);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, w.qfd, &ev));
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 1, 0));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 0));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 2, 0));
	EXPECT_EQ(1, epoll_wait(ep, &out, 1, 0));
	ASSERT_EQ(2 * REC, read(w.qfd, rec, sizeof(rec)));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	close(ep);
	fault_world_fini(&w);
}

/* readv and writev run the file's read and write once per vector. */
TEST(readv_writev_per_vector)
{
	struct iommu_hwpt_pgfault rec[3];
	struct iommu_hwpt_page_response rsp[3];
	struct iovec iov[3];
	struct fault_world w;

	fault_world_init(&w);
	for (int i = 0; i != 3; i++)
		ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, i, 0));
	/* A vector too short for a record ends it: ESPIPE, nothing read. */
	iov[0] = (struct iovec){ &rec[0], REC - 1 };
	ASSERT_ERRNO(ESPIPE, readv(w.qfd, iov, 1));
	iov[0] = (struct iovec){ &rec[0], REC };
	iov[1] = (struct iovec){ &rec[1], REC + 1 };
	EXPECT_EQ(REC, readv(w.qfd, iov, 2));
	{
		struct iovec *volatile bad = (struct iovec *)16;

		ASSERT_ERRNO(EFAULT, readv(w.qfd, bad, 1));
	}
	/* A short vector ends it too: what it got counts. */
	iov[0] = (struct iovec){ &rec[1], REC };
	iov[1] = (struct iovec){ &rec[2], 2 * REC };
	EXPECT_EQ(2 * REC, readv(w.qfd, iov, 2));
	for (int i = 0; i != 3; i++) {
		EXPECT_EQ(i, rec[i].grpid);
		rsp[i] = (struct iommu_hwpt_page_response){ rec[i].cookie, 0 };
	}
	iov[0] = (struct iovec){ &rsp[0], RSP };
	iov[1] = (struct iovec){ &rsp[1], 2 * RSP };
	EXPECT_EQ(3 * RSP, writev(w.qfd, iov, 2));
	ASSERT_ERRNO(EINVAL, writev(w.qfd, iov, 1));
	fault_world_fini(&w);
}

/*
 * A forked child works on its own copy of the queue (state is per
 * process); the parent's records come out as they were.
 */
TEST(fork_child_has_its_own_queue)
{
	struct iommu_hwpt_pgfault rec[2];
	struct fault_world w;
	pid_t pid;

	fault_world_init(&w);
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 1, 0x1000));
	pid = fork_child();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct iommu_hwpt_pgfault crec[2];
		int bad = 0;

		bad |= trigger_iopf(w.fd, w.idev, 2, 0x2000) != 0;
		bad |= read(w.qfd, crec, sizeof(crec)) != 2 * REC;
		bad |= crec[1].grpid != 2;
		_exit(bad);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/*
	 * The pipe behind the descriptor is shared, so the child's reads
	 * may have taken the readiness (documented); the records are ours.
	 */
	ASSERT_EQ(REC, read(w.qfd, rec, sizeof(rec)));
	EXPECT_EQ(1, rec[0].grpid);
	EXPECT_EQ(POLLOUT, revents(w.qfd));
	/* The next fault makes it readable again. */
	ASSERT_EQ(0, trigger_iopf(w.fd, w.idev, 3, 0x3000));
	EXPECT_EQ(POLLIN | POLLOUT, revents(w.qfd));
	ASSERT_EQ(REC, read(w.qfd, rec, sizeof(rec)));
	EXPECT_EQ(3, rec[0].grpid);
	EXPECT_EQ(POLLOUT, revents(w.qfd));
	fault_world_fini(&w);
}
