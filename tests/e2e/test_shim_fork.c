// SPDX-License-Identifier: MIT
/*
 * fork and exec under the shim. The shim's state is per process: a
 * forked child keeps working on its own copy of every context (unlike
 * the kernel, where parent and child share the one iommufd file), and
 * the parent goes on unaffected by what the child does. A fork while
 * other threads are inside ioctls must leave the child able to use the
 * shim (the library and the shim take their locks around fork). An exec
 * starts the new image with a fresh shim: an iommufd descriptor inherited
 * without O_CLOEXEC stays open, but is no longer a context (the kernel
 * would keep it one), while /dev/iommu opens afresh.
 *
 * The exec'd image is this program again, told what to check by the
 * environment; it reports through its exit status.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "e2e/e2e_utils.h"

#define BUF_LEN (8 * PAGE_SZ)
#define EXEC_ENV "UIOMMUFD_E2E_EXEC_CHILD"

/* A child's checks: report the first failure and exit non-zero. */
#define CHILD_CHECK(cond)                                                  \
	do {                                                               \
		if (!(cond)) {                                             \
			dprintf(1, "# child %d, line %d: %s (errno %d)\n", \
				(int)getpid(), __LINE__, #cond, errno);    \
			_exit(1);                                          \
		}                                                          \
	} while (0)

struct ctx {
	int fd;
	uint32_t ioas, stdev, hwpt, next_id;
	char *buf;
	uint64_t iova;
};

static void ctx_make(struct ctx *c, int flags)
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

/* ---- fork ---- */

/* The child: its copy holds what the parent made; then it goes its way. */
static void own_copy_child(struct ctx *c)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, id = 0;
	char *buf = e2e_buffer(BUF_LEN);
	uint64_t iova = 0;
	int fd;

	CHILD_CHECK(buf);
	/* The parent's objects are in the copy. */
	CHILD_CHECK(!check_map(c->fd, c->hwpt, c->iova, c->buf, BUF_LEN));
	CHILD_CHECK(destroy(c->fd, c->ioas) == -1 && errno == EBUSY);
	/* New memory, new objects, in the copy and in a new context. */
	CHILD_CHECK(!ioas_alloc(c->fd, &id) && id == c->next_id);
	CHILD_CHECK(!ioas_map(c->fd, c->ioas, buf, BUF_LEN, &iova, MAP_RW));
	CHILD_CHECK(!check_map(c->fd, c->hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!check_refs(c->fd, buf, BUF_LEN, 1));
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(!ioas_alloc(fd, &ioas) && ioas == 1);
	CHILD_CHECK(!mock_domain(fd, ioas, &stdev, &hwpt));
	CHILD_CHECK(!ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_RW));
	CHILD_CHECK(!check_map(fd, hwpt, iova, buf, BUF_LEN));
	CHILD_CHECK(!check_refs(fd, buf, BUF_LEN, 2));
	/* Tear the copy down completely. */
	CHILD_CHECK(!destroy(c->fd, c->stdev));
	CHILD_CHECK(!destroy(c->fd, c->ioas));
	CHILD_CHECK(!destroy(c->fd, id));
	CHILD_CHECK(!close(c->fd));
	CHILD_CHECK(!close(fd));
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(!check_refs(fd, buf, BUF_LEN, 0));
	CHILD_CHECK(!check_refs(fd, c->buf, BUF_LEN, 0));
	_exit(0);
}

TEST(fork_child_works_on_its_own_copy)
{
	uint32_t id = 0;
	struct ctx c;
	pid_t pid;

	ctx_make(&c, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		own_copy_child(&c);
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* Nothing the child did reached the parent. */
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 1));
	ASSERT_ERRNO(EBUSY, destroy(c.fd, c.ioas));
	ASSERT_EQ(0, ioas_alloc(c.fd, &id));
	ASSERT_EQ(c.next_id, id);
	ASSERT_EQ(0, destroy(c.fd, c.stdev));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(c.fd));
}

/*
 * The child's copy of an area still names the parent's memory, as the
 * kernel's area names the parent's mm: an access in the child reads the
 * parent's bytes, not the child's copy-on-write copy of them, whether or
 * not a domain holds the pages pinned (in the kernel the pinned page
 * stays the parent's at fork).
 */
static void parent_memory_child(struct ctx *c)
{
	char text[32] = {};
	int afd = -1;

	strcpy(c->buf, "the child's data");
	CHILD_CHECK(!create_access(c->fd, c->ioas, 0, &afd));
	CHILD_CHECK(!access_rw(c->fd, afd, c->iova, text, sizeof(text), 0));
	if (strcmp(text, "the parent's data"))
		dprintf(1, "# the child's access read \"%s\"\n", text);
	CHILD_CHECK(!strcmp(text, "the parent's data"));
	CHILD_CHECK(!close(afd));
	_exit(0);
}

static void parent_memory_test(bool domain)
{
	struct ctx c;
	pid_t pid;

	ctx_make(&c, O_CLOEXEC);
	if (!domain)
		ASSERT_EQ(0, destroy(c.fd, c.stdev));
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		parent_memory_child(&c);
	/* The parent stays alive meanwhile, its memory unchanged. */
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_STREQ("the parent's data", c.buf);
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, domain));
	ASSERT_EQ(0, close(c.fd));
}

TEST(fork_child_access_reads_the_parents_memory)
{
	parent_memory_test(false);
}

TEST(fork_child_access_reads_the_parents_pinned_memory)
{
	parent_memory_test(true);
}

/* ---- fork while other threads are inside the shim ---- */

struct looper {
	pthread_t thread;
	int fd;
	uint32_t ioas, hwpt;
	char *buf;
	bool reopen;
	unsigned long rounds, errors;
};

static atomic_bool stop;

/* Long map/unmap calls on a context with a domain, or open/dup/close. */
static void *looper_thread(void *arg)
{
	struct looper *l = arg;

	while (!atomic_load(&stop)) {
		uint64_t iova = 0, len = 0;
		uint32_t id = 0;

		if (l->reopen) {
			int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
			int d = dup(fd);

			if (fd < 0 || d < 0 || ioas_alloc(d, &id) || id != 1 ||
			    close(fd) || close(d))
				l->errors++;
		} else if (ioas_map(l->fd, l->ioas, l->buf, 64 * PAGE_SZ,
				    &iova, MAP_RW) ||
			   check_map(l->fd, l->hwpt, iova, l->buf,
				     64 * PAGE_SZ) ||
			   ioas_unmap(l->fd, l->ioas, iova, 64 * PAGE_SZ,
				      &len) ||
			   len != 64 * PAGE_SZ) {
			l->errors++;
		}
		l->rounds++;
		/* valgrind runs one thread at a time: let the forker in. */
		sched_yield();
	}
	return NULL;
}

/* The child of a busy parent: the shim and the library must work. */
static void busy_fork_child(struct looper *l, unsigned int n)
{
	uint32_t ioas = 0, stdev = 0, hwpt = 0, id = 0;
	uint64_t iova = 0;
	int fd;

	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(fd >= 0);
	CHILD_CHECK(!ioas_alloc(fd, &ioas) && ioas == 1);
	CHILD_CHECK(!mock_domain(fd, ioas, &stdev, &hwpt));
	CHILD_CHECK(!ioas_map(fd, ioas, l[0].buf, PAGE_SZ, &iova, MAP_RW));
	CHILD_CHECK(!check_map(fd, hwpt, iova, l[0].buf, PAGE_SZ));
	CHILD_CHECK(!close(fd));
	/* The loopers' contexts, as they were at the fork. */
	for (unsigned int i = 0; i != n; i++) {
		if (l[i].reopen)
			continue;
		CHILD_CHECK(!ioas_alloc(l[i].fd, &id));
		CHILD_CHECK(!destroy(l[i].fd, id));
		CHILD_CHECK(!ioas_unmap(l[i].fd, l[i].ioas, 0, UINT64_MAX,
					NULL));
		CHILD_CHECK(!check_refs(l[i].fd, l[i].buf, 64 * PAGE_SZ, 0));
		CHILD_CHECK(!close(l[i].fd));
	}
	/*
	 * Done. What the parent's other threads held at the fork (a shim
	 * file being opened, say) is unreachable here; leave by exec, so a
	 * leak checker does not count it against the child.
	 */
	execl("/bin/true", "true", (char *)NULL);
	_exit(0);
}

TEST(fork_while_threads_are_in_ioctls)
{
	unsigned int forks = test_iterations(40);
	struct looper l[3] = {};
	uint32_t stdev = 0;
	int rc = 0;

	for (unsigned int i = 0; i != 3; i++) {
		l[i].reopen = i == 2;
		l[i].buf = e2e_buffer(64 * PAGE_SZ);
		ASSERT_NONNULL(l[i].buf);
		if (l[i].reopen)
			continue;
		l[i].fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		ASSERT_GE(l[i].fd, 0);
		ASSERT_EQ(0, ioas_alloc(l[i].fd, &l[i].ioas));
		ASSERT_EQ(0, mock_domain(l[i].fd, l[i].ioas, &stdev,
					 &l[i].hwpt));
	}
	atomic_store(&stop, false);
	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, pthread_create(&l[i].thread, NULL, looper_thread,
					    &l[i]));
	for (unsigned int i = 0; i != forks && !rc; i++) {
		pid_t pid = fork_child();

		if (pid < 0) {
			rc = -errno;
			break;
		}
		if (!pid)
			busy_fork_child(l, 3);
		rc = wait_child(pid, WAIT_STALL_S);
		if (rc)
			TH_LOG("fork %u: child status %d (%d: hung, killed)", i,
			       rc, WAIT_HUNG);
	}
	/* Stop the loopers before judging: nothing may exit under them. */
	atomic_store(&stop, true);
	for (unsigned int i = 0; i != 3; i++)
		ASSERT_EQ(0, pthread_join(l[i].thread, NULL));
	ASSERT_EQ(0, rc);
	for (unsigned int i = 0; i != 3; i++) {
		ASSERT_EQ(0, l[i].errors);
		ASSERT_LT(0, l[i].rounds);
	}
	for (unsigned int i = 0; i != 2; i++) {
		ASSERT_EQ(0, check_refs(l[i].fd, l[i].buf, 64 * PAGE_SZ, 0));
		ASSERT_EQ(0, close(l[i].fd));
	}
}

/* fork from a thread other than the main one, while main is in ioctls. */
static void *forking_thread(void *arg)
{
	struct looper *l = arg;
	pid_t pid;

	pid = fork_child();
	if (!pid)
		busy_fork_child(l, 1);
	return (void *)(intptr_t)wait_child(pid, WAIT_STALL_S);
}

TEST(fork_from_another_thread)
{
	struct looper l = {};
	uint32_t stdev = 0;
	pthread_t t;
	void *rc;

	l.buf = e2e_buffer(64 * PAGE_SZ);
	ASSERT_NONNULL(l.buf);
	l.fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(l.fd, 0);
	ASSERT_EQ(0, ioas_alloc(l.fd, &l.ioas));
	ASSERT_EQ(0, mock_domain(l.fd, l.ioas, &stdev, &l.hwpt));
	for (unsigned int i = 0; i != test_iterations(10); i++) {
		ASSERT_EQ(0, pthread_create(&t, NULL, forking_thread, &l));
		for (unsigned int j = 0; j != 20; j++) {
			uint64_t iova = 0;

			ASSERT_EQ(0, ioas_map(l.fd, l.ioas, l.buf,
					      64 * PAGE_SZ, &iova, MAP_RW));
			ASSERT_EQ(0, ioas_unmap(l.fd, l.ioas, iova,
						64 * PAGE_SZ, NULL));
		}
		ASSERT_EQ(0, pthread_join(t, &rc));
		ASSERT_EQ(0, (intptr_t)rc);
	}
	ASSERT_EQ(0, close(l.fd));
}

/* ---- exec ---- */

static char self_exe[4096];

/*
 * Runs before main in the exec'd image when EXEC_ENV is set: "FD" is an
 * iommufd descriptor the old image left open, "FD,CLOEXEC_FD" also one
 * it opened with O_CLOEXEC.
 */
__attribute__((constructor)) static void exec_child_main(void)
{
	const char *env = getenv(EXEC_ENV);
	struct iommu_ioas_alloc cmd = { .size = sizeof(cmd) };
	int fd, cloexec_fd = -1, nfd;
	uint32_t ioas = 0;
	char *comma;

	if (!env)
		return;
	fd = atoi(env);
	comma = strchr(env, ',');
	if (comma)
		cloexec_fd = atoi(comma + 1);
	/* The descriptor came through exec, as any other would. */
	CHILD_CHECK(fcntl(fd, F_GETFD) == 0);
	/* But the new shim does not know it: it is not a context here. */
	errno = 0;
	CHILD_CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &cmd) == -1 && errno == ENOTTY);
	if (cloexec_fd >= 0)
		CHILD_CHECK(fcntl(cloexec_fd, F_GETFD) == -1 && errno == EBADF);
	/* The shim is in, with nothing from before: a fresh context. */
	nfd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHILD_CHECK(nfd >= 0);
	CHILD_CHECK(!ioas_alloc(nfd, &ioas) && ioas == 1);
	CHILD_CHECK(!close(nfd));
	/* Nor is any fault armed. */
	nfd = failnth_open(e2e_gettid());
	CHILD_CHECK(nfd >= 0);
	CHILD_CHECK(failnth_read(nfd) == 0);
	CHILD_CHECK(!close(nfd));
	_exit(0);
}

__attribute__((constructor)) static void find_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);

	if (n > 0)
		self_exe[n] = 0;
}

TEST(exec_true_with_an_iommufd_open)
{
	struct ctx c;
	pid_t pid;

	ctx_make(&c, 0);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, close(c.fd));
}

TEST(exec_gets_a_fresh_shim)
{
	int cloexec_fd, fail_fd;
	char env[64];
	struct ctx c;
	pid_t pid;

	ASSERT_NE(0, self_exe[0]);
	ctx_make(&c, 0);
	cloexec_fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_GE(cloexec_fd, 0);
	ASSERT_EQ(0, fcntl(c.fd, F_GETFD));
	snprintf(env, sizeof(env), "%d,%d", c.fd, cloexec_fd);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid) {
		/* Armed before the exec: the new image must not inherit it. */
		fail_fd = failnth_open(e2e_gettid());
		if (fail_fd < 0 || failnth_arm(fail_fd, 3))
			_exit(126);
		setenv(EXEC_ENV, env, 1);
		execl(self_exe, self_exe, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(0, wait_child(pid, WAIT_STALL_S));
	/* The parent's context is untouched. */
	ASSERT_EQ(0, check_map(c.fd, c.hwpt, c.iova, c.buf, BUF_LEN));
	ASSERT_EQ(0, check_refs(c.fd, c.buf, BUF_LEN, 1));
	ASSERT_EQ(0, close(cloexec_fd));
	ASSERT_EQ(0, close(c.fd));
}
