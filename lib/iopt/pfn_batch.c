// SPDX-License-Identifier: MIT
#include "iopt/pfn_batch.h"

#include <errno.h>

#include "base/fault_inject.h"
#include "base/mem.h"

#define TEMP_MEMORY_LIMIT_DEFAULT 65536

static size_t temp_memory_limit = TEMP_MEMORY_LIMIT_DEFAULT;

size_t iopt_temp_memory_limit(void)
{
	return __atomic_load_n(&temp_memory_limit, __ATOMIC_RELAXED);
}

void iopt_set_temp_memory_limit(size_t bytes)
{
	__atomic_store_n(&temp_memory_limit,
			 bytes ? bytes : TEMP_MEMORY_LIMIT_DEFAULT,
			 __ATOMIC_RELAXED);
}

void *iopt_temp_alloc(size_t *size, void *backup, size_t backup_len)
{
	size_t limit = iopt_temp_memory_limit();
	void *buf;

	if (*size <= backup_len)
		return backup;
	*size = min(*size, max(limit, PFN_BATCH_RUN_BYTES));
	if (backup && fault_should_fail()) {
		*size = backup_len;
		return backup;
	}
	buf = mem_alloc(*size);
	if (buf || !backup)
		return buf;
	*size = backup_len;
	return backup;
}

static int batch_setup(struct pfn_batch *batch, u64 max_pfns, void *backup,
		       size_t backup_len)
{
	size_t size;

	/* A run per PFN is the most a batch of max_pfns can need. */
	if (__builtin_mul_overflow(max(max_pfns, (u64)1), PFN_BATCH_RUN_BYTES,
				   &size))
		size = SIZE_MAX;
	batch->pfns = iopt_temp_alloc(&size, backup, backup_len);
	if (!batch->pfns)
		return -ENOMEM;
	batch->array_size = min(size / PFN_BATCH_RUN_BYTES, (size_t)UINT32_MAX);
	batch->npfns = (u32 *)(batch->pfns + batch->array_size);
	batch_clear(batch);
	return 0;
}

int batch_init(struct pfn_batch *batch, u64 max_pfns)
{
	return batch_setup(batch, max_pfns, NULL, 0);
}

void batch_init_backup(struct pfn_batch *batch, u64 max_pfns, void *backup,
		       size_t backup_len)
{
	batch_setup(batch, max_pfns, backup, backup_len);
}

void batch_destroy(struct pfn_batch *batch, void *backup)
{
	if (batch->pfns != backup)
		mem_free(batch->pfns);
}

void batch_clear(struct pfn_batch *batch)
{
	batch->total_pfns = 0;
	batch->end = 0;
	batch->pfns[0] = 0;
	batch->npfns[0] = 0;
}

bool batch_add_pfn(struct pfn_batch *batch, u64 pfn)
{
	if (batch->end) {
		unsigned int last = batch->end - 1;

		if (pfn == batch->pfns[last] + batch->npfns[last] &&
		    batch->npfns[last] != UINT32_MAX) {
			batch->npfns[last]++;
			batch->total_pfns++;
			return true;
		}
	}
	if (batch->end == batch->array_size)
		return false;
	batch->pfns[batch->end] = pfn;
	batch->npfns[batch->end] = 1;
	batch->end++;
	batch->total_pfns++;
	return true;
}

u64 batch_add_run(struct pfn_batch *batch, u64 pfn, u64 n)
{
	u64 added = 0;

	while (added != n && batch->total_pfns != UINT32_MAX) {
		unsigned int last = batch->end - 1;
		u64 room;

		if (!batch->end || pfn != batch->pfns[last] + batch->npfns[last] ||
		    batch->npfns[last] == UINT32_MAX) {
			if (batch->end == batch->array_size)
				break;
			last = batch->end++;
			batch->pfns[last] = pfn;
			batch->npfns[last] = 0;
		}
		room = min((u64)UINT32_MAX - batch->npfns[last],
			   (u64)UINT32_MAX - batch->total_pfns);
		room = min(room, n - added);
		batch->npfns[last] += room;
		batch->total_pfns += room;
		added += room;
		pfn += room;
	}
	return added;
}

void batch_clear_carry(struct pfn_batch *batch, unsigned int keep)
{
	unsigned int last;
	u64 first;

	if (!keep) {
		batch_clear(batch);
		return;
	}
	last = batch->end - 1;
	/*
	 * Read the tail before slot 0 is overwritten: with a single run the
	 * tail and slot 0 are the same run.
	 */
	first = batch->pfns[last] + (batch->npfns[last] - keep);
	batch->pfns[0] = first;
	batch->npfns[0] = keep;
	batch->total_pfns = keep;
	/* The carried run is a real run: count it, or it is never unpinned. */
	batch->end = 1;
}

void batch_skip_carry(struct pfn_batch *batch, unsigned int skip)
{
	if (!batch->total_pfns)
		return;
	skip = min(batch->total_pfns, skip);
	batch->pfns[0] += skip;
	batch->npfns[0] -= skip;
	batch->total_pfns -= skip;
	if (!batch->total_pfns)
		batch->end = 0;
}

u64 batch_pfn_at(const struct pfn_batch *batch, unsigned int n)
{
	unsigned int cur = 0;

	while (n >= batch->npfns[cur]) {
		n -= batch->npfns[cur];
		cur++;
	}
	return batch->pfns[cur] + n;
}
