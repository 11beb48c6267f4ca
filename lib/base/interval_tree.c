// SPDX-License-Identifier: MIT
#include "base/interval_tree.h"

static inline struct interval_tree_node *itnode(const struct rb_node *rb)
{
	return rb ? container_of(rb, struct interval_tree_node, rb) : NULL;
}

static inline u64 subtree_last_of(const struct interval_tree_node *node)
{
	u64 last = node->last;

	if (node->rb.left && itnode(node->rb.left)->subtree_last > last)
		last = itnode(node->rb.left)->subtree_last;
	if (node->rb.right && itnode(node->rb.right)->subtree_last > last)
		last = itnode(node->rb.right)->subtree_last;
	return last;
}

static void it_propagate(struct rb_node *rb, struct rb_node *stop)
{
	while (rb != stop) {
		struct interval_tree_node *node = itnode(rb);
		u64 last = subtree_last_of(node);

		/* Above an unchanged summary nothing changes either. */
		if (node->subtree_last == last)
			break;
		node->subtree_last = last;
		rb = rb_parent(rb);
	}
}

static void it_copy(struct rb_node *from, struct rb_node *to)
{
	itnode(to)->subtree_last = itnode(from)->subtree_last;
}

static void it_rotate(struct rb_node *old_top, struct rb_node *new_top)
{
	/* The new top spans exactly what the old top spanned. */
	itnode(new_top)->subtree_last = itnode(old_top)->subtree_last;
	itnode(old_top)->subtree_last = subtree_last_of(itnode(old_top));
}

static const struct rb_augment_callbacks it_augment = {
	.propagate = it_propagate,
	.copy = it_copy,
	.rotate = it_rotate,
};

void interval_tree_insert(struct interval_tree_node *node,
			  struct rb_root_cached *root)
{
	struct rb_node **link = &root->root.node, *parent = NULL;
	bool leftmost = true;

	while (*link) {
		struct interval_tree_node *cur = itnode(*link);

		parent = *link;
		/* Every ancestor's subtree gains this node. */
		if (cur->subtree_last < node->last)
			cur->subtree_last = node->last;
		if (node->start < cur->start) {
			link = &cur->rb.left;
		} else {
			link = &cur->rb.right;
			leftmost = false;
		}
	}
	node->subtree_last = node->last;
	rb_link_node(&node->rb, parent, link);
	rb_insert_augmented_cached(&node->rb, root, leftmost, &it_augment);
}

void interval_tree_remove(struct interval_tree_node *node,
			  struct rb_root_cached *root)
{
	rb_erase_augmented_cached(&node->rb, root, &it_augment);
}

/*
 * The leftmost node of @node's subtree intersecting [start, last], given
 * that node->subtree_last >= start.
 */
static struct interval_tree_node *
subtree_search(struct interval_tree_node *node, u64 start, u64 last)
{
	for (;;) {
		struct interval_tree_node *left = itnode(node->rb.left);

		/* Anything on the left starts earlier: prefer it. */
		if (left && left->subtree_last >= start) {
			node = left;
			continue;
		}
		/* Left has nothing; everything from here on starts later. */
		if (node->start > last)
			return NULL;
		if (node->last >= start)
			return node;
		node = itnode(node->rb.right);
		if (!node || node->subtree_last < start)
			return NULL;
	}
}

struct interval_tree_node *
interval_tree_iter_first(const struct rb_root_cached *root, u64 start,
			 u64 last)
{
	struct interval_tree_node *top = itnode(root->root.node);

	if (!top || top->subtree_last < start)
		return NULL;
	if (itnode(root->leftmost)->start > last)
		return NULL;
	return subtree_search(top, start, last);
}

struct interval_tree_node *
interval_tree_iter_next(const struct interval_tree_node *node, u64 start,
			u64 last)
{
	struct interval_tree_node *cur = (struct interval_tree_node *)node;
	struct rb_node *rb = cur->rb.right, *prev;

	for (;;) {
		/* Nodes after @cur in its right subtree come first. */
		if (rb && itnode(rb)->subtree_last >= start)
			return subtree_search(itnode(rb), start, last);

		/* Climb to the first ancestor we reach from its left side. */
		do {
			rb = rb_parent(&cur->rb);
			if (!rb)
				return NULL;
			prev = &cur->rb;
			cur = itnode(rb);
			rb = cur->rb.right;
		} while (prev == rb);

		if (cur->start > last)
			return NULL;
		if (cur->last >= start)
			return cur;
	}
}

/*
 * The used span starting at @from: @node is the first node intersecting
 * [from, last_index] and it covers @from. Merge every node that overlaps or
 * touches the run; remember the first node that does not.
 */
static void span_set_used(struct interval_tree_span_iter *iter,
			  struct interval_tree_node *node, u64 from)
{
	struct interval_tree_node *next;
	u64 end = node->last;

	next = interval_tree_iter_next(node, from, iter->last_index);
	/* end < last_index keeps end + 1 from wrapping. */
	while (end < iter->last_index && next && next->start <= end + 1) {
		if (next->last > end)
			end = next->last;
		next = interval_tree_iter_next(next, from, iter->last_index);
	}
	iter->is_hole = 0;
	iter->start = from;
	iter->last = min(end, iter->last_index);
	iter->next_node = next;
}

/* The hole starting at @from, ended by @next (NULL: by last_index). */
static void span_set_hole(struct interval_tree_span_iter *iter,
			  struct interval_tree_node *next, u64 from)
{
	iter->is_hole = 1;
	iter->start = from;
	iter->last = next ? next->start - 1 : iter->last_index;
	iter->next_node = next;
}

void interval_tree_span_iter_first(struct interval_tree_span_iter *iter,
				   const struct rb_root_cached *root,
				   u64 first_index, u64 last_index)
{
	struct interval_tree_node *node;

	iter->last_index = last_index;
	node = interval_tree_iter_first(root, first_index, last_index);
	if (node && node->start <= first_index)
		span_set_used(iter, node, first_index);
	else
		span_set_hole(iter, node, first_index);
}

void interval_tree_span_iter_next(struct interval_tree_span_iter *iter)
{
	u64 from;

	if (iter->is_hole == -1)
		return;
	if (iter->last == iter->last_index) {
		iter->is_hole = -1;
		return;
	}
	from = iter->last + 1;
	/* A hole that ends before last_index ends where a node starts. */
	if (iter->is_hole)
		span_set_used(iter, iter->next_node, from);
	else
		span_set_hole(iter, iter->next_node, from);
}

void interval_tree_span_iter_advance(struct interval_tree_span_iter *iter,
				     const struct rb_root_cached *root,
				     u64 new_index)
{
	if (iter->is_hole == -1)
		return;
	if (new_index > iter->last_index) {
		iter->is_hole = -1;
		return;
	}
	if (new_index <= iter->last) {
		/* Still inside the current span. */
		iter->start = new_index;
		return;
	}
	if (new_index == iter->last + 1)
		interval_tree_span_iter_next(iter);
	else
		interval_tree_span_iter_first(iter, root, new_index,
					      iter->last_index);
}

/* Both single-span iterators always stand at the same start. */
static void double_span_update(struct interval_tree_double_span_iter *iter)
{
	struct interval_tree_span_iter *s0 = &iter->spans[0];
	struct interval_tree_span_iter *s1 = &iter->spans[1];

	if (interval_tree_span_iter_done(s0) ||
	    interval_tree_span_iter_done(s1)) {
		iter->is_used = -1;
		return;
	}
	iter->start = s0->start;
	if (!s0->is_hole) {
		iter->is_used = 1;
		iter->last = s0->last;
	} else if (!s1->is_hole) {
		iter->is_used = 2;
		iter->last = min(s0->last, s1->last);
	} else {
		iter->is_used = 0;
		iter->last = min(s0->last, s1->last);
	}
}

void interval_tree_double_span_iter_first(
	struct interval_tree_double_span_iter *iter,
	const struct rb_root_cached *tree0, const struct rb_root_cached *tree1,
	u64 first_index, u64 last_index)
{
	unsigned int i;

	iter->trees[0] = tree0;
	iter->trees[1] = tree1;
	for (i = 0; i != ARRAY_SIZE(iter->spans); i++)
		interval_tree_span_iter_first(&iter->spans[i], iter->trees[i],
					      first_index, last_index);
	double_span_update(iter);
}

void interval_tree_double_span_iter_next(
	struct interval_tree_double_span_iter *iter)
{
	unsigned int i;

	if (iter->is_used == -1)
		return;
	if (iter->last == iter->spans[0].last_index) {
		iter->is_used = -1;
		return;
	}
	for (i = 0; i != ARRAY_SIZE(iter->spans); i++)
		interval_tree_span_iter_advance(&iter->spans[i],
						iter->trees[i],
						iter->last + 1);
	double_span_update(iter);
}
