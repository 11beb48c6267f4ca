// SPDX-License-Identifier: MIT
/*
 * Tests that fail on purpose, one per way a test can go wrong. Run by
 * check-harness.sh, which checks each is reported and the rest still run.
 */
#include <pthread.h>
#include <signal.h>
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

TEST_TIMEOUT(times_out, 1)
{
	for (;;)
		pause();
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
