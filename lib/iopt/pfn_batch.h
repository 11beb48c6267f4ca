/* SPDX-License-Identifier: MIT */
/*
 * pfn_batch: a bounded vector of PFNs held as runs of contiguous PFNs, the
 * unit in which PFNs move between storage tiers. A run maps to one domain
 * map call, so runs are kept as long as possible.
 *
 * The memory is bounded by the temporary memory limit; paths that must not
 * fail pass a small backup buffer that is used when allocation fails.
 */
#ifndef UIOMMUFD_IOPT_PFN_BATCH_H
#define UIOMMUFD_IOPT_PFN_BATCH_H

#include "base/common.h"

struct pfn_batch {
	u64 *pfns;		/* first PFN of each run */
	u32 *npfns;		/* length of each run */
	unsigned int array_size;	/* runs that fit */
	unsigned int end;	/* runs in use */
	unsigned int total_pfns;	/* sum of npfns[0..end) */
};

/* Bytes one run costs: what the memory limit divides. */
#define PFN_BATCH_RUN_BYTES (sizeof(u64) + sizeof(u32))

/* The process-wide temporary memory limit (default 64 KiB), in bytes. */
size_t iopt_temp_memory_limit(void);
/* Set it; tiny values (a few bytes) force many small batches in tests. */
void iopt_set_temp_memory_limit(size_t bytes);

/*
 * Scratch memory of up to *size bytes, capped by the limit (*size is set to
 * what was given). Batching is only an optimization, so less is fine. With
 * a @backup the call cannot fail: it falls back to the backup.
 */
void *iopt_temp_alloc(size_t *size, void *backup, size_t backup_len);

/*
 * Memory for up to @max_pfns runs, capped by the limit. batch_init() may
 * fail (-ENOMEM). batch_init_backup() cannot: it falls back to @backup.
 */
int batch_init(struct pfn_batch *batch, u64 max_pfns);
void batch_init_backup(struct pfn_batch *batch, u64 max_pfns, void *backup,
		       size_t backup_len);
void batch_destroy(struct pfn_batch *batch, void *backup);

void batch_clear(struct pfn_batch *batch);

/* Append one PFN; false when a new run is needed and none is left. */
bool batch_add_pfn(struct pfn_batch *batch, u64 pfn);
/* Append up to @n PFNs from @pfn on; returns how many fitted. */
u64 batch_add_run(struct pfn_batch *batch, u64 pfn, u64 n);

/*
 * Keep only the last @keep PFNs of the final run, moved to the front as
 * the batch's only run (the "carry"); keep == 0 clears.
 */
void batch_clear_carry(struct pfn_batch *batch, unsigned int keep);

/* Drop up to @skip PFNs from the front of a carried batch. */
void batch_skip_carry(struct pfn_batch *batch, unsigned int skip);

/* The PFN at position @n (0-based) of the batch. */
u64 batch_pfn_at(const struct pfn_batch *batch, unsigned int n);

#endif
