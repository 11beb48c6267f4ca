/* SPDX-License-Identifier: MIT */
/*
 * Index store: a sparse map from a u64 index to an entry, the role the
 * kernel's xarray plays (pinned PFNs by page index, objects by ID).
 *
 * A 64-way radix tree whose height follows the largest index. An entry is a
 * pointer (aligned, so bit 0 is clear) or a tagged integer made with
 * index_store_mk_value(); NULL means absent. Dense runs cost a little over
 * 8 bytes per entry. Nothing here locks: callers serialize.
 */
#ifndef UIOMMUFD_BASE_INDEX_STORE_H
#define UIOMMUFD_BASE_INDEX_STORE_H

#include "base/common.h"

_Static_assert(sizeof(void *) == sizeof(u64), "index store needs 64-bit");

struct index_store_node;

struct index_store {
	struct index_store_node *root;
	size_t nr_nodes;
	/*
	 * Nodes come straight from malloc: no fault injection, no live count.
	 * For debug bookkeeping, which must not change what it observes.
	 */
	bool untracked;
};

#define INDEX_STORE_INIT ((struct index_store){ NULL, 0, false })

/* Values up to this fit in a tagged entry. */
#define INDEX_STORE_VALUE_MAX (U64_MAX >> 1)

/*
 * Holds an index (an allocated ID not yet published) without an entry:
 * load() and find() see NULL there, alloc() treats it as taken.
 */
#define INDEX_STORE_RESERVED ((void *)(uintptr_t)2)

static inline void *index_store_mk_value(u64 value)
{
	return (void *)(uintptr_t)((value << 1) | 1);
}

static inline bool index_store_is_value(const void *entry)
{
	return (uintptr_t)entry & 1;
}

static inline u64 index_store_value(const void *entry)
{
	return (uintptr_t)entry >> 1;
}

static inline void index_store_init(struct index_store *is)
{
	*is = INDEX_STORE_INIT;
}

static inline void index_store_init_untracked(struct index_store *is)
{
	*is = INDEX_STORE_INIT;
	is->untracked = true;
}

static inline bool index_store_empty(const struct index_store *is)
{
	return !is->root;
}

/* Frees the store's own memory; entries are the caller's. Cannot fail. */
void index_store_destroy(struct index_store *is);

void *index_store_load(const struct index_store *is, u64 index);

/* Store (replacing) @entry; NULL erases. 0 or -ENOMEM, unchanged on error. */
int index_store_store(struct index_store *is, u64 index, void *entry);

/* Erase and return the old entry (NULL if absent or reserved). */
void *index_store_erase(struct index_store *is, u64 index);

/*
 * Store @entry at every index of [first, last], all or nothing: 0, -EINVAL
 * for a NULL entry or first > last, or -ENOMEM with the store unchanged.
 * Costs memory and time in proportion to the range.
 */
int index_store_store_range(struct index_store *is, u64 first, u64 last,
			    void *entry);

/*
 * Store tagged values counting up from @first_value across [first, last]
 * (a run of consecutive PFNs, say). All or nothing, as store_range.
 */
int index_store_store_values(struct index_store *is, u64 first, u64 last,
			     u64 first_value);

/*
 * Erase every entry in [first, last], reserved ones included, and return
 * how many there were. Cannot fail.
 */
u64 index_store_erase_range(struct index_store *is, u64 first, u64 last);

/*
 * The first entry at an index in [*index, last], with *index set to where
 * it is; NULL (and *index unchanged) when there is none.
 */
void *index_store_find(const struct index_store *is, u64 *index, u64 last);

/* As find, but strictly after *index. */
void *index_store_find_after(const struct index_store *is, u64 *index,
			     u64 last);

#define index_store_for_each_range(is, index, entry, first, last)          \
	for (index = (first), entry = index_store_find(is, &(index), last);  \
	     entry; entry = index_store_find_after(is, &(index), last))

#define index_store_for_each(is, index, entry)                            \
	index_store_for_each_range(is, index, entry, 0, U64_MAX)

/*
 * Visit [first, last] a leaf at a time, in index order: @fn gets the
 * first index and the slots (NULL where empty; reserved entries as
 * INDEX_STORE_RESERVED) of each present leaf's part of the range. Absent
 * leaves are skipped, so the indices passed can jump. A non-zero return
 * from @fn stops the walk and is returned. For scans that must cost a
 * slot, not a lookup, per index.
 */
int index_store_walk_chunks(const struct index_store *is, u64 first, u64 last,
			    int (*fn)(void *arg, u64 index, void *const *slots,
				      unsigned int n),
			    void *arg);

/*
 * Store @entry (may be INDEX_STORE_RESERVED) at the lowest free index in
 * [min, max] and return it in *id: 0, -EINVAL (min > max or NULL entry),
 * -EBUSY when every index there is taken, or -ENOMEM.
 */
int index_store_alloc(struct index_store *is, u64 *id, u64 min, u64 max,
		      void *entry);

/* Bytes the store itself holds (its nodes). */
size_t index_store_bytes(const struct index_store *is);

#endif
