// SPDX-License-Identifier: MIT
/*
 * Threads under the shim: threads each with a context of their own,
 * threads sharing one context (and dup'ing and closing its descriptor),
 * a thread that keeps closing and reopening /dev/iommu while the others
 * work, and signal handlers that issue ioctls, dup and close on an
 * iommufd descriptor while signals arrive at a high rate at threads
 * looping on ioctls (or at a program busy in malloc, whose handler only
 * opens, dups and closes, all async-signal-safe calls). Nothing may
 * deadlock (the harness and wait_child() catch a test or a child that
 * stops making progress) and every result must stay right: each worker
 * checks what each command returned, and the shared state is checked at
 * the end. The work is counted in rounds and handler runs, never in
 * time, so a slow machine only makes a test take longer.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/time.h>
#include <time.h>

#include "e2e/e2e_utils.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define NR_WORKERS 4
#define BUF_PAGES 4
#define BUF_LEN (BUF_PAGES * PAGE_SZ)
/* Each worker's slot of IOVA in a shared IOAS. */
#define SLOT_IOVA(i) (MOCK_APERTURE_START + (uint64_t)(i) * 0x1000000)

struct worker {
	pthread_t thread;
	unsigned int index;
	unsigned long iters;
	pid_t tid;
	int fd;			/* shared, or the worker's own */
	uint32_t ioas, hwpt;	/* shared tests: the shared IOAS */
	int access_fd;
	char *buf;
	unsigned long errors;
	char first_error[160];
	bool done;		/* signal tests: its loop ended */
};

static atomic_bool stop;

/* Record the first failure of a worker; workers never ASSERT. */
#define W_CHECK(w, cond)                                                   \
	do {                                                               \
		if (!(cond)) {                                             \
			worker_fail(w, __LINE__, #cond);                   \
			return -1;                                         \
		}                                                          \
	} while (0)

static void worker_fail(struct worker *w, int line, const char *what)
{
	if (!w->errors++)
		snprintf(w->first_error, sizeof(w->first_error),
			 "worker %u, line %d: %s (errno %d)", w->index, line,
			 what, errno);
}

static void check_workers(struct worker *w, unsigned int n)
{
	for (unsigned int i = 0; i != n; i++) {
		if (w[i].errors)
			TH_LOG("%lu errors, first: %s", w[i].errors,
			       w[i].first_error);
		EXPECT_EQ(0, w[i].errors);
	}
}

static void start_workers(struct worker *w, unsigned int n,
			  void *(*fn)(void *))
{
	atomic_store(&stop, false);
	for (unsigned int i = 0; i != n; i++) {
		w[i].index = i;
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, fn, &w[i]));
	}
}

static void join_workers(struct worker *w, unsigned int n)
{
	for (unsigned int i = 0; i != n; i++)
		ASSERT_EQ(0, pthread_join(w[i].thread, NULL));
}

static char *worker_buffer(unsigned int index)
{
	char *buf = e2e_buffer(BUF_LEN);

	if (buf)
		snprintf(buf, 64, "worker %u's memory", index);
	return buf;
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

/* ---- every thread its own context ---- */

/*
 * One round on the worker's own context: map, check, read through its
 * access, unmap. (Accesses made and closed at a high rate have a test of
 * their own below.)
 */
static int own_round(struct worker *w, uint32_t ioas, uint32_t hwpt,
		     uint32_t probe_id)
{
	char want[64], text[64] = {};
	uint64_t iova = 0, len = 0;
	uint32_t id = 0;

	snprintf(want, sizeof(want), "worker %u's memory", w->index);
	W_CHECK(w, !ioas_map(w->fd, ioas, w->buf, BUF_LEN, &iova, MAP_RW));
	W_CHECK(w, !check_map(w->fd, hwpt, iova, w->buf, BUF_LEN));
	W_CHECK(w, !check_refs(w->fd, w->buf, BUF_LEN, 1));
	W_CHECK(w, !access_rw(w->fd, w->access_fd, iova, text, sizeof(want),
			      0));
	W_CHECK(w, !strcmp(text, want));
	W_CHECK(w, !ioas_unmap(w->fd, ioas, iova, BUF_LEN, &len));
	W_CHECK(w, len == BUF_LEN);
	/* Nothing else lives in this context: the same ID every time. */
	W_CHECK(w, !ioas_alloc(w->fd, &id));
	W_CHECK(w, id == probe_id);
	W_CHECK(w, !destroy(w->fd, id));
	return 0;
}

static void *own_context_worker(void *arg)
{
	struct worker *w = arg;
	uint32_t ioas = 0, stdev = 0, hwpt = 0, probe = 0;

	w->buf = worker_buffer(w->index);
	w->fd = open_iommu();
	if (!w->buf || w->fd < 0 || ioas_alloc(w->fd, &ioas) || ioas != 1 ||
	    mock_domain(w->fd, ioas, &stdev, &hwpt) ||
	    create_access(w->fd, ioas, 0, &w->access_fd) ||
	    ioas_alloc(w->fd, &probe) || destroy(w->fd, probe)) {
		worker_fail(w, __LINE__, "setup");
		return NULL;
	}
	for (unsigned long i = 0; i != w->iters; i++)
		if (own_round(w, ioas, hwpt, probe))
			break;
	if (check_refs(w->fd, w->buf, BUF_LEN, 0))
		worker_fail(w, __LINE__, "pins left");
	if (close(w->access_fd))
		worker_fail(w, __LINE__, "close access");
	if (close(w->fd))
		worker_fail(w, __LINE__, "close");
	return NULL;
}

TEST(threads_with_their_own_contexts)
{
	struct worker w[NR_WORKERS] = {};

	for (unsigned int i = 0; i != NR_WORKERS; i++)
		w[i].iters = test_iterations(150);
	start_workers(w, NR_WORKERS, own_context_worker);
	join_workers(w, NR_WORKERS);
	check_workers(w, NR_WORKERS);
}

/* ---- threads sharing one context ---- */

static int shared_round(struct worker *w, int fd)
{
	char want[64], text[64] = {};
	uint64_t iova = SLOT_IOVA(w->index), len = 0;
	uint32_t id = 0;

	snprintf(want, sizeof(want), "worker %u's memory", w->index);
	W_CHECK(w, !ioas_map(fd, w->ioas, w->buf, BUF_LEN, &iova,
			     MAP_FIXED_RW));
	W_CHECK(w, !check_map(fd, w->hwpt, iova, w->buf, BUF_LEN));
	/* One access, shared by every thread. */
	W_CHECK(w, !access_rw(fd, w->access_fd, iova, text, sizeof(want), 0));
	W_CHECK(w, !strcmp(text, want));
	W_CHECK(w, !ioas_unmap(fd, w->ioas, iova, BUF_LEN, &len));
	W_CHECK(w, len == BUF_LEN);
	W_CHECK(w, !ioas_alloc(fd, &id));
	W_CHECK(w, id != w->ioas && id != w->hwpt);
	W_CHECK(w, !destroy(fd, id));
	return 0;
}

static void *shared_context_worker(void *arg)
{
	struct worker *w = arg;
	/* Odd workers go through a descriptor of their own. */
	int fd = w->index & 1 ? dup(w->fd) : w->fd;

	if (fd < 0) {
		worker_fail(w, __LINE__, "dup");
		return NULL;
	}
	for (unsigned long i = 0; i != w->iters; i++)
		if (shared_round(w, fd))
			break;
	if (fd != w->fd && close(fd))
		worker_fail(w, __LINE__, "close");
	return NULL;
}

TEST(threads_sharing_one_context)
{
	struct iommu_iova_range range = {};
	struct worker w[NR_WORKERS] = {};
	uint32_t ioas = 0, stdev = 0, hwpt = 0, num = 1, id = 0, probe = 0;
	int fd, afd = -1;

	fd = open_iommu();
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	ASSERT_EQ(0, create_access(fd, ioas, 0, &afd));
	ASSERT_EQ(0, ioas_alloc(fd, &probe));
	ASSERT_EQ(0, destroy(fd, probe));
	for (unsigned int i = 0; i != NR_WORKERS; i++) {
		w[i].iters = test_iterations(150);
		w[i].fd = fd;
		w[i].ioas = ioas;
		w[i].hwpt = hwpt;
		w[i].access_fd = afd;
		w[i].buf = worker_buffer(i);
		ASSERT_NONNULL(w[i].buf);
	}
	start_workers(w, NR_WORKERS, shared_context_worker);
	join_workers(w, NR_WORKERS);
	check_workers(w, NR_WORKERS);
	/* Nothing left behind: no pins, no IDs, the ranges untouched. */
	for (unsigned int i = 0; i != NR_WORKERS; i++)
		ASSERT_EQ(0, check_refs(fd, w[i].buf, BUF_LEN, 0));
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(probe, id);
	ASSERT_EQ(0, iova_ranges(fd, ioas, &range, &num, NULL));
	ASSERT_EQ(MOCK_APERTURE_START, range.start);
	ASSERT_EQ(0, ioas_unmap(fd, ioas, 0, UINT64_MAX, NULL));
	ASSERT_EQ(0, close(afd));
	ASSERT_EQ(0, close(fd));
}

/* Threads dup and close the one descriptor while others use theirs. */
static int dup_round(struct worker *w)
{
	uint32_t id = 0;
	int d = dup(w->fd);

	W_CHECK(w, d >= 0);
	W_CHECK(w, !ioas_alloc(d, &id));
	/* Made through the copy, gone through the original. */
	W_CHECK(w, !destroy(w->fd, id));
	W_CHECK(w, !check_map(d, w->hwpt, SLOT_IOVA(0), w->buf, BUF_LEN));
	W_CHECK(w, !close(d));
	return 0;
}

static void *dup_worker(void *arg)
{
	struct worker *w = arg;

	for (unsigned long i = 0; i != w->iters; i++)
		if (dup_round(w))
			break;
	return NULL;
}

TEST(threads_dup_and_close_one_descriptor)
{
	struct worker w[NR_WORKERS] = {};
	uint32_t ioas = 0, stdev = 0, hwpt = 0, probe = 0, id = 0;
	uint64_t iova = SLOT_IOVA(0);
	char *buf = worker_buffer(0);
	int fd, c;

	ASSERT_NONNULL(buf);
	fd = open_iommu();
	c = open_iommu();
	ASSERT_EQ(0, ioas_alloc(fd, &ioas));
	ASSERT_EQ(0, mock_domain(fd, ioas, &stdev, &hwpt));
	ASSERT_EQ(0, ioas_map(fd, ioas, buf, BUF_LEN, &iova, MAP_FIXED_RW));
	ASSERT_EQ(0, ioas_alloc(fd, &probe));
	ASSERT_EQ(0, destroy(fd, probe));
	for (unsigned int i = 0; i != NR_WORKERS; i++) {
		w[i].iters = test_iterations(500);
		w[i].fd = fd;
		w[i].hwpt = hwpt;
		w[i].buf = buf;
	}
	start_workers(w, NR_WORKERS, dup_worker);
	join_workers(w, NR_WORKERS);
	check_workers(w, NR_WORKERS);
	ASSERT_EQ(0, ioas_alloc(fd, &id));
	ASSERT_EQ(probe, id);
	ASSERT_EQ(0, check_refs(c, buf, BUF_LEN, 1));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, check_refs(c, buf, BUF_LEN, 0));
	ASSERT_EQ(0, close(c));
}

/*
 * Access descriptors made and closed in parallel on two contexts: a
 * number one thread closes is at once the lowest free one, which the
 * other's next CREATE_ACCESS gets. Each new access must work until its
 * own thread closes it.
 */
static int access_round(struct worker *w, uint32_t ioas, uint64_t iova)
{
	char text[16] = {};
	int afd = -1;

	W_CHECK(w, !create_access(w->fd, ioas, 0, &afd));
	W_CHECK(w, !access_rw(w->fd, afd, iova, text, 8, 0));
	W_CHECK(w, !memcmp(text, "worker ", 7));
	W_CHECK(w, !close(afd));
	return 0;
}

static void *access_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t iova = MOCK_APERTURE_START;
	uint32_t ioas = 0;

	w->buf = worker_buffer(w->index);
	w->fd = open_iommu();
	if (!w->buf || w->fd < 0 || ioas_alloc(w->fd, &ioas) ||
	    ioas_map(w->fd, ioas, w->buf, BUF_LEN, &iova, MAP_FIXED_RW)) {
		worker_fail(w, __LINE__, "setup");
		return NULL;
	}
	for (unsigned long i = 0; i != w->iters; i++)
		access_round(w, ioas, iova);
	if (close(w->fd))
		worker_fail(w, __LINE__, "close");
	return NULL;
}

TEST(access_descriptors_made_and_closed_in_parallel)
{
	struct worker w[2] = {};

	for (unsigned int i = 0; i != 2; i++)
		w[i].iters = test_iterations(20000);
	start_workers(w, 2, access_worker);
	join_workers(w, 2);
	check_workers(w, 2);
}

/* ---- one thread closing and reopening /dev/iommu ---- */

struct churn {
	unsigned long rounds, errors;
	char first_error[160];
};

static void churn_fail(struct churn *ch, int line, const char *what)
{
	if (!ch->errors++)
		snprintf(ch->first_error, sizeof(ch->first_error),
			 "churn, line %d: %s (errno %d)", line, what, errno);
}

static void *churn_thread(void *arg)
{
	struct churn *ch = arg;
	char *buf = e2e_buffer(PAGE_SZ);
	unsigned long rounds = test_iterations(400);

	for (unsigned long i = 0; i != rounds; i++) {
		uint32_t ioas = 0;
		uint64_t iova = 0;
		int fd = open_iommu(), d;

		if (fd < 0 || ioas_alloc(fd, &ioas) || ioas != 1) {
			churn_fail(ch, __LINE__, "a fresh context");
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (ioas_map(fd, ioas, buf, PAGE_SZ, &iova, MAP_RW))
			churn_fail(ch, __LINE__, "map");
		d = dup(fd);
		if (d < 0 || close(fd))
			churn_fail(ch, __LINE__, "dup and close");
		if (ioas_unmap(d, ioas, iova, PAGE_SZ, NULL))
			churn_fail(ch, __LINE__, "unmap through the copy");
		if (close(d))
			churn_fail(ch, __LINE__, "close");
		ch->rounds++;
		/* valgrind runs one thread at a time: let the others in. */
		if (!(i % 8))
			sched_yield();
	}
	munmap(buf, PAGE_SZ);
	return NULL;
}

TEST(one_thread_reopens_while_others_work)
{
	struct worker w[NR_WORKERS - 1] = {};
	struct churn ch = {};
	pthread_t t;

	for (unsigned int i = 0; i != NR_WORKERS - 1; i++)
		w[i].iters = test_iterations(150);
	ASSERT_EQ(0, pthread_create(&t, NULL, churn_thread, &ch));
	start_workers(w, NR_WORKERS - 1, own_context_worker);
	join_workers(w, NR_WORKERS - 1);
	ASSERT_EQ(0, pthread_join(t, NULL));
	check_workers(w, NR_WORKERS - 1);
	if (ch.errors)
		TH_LOG("%lu errors, first: %s", ch.errors, ch.first_error);
	ASSERT_EQ(0, ch.errors);
	ASSERT_EQ(test_iterations(400), ch.rounds);
}

/* ---- signal handlers that call into the shim ---- */

/*
 * The timer tests' work, scaled by test_iterations(): rounds each worker
 * does, and handler runs in all, before the timer stops.
 */
#define TIMER_ROUNDS 100
#define REOPEN_ROUNDS 20
#define TIMER_RUNS 1000
#define PROF_RUNS 100
/* And the allocating program's handler runs (valgrind delivers few). */
#define ALLOC_RUNS 50

static int sig_fd;
static uint32_t sig_ioas;
static atomic_ulong sig_runs, sig_skips, sig_errors;

/*
 * Handlers that outlast the timer's period (on a slow machine, under a
 * sanitizer) would take every cycle of the thread they interrupt, which
 * would then never finish a call: the test would spin, not end. So a
 * handler does its work only once its thread has had, since its last
 * run, three times the CPU time that run took, and otherwise returns at
 * once: the handlers get at most a quarter of the thread's time, and its
 * own work is interrupted at whatever point a signal meets it.
 */
struct handler_gate {
	uint64_t end_ns, cost_ns;	/* of the last run, thread CPU time */
};

static __thread struct handler_gate thread_gate;

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether the handler runs now; if so, its start in *@start. */
static bool gate_open(struct handler_gate *g, uint64_t *start)
{
	*start = thread_cpu_ns();
	return *start - g->end_ns >= 3 * g->cost_ns;
}

static void gate_close(struct handler_gate *g, uint64_t start)
{
	g->end_ns = thread_cpu_ns();
	g->cost_ns = g->end_ns - start;
}

/* dup, ioctls and close from inside a handler; errno left as it was. */
static void iommufd_handler(int sig)
{
	struct iommu_iova_range range;
	uint32_t id = 0, num = 1;
	int saved = errno, d;
	uint64_t start;

	if (!gate_open(&thread_gate, &start)) {
		atomic_fetch_add(&sig_skips, 1);
		errno = saved;
		return;
	}
	d = dup(sig_fd);
	if (d < 0) {
		atomic_fetch_add(&sig_errors, 1);
		goto out;
	}
	if (ioas_alloc(d, &id) || destroy(sig_fd, id) ||
	    iova_ranges(d, sig_ioas, &range, &num, NULL) ||
	    range.start != MOCK_APERTURE_START)
		atomic_fetch_add(&sig_errors, 1);
	if (close(d))
		atomic_fetch_add(&sig_errors, 1);
out:
	atomic_fetch_add(&sig_runs, 1);
	gate_close(&thread_gate, start);
	errno = saved;
}

/* A loop of ioctls on the shared context, checking every result. */
static int signalled_round(struct worker *w)
{
	uint64_t iova = SLOT_IOVA(w->index), len = 0;
	uint32_t id = 0;
	int d;

	errno = 0;
	W_CHECK(w, !ioas_map(sig_fd, sig_ioas, w->buf, BUF_LEN, &iova,
			     MAP_FIXED_RW));
	W_CHECK(w, !check_map(sig_fd, w->hwpt, iova, w->buf, BUF_LEN));
	W_CHECK(w, !ioas_unmap(sig_fd, sig_ioas, iova, BUF_LEN, &len));
	W_CHECK(w, len == BUF_LEN);
	W_CHECK(w, !ioas_alloc(sig_fd, &id));
	W_CHECK(w, !destroy(sig_fd, id));
	/* A failing call's errno survives the handlers. */
	W_CHECK(w, destroy(sig_fd, 0) == -1 && errno == ENOENT);
	d = dup(sig_fd);
	W_CHECK(w, d >= 0);
	W_CHECK(w, !close(d));
	return 0;
}

static void *signalled_worker(void *arg)
{
	struct worker *w = arg;

	/* Where the timer test sends its signals. */
	__atomic_store_n(&w->tid, e2e_gettid(), __ATOMIC_RELEASE);
	while (!atomic_load(&stop)) {
		if (signalled_round(w))
			break;
		__atomic_add_fetch(&w->iters, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

static void signal_setup(struct worker *w, unsigned int n, int sig,
			 uint32_t *probe)
{
	struct sigaction sa = { .sa_handler = iommufd_handler };
	uint32_t stdev = 0, hwpt = 0;

	sig_fd = open_iommu();
	ASSERT_GE(sig_fd, 0);
	ASSERT_EQ(0, ioas_alloc(sig_fd, &sig_ioas));
	ASSERT_EQ(0, mock_domain(sig_fd, sig_ioas, &stdev, &hwpt));
	ASSERT_EQ(0, ioas_alloc(sig_fd, probe));
	ASSERT_EQ(0, destroy(sig_fd, *probe));
	for (unsigned int i = 0; i != n; i++) {
		w[i].hwpt = hwpt;
		w[i].buf = worker_buffer(i);
		ASSERT_NONNULL(w[i].buf);
	}
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	ASSERT_EQ(0, sigaction(sig, &sa, NULL));
	atomic_store(&sig_runs, 0);
	atomic_store(&sig_skips, 0);
	atomic_store(&sig_errors, 0);
}

static void signal_check(struct worker *w, unsigned int n, uint32_t probe)
{
	uint32_t id = 0;

	check_workers(w, n);
	TH_LOG("%lu handler runs (%lu more returned at once, their thread not having had its share), %lu rounds by worker 0",
	       atomic_load(&sig_runs), atomic_load(&sig_skips), w[0].iters);
	ASSERT_EQ(0, atomic_load(&sig_errors));
	ASSERT_LT(0, atomic_load(&sig_runs));
	for (unsigned int i = 0; i != n; i++) {
		ASSERT_LT(0, w[i].iters);
		ASSERT_EQ(0, check_refs(sig_fd, w[i].buf, BUF_LEN, 0));
	}
	/* Every ID the loops and the handlers made is gone again. */
	ASSERT_EQ(0, ioas_alloc(sig_fd, &id));
	ASSERT_EQ(probe, id);
	ASSERT_EQ(0, close(sig_fd));
}

/*
 * A timer period of @us microseconds; fifty times that under valgrind,
 * which delivers signals slowly enough for a storm to starve the test.
 */
static struct itimerspec period(long us)
{
	struct itimerspec its;

	if (getenv("UIOMMUFD_UNDER_VALGRIND"))
		us *= 50;
	its.it_interval.tv_sec = us / 1000000;
	its.it_interval.tv_nsec = us % 1000000 * 1000;
	its.it_value = its.it_interval;
	return its;
}

/* Keeps @sig off the main thread, which only waits: the old mask. */
static sigset_t block_on_main(int sig)
{
	sigset_t set, old;

	sigemptyset(&set);
	sigaddset(&set, sig);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	return old;
}

/*
 * Wait until each of the @n workers has done @rounds more rounds and the
 * handlers have run @runs times in all, or a worker has stopped (it
 * failed). Counted, not timed: a slow machine takes longer, and a
 * deadlock stops every count, which the harness catches.
 */
static void wait_for_work(struct worker *w, unsigned int n,
			  unsigned long rounds, unsigned long runs)
{
	unsigned long want[NR_WORKERS];

	for (unsigned int i = 0; i != n; i++)
		want[i] = __atomic_load_n(&w[i].iters, __ATOMIC_RELAXED) +
			  rounds;
	for (;;) {
		bool enough = atomic_load(&sig_runs) >= runs;

		for (unsigned int i = 0; i != n; i++) {
			if (__atomic_load_n(&w[i].done, __ATOMIC_ACQUIRE))
				return;
			if (__atomic_load_n(&w[i].iters, __ATOMIC_RELAXED) <
			    want[i])
				enough = false;
		}
		if (enough)
			return;
		usleep(1000);
	}
}

TEST(signal_handlers_call_the_shim_pthread_kill)
{
	struct worker w[2] = {};
	unsigned long sent = 0, rounds = test_iterations(20000);
	uint32_t probe = 0;
	sigset_t mask;

	signal_setup(w, 2, SIGUSR1, &probe);
	start_workers(w, 2, signalled_worker);
	mask = block_on_main(SIGUSR1);
	/* As fast as they go, at both workers, until enough have run. */
	for (unsigned long i = 0; i != rounds; i++) {
		if (pthread_kill(w[i & 1].thread, SIGUSR1))
			break;
		sent++;
		if (!(i % 64))
			sched_yield();
	}
	/* Each worker finishes rounds with the last handlers between them. */
	wait_for_work(w, 2, 2, 0);
	atomic_store(&stop, true);
	join_workers(w, 2);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	TH_LOG("%lu signals sent", sent);
	ASSERT_EQ(rounds, sent);
	signal_check(w, 2, probe);
}

TEST(signal_handlers_call_the_shim_timer)
{
	struct itimerspec its = period(20);
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = SIGUSR2,
	};
	struct worker w[1] = {};
	uint32_t probe = 0;
	timer_t timer;
	sigset_t mask;

	signal_setup(w, 1, SIGUSR2, &probe);
	start_workers(w, 1, signalled_worker);
	mask = block_on_main(SIGUSR2);
	while (!__atomic_load_n(&w[0].tid, __ATOMIC_ACQUIRE))
		sched_yield();
	/* Every 20 us, at the thread in its ioctl loop. */
	sev.sigev_notify_thread_id = w[0].tid;
	ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &timer));
	ASSERT_EQ(0, timer_settime(timer, 0, &its, NULL));
	wait_for_work(w, 1, test_iterations(TIMER_ROUNDS),
		      test_iterations(TIMER_RUNS));
	ASSERT_EQ(0, timer_delete(timer));
	atomic_store(&stop, true);
	join_workers(w, 1);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	signal_check(w, 1, probe);
}

TEST(signal_handlers_call_the_shim_process_timer)
{
	struct itimerval itv = { { 0, 100 }, { 0, 100 } };
	struct worker w[3] = {};
	uint32_t probe = 0;
	sigset_t mask;

	/* SIGPROF goes to whichever worker is running: any of them. */
	signal_setup(w, 3, SIGPROF, &probe);
	start_workers(w, 3, signalled_worker);
	mask = block_on_main(SIGPROF);
	ASSERT_EQ(0, setitimer(ITIMER_PROF, &itv, NULL));
	wait_for_work(w, 3, test_iterations(TIMER_ROUNDS),
		      test_iterations(PROF_RUNS));
	memset(&itv, 0, sizeof(itv));
	ASSERT_EQ(0, setitimer(ITIMER_PROF, &itv, NULL));
	atomic_store(&stop, true);
	join_workers(w, 3);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	signal_check(w, 3, probe);
}

/*
 * The interrupted thread opens and closes /dev/iommu itself (the shim
 * allocates and frees its file then), while the handlers issue ioctls
 * that allocate: open, close, dup and ioctl are all a handler may
 * interrupt, and the shim must not make them unsafe to interrupt.
 */
static int reopen_round(struct worker *w)
{
	uint32_t ioas = 0;
	int fd = open_iommu(), d;

	W_CHECK(w, fd >= 0);
	W_CHECK(w, !ioas_alloc(fd, &ioas) && ioas == 1);
	d = dup(fd);
	W_CHECK(w, d >= 0);
	W_CHECK(w, !close(fd));
	W_CHECK(w, !destroy(d, ioas));
	W_CHECK(w, !close(d));
	return 0;
}

static void *reopening_worker(void *arg)
{
	struct worker *w = arg;

	__atomic_store_n(&w->tid, e2e_gettid(), __ATOMIC_RELEASE);
	while (!atomic_load(&stop)) {
		if (reopen_round(w))
			break;
		__atomic_add_fetch(&w->iters, 1, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&w->done, true, __ATOMIC_RELEASE);
	return NULL;
}

TEST(signal_handlers_while_the_thread_reopens)
{
	struct itimerspec its = period(10);
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = SIGUSR2,
	};
	struct worker w[1] = {};
	uint32_t probe = 0;
	timer_t timer;
	sigset_t mask;

	signal_setup(w, 1, SIGUSR2, &probe);
	start_workers(w, 1, reopening_worker);
	mask = block_on_main(SIGUSR2);
	while (!__atomic_load_n(&w[0].tid, __ATOMIC_ACQUIRE))
		sched_yield();
	sev.sigev_notify_thread_id = w[0].tid;
	ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &timer));
	ASSERT_EQ(0, timer_settime(timer, 0, &its, NULL));
	wait_for_work(w, 1, test_iterations(REOPEN_ROUNDS),
		      test_iterations(TIMER_RUNS));
	ASSERT_EQ(0, timer_delete(timer));
	atomic_store(&stop, true);
	join_workers(w, 1);
	pthread_sigmask(SIG_SETMASK, &mask, NULL);
	signal_check(w, 1, probe);
}

/*
 * open, dup and close are async-signal-safe: a handler may call them
 * whatever the interrupted code was doing, malloc included. The program
 * here is correct by POSIX; under the kernel it cannot fail. The shim
 * must not turn these calls into ones that allocate or free from inside
 * the handler while the program is in the allocator.
 */

/* What the program did, in memory its parent sees. */
struct alloc_counts {
	atomic_ulong rounds, runs, skips, errors;
};

static struct alloc_counts *alloc_counts;

static void open_close_handler(int sig)
{
	int saved = errno, fd, d;
	uint64_t start;

	/* A storm must not starve the program (see struct handler_gate). */
	if (!gate_open(&thread_gate, &start)) {
		atomic_fetch_add(&alloc_counts->skips, 1);
		errno = saved;
		return;
	}
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		atomic_fetch_add(&alloc_counts->errors, 1);
		goto out;
	}
	d = dup(fd);
	if (d < 0 || close(fd) || close(d))
		atomic_fetch_add(&alloc_counts->errors, 1);
out:
	atomic_fetch_add(&alloc_counts->runs, 1);
	test_progress();
	gate_close(&thread_gate, start);
	errno = saved;
}

/*
 * The program itself, in a child: a deadlock there would be inside the
 * shim with every signal blocked, which only SIGKILL from outside ends.
 * Its rounds and its handler's runs are its progress. It goes on until
 * it has done @rounds and its handler has run @runs times, however the
 * two compare in speed.
 */
static void allocating_child(unsigned long rounds, unsigned long runs)
{
	struct itimerspec its = period(100);
	struct sigaction sa = { .sa_handler = open_close_handler };
	struct sigevent sev = {
		.sigev_notify = SIGEV_THREAD_ID,
		.sigev_signo = SIGUSR1,
	};
	timer_t timer;

	sigemptyset(&sa.sa_mask);
	sev.sigev_notify_thread_id = e2e_gettid();
	if (sigaction(SIGUSR1, &sa, NULL) ||
	    timer_create(CLOCK_MONOTONIC, &sev, &timer) ||
	    timer_settime(timer, 0, &its, NULL))
		_exit(2);
	/* Ordinary work: allocations of every size class. */
	for (unsigned long i = 0;
	     i < rounds || atomic_load(&alloc_counts->runs) < runs; i++) {
		void *p[8];

		for (unsigned int j = 0; j != 8; j++) {
			p[j] = malloc(64 + (i * 37 + j * 1000) % 100000);
			if (!p[j])
				_exit(3);
			memset(p[j], 1, 64);
		}
		for (unsigned int j = 0; j != 8; j++)
			free(p[j]);
		atomic_fetch_add(&alloc_counts->rounds, 1);
		test_progress();
	}
	timer_delete(timer);
	_exit(atomic_load(&alloc_counts->errors) ? 4 :
	      !atomic_load(&alloc_counts->runs) ? 5 : 0);
}

TEST(signal_handler_opens_while_the_program_allocates)
{
	unsigned long rounds = test_iterations(20000);
	unsigned long runs = test_iterations(ALLOC_RUNS);
	int status = 0, rc;
	pid_t pid;

	alloc_counts = mmap(NULL, sizeof(*alloc_counts),
			    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			    -1, 0);
	ASSERT_TRUE(alloc_counts != MAP_FAILED);
	pid = fork_child();
	ASSERT_LE(0, pid);
	if (!pid)
		allocating_child(rounds, runs);
	/* However long it takes, as long as the counts move. */
	rc = test_wait_child(pid, &status, WAIT_STALL_S,
			     TEST_WAIT_PROGRESS_ONLY);
	TH_LOG("the program did %lu rounds (of at least %lu); its handler ran %lu times (of at least %lu; it returned at once %lu more times), %lu errors",
	       atomic_load(&alloc_counts->rounds), rounds,
	       atomic_load(&alloc_counts->runs), runs,
	       atomic_load(&alloc_counts->skips),
	       atomic_load(&alloc_counts->errors));
	if (rc == TEST_WAIT_HUNG)
		TH_LOG("the program hung: no round and no handler run for %u s; killed",
		       WAIT_STALL_S * test_timeout_scale());
	ASSERT_EQ(0, rc);
	if (!WIFEXITED(status))
		TH_LOG("the program died of signal %d", WTERMSIG(status));
	ASSERT_TRUE(WIFEXITED(status));
	/* 4: a handler's call failed; 5: no handler ran. */
	ASSERT_EQ(0, WEXITSTATUS(status));
	ASSERT_LE(rounds, atomic_load(&alloc_counts->rounds));
	ASSERT_LE(runs, atomic_load(&alloc_counts->runs));
	munmap(alloc_counts, sizeof(*alloc_counts));
}
