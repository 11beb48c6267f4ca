// SPDX-License-Identifier: MIT
/*
 * pfn_batch on its own: runs, capacity, the memory limit, add_run and the
 * carry (the kernel's defects 2 and 3 are about the carry).
 */
#include <errno.h>

#include "base/fault_inject.h"
#include "harness/test.h"
#include "iopt/pfn_batch.h"

/* The PFNs a batch holds, in order, into @out; returns how many. */
static unsigned int flatten(const struct pfn_batch *b, u64 *out)
{
	unsigned int n = 0, total = 0;

	for (unsigned int i = 0; i != b->end; i++) {
		ASSERT_NE(0, b->npfns[i]);
		for (u32 k = 0; k != b->npfns[i]; k++)
			out[n++] = b->pfns[i] + k;
		total += b->npfns[i];
	}
	ASSERT_EQ(total, b->total_pfns);
	return n;
}

TEST(add_merges_contiguous_pfns)
{
	struct pfn_batch b;

	ASSERT_EQ(0, batch_init(&b, 100));
	ASSERT_TRUE(batch_add_pfn(&b, 10));
	ASSERT_TRUE(batch_add_pfn(&b, 11));
	ASSERT_TRUE(batch_add_pfn(&b, 13));
	ASSERT_TRUE(batch_add_pfn(&b, 13));
	ASSERT_EQ(3, b.end);
	ASSERT_EQ(4, b.total_pfns);
	ASSERT_EQ(2, b.npfns[0]);
	ASSERT_EQ(13, batch_pfn_at(&b, 2));
	ASSERT_EQ(13, batch_pfn_at(&b, 3));
	batch_destroy(&b, NULL);
}

TEST(memory_limit_bounds_the_runs)
{
	struct pfn_batch b;

	/* 16 bytes: one run of a u64 start and a u32 length. */
	iopt_set_temp_memory_limit(16);
	ASSERT_EQ(0, batch_init(&b, 1000));
	ASSERT_EQ(1, b.array_size);
	ASSERT_TRUE(batch_add_pfn(&b, 5));
	ASSERT_TRUE(batch_add_pfn(&b, 6));
	ASSERT_FALSE(batch_add_pfn(&b, 8));
	batch_destroy(&b, NULL);
	iopt_set_temp_memory_limit(32);
	ASSERT_EQ(0, batch_init(&b, 1000));
	ASSERT_EQ(2, b.array_size);
	batch_destroy(&b, NULL);
	/* Never more runs than PFNs asked for. */
	iopt_set_temp_memory_limit(0);
	ASSERT_EQ(0, batch_init(&b, 3));
	ASSERT_EQ(3, b.array_size);
	batch_destroy(&b, NULL);
}

TEST(init_fails_cleanly_and_backup_never_fails)
{
	struct pfn_batch b;
	u64 backup[4];

	fault_fail_nth_set(1);
	ASSERT_EQ(-ENOMEM, batch_init(&b, 1000));
	fault_fail_nth_set(1);
	batch_init_backup(&b, 1000, backup, sizeof(backup));
	fault_fail_nth_set(0);
	ASSERT_EQ((void *)backup, (void *)b.pfns);
	ASSERT_EQ(sizeof(backup) / PFN_BATCH_RUN_BYTES, b.array_size);
	ASSERT_TRUE(batch_add_pfn(&b, 1));
	batch_destroy(&b, backup);
}

TEST(add_run_fills_what_fits)
{
	struct pfn_batch b;
	u64 out[64];

	iopt_set_temp_memory_limit(32); /* two runs */
	ASSERT_EQ(0, batch_init(&b, 1000));
	ASSERT_EQ(5, batch_add_run(&b, 100, 5));
	/* Continues the last run. */
	ASSERT_EQ(3, batch_add_run(&b, 105, 3));
	ASSERT_EQ(1, b.end);
	ASSERT_EQ(4, batch_add_run(&b, 200, 4));
	/* No room for a third run: nothing added. */
	ASSERT_EQ(0, batch_add_run(&b, 300, 4));
	/* But the last run still grows. */
	ASSERT_EQ(2, batch_add_run(&b, 204, 2));
	ASSERT_EQ(14, flatten(&b, out));
	ASSERT_EQ(100, out[0]);
	ASSERT_EQ(107, out[7]);
	ASSERT_EQ(205, out[13]);
	ASSERT_EQ(0, batch_add_run(&b, 206, 0));
	batch_destroy(&b, NULL);
}

/* Carry from a batch of one run: the tail must be read before slot 0
 * is overwritten (defect 2) and stay counted as a run (defect 3). */
TEST(carry_from_a_single_run)
{
	struct pfn_batch b;
	u64 out[16];

	ASSERT_EQ(0, batch_init(&b, 100));
	ASSERT_EQ(10, batch_add_run(&b, 50, 10));
	batch_clear_carry(&b, 3);
	ASSERT_EQ(1, b.end);
	ASSERT_EQ(3, flatten(&b, out));
	ASSERT_EQ(57, out[0]);
	ASSERT_EQ(59, out[2]);
	/* Appending continues or follows the carried run, never over it. */
	ASSERT_TRUE(batch_add_pfn(&b, 60));
	ASSERT_TRUE(batch_add_pfn(&b, 90));
	ASSERT_EQ(5, flatten(&b, out));
	ASSERT_EQ(57, out[0]);
	ASSERT_EQ(60, out[3]);
	ASSERT_EQ(90, out[4]);
	batch_destroy(&b, NULL);
}

TEST(carry_from_several_runs_and_skip)
{
	struct pfn_batch b;
	u64 out[16];

	ASSERT_EQ(0, batch_init(&b, 100));
	batch_add_run(&b, 10, 4);
	batch_add_run(&b, 30, 6);
	batch_clear_carry(&b, 4);
	ASSERT_EQ(4, flatten(&b, out));
	ASSERT_EQ(32, out[0]);
	batch_skip_carry(&b, 3);
	ASSERT_EQ(1, flatten(&b, out));
	ASSERT_EQ(35, out[0]);
	/* Skipping past the carry empties the batch, end included. */
	batch_skip_carry(&b, 10);
	ASSERT_EQ(0, b.total_pfns);
	ASSERT_EQ(0, b.end);
	ASSERT_TRUE(batch_add_pfn(&b, 7));
	ASSERT_EQ(1, flatten(&b, out));
	ASSERT_EQ(7, out[0]);
	/* keep == 0 clears. */
	batch_clear_carry(&b, 0);
	ASSERT_EQ(0, b.end);
	ASSERT_EQ(0, b.total_pfns);
	batch_destroy(&b, NULL);
}
