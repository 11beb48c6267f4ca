// SPDX-License-Identifier: MIT
/*
 * Test runner: registration, TAP output, one forked child per test.
 */
#include "harness/test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef TEST_NO_LIBRARY
/*
 * End-to-end tests reach the library only through the preload shim, so
 * its allocation count is not theirs to see.
 */
static long mem_live_count(void)
{
	return 0;
}
#else
#include "base/mem.h"
#endif

enum { EXIT_PASS = 0, EXIT_FAIL = 1, EXIT_SKIP = 4 };

/*
 * Sanitizers slow a test down several times: its last-resort timeout
 * stretches with them (hang detection itself needs no stretching: a
 * deadlock uses no CPU under any of them).
 */
#if defined(__has_feature)
#define TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define TEST_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || TEST_HAS_FEATURE(thread_sanitizer)
#define SANITIZER_SCALE 4
#elif defined(__SANITIZE_ADDRESS__) || TEST_HAS_FEATURE(address_sanitizer)
#define SANITIZER_SCALE 2
#else
#define SANITIZER_SCALE 1
#endif

static struct test_case *tests_head;
static struct test_case **tests_tail = &tests_head;

/* State of the test running in this (child) process. */
static struct {
	const char *name;
	bool failed;
	bool seed_printed;
	pthread_t main_thread;
	jmp_buf abort_jmp;
	bool abort_armed;
} cur;

static uint64_t run_seed;
static const char *prog_name;

/*
 * The count of test_progress() calls, in memory shared by the harness
 * and every process of the test it runs.
 */
static uint64_t *progress_word;

void test_register(struct test_case *tc)
{
	*tests_tail = tc;
	tests_tail = &tc->next;
}

void test_register_variant(struct test_fixture *fixture,
			   struct test_variant *variant)
{
	if (!fixture->variants_tail)
		fixture->variants_tail = &fixture->variants;
	*fixture->variants_tail = variant;
	fixture->variants_tail = &variant->next;
}

uint64_t test_seed(void)
{
	if (!cur.seed_printed) {
		printf("# %s: seed %#" PRIx64 " (replay: UIOMMUFD_SEED=%#" PRIx64
		       " %s -t '%s')\n",
		       cur.name, run_seed, run_seed, prog_name, cur.name);
		fflush(stdout);
		cur.seed_printed = true;
	}
	return run_seed;
}

uint64_t test_iterations(uint64_t n)
{
	const char *env = getenv("UIOMMUFD_TEST_SCALE");
	unsigned long pct = env ? strtoul(env, NULL, 0) : 100;
	uint64_t scaled = n / 100 * pct + n % 100 * pct / 100;

	return scaled ? scaled : 1;
}

/* ---- hang detection ---- */

void test_progress(void)
{
	if (progress_word)
		__atomic_add_fetch(progress_word, 1, __ATOMIC_RELAXED);
}

static uint64_t progress_count(void)
{
	return progress_word ? __atomic_load_n(progress_word, __ATOMIC_RELAXED) :
			       0;
}

unsigned int test_timeout_scale(void)
{
	const char *env = getenv("UIOMMUFD_TIMEOUT_SCALE");
	unsigned long scale = env ? strtoul(env, NULL, 0) : 1;

	return scale ? (scale < 1000000 ? scale : 1000000) : 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct proc {
	pid_t pid, ppid;
	uint64_t ticks;
	bool in_tree;
};

/*
 * /proc/@pid/stat: the parent, and the CPU time (clock ticks) of the
 * process with that of its reaped children (utime, stime, cutime and
 * cstime: fields 14 to 17, after the parenthesized name).
 */
static bool read_proc(pid_t pid, struct proc *p)
{
	char path[32], buf[512], *s;
	long long v[14];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	s = strrchr(buf, ')');
	if (!s || s[1] != ' ' || !s[2])
		return false;
	/* The state, then fields 4 (ppid) to 17. */
	s += 3;
	for (int i = 0; i != 14; i++) {
		char *end;

		v[i] = strtoll(s, &end, 10);
		if (end == s)
			return false;
		s = end;
	}
	p->pid = pid;
	p->ppid = v[0];
	p->ticks = v[10] + v[11] + v[12] + v[13];
	p->in_tree = false;
	return true;
}

/*
 * The CPU time (clock ticks) used by @root and every live process below
 * it, with what their reaped children used; with @kill, SIGKILLs them
 * all. Reads /proc: a process's children are not listed anywhere else.
 */
static uint64_t tree_ticks(pid_t root, bool kill_all)
{
	struct proc *procs = NULL;
	uint64_t ticks = 0;
	struct dirent *de;
	size_t n = 0, cap = 0;
	bool grew;
	DIR *dir;

	dir = opendir("/proc");
	if (!dir) {
		if (kill_all)
			kill(root, SIGKILL);
		return 0;
	}
	while ((de = readdir(dir))) {
		char *end;
		long pid = strtol(de->d_name, &end, 10);

		if (*end || pid <= 0)
			continue;
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 256;
			struct proc *np = realloc(procs, ncap * sizeof(*np));

			if (!np)
				break;
			procs = np;
			cap = ncap;
		}
		if (read_proc(pid, &procs[n]))
			n++;
	}
	closedir(dir);
	/* Mark the tree from the root down, a generation per pass. */
	do {
		grew = false;
		for (size_t i = 0; i != n; i++) {
			struct proc *p = &procs[i];

			if (p->in_tree)
				continue;
			if (p->pid == root) {
				p->in_tree = grew = true;
				continue;
			}
			for (size_t j = 0; j != n; j++) {
				if (procs[j].in_tree && procs[j].pid == p->ppid) {
					p->in_tree = grew = true;
					break;
				}
			}
		}
	} while (grew);
	for (size_t i = 0; i != n; i++) {
		if (!procs[i].in_tree)
			continue;
		ticks += procs[i].ticks;
		if (kill_all)
			kill(procs[i].pid, SIGKILL);
	}
	if (kill_all)
		kill(root, SIGKILL);
	free(procs);
	return ticks;
}

/* A process tree under watch, and its last sign of life. */
struct watch {
	pid_t pid;
	bool cpu;		/* its CPU time counts as progress */
	uint64_t progress, ticks, since_ms;
};

static void watch_start(struct watch *w, pid_t pid, bool cpu)
{
	w->pid = pid;
	w->cpu = cpu;
	w->progress = progress_count();
	/* Unknown yet: the first look counts as a sign of life. */
	w->ticks = 0;
	w->since_ms = now_ms();
}

/*
 * How long, in ms, the tree has gone without progress: no
 * test_progress() call and (if CPU time counts) less than 1% of a CPU
 * used since its last sign of life.
 */
static uint64_t watch_idle_ms(struct watch *w)
{
	uint64_t now = now_ms(), p = progress_count(), t = 0;
	long hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
	bool moved = p != w->progress;

	if (!moved && w->cpu) {
		uint64_t need = (now - w->since_ms) * hz / 100000;

		t = tree_ticks(w->pid, false);
		/* A descendant reaped by another took its time along. */
		if (t < w->ticks)
			w->ticks = t;
		else if (t - w->ticks >= (need ? need : 1))
			moved = true;
	}
	if (moved) {
		w->progress = p;
		if (w->cpu)
			w->ticks = t ? t : tree_ticks(w->pid, false);
		w->since_ms = now;
		return 0;
	}
	return now - w->since_ms;
}

enum { WATCH_ENDED, WATCH_STALLED, WATCH_CAPPED, WATCH_ERROR };

/* Only interrupts the harness's waitpid(), so it can take a look. */
static void watch_tick(int sig)
{
}

/*
 * Waits for @pid, a child: WATCH_ENDED with its wait status in *@status;
 * WATCH_STALLED when it went @stall_ms without progress, or
 * WATCH_CAPPED when it still ran after @cap_ms (0: no cap), each after
 * killing it and its descendants and reaping it; WATCH_ERROR when
 * waitpid() failed. The harness (@ticking) blocks in waitpid(), which a
 * SIGALRM interval timer interrupts for each look; a test cannot have
 * its timer or its signals taken over, so there it polls.
 */
static int watch_wait(pid_t pid, int *status, uint64_t stall_ms,
		      uint64_t cap_ms, bool cpu, bool ticking)
{
	uint64_t start = now_ms(), period = stall_ms / 4, next, nap = 1;
	int verdict = WATCH_ENDED;
	struct itimerval itv = {};
	struct watch w;

	period = period < 50 ? 50 : period > 1000 ? 1000 : period;
	watch_start(&w, pid, cpu);
	next = start + period;
	if (ticking) {
		itv.it_interval.tv_sec = period / 1000;
		itv.it_interval.tv_usec = period % 1000 * 1000;
		itv.it_value = itv.it_interval;
		setitimer(ITIMER_REAL, &itv, NULL);
	}
	for (;;) {
		pid_t r = waitpid(pid, status, ticking ? 0 : WNOHANG);
		uint64_t now;

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			verdict = WATCH_ERROR;
			break;
		}
		now = now_ms();
		/* Each tick is a look (a tick may come a little early). */
		if (now >= next || (ticking && r < 0)) {
			if (watch_idle_ms(&w) >= stall_ms)
				verdict = WATCH_STALLED;
			else if (cap_ms && now - start >= cap_ms)
				verdict = WATCH_CAPPED;
			if (verdict != WATCH_ENDED) {
				tree_ticks(pid, true);
				while (waitpid(pid, status, 0) < 0 &&
				       errno == EINTR)
					;
				break;
			}
			next = now + period;
		}
		if (!ticking) {
			/* 1 ms, 2, 4 ... 16: quick for a child that ends soon. */
			usleep(nap * 1000);
			nap = nap < 16 ? 2 * nap : 16;
		}
	}
	if (ticking) {
		memset(&itv, 0, sizeof(itv));
		setitimer(ITIMER_REAL, &itv, NULL);
	}
	return verdict;
}

int test_wait_child(pid_t pid, int *status, unsigned int stall_s,
		    unsigned int flags)
{
	uint64_t stall_ms = (uint64_t)stall_s * 1000 * test_timeout_scale();

	switch (watch_wait(pid, status, stall_ms, 0,
			   !(flags & TEST_WAIT_PROGRESS_ONLY), false)) {
	case WATCH_ENDED:
		return 0;
	case WATCH_ERROR:
		return -1;
	default:
		return TEST_WAIT_HUNG;
	}
}

/* ---- output ---- */

static void vprint_diag(const char *file, int line, const char *fmt,
			va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (file)
		printf("# %s:%d: %s\n", file, line, buf);
	else
		printf("# %s\n", buf);
	fflush(stdout);
}

void test_log(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint_diag(file, line, fmt, ap);
	va_end(ap);
}

void test_abort(void)
{
	fflush(stdout);
	/* Only the test's own thread can unwind to its teardown. */
	if (cur.abort_armed && pthread_equal(pthread_self(), cur.main_thread))
		longjmp(cur.abort_jmp, 1);
	_exit(EXIT_FAIL);
}

void test_fail(const char *file, int line, bool fatal, const char *fmt, ...)
{
	va_list ap;

	cur.failed = true;
	va_start(ap, fmt);
	vprint_diag(file, line, fmt, ap);
	va_end(ap);
	if (fatal)
		test_abort();
}

void test_skip(const char *fmt, ...)
{
	va_list ap;
	char buf[256];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# SKIP %s\n", buf);
	fflush(stdout);
	exit(EXIT_SKIP);
}

void test_run_phases(void (*setup)(void *self, const void *variant),
		     void (*body)(void *self, const void *variant),
		     void (*teardown)(void *self, const void *variant),
		     size_t self_size, const void *variant)
{
	/* On the heap: it must survive the longjmp of a failed ASSERT. */
	void *self = calloc(1, self_size ? self_size : 1);
	volatile int phase = 0;

	if (!self)
		test_fail(__FILE__, __LINE__, true, "out of memory");
	cur.abort_armed = true;
	if (!setjmp(cur.abort_jmp)) {
		setup(self, variant);
		phase = 1;
		body(self, variant);
	}
	/* Teardown runs after the body even when an ASSERT ended it. */
	if (phase == 1) {
		phase = 2;
		if (!setjmp(cur.abort_jmp))
			teardown(self, variant);
	}
	cur.abort_armed = false;
	free(self);
}

static void run_child(const struct test_case *tc, const void *variant,
		      const char *name)
{
	long live_before;

	signal(SIGALRM, SIG_DFL);
	cur.name = name;
	cur.main_thread = pthread_self();
	live_before = mem_live_count();
	if (!setjmp(cur.abort_jmp)) {
		cur.abort_armed = true;
		tc->run(variant);
	}
	cur.abort_armed = false;
	if (!cur.failed && mem_live_count() != live_before) {
		printf("# %s: %ld library allocation(s) leaked\n", name,
		       mem_live_count() - live_before);
		cur.failed = true;
	}
	fflush(stdout);
	exit(cur.failed ? EXIT_FAIL : EXIT_PASS);
}

/* 1 pass, 0 fail, -1 skip */
static int run_one(const struct test_case *tc, const void *variant,
		   const char *name, unsigned int number)
{
	uint64_t scale = test_timeout_scale(), timeout_ms, stall_ms;
	int status, verdict;
	pid_t pid;

	timeout_ms = (uint64_t)tc->timeout_s * 1000 * scale;
	stall_ms = timeout_ms / 4;
	if (stall_ms > TEST_STALL_WINDOW * 1000 * scale)
		stall_ms = TEST_STALL_WINDOW * 1000 * scale;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		printf("not ok %u %s # fork: %s\n", number, name,
		       strerror(errno));
		return 0;
	}
	if (!pid)
		run_child(tc, variant, name);

	verdict = watch_wait(pid, &status, stall_ms,
			     timeout_ms * SANITIZER_SCALE, true, true);
	switch (verdict) {
	case WATCH_ERROR:
		printf("not ok %u %s # waitpid: %s\n", number, name,
		       strerror(errno));
		return 0;
	case WATCH_STALLED:
		printf("not ok %u %s # timed out: no progress for %" PRIu64
		       " s (hung)\n", number, name, (stall_ms + 999) / 1000);
		return 0;
	case WATCH_CAPPED:
		printf("not ok %u %s # timed out: still running after %" PRIu64
		       " s (busy without end?)\n", number, name,
		       timeout_ms * SANITIZER_SCALE / 1000);
		return 0;
	}
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		printf("not ok %u %s # %s (signal %d)\n", number, name,
		       strsignal(sig), sig);
		return 0;
	}
	switch (WEXITSTATUS(status)) {
	case EXIT_PASS:
		printf("ok %u %s\n", number, name);
		return 1;
	case EXIT_SKIP:
		printf("ok %u %s # SKIP\n", number, name);
		return -1;
	default:
		printf("not ok %u %s # exit status %d\n", number, name,
		       WEXITSTATUS(status));
		return 0;
	}
}

struct selection {
	const char **patterns;
	int nr;
};

static bool selected(const struct selection *sel, const char *name)
{
	if (!sel->nr)
		return true;
	for (int i = 0; i != sel->nr; i++)
		if (!fnmatch(sel->patterns[i], name, 0) ||
		    strstr(name, sel->patterns[i]))
			return true;
	return false;
}

static void full_name(char *buf, size_t len, const struct test_case *tc,
		      const struct test_variant *v)
{
	if (!tc->fixture)
		snprintf(buf, len, "%s", tc->name);
	else if (!v)
		snprintf(buf, len, "%s.%s", tc->fixture->name, tc->name);
	else
		snprintf(buf, len, "%s.%s.%s", tc->fixture->name, v->name,
			 tc->name);
}

/* Calls @fn for every selected (test, variant) pair; returns the count. */
static unsigned int for_each_selected(const struct selection *sel,
				      void (*fn)(const struct test_case *,
						 const struct test_variant *,
						 const char *, void *),
				      void *arg)
{
	unsigned int count = 0;
	char name[256];

	for (struct test_case *tc = tests_head; tc; tc = tc->next) {
		struct test_variant *v = tc->fixture ? tc->fixture->variants :
						       NULL;
		do {
			full_name(name, sizeof(name), tc, v);
			if (selected(sel, name)) {
				count++;
				if (fn)
					fn(tc, v, name, arg);
			}
			v = v ? v->next : NULL;
		} while (v);
	}
	return count;
}

struct totals {
	unsigned int number, pass, fail, skip;
};

static void run_cb(const struct test_case *tc, const struct test_variant *v,
		   const char *name, void *arg)
{
	struct totals *t = arg;
	int r = run_one(tc, v ? v->data : NULL, name, ++t->number);

	if (r > 0)
		t->pass++;
	else if (r < 0)
		t->skip++;
	else
		t->fail++;
}

static void list_cb(const struct test_case *tc, const struct test_variant *v,
		    const char *name, void *arg)
{
	printf("%s\n", name);
}

static uint64_t default_seed(void)
{
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
	    ((uint64_t)getpid() << 32);
	/* Mix so consecutive runs differ in every bit. */
	x ^= x >> 31;
	x *= 0x9e3779b97f4a7c15ULL;
	return x ^ (x >> 29);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [-l] [-s SEED] [-t PATTERN]...\n"
		"  -l          list the tests\n"
		"  -s SEED     seed for randomized tests (or UIOMMUFD_SEED)\n"
		"  -t PATTERN  run tests whose name matches (glob or substring)\n",
		prog_name);
	exit(2);
}

int main(int argc, char **argv)
{
	struct selection sel = { .patterns = calloc(argc, sizeof(char *)) };
	struct totals totals = {};
	const char *env = getenv("UIOMMUFD_SEED");
	bool list = false;
	int opt;

	prog_name = argv[0];
	run_seed = env ? strtoull(env, NULL, 0) : default_seed();
	while ((opt = getopt(argc, argv, "ls:t:h")) != -1) {
		switch (opt) {
		case 'l':
			list = true;
			break;
		case 's':
			run_seed = strtoull(optarg, NULL, 0);
			break;
		case 't':
			sel.patterns[sel.nr++] = optarg;
			break;
		default:
			usage();
		}
	}
	if (list) {
		for_each_selected(&sel, list_cb, NULL);
		free(sel.patterns);
		return 0;
	}

	/* Shared with every test's processes (NULL if it fails: no calls). */
	progress_word = mmap(NULL, sizeof(*progress_word),
			     PROT_READ | PROT_WRITE,
			     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress_word == MAP_FAILED)
		progress_word = NULL;
	sigaction(SIGALRM, &(struct sigaction){ .sa_handler = watch_tick },
		  NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%u\n", for_each_selected(&sel, NULL, NULL));
	for_each_selected(&sel, run_cb, &totals);
	printf("# %u passed, %u failed, %u skipped\n", totals.pass, totals.fail,
	       totals.skip);
	free(sel.patterns);
	return totals.fail ? 1 : 0;
}
