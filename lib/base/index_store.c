// SPDX-License-Identifier: MIT
/*
 * Shape: every node has 64 slots and covers 64 << shift indices; leaves have
 * shift 0 and hold entries, inner nodes hold children. The root is the
 * smallest node that covers the largest index, so the shape is a function
 * of the set of indices held, and no node is ever empty. That makes "every
 * failed call leaves the store as it was" checkable: undo means prune the
 * empty nodes the call created and shrink the root.
 *
 * Two bitmaps per node: 'present' (slot non-NULL) for ordered walks, and
 * 'full' (leaf: slot taken; inner: child subtree completely taken) so the
 * lowest free index is found in O(height).
 */
#include "base/index_store.h"

#include <errno.h>
#include <stdlib.h>

#include "base/err_reason.h"
#include "base/mem.h"
#include "base/warn.h"

#define NODE_SHIFT 6
#define NODE_SLOTS (1u << NODE_SHIFT)
#define ALL_SLOTS (~0ULL)
#define MAX_SHIFT 60 /* the root covering all of u64 */

struct index_store_node {
	u64 present;
	u64 full;
	struct index_store_node *parent;
	u8 shift;
	u8 offset; /* our slot in parent */
	void *slots[NODE_SLOTS];
};

static inline u64 bit(unsigned int slot)
{
	return 1ULL << slot;
}

/* The index bits a node with @shift spans, as a mask. */
static inline u64 span_mask(unsigned int shift)
{
	return shift + NODE_SHIFT >= 64 ? U64_MAX :
					  (1ULL << (shift + NODE_SHIFT)) - 1;
}

static inline unsigned int slot_of(const struct index_store_node *node,
				   u64 index)
{
	return (index >> node->shift) & (NODE_SLOTS - 1);
}

static inline bool root_covers(const struct index_store_node *root, u64 index)
{
	return !(index & ~span_mask(root->shift));
}

/* Slots first..last (inclusive) as a bitmap. */
static inline u64 slot_range(unsigned int first, unsigned int last)
{
	u64 upto = last == NODE_SLOTS - 1 ? ALL_SLOTS : bit(last + 1) - 1;

	return upto & (ALL_SLOTS << first);
}

static struct index_store_node *node_new(struct index_store *is,
					 unsigned int shift)
{
	struct index_store_node *node;

	node = is->untracked ? malloc(sizeof(*node)) : mem_alloc(sizeof(*node));
	if (!node)
		return NULL;
	node->present = 0;
	node->full = 0;
	node->parent = NULL;
	node->shift = shift;
	node->offset = 0;
	for (unsigned int i = 0; i != NODE_SLOTS; i++)
		node->slots[i] = NULL;
	is->nr_nodes++;
	return node;
}

static void node_free(struct index_store *is, struct index_store_node *node)
{
	is->nr_nodes--;
	if (is->untracked)
		free(node);
	else
		mem_free(node);
}

/* Drop a root that only holds slot 0: its child covers the same indices. */
static void shrink(struct index_store *is)
{
	struct index_store_node *root = is->root;

	while (root && root->shift && root->present == bit(0)) {
		struct index_store_node *child = root->slots[0];

		child->parent = NULL;
		child->offset = 0;
		node_free(is, root);
		root = child;
	}
	is->root = root;
}

/* Free @node and every ancestor left empty, then restore the root shape. */
static void prune(struct index_store *is, struct index_store_node *node)
{
	while (node && !node->present) {
		struct index_store_node *parent = node->parent;

		if (parent) {
			parent->slots[node->offset] = NULL;
			parent->present &= ~bit(node->offset);
			parent->full &= ~bit(node->offset);
		} else {
			is->root = NULL;
		}
		node_free(is, node);
		node = parent;
	}
	shrink(is);
}

/*
 * The leaf holding @index, or NULL. The shift comes from the root and counts
 * down, so each level costs one cache line (the slot), not two (header and
 * slot).
 */
static struct index_store_node *leaf_lookup(const struct index_store *is,
					    u64 index)
{
	struct index_store_node *node = is->root;
	unsigned int shift;

	if (!node)
		return NULL;
	shift = node->shift;
	if (index & ~span_mask(shift))
		return NULL;
	while (shift) {
		node = node->slots[(index >> shift) & (NODE_SLOTS - 1)];
		if (!node)
			return NULL;
		shift -= NODE_SHIFT;
	}
	return node;
}

/*
 * The leaf for @index, creating the path to it. On -ENOMEM everything this
 * call created is gone again.
 */
static struct index_store_node *leaf_get(struct index_store *is, u64 index)
{
	struct index_store_node *node, *child;

	if (!is->root) {
		unsigned int shift = 0;

		while (shift < MAX_SHIFT && (index & ~span_mask(shift)))
			shift += NODE_SHIFT;
		is->root = node_new(is, shift);
		if (!is->root)
			return NULL;
	}
	while (!root_covers(is->root, index)) {
		struct index_store_node *old = is->root;

		node = node_new(is, old->shift + NODE_SHIFT);
		if (!node)
			goto fail;
		node->slots[0] = old;
		node->present = bit(0);
		if (old->full == ALL_SLOTS)
			node->full = bit(0);
		old->parent = node;
		old->offset = 0;
		is->root = node;
	}

	node = is->root;
	while (node->shift) {
		unsigned int slot = slot_of(node, index);

		child = node->slots[slot];
		if (!child) {
			child = node_new(is, node->shift - NODE_SHIFT);
			if (!child)
				goto fail;
			child->parent = node;
			child->offset = slot;
			node->slots[slot] = child;
			node->present |= bit(slot);
		}
		node = child;
	}
	return node;

fail:
	prune(is, node);
	return NULL;
}

/* Leaf slots in @mask became taken: mark full subtrees upward. */
static void leaf_fill(struct index_store_node *leaf, u64 mask)
{
	struct index_store_node *node = leaf;

	leaf->present |= mask;
	leaf->full |= mask;
	while (node->full == ALL_SLOTS && node->parent) {
		node->parent->full |= bit(node->offset);
		node = node->parent;
	}
}

/* Leaf slots in @mask are emptied; the leaf may be freed. */
static void leaf_clear(struct index_store *is, struct index_store_node *leaf,
		       u64 mask)
{
	struct index_store_node *node = leaf;
	u64 gone = leaf->present & mask;

	while (gone) {
		leaf->slots[__builtin_ctzll(gone)] = NULL;
		gone &= gone - 1;
	}
	leaf->present &= ~mask;
	leaf->full &= ~mask;
	while (node->parent && (node->parent->full & bit(node->offset))) {
		node->parent->full &= ~bit(node->offset);
		node = node->parent;
	}
	if (!leaf->present)
		prune(is, leaf);
}

void index_store_destroy(struct index_store *is)
{
	struct index_store_node *node = is->root;

	/* Post-order walk through the parent links; no stack needed. */
	while (node) {
		if (node->shift && node->present) {
			unsigned int slot = __builtin_ctzll(node->present);

			node->present &= ~bit(slot);
			node = node->slots[slot];
			continue;
		}
		struct index_store_node *parent = node->parent;

		node_free(is, node);
		node = parent;
	}
	is->root = NULL;
}

void *index_store_load(const struct index_store *is, u64 index)
{
	struct index_store_node *leaf = leaf_lookup(is, index);
	void *entry;

	if (!leaf)
		return NULL;
	entry = leaf->slots[index & (NODE_SLOTS - 1)];
	return entry == INDEX_STORE_RESERVED ? NULL : entry;
}

static void *leaf_erase(struct index_store *is, u64 index)
{
	struct index_store_node *leaf = leaf_lookup(is, index);
	unsigned int slot = index & (NODE_SLOTS - 1);
	void *old;

	if (!leaf || !(leaf->present & bit(slot)))
		return NULL;
	old = leaf->slots[slot];
	leaf_clear(is, leaf, bit(slot));
	return old;
}

void *index_store_erase(struct index_store *is, u64 index)
{
	void *old = leaf_erase(is, index);

	return old == INDEX_STORE_RESERVED ? NULL : old;
}

int index_store_store(struct index_store *is, u64 index, void *entry)
{
	struct index_store_node *leaf;
	unsigned int slot = index & (NODE_SLOTS - 1);

	if (!entry) {
		leaf_erase(is, index);
		return 0;
	}
	leaf = leaf_get(is, index);
	if (!leaf)
		return -ENOMEM;
	leaf->slots[slot] = entry;
	leaf_fill(leaf, bit(slot));
	return 0;
}

/* The leaf-sized chunk of [index, last] that starts at @index. */
static inline u64 chunk_last(u64 index, u64 last)
{
	return min(index | (NODE_SLOTS - 1), last);
}

/*
 * The leaf for @index when @prev is the leaf for the chunk before it: a
 * sibling under the same parent is one step away, not a walk from the
 * root (a range store visits every leaf in order). Creates it if @create.
 */
static struct index_store_node *leaf_after(struct index_store *is,
					   struct index_store_node *prev,
					   u64 index, bool create)
{
	struct index_store_node *parent = prev ? prev->parent : NULL;
	unsigned int slot;

	/* The next leaf has the parent's next slot, unless it crosses out. */
	if (parent && prev->offset != NODE_SLOTS - 1) {
		slot = prev->offset + 1;
		if (WARN_ON(slot != slot_of(parent, index)))
			return NULL;
		if (parent->slots[slot] || !create)
			return parent->slots[slot];
		prev = node_new(is, 0);
		if (!prev)
			return NULL;
		prev->parent = parent;
		prev->offset = slot;
		parent->slots[slot] = prev;
		parent->present |= bit(slot);
		return prev;
	}
	return create ? leaf_get(is, index) : leaf_lookup(is, index);
}

static int store_run(struct index_store *is, u64 first, u64 last,
		     void *entry, bool counting)
{
	u64 index, value = index_store_value(entry);
	struct index_store_node *leaf = NULL;

	if (!entry || first > last)
		return err_reason(-EINVAL, "bad index range store [%#llx, %#llx]",
				  (unsigned long long)first,
				  (unsigned long long)last);

	/* Phase 1: build every leaf; the only step that can fail. */
	for (index = first;; index = chunk_last(index, last) + 1) {
		leaf = leaf_after(is, leaf, index, true);
		if (!leaf)
			goto undo;
		if (chunk_last(index, last) == last)
			break;
	}

	/* Phase 2: fill them. */
	leaf = NULL;
	for (index = first;; index = chunk_last(index, last) + 1) {
		unsigned int a = index & (NODE_SLOTS - 1);
		unsigned int b = chunk_last(index, last) & (NODE_SLOTS - 1);

		leaf = leaf_after(is, leaf, index, false);
		for (unsigned int slot = a; slot <= b; slot++) {
			leaf->slots[slot] =
				counting ? index_store_mk_value(value++) : entry;
		}
		leaf_fill(leaf, slot_range(a, b));
		if (chunk_last(index, last) == last)
			break;
	}
	return 0;

undo:
	/* Leaves that existed before held entries; the new ones are empty. */
	for (u64 i = first; i < index; i = chunk_last(i, last) + 1) {
		leaf = leaf_lookup(is, i);
		if (leaf && !leaf->present)
			prune(is, leaf);
	}
	return -ENOMEM;
}

int index_store_store_range(struct index_store *is, u64 first, u64 last,
			    void *entry)
{
	return store_run(is, first, last, entry, false);
}

int index_store_store_values(struct index_store *is, u64 first, u64 last,
			     u64 first_value)
{
	u64 last_value;

	if (first > last || __builtin_add_overflow(first_value, last - first,
						   &last_value) ||
	    last_value > INDEX_STORE_VALUE_MAX)
		return err_reason(-EINVAL,
				  "values from %#llx over [%#llx, %#llx] do not fit",
				  (unsigned long long)first_value,
				  (unsigned long long)first,
				  (unsigned long long)last);
	return store_run(is, first, last, index_store_mk_value(first_value),
			 true);
}

/*
 * The first slot at or after *index (within [*index, last]) in @node's
 * subtree, which starts at @base. Reserved slots count only if asked.
 */
static void *node_find(const struct index_store_node *node, u64 base,
		       u64 *index, u64 last, bool reserved)
{
	unsigned int first = (*index - base) >> node->shift;
	u64 mask = node->present & (ALL_SLOTS << first);

	while (mask) {
		unsigned int slot = __builtin_ctzll(mask);
		u64 child_base = base + ((u64)slot << node->shift);
		void *entry;

		mask &= mask - 1;
		if (child_base > last)
			return NULL;
		if (!node->shift) {
			entry = node->slots[slot];
			if (entry == INDEX_STORE_RESERVED && !reserved)
				continue;
			*index = child_base;
			return entry;
		}
		u64 from = max(*index, child_base);

		entry = node_find(node->slots[slot], child_base, &from, last,
				  reserved);
		if (entry) {
			*index = from;
			return entry;
		}
	}
	return NULL;
}

static void *find(const struct index_store *is, u64 *index, u64 last,
		  bool reserved)
{
	const struct index_store_node *root = is->root;
	u64 from = *index;
	void *entry;

	if (!root || from > last || !root_covers(root, from))
		return NULL;
	entry = node_find(root, 0, &from, last, reserved);
	if (entry)
		*index = from;
	return entry;
}

void *index_store_find(const struct index_store *is, u64 *index, u64 last)
{
	return find(is, index, last, false);
}

void *index_store_find_after(const struct index_store *is, u64 *index,
			     u64 last)
{
	u64 from = *index;
	void *entry;

	if (from >= last)
		return NULL;
	from++;
	entry = find(is, &from, last, false);
	if (entry)
		*index = from;
	return entry;
}

u64 index_store_erase_range(struct index_store *is, u64 first, u64 last)
{
	u64 index = first, erased = 0;

	while (find(is, &index, last, true)) {
		struct index_store_node *leaf = leaf_lookup(is, index);
		u64 end = chunk_last(index, last);
		u64 mask = slot_range(index & (NODE_SLOTS - 1),
				      end & (NODE_SLOTS - 1));

		erased += __builtin_popcountll(leaf->present & mask);
		leaf_clear(is, leaf, mask);
		if (end == last)
			break;
		index = end + 1;
	}
	return erased;
}

int index_store_walk_chunks(const struct index_store *is, u64 first, u64 last,
			    int (*fn)(void *arg, u64 index, void *const *slots,
				      unsigned int n),
			    void *arg)
{
	u64 index = first;

	while (find(is, &index, last, true)) {
		struct index_store_node *leaf = leaf_lookup(is, index);
		u64 end = chunk_last(index, last);
		unsigned int slot = index & (NODE_SLOTS - 1);
		int rc;

		rc = fn(arg, index, &leaf->slots[slot], end - index + 1);
		if (rc)
			return rc;
		if (end == last)
			break;
		index = end + 1;
	}
	return 0;
}

/*
 * Lowest free index in [lo, hi], both inside @node's span starting at
 * @base.
 */
static bool node_find_free(const struct index_store_node *node, u64 base,
			   u64 lo, u64 hi, u64 *out)
{
	u64 mask = ~node->full & slot_range((lo - base) >> node->shift,
					    (hi - base) >> node->shift);

	while (mask) {
		unsigned int slot = __builtin_ctzll(mask);
		u64 child_base = base + ((u64)slot << node->shift);
		u64 child_lo = max(lo, child_base);
		u64 child_hi = min(hi, child_base + (1ULL << node->shift) - 1);
		const struct index_store_node *child = node->slots[slot];

		mask &= mask - 1;
		if (!node->shift || !child) {
			*out = child_lo;
			return true;
		}
		if (node_find_free(child, child_base, child_lo, child_hi, out))
			return true;
	}
	return false;
}

int index_store_alloc(struct index_store *is, u64 *id, u64 min, u64 max,
		      void *entry)
{
	u64 index, covered;
	int rc;

	if (!entry || min > max)
		return err_reason(-EINVAL, "bad ID range [%#llx, %#llx]",
				  (unsigned long long)min,
				  (unsigned long long)max);
	if (!is->root) {
		index = min;
	} else {
		covered = span_mask(is->root->shift);
		if (min <= covered &&
		    node_find_free(is->root, 0, min, min(max, covered), &index))
			;
		else if (max > covered)
			index = max(min, covered + 1);
		else
			return err_reason(-EBUSY,
					  "no free ID in [%#llx, %#llx]",
					  (unsigned long long)min,
					  (unsigned long long)max);
	}
	rc = index_store_store(is, index, entry);
	if (rc)
		return rc;
	*id = index;
	return 0;
}

size_t index_store_bytes(const struct index_store *is)
{
	return is->nr_nodes * sizeof(struct index_store_node);
}
