// SPDX-License-Identifier: MIT
/*
 * Checked arithmetic, alignment, fault injection, allocation accounting and
 * error reasons.
 */
#include <errno.h>
#include <pthread.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/mem.h"
#include "base/overflow.h"
#include "harness/test.h"
#include "uiommufd/uiommufd.h"

TEST(add_sub_mul_overflow)
{
	u64 r;

	ASSERT_FALSE(check_add_overflow((u64)U64_MAX - 1, (u64)1, &r));
	ASSERT_EQ(U64_MAX, r);
	ASSERT_TRUE(check_add_overflow((u64)U64_MAX, (u64)1, &r));
	ASSERT_TRUE(check_add_overflow((u64)1 << 63, (u64)1 << 63, &r));
	ASSERT_FALSE(check_sub_overflow((u64)5, (u64)5, &r));
	ASSERT_EQ(0, r);
	ASSERT_TRUE(check_sub_overflow((u64)0, (u64)1, &r));
	ASSERT_FALSE(check_mul_overflow((u64)1 << 32, ((u64)1 << 32) - 1, &r));
	ASSERT_TRUE(check_mul_overflow((u64)1 << 32, (u64)1 << 32, &r));
}

TEST(align_helpers)
{
	u64 r = 0;

	ASSERT_TRUE(is_power_of_2(1));
	ASSERT_TRUE(is_power_of_2((u64)1 << 63));
	ASSERT_FALSE(is_power_of_2(0));
	ASSERT_FALSE(is_power_of_2(6));
	ASSERT_TRUE(is_aligned(0x2000, 0x1000));
	ASSERT_FALSE(is_aligned(0x2001, 0x1000));
	ASSERT_EQ(0x1000, align_down(0x1fff, 0x1000));
	ASSERT_EQ(U64_MAX & ~0xfffULL, align_down(U64_MAX, 0x1000));

	ASSERT_FALSE(check_align_up_overflow(0x1001, 0x1000, &r));
	ASSERT_EQ(0x2000, r);
	ASSERT_FALSE(check_align_up_overflow(0x1000, 0x1000, &r));
	ASSERT_EQ(0x1000, r);
	ASSERT_FALSE(check_align_up_overflow(0, 0x1000, &r));
	ASSERT_EQ(0, r);
	/* The top page rounds up past U64_MAX: must not wrap to 0. */
	r = 7;
	ASSERT_TRUE(check_align_up_overflow(U64_MAX - 0xffe, 0x1000, &r));
	ASSERT_EQ(7, r);
	ASSERT_FALSE(check_align_up_overflow(U64_MAX & ~0xfffULL, 0x1000, &r));
	ASSERT_TRUE(check_align_up_overflow(U64_MAX, 2, &r));
	ASSERT_FALSE(check_align_up_overflow(U64_MAX, 1, &r));
	ASSERT_EQ(U64_MAX, r);
	ASSERT_TRUE(check_align_up_overflow(((u64)1 << 63) + 1, (u64)1 << 63,
					    &r));
}

TEST(range_last)
{
	u64 last = 0;

	ASSERT_TRUE(check_range_last(0, 0, &last));
	ASSERT_FALSE(check_range_last(0, 1, &last));
	ASSERT_EQ(0, last);
	ASSERT_FALSE(check_range_last(1, U64_MAX, &last));
	ASSERT_EQ(U64_MAX, last);
	ASSERT_TRUE(check_range_last(2, U64_MAX, &last));
	ASSERT_FALSE(check_range_last(U64_MAX, 1, &last));
	ASSERT_EQ(U64_MAX, last);
	ASSERT_TRUE(check_range_last(U64_MAX, 2, &last));
	ASSERT_FALSE(check_range_last(0, U64_MAX, &last));
	ASSERT_EQ(U64_MAX - 1, last);
}

TEST(bit_helpers)
{
	ASSERT_EQ(0, fls64_index(1));
	ASSERT_EQ(63, fls64_index(U64_MAX));
	ASSERT_EQ(12, fls64_index(0x1fff));
	ASSERT_EQ(0, lowest_bit(0));
	ASSERT_EQ(0x1000, lowest_bit(0x3000));
	ASSERT_EQ((u64)1 << 63, lowest_bit((u64)1 << 63));
}

TEST(fail_nth_counts_down_and_disarms)
{
	ASSERT_FALSE(fault_should_fail());
	ASSERT_EQ(0, fault_fail_nth_get());

	fault_fail_nth_set(3);
	ASSERT_EQ(3, fault_fail_nth_get());
	ASSERT_FALSE(fault_should_fail());
	ASSERT_FALSE(fault_should_fail());
	ASSERT_FALSE(fault_fail_nth_fired());
	ASSERT_EQ(1, fault_fail_nth_get());
	ASSERT_TRUE(fault_should_fail());
	ASSERT_TRUE(fault_fail_nth_fired());
	ASSERT_EQ(0, fault_fail_nth_get());
	/* Disarmed after firing. */
	for (int i = 0; i != 100; i++)
		ASSERT_FALSE(fault_should_fail());

	fault_fail_nth_set(1);
	ASSERT_TRUE(fault_should_fail());

	/* Arming with 0 disarms without firing. */
	fault_fail_nth_set(2);
	fault_fail_nth_set(0);
	ASSERT_FALSE(fault_should_fail());
	ASSERT_FALSE(fault_fail_nth_fired());

	/* The public wrappers drive the same counter. */
	uiommufd_fail_nth_set(2);
	ASSERT_EQ(2, uiommufd_fail_nth_get());
	ASSERT_FALSE(fault_should_fail());
	ASSERT_TRUE(fault_should_fail());
	ASSERT_EQ(0, uiommufd_fail_nth_get());
}

static void *other_thread(void *arg)
{
	bool *failed = arg;

	/* A fresh thread starts disarmed, whatever the creator armed. */
	*failed = fault_should_fail() || fault_fail_nth_get() != 0;
	fault_fail_nth_set(1);
	return NULL;
}

TEST(fail_nth_is_per_thread)
{
	pthread_t thread;
	bool failed = true;

	fault_fail_nth_set(2);
	ASSERT_EQ(0, pthread_create(&thread, NULL, other_thread, &failed));
	ASSERT_EQ(0, pthread_join(thread, NULL));
	ASSERT_FALSE(failed);
	/* The other thread's arming did not touch ours. */
	ASSERT_EQ(2, fault_fail_nth_get());
	ASSERT_FALSE(fault_should_fail());
	ASSERT_TRUE(fault_should_fail());
}

TEST(mem_counts_and_injects)
{
	long live = mem_live_count();
	void *a, *b, *c;

	a = mem_alloc(10);
	b = mem_zalloc(100);
	ASSERT_NONNULL(a);
	ASSERT_NONNULL(b);
	for (int i = 0; i != 100; i++)
		ASSERT_EQ(0, ((unsigned char *)b)[i]);
	ASSERT_EQ(live + 2, mem_live_count());

	err_reason_clear();
	fault_fail_nth_set(1);
	c = mem_calloc(4, 4);
	ASSERT_NULL(c);
	ASSERT_NONNULL(err_reason_get());
	ASSERT_EQ(live + 2, mem_live_count());

	/* n * size overflow is refused without asking the allocator. */
	ASSERT_NULL(mem_calloc((size_t)1 << 62, 8));
	ASSERT_EQ(live + 2, mem_live_count());

	mem_free(a);
	mem_free(b);
	mem_free(NULL);
	ASSERT_EQ(live, mem_live_count());
}

TEST(err_reason_last_write_wins)
{
	err_reason_clear();
	ASSERT_NULL(err_reason_get());
	ASSERT_NULL(uiommufd_last_reason());
	ASSERT_EQ(-EINVAL, err_reason(-EINVAL, "iova %#llx is not aligned to %#llx",
				      0x1001ULL, 0x1000ULL));
	ASSERT_STREQ("iova 0x1001 is not aligned to 0x1000", err_reason_get());
	ASSERT_STREQ("iova 0x1001 is not aligned to 0x1000",
		     uiommufd_last_reason());
	err_reason(-ENOENT, "second");
	ASSERT_STREQ("second", err_reason_get());
	err_reason_clear();
	ASSERT_NULL(err_reason_get());
}

TEST(err_reason_truncates_long_text)
{
	char big[ERR_REASON_MAX * 2];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	err_reason(-E2BIG, "%s", big);
	ASSERT_EQ(ERR_REASON_MAX - 1, strlen(err_reason_get()));
}

static void *reason_thread(void *arg)
{
	return (void *)err_reason_get();
}

TEST(err_reason_is_per_thread)
{
	pthread_t thread;
	void *seen = (void *)1;

	err_reason(-EINVAL, "main thread");
	ASSERT_EQ(0, pthread_create(&thread, NULL, reason_thread, NULL));
	ASSERT_EQ(0, pthread_join(thread, &seen));
	ASSERT_NULL(seen);
	ASSERT_STREQ("main thread", err_reason_get());
}
