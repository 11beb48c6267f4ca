/* SPDX-License-Identifier: MIT */
/*
 * What the event-queue suites (fault queues, vEVENTQs) share: what poll
 * says of a descriptor now, how many descriptors are open, and a thread
 * that waits for one in poll, select or epoll.
 */
#ifndef UIOMMUFD_TESTS_EVENTQ_UTILS_H
#define UIOMMUFD_TESTS_EVENTQ_UTILS_H

#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <unistd.h>

/* What poll says of @fd now (no wait). */
static inline short poll_now(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT |
						POLLRDNORM | POLLWRNORM };

	if (poll(&pfd, 1, 0) < 0)
		return -1;
	return pfd.revents;
}

static inline bool readable(int fd)
{
	return poll_now(fd) & POLLIN;
}

/* Descriptors open in the process. */
static inline int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 4096; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			n++;
	return n;
}

struct waiter {
	int fd;
	int how;	/* 0 poll, 1 select, 2 epoll */
	atomic_int state;	/* 1 waiting, 2 woken */
	int rc;
};

static inline void *wait_thread(void *arg)
{
	struct waiter *w = arg;

	atomic_store(&w->state, 1);
	if (w->how == 0) {
		struct pollfd pfd = { .fd = w->fd, .events = POLLIN };

		w->rc = poll(&pfd, 1, -1) == 1 && (pfd.revents & POLLIN);
	} else if (w->how == 1) {
		fd_set rd;

		FD_ZERO(&rd);
		FD_SET(w->fd, &rd);
		w->rc = select(w->fd + 1, &rd, NULL, NULL, NULL) == 1 &&
			FD_ISSET(w->fd, &rd);
	} else {
		int ep = epoll_create1(EPOLL_CLOEXEC);
		struct epoll_event ev = { .events = EPOLLIN | EPOLLET };

		w->rc = ep >= 0 && !epoll_ctl(ep, EPOLL_CTL_ADD, w->fd, &ev) &&
			epoll_wait(ep, &ev, 1, -1) == 1;
		if (ep >= 0)
			close(ep);
	}
	atomic_store(&w->state, 2);
	return NULL;
}

#endif
