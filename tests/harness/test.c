// SPDX-License-Identifier: MIT
/*
 * Test runner: registration, TAP output, one forked child per test.
 */
#include "harness/test.h"

#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
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
	unsigned int scale = 1;
	const char *env = getenv("UIOMMUFD_TIMEOUT_SCALE");

	if (env)
		scale = strtoul(env, NULL, 0) ?: 1;
	alarm(tc->timeout_s * scale);
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
	int status;
	pid_t pid;

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

	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			printf("not ok %u %s # waitpid: %s\n", number, name,
			       strerror(errno));
			return 0;
		}
	}
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);

		printf("not ok %u %s # %s (signal %d)\n", number, name,
		       sig == SIGALRM ? "timed out" : strsignal(sig), sig);
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

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%u\n", for_each_selected(&sel, NULL, NULL));
	for_each_selected(&sel, run_cb, &totals);
	printf("# %u passed, %u failed, %u skipped\n", totals.pass, totals.fail,
	       totals.skip);
	free(sel.patterns);
	return totals.fail ? 1 : 0;
}
