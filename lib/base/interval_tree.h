/* SPDX-License-Identifier: MIT */
/*
 * Interval tree over inclusive u64 ranges [start, last], an augmented
 * red-black tree ordered by start where each node also records the largest
 * 'last' in its subtree. Nodes are intrusive; ranges may overlap and may
 * touch 0 and U64_MAX.
 */
#ifndef UIOMMUFD_BASE_INTERVAL_TREE_H
#define UIOMMUFD_BASE_INTERVAL_TREE_H

#include "base/rbtree.h"

struct interval_tree_node {
	struct rb_node rb;
	u64 start;
	u64 last;
	u64 subtree_last; /* private: max 'last' in this subtree */
};

void interval_tree_insert(struct interval_tree_node *node,
			  struct rb_root_cached *root);
void interval_tree_remove(struct interval_tree_node *node,
			  struct rb_root_cached *root);

/* The first node, in start order, that intersects [start, last]. */
struct interval_tree_node *
interval_tree_iter_first(const struct rb_root_cached *root, u64 start,
			 u64 last);
/* The next node after @node, in start order, that intersects [start, last]. */
struct interval_tree_node *
interval_tree_iter_next(const struct interval_tree_node *node, u64 start,
			u64 last);

#define interval_tree_for_each(node, root, start, last)                   \
	for (node = interval_tree_iter_first(root, start, last); node;    \
	     node = interval_tree_iter_next(node, start, last))

/*
 * Span iteration: walk [first, last] as alternating spans that some node
 * covers ('used', where touching or overlapping nodes merge into one span)
 * and spans no node covers ('holes'). The spans are exactly [first, last]
 * cut at every used/hole boundary.
 */
struct interval_tree_span_iter {
	/* public: the current span, valid while !done */
	u64 start;
	u64 last;
	/* 1 = hole, 0 = used, -1 = done */
	int is_hole;

	/* private */
	u64 last_index;
	/* The first node past the current used run, or NULL. */
	struct interval_tree_node *next_node;
};

void interval_tree_span_iter_first(struct interval_tree_span_iter *iter,
				   const struct rb_root_cached *root,
				   u64 first_index, u64 last_index);
void interval_tree_span_iter_next(struct interval_tree_span_iter *iter);
/* Skip forward so the current span starts at @new_index (> iter->start). */
void interval_tree_span_iter_advance(struct interval_tree_span_iter *iter,
				     const struct rb_root_cached *root,
				     u64 new_index);

static inline bool
interval_tree_span_iter_done(const struct interval_tree_span_iter *iter)
{
	return iter->is_hole == -1;
}

#define interval_tree_for_each_span(iter, root, first_index, last_index)  \
	for (interval_tree_span_iter_first(iter, root, first_index,         \
					   last_index);                      \
	     !interval_tree_span_iter_done(iter);                            \
	     interval_tree_span_iter_next(iter))

/*
 * Double-span iteration over two trees at once. Each span is one of:
 *   is_used == 1: covered by trees[0] (whether or not trees[1] covers it);
 *   is_used == 2: a hole in trees[0] that trees[1] covers;
 *   is_used == 0: a hole in both.
 * The first tree wins, so the caller can prefer one source over another
 * (the PFN reader prefers the pinned store over a domain this way).
 */
struct interval_tree_double_span_iter {
	/* public */
	u64 start;
	u64 last;
	int is_used; /* -1 = done */

	/* private */
	const struct rb_root_cached *trees[2];
	struct interval_tree_span_iter spans[2];
};

void interval_tree_double_span_iter_first(
	struct interval_tree_double_span_iter *iter,
	const struct rb_root_cached *tree0, const struct rb_root_cached *tree1,
	u64 first_index, u64 last_index);
void interval_tree_double_span_iter_next(
	struct interval_tree_double_span_iter *iter);

static inline bool interval_tree_double_span_iter_done(
	const struct interval_tree_double_span_iter *iter)
{
	return iter->is_used == -1;
}

#define interval_tree_for_each_double_span(iter, tree0, tree1, first_index, \
					   last_index)                        \
	for (interval_tree_double_span_iter_first(iter, tree0, tree1,        \
						  first_index, last_index);   \
	     !interval_tree_double_span_iter_done(iter);                      \
	     interval_tree_double_span_iter_next(iter))

#endif
