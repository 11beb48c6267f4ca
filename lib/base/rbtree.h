/* SPDX-License-Identifier: MIT */
/*
 * Intrusive red-black tree with optional augmentation.
 *
 * The caller walks down to the link point itself (it knows the key), links
 * the node with rb_link_node() and then calls rb_insert_color*() to rebalance.
 * Augmented trees pass callbacks that keep a per-node summary of the subtree
 * current across rotations and erases.
 */
#ifndef UIOMMUFD_BASE_RBTREE_H
#define UIOMMUFD_BASE_RBTREE_H

#include "base/common.h"

struct rb_node {
	/* Parent pointer with the colour in bit 0 (1 = black). */
	uintptr_t parent_color;
	struct rb_node *left;
	struct rb_node *right;
} __attribute__((aligned(sizeof(long))));

struct rb_root {
	struct rb_node *node;
};

/* A root that also remembers its leftmost node, so first() is O(1). */
struct rb_root_cached {
	struct rb_root root;
	struct rb_node *leftmost;
};

#define RB_ROOT_CACHED_INIT ((struct rb_root_cached){ { NULL }, NULL })

struct rb_augment_callbacks {
	/* Recompute summaries from @node up to (not including) @stop. */
	void (*propagate)(struct rb_node *node, struct rb_node *stop);
	/* @to takes @from's place in the tree: copy the summary. */
	void (*copy)(struct rb_node *from, struct rb_node *to);
	/* @new_top rotated above @old_top: fix both summaries. */
	void (*rotate)(struct rb_node *old_top, struct rb_node *new_top);
};

static inline struct rb_node *rb_parent(const struct rb_node *node)
{
	return (struct rb_node *)(node->parent_color & ~(uintptr_t)1);
}

static inline void rb_link_node(struct rb_node *node, struct rb_node *parent,
				struct rb_node **link)
{
	node->parent_color = (uintptr_t)parent; /* red */
	node->left = node->right = NULL;
	*link = node;
}

static inline bool rb_empty_cached(const struct rb_root_cached *root)
{
	return !root->root.node;
}

void rb_insert_color_augmented(struct rb_node *node, struct rb_root *root,
			       const struct rb_augment_callbacks *cb);
void rb_erase_augmented(struct rb_node *node, struct rb_root *root,
			const struct rb_augment_callbacks *cb);

static inline void
rb_insert_augmented_cached(struct rb_node *node, struct rb_root_cached *root,
			   bool leftmost, const struct rb_augment_callbacks *cb)
{
	if (leftmost)
		root->leftmost = node;
	rb_insert_color_augmented(node, &root->root, cb);
}

struct rb_node *rb_first(const struct rb_root *root);
struct rb_node *rb_last(const struct rb_root *root);
struct rb_node *rb_next(const struct rb_node *node);
struct rb_node *rb_prev(const struct rb_node *node);

static inline void
rb_erase_augmented_cached(struct rb_node *node, struct rb_root_cached *root,
			  const struct rb_augment_callbacks *cb)
{
	if (root->leftmost == node)
		root->leftmost = rb_next(node);
	rb_erase_augmented(node, &root->root, cb);
}

#endif
