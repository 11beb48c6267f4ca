// SPDX-License-Identifier: MIT
/*
 * Tests that fail on purpose, one per way a test can go wrong. Run by
 * check-harness.sh, which checks each is reported and the rest still run.
 */
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "harness/test.h"

TEST(passes)
{
	ASSERT_EQ(1, 1);
}

TEST(assert_fails)
{
	ASSERT_EQ(1, 2);
	TH_LOG("not reached");
}

TEST(expect_fails_but_continues)
{
	EXPECT_EQ(1, 2);
	TH_LOG("still running after EXPECT");
}

TEST(crashes)
{
	abort(); /* sanitizers leave SIGABRT alone */
}

/* Deadlocked: no CPU, no progress. Caught after its stall window (1 s). */
TEST_TIMEOUT(times_out, 4)
{
	for (;;)
		pause();
}

/* Busy without end: caught only by its timeout, a last resort. */
TEST_TIMEOUT(spins_without_end, 1)
{
	for (volatile unsigned long i = 0;; i++)
		;
}

static uint64_t ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Idle longer than its stall window (1 s) but calling test_progress(),
 * then busy as long without calling it: slow, never hung.
 */
TEST_TIMEOUT(slow_but_progressing, 4)
{
	uint64_t end = ms_now() + 1500;

	while (ms_now() < end) {
		usleep(100 * 1000);
		test_progress();
	}
	end = ms_now() + 1500;
	while (ms_now() < end)
		;
}

/* A child that dies with the test, whatever ends the test. */
static pid_t fork_child(void)
{
	pid_t pid = fork();

	if (!pid)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
	return pid;
}

/* test_wait_child(): a hung child is killed; a busy one is waited for. */
TEST(waits_for_children)
{
	uint64_t end;
	int status;
	pid_t pid;

	pid = fork_child();
	if (!pid)
		for (;;)
			pause();
	ASSERT_EQ(TEST_WAIT_HUNG, test_wait_child(pid, &status, 1, 0));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* Busy for longer than the window, but busy. */
	pid = fork_child();
	if (!pid) {
		end = ms_now() + 1500;
		while (ms_now() < end)
			;
		_exit(7);
	}
	ASSERT_EQ(0, test_wait_child(pid, &status, 1, 0));
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7);
	/* Unless only reported progress counts. */
	pid = fork_child();
	if (!pid)
		for (;;)
			;
	ASSERT_EQ(TEST_WAIT_HUNG, test_wait_child(pid, &status, 1,
						  TEST_WAIT_PROGRESS_ONLY));
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	TH_LOG("hung children were killed, the busy one waited for");
}

TEST(skips)
{
	SKIP("nothing to do here");
}

TEST(leaks)
{
	(void)mem_alloc(16);
}

static void *thread_fails(void *arg)
{
	ASSERT_TRUE(false);
	return NULL;
}

TEST(thread_assert_fails)
{
	pthread_t t;

	pthread_create(&t, NULL, thread_fails, NULL);
	pthread_join(t, NULL);
}

TEST(seeded)
{
	ASSERT_EQ(0x1234, test_seed());
}

FIXTURE(fx)
{
	int value;
};

FIXTURE_VARIANT(fx)
{
	int want;
};

FIXTURE_VARIANT_ADD(fx, good) { .want = 7 };
FIXTURE_VARIANT_ADD(fx, bad) { .want = 8 };

FIXTURE_SETUP(fx)
{
	self->value = 7;
}

FIXTURE_TEARDOWN(fx)
{
	TH_LOG("teardown ran for want=%d", variant->want);
}

TEST_F(fx, compares)
{
	ASSERT_EQ(variant->want, self->value);
}

TEST(last_passes)
{
}
