/* SPDX-License-Identifier: MIT */
/*
 * The project's test harness.
 *
 *	TEST(name) { ... }
 *
 *	FIXTURE(fx) { int fd; };
 *	FIXTURE_VARIANT(fx) { unsigned int pages; };
 *	FIXTURE_VARIANT_ADD(fx, small) { .pages = 1 };
 *	FIXTURE_SETUP(fx) { self->fd = ...; }
 *	FIXTURE_TEARDOWN(fx) { close(self->fd); }
 *	TEST_F(fx, name) { ASSERT_EQ(0, use(self->fd, variant->pages)); }
 *
 * Every test (and every variant of a fixture test) runs in its own forked
 * child, so a crash, a hang or a failed assertion ends only that test.
 * Output is TAP (prove can run a test binary). A test that uses randomness
 * takes its seed from test_seed(), which prints how to replay it.
 *
 * After a test's teardown the harness checks that every allocation the
 * library made during the test was freed again.
 *
 * Hangs are judged by progress, not by the clock. A test is hung when,
 * for its stall window, nothing called test_progress() and its processes
 * (the test's child and everything it forked) together used less than 1%
 * of a CPU: a deadlock is reported within the window, however slow the
 * machine. The harness then kills the test and its processes (SIGKILL)
 * and reports it as timed out. A test that keeps working is never killed
 * for being slow, short of its timeout (TEST_TIMEOUT(), default
 * TEST_DEFAULT_TIMEOUT seconds of wall time): a last resort for a test
 * that spins without end, not a budget. The stall window is
 * TEST_STALL_WINDOW seconds, or a quarter of the timeout if shorter.
 * UIOMMUFD_TIMEOUT_SCALE (a multiplier, default 1; 20 under valgrind)
 * stretches both; under a sanitizer the timeout is stretched further.
 * Tests never assert on elapsed time.
 */
#ifndef UIOMMUFD_TEST_H
#define UIOMMUFD_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

struct test_fixture;

struct test_variant {
	const char *name;
	const void *data;
	struct test_variant *next;
};

struct test_fixture {
	const char *name;
	struct test_variant *variants;
	struct test_variant **variants_tail;
};

struct test_case {
	const char *name;
	struct test_fixture *fixture;
	void (*run)(const void *variant);
	unsigned int timeout_s;
	struct test_case *next;
};

void test_register(struct test_case *tc);
void test_register_variant(struct test_fixture *fixture,
			   struct test_variant *variant);

#define TEST_DEFAULT_TIMEOUT 1800
#define TEST_STALL_WINDOW 60

/*
 * Tells the harness the test moved on, for hang detection (a test's CPU
 * time counts as progress too, so a busy test need not call it). Cheap
 * and async-signal-safe: any thread, signal handler or forked process of
 * the test may call it.
 */
void test_progress(void);

/* UIOMMUFD_TIMEOUT_SCALE, at least 1. */
unsigned int test_timeout_scale(void);

/*
 * Waits for @pid, a child of the caller, with the hang detection the
 * harness applies to tests: returns 0 with its wait status in *@status
 * once it ended; TEST_WAIT_HUNG when for @stall_s seconds (times
 * UIOMMUFD_TIMEOUT_SCALE) it made no progress, after killing it and
 * every process it forked with SIGKILL (the one signal that ends a
 * process hung with every signal blocked) and reaping it; -1 with errno
 * when waitpid() failed. Progress is a call of test_progress() anywhere
 * in the test, or 1% of a CPU used by @pid and its descendants; with
 * TEST_WAIT_PROGRESS_ONLY only the calls count, so a child that spins
 * without reporting progress is hung too.
 */
#define TEST_WAIT_HUNG -2
#define TEST_WAIT_PROGRESS_ONLY 1u
int test_wait_child(pid_t pid, int *status, unsigned int stall_s,
		    unsigned int flags);

/* Seed for this run (UIOMMUFD_SEED or -s to replay); printed on first use. */
uint64_t test_seed(void);

/*
 * @n scaled by UIOMMUFD_TEST_SCALE (a percentage, default 100) but never
 * below 1: slow runs (valgrind) shrink the randomized tests with it.
 */
uint64_t test_iterations(uint64_t n);

void test_fail(const char *file, int line, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void test_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2),
						    noreturn));
void test_log(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Ends the current test as failed (used by the ASSERT macros). */
void test_abort(void) __attribute__((noreturn));
/* Saves the current test's state for teardown after an ASSERT failure. */
void test_run_phases(void (*setup)(void *self, const void *variant),
		     void (*body)(void *self, const void *variant),
		     void (*teardown)(void *self, const void *variant),
		     size_t self_size, const void *variant);

#define TH_LOG(fmt, ...) test_log(__FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define SKIP(fmt, ...) test_skip(fmt, ##__VA_ARGS__)

#define _TEST_REGISTER(id, tname, fx, runfn, tmo)                          \
	static struct test_case _test_case_##id = {                         \
		.name = tname,                                              \
		.fixture = fx,                                              \
		.run = runfn,                                               \
		.timeout_s = tmo,                                           \
	};                                                                  \
	static void __attribute__((constructor)) _test_ctor_##id(void)      \
	{                                                                   \
		test_register(&_test_case_##id);                            \
	}

#define TEST(name) TEST_TIMEOUT(name, TEST_DEFAULT_TIMEOUT)
#define TEST_TIMEOUT(name, tmo)                                           \
	static void _test_fn_##name(void);                                  \
	static void _test_run_##name(const void *v)                         \
	{                                                                   \
		(void)v;                                                    \
		_test_fn_##name();                                          \
	}                                                                   \
	_TEST_REGISTER(name, #name, NULL, _test_run_##name, tmo)            \
	static void _test_fn_##name(void)

#define FIXTURE(fx)                                                       \
	struct _fixture_variant_##fx;                                       \
	static struct test_fixture _fixture_##fx = { .name = #fx };         \
	struct _fixture_data_##fx

#define FIXTURE_VARIANT(fx) struct _fixture_variant_##fx

#define FIXTURE_VARIANT_ADD(fx, vname)                                    \
	static const struct _fixture_variant_##fx _variant_##fx##_##vname;  \
	static struct test_variant _variant_reg_##fx##_##vname = {          \
		.name = #vname,                                             \
		.data = &_variant_##fx##_##vname,                           \
	};                                                                  \
	static void __attribute__((constructor))                            \
		_variant_ctor_##fx##_##vname(void)                          \
	{                                                                   \
		test_register_variant(&_fixture_##fx,                       \
				      &_variant_reg_##fx##_##vname);        \
	}                                                                   \
	static const struct _fixture_variant_##fx _variant_##fx##_##vname =

#define FIXTURE_SETUP(fx)                                                 \
	static void _fixture_setup_##fx(                                    \
		struct _fixture_data_##fx *self,                            \
		const struct _fixture_variant_##fx *variant)

#define FIXTURE_TEARDOWN(fx)                                              \
	static void _fixture_teardown_##fx(                                 \
		struct _fixture_data_##fx *self,                            \
		const struct _fixture_variant_##fx *variant)

#define TEST_F(fx, name) TEST_F_TIMEOUT(fx, name, TEST_DEFAULT_TIMEOUT)
#define TEST_F_TIMEOUT(fx, name, tmo)                                     \
	static void _test_fn_##fx##_##name(                                 \
		struct _fixture_data_##fx *self,                            \
		const struct _fixture_variant_##fx *variant);               \
	static void _test_run_##fx##_##name(const void *v)                  \
	{                                                                   \
		test_run_phases(                                            \
			(void (*)(void *, const void *))_fixture_setup_##fx, \
			(void (*)(void *, const void *))                    \
				_test_fn_##fx##_##name,                     \
			(void (*)(void *, const void *))                    \
				_fixture_teardown_##fx,                     \
			sizeof(struct _fixture_data_##fx), v);              \
	}                                                                   \
	_TEST_REGISTER(fx##_##name, #name, &_fixture_##fx,                  \
		       _test_run_##fx##_##name, tmo)                        \
	static void _test_fn_##fx##_##name(                                 \
		struct _fixture_data_##fx *self,                            \
		const struct _fixture_variant_##fx *variant)

/* Comparisons print both sides as integers (signed and hex). */
#define _TEST_CMP(expected, seen, op, fatal)                              \
	do {                                                                \
		__typeof__(expected) _exp = (expected);                     \
		__typeof__(seen) _seen = (seen);                            \
		if (!(_exp op _seen)) {                                     \
			test_fail(__FILE__, __LINE__, fatal,                \
				  "expected %s (%lld, %#llx) " #op          \
				  " %s (%lld, %#llx)",                      \
				  #expected, (long long)_exp,               \
				  (unsigned long long)_exp, #seen,          \
				  (long long)_seen,                         \
				  (unsigned long long)_seen);               \
		}                                                           \
	} while (0)

#define _TEST_BOOL(cond, want, fatal)                                     \
	do {                                                                \
		if ((!!(cond)) != (want))                                   \
			test_fail(__FILE__, __LINE__, fatal,                \
				  "expected %s to be %s", #cond,            \
				  (want) ? "true" : "false");               \
	} while (0)

#define _TEST_STR(expected, seen, fatal)                                  \
	do {                                                                \
		const char *_exp = (expected), *_seen = (seen);             \
		if (!_exp || !_seen || strcmp(_exp, _seen))                 \
			test_fail(__FILE__, __LINE__, fatal,                \
				  "expected %s \"%s\" == %s \"%s\"",        \
				  #expected, _exp ? _exp : "(null)", #seen, \
				  _seen ? _seen : "(null)");                \
	} while (0)

#define ASSERT_EQ(e, s) _TEST_CMP(e, s, ==, true)
#define ASSERT_NE(e, s) _TEST_CMP(e, s, !=, true)
#define ASSERT_LT(e, s) _TEST_CMP(e, s, <, true)
#define ASSERT_LE(e, s) _TEST_CMP(e, s, <=, true)
#define ASSERT_GT(e, s) _TEST_CMP(e, s, >, true)
#define ASSERT_GE(e, s) _TEST_CMP(e, s, >=, true)
#define ASSERT_TRUE(c) _TEST_BOOL(c, true, true)
#define ASSERT_FALSE(c) _TEST_BOOL(c, false, true)
#define ASSERT_NULL(p) _TEST_BOOL((p) == NULL, true, true)
#define ASSERT_NONNULL(p) _TEST_BOOL((p) != NULL, true, true)
#define ASSERT_STREQ(e, s) _TEST_STR(e, s, true)

#define EXPECT_EQ(e, s) _TEST_CMP(e, s, ==, false)
#define EXPECT_NE(e, s) _TEST_CMP(e, s, !=, false)
#define EXPECT_LT(e, s) _TEST_CMP(e, s, <, false)
#define EXPECT_LE(e, s) _TEST_CMP(e, s, <=, false)
#define EXPECT_GT(e, s) _TEST_CMP(e, s, >, false)
#define EXPECT_GE(e, s) _TEST_CMP(e, s, >=, false)
#define EXPECT_TRUE(c) _TEST_BOOL(c, true, false)
#define EXPECT_FALSE(c) _TEST_BOOL(c, false, false)
#define EXPECT_STREQ(e, s) _TEST_STR(e, s, false)

#endif
