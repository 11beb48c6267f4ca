/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the end-to-end tests of contexts shared between processes
 * (docs/design.md 8 and 8.1): a child's checks, a context to share, the
 * turns parent and child take through pipes, and the brokers that serve
 * shared contexts, as a test sees them once it made itself a child
 * subreaper. All static inline: a program takes what it needs.
 */
#ifndef UIOMMUFD_TESTS_E2E_SHARE_H
#define UIOMMUFD_TESTS_E2E_SHARE_H

#include <dirent.h>
#include <stdlib.h>

#include "e2e/e2e_utils.h"

/* A child's checks: report the first failure and exit non-zero. */
#define CHILD_CHECK(cond)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			dprintf(1, "# child %d, line %d: %s (errno %d)\n", \
				(int)getpid(), __LINE__, #cond, errno);    \
			_exit(1);                                          \
		}                                                          \
	} while (0)

/* ---- a context to share ---- */

#define BUF_LEN (8 * PAGE_SZ)

struct ctx {
	int fd;
	uint32_t ioas, stdev, hwpt, next_id;
	char *buf;
	uint64_t iova;
};

/*
 * A context (opened with @flags) with an IOAS, a mock domain and the
 * parent's buffer ("the parent's data") mapped in it; next_id is the
 * lowest free ID.
 */
static inline void ctx_make(struct ctx *c, int flags)
{
	c->fd = open("/dev/iommu", O_RDWR | flags);
	ASSERT_GE(c->fd, 0);
	ASSERT_EQ(0, ioas_alloc(c->fd, &c->ioas));
	ASSERT_EQ(0, mock_domain(c->fd, c->ioas, &c->stdev, &c->hwpt));
	c->buf = e2e_buffer(BUF_LEN);
	ASSERT_NONNULL(c->buf);
	strcpy(c->buf, "the parent's data");
	c->iova = MOCK_APERTURE_START;
	ASSERT_EQ(0, ioas_map(c->fd, c->ioas, c->buf, BUF_LEN, &c->iova,
			      MAP_FIXED_RW));
	ASSERT_EQ(0, ioas_alloc(c->fd, &c->next_id));
	ASSERT_EQ(0, destroy(c->fd, c->next_id));
}

/* ---- turns between parent and child ---- */

/* What one side tells the other when it hands over the turn. */
struct msg {
	uint64_t a, b, c;
};

struct turns {
	int to_child[2], to_parent[2];
};

static inline void turns_init(struct turns *t)
{
	ASSERT_EQ(0, pipe2(t->to_child, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(t->to_parent, O_CLOEXEC));
}

/* After the fork: each side keeps its ends. */
static inline void turns_parent(struct turns *t)
{
	close(t->to_child[0]);
	close(t->to_parent[1]);
}

static inline void turns_child(struct turns *t)
{
	close(t->to_child[1]);
	close(t->to_parent[0]);
}

/*
 * A fork_child() that takes turns with this process through @t, made
 * here: the child's pid, 0 in the child; each side keeps its ends.
 */
static inline pid_t turns_fork(struct turns *t)
{
	pid_t pid;

	turns_init(t);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (pid)
		turns_parent(t);
	else
		turns_child(t);
	return pid;
}

/* 0, or -1 when the write fails. */
static inline int msg_send(int fd, uint64_t a, uint64_t b, uint64_t c)
{
	struct msg m = { a, b, c };
	ssize_t n;

	do
		n = write(fd, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	return n == sizeof(m) ? 0 : -1;
}

/* 0, or -1 when the other side is gone (EOF) or broke the pipe. */
static inline int msg_recv(int fd, struct msg *m)
{
	ssize_t n;

	do
		n = read(fd, m, sizeof(*m));
	while (n < 0 && errno == EINTR);
	return n == sizeof(*m) ? 0 : -1;
}

#define CHILD_SEND(t, a, b, c) \
	CHILD_CHECK(!msg_send((t)->to_parent[1], a, b, c))
#define CHILD_RECV(t, m) CHILD_CHECK(!msg_recv((t)->to_child[0], m))
#define PARENT_SEND(t, a, b, c) \
	ASSERT_EQ(0, msg_send((t)->to_child[1], a, b, c))
#define PARENT_RECV(t, m) ASSERT_EQ(0, msg_recv((t)->to_parent[0], m))

/* ---- brokers ---- */

/*
 * A broker is nobody's child; a test that looks at brokers makes itself
 * a child subreaper, so the brokers it causes become its children and
 * their exit is waited for with the harness' hang detection.
 */
static inline void become_subreaper(void)
{
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
}

/* /proc/<pid>/stat: the comm ("" for a zombie), the parent, the session. */
static inline bool proc_stat(pid_t pid, char *comm, size_t len,
			     pid_t *ppid, pid_t *sid)
{
	char path[64], buf[512], *open_, *close_;
	int fd, pgrp = 0, p = 0, s = 0;
	char state;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	open_ = strchr(buf, '(');
	close_ = strrchr(buf, ')');
	if (!open_ || !close_ || close_ < open_)
		return false;
	*close_ = 0;
	snprintf(comm, len, "%s", open_ + 1);
	if (sscanf(close_ + 2, "%c %d %d %d", &state, &p, &pgrp, &s) != 4)
		return false;
	/* A zombie has gone already; its parent only has to reap it. */
	if (state == 'Z')
		comm[0] = 0;
	*ppid = p;
	*sid = s;
	return true;
}

/*
 * Our children named uiommufd-brkr (not zombies), not in @known (@nknown
 * pids): how many, the first @max of them into @out.
 */
static inline unsigned int list_brokers(pid_t *out, unsigned int max,
					const pid_t *known,
					unsigned int nknown)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *dir = opendir("/proc");

	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		char comm[32], *end;
		long pid = strtol(de->d_name, &end, 10);
		pid_t ppid, sid;
		bool seen = false;

		if (*end || pid <= 0 ||
		    !proc_stat(pid, comm, sizeof(comm), &ppid, &sid) ||
		    ppid != getpid() || strcmp(comm, "uiommufd-brkr"))
			continue;
		for (unsigned int i = 0; i != nknown; i++)
			seen |= known[i] == pid;
		if (seen)
			continue;
		if (n < max)
			out[n] = pid;
		n++;
	}
	closedir(dir);
	return n;
}

/*
 * Wait until @want new brokers (not in @known) are there, the first
 * @want into @out: how many there are. A broker names itself just after
 * its fork, so look a while, in small steps (a generous bound, scaled:
 * not a deadline).
 */
static inline unsigned int find_brokers(pid_t *out, unsigned int want,
					const pid_t *known,
					unsigned int nknown)
{
	unsigned int n = 0;
	unsigned long steps = 3000UL * test_timeout_scale();

	for (unsigned long i = 0; i != steps; i++) {
		n = list_brokers(out, want, known, nknown);
		if (n >= want)
			break;
		usleep(10000);
	}
	return n;
}

/* Whether @pid, a child of ours, is still running (not reaped). */
static inline bool child_running(pid_t pid)
{
	int status;

	return waitpid(pid, &status, WNOHANG) == 0;
}

/*
 * Wait for broker @pid (our child: subreaper) to exit: its exit status,
 * or WAIT_HUNG when it sat idle for the stall window (it would serve
 * forever), killed then.
 */
static inline int broker_exit(pid_t pid)
{
	return wait_child(pid, WAIT_STALL_S);
}

#endif /* UIOMMUFD_TESTS_E2E_SHARE_H */
