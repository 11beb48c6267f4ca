// SPDX-License-Identifier: MIT
/*
 * Red-black tree rebalancing.
 *
 * Properties kept: the root is black; a red node has no red child; every
 * path from a node down to a NULL leaf passes the same number of black
 * nodes. Together they bound the height by 2 * log2(n + 1).
 */
#include "base/rbtree.h"

#define RB_RED 0
#define RB_BLACK 1

static inline bool rb_is_black(const struct rb_node *node)
{
	return node->parent_color & RB_BLACK;
}

static inline bool rb_is_red(const struct rb_node *node)
{
	return !rb_is_black(node);
}

/* NULL leaves count as black. */
static inline bool rb_is_black_or_null(const struct rb_node *node)
{
	return !node || rb_is_black(node);
}

static inline void rb_set_parent(struct rb_node *node, struct rb_node *parent)
{
	node->parent_color = (uintptr_t)parent | (node->parent_color & 1);
}

static inline void rb_set_parent_color(struct rb_node *node,
				       struct rb_node *parent, int color)
{
	node->parent_color = (uintptr_t)parent | (uintptr_t)color;
}

static inline void rb_replace_child(struct rb_node *old, struct rb_node *new,
				    struct rb_node *parent,
				    struct rb_root *root)
{
	if (!parent)
		root->node = new;
	else if (parent->left == old)
		parent->left = new;
	else
		parent->right = new;
}

/*
 * @new_top has just been rotated above @old_top: it inherits @old_top's
 * parent and colour, @old_top gets @color and hangs below @new_top.
 */
static inline void rb_rotate_set_parents(struct rb_node *old_top,
					 struct rb_node *new_top,
					 struct rb_root *root, int color)
{
	struct rb_node *parent = rb_parent(old_top);

	new_top->parent_color = old_top->parent_color;
	rb_set_parent_color(old_top, new_top, color);
	rb_replace_child(old_top, new_top, parent, root);
}

void rb_insert_color_augmented(struct rb_node *node, struct rb_root *root,
			       const struct rb_augment_callbacks *cb)
{
	struct rb_node *parent = rb_parent(node), *gparent, *uncle, *tmp;

	for (;;) {
		/* A red root is recoloured; a black parent ends the repair. */
		if (!parent) {
			rb_set_parent_color(node, NULL, RB_BLACK);
			return;
		}
		if (rb_is_black(parent))
			return;

		/* parent is red, so it is not the root: gparent exists. */
		gparent = rb_parent(parent);
		if (parent == gparent->left) {
			uncle = gparent->right;
			if (uncle && rb_is_red(uncle)) {
				/* Push the red up and continue from gparent. */
				rb_set_parent_color(uncle, gparent, RB_BLACK);
				rb_set_parent_color(parent, gparent, RB_BLACK);
				node = gparent;
				parent = rb_parent(node);
				rb_set_parent_color(node, parent, RB_RED);
				continue;
			}
			if (node == parent->right) {
				/* Inner grandchild: rotate left at parent. */
				tmp = node->left;
				parent->right = tmp;
				node->left = parent;
				if (tmp)
					rb_set_parent_color(tmp, parent,
							    RB_BLACK);
				rb_set_parent_color(parent, node, RB_RED);
				cb->rotate(parent, node);
				parent = node;
			}
			/* Outer grandchild: rotate right at gparent. */
			tmp = parent->right;
			gparent->left = tmp;
			parent->right = gparent;
			if (tmp)
				rb_set_parent_color(tmp, gparent, RB_BLACK);
			rb_rotate_set_parents(gparent, parent, root, RB_RED);
			cb->rotate(gparent, parent);
			return;
		}

		uncle = gparent->left;
		if (uncle && rb_is_red(uncle)) {
			rb_set_parent_color(uncle, gparent, RB_BLACK);
			rb_set_parent_color(parent, gparent, RB_BLACK);
			node = gparent;
			parent = rb_parent(node);
			rb_set_parent_color(node, parent, RB_RED);
			continue;
		}
		if (node == parent->left) {
			tmp = node->right;
			parent->left = tmp;
			node->right = parent;
			if (tmp)
				rb_set_parent_color(tmp, parent, RB_BLACK);
			rb_set_parent_color(parent, node, RB_RED);
			cb->rotate(parent, node);
			parent = node;
		}
		tmp = parent->left;
		gparent->right = tmp;
		parent->left = gparent;
		if (tmp)
			rb_set_parent_color(tmp, gparent, RB_BLACK);
		rb_rotate_set_parents(gparent, parent, root, RB_RED);
		cb->rotate(gparent, parent);
		return;
	}
}

/*
 * After an erase, every path through @parent on the side that lost a black
 * node (the side that now holds @node, possibly NULL) is one black short.
 */
static void rb_erase_fixup(struct rb_node *parent, struct rb_root *root,
			   const struct rb_augment_callbacks *cb)
{
	struct rb_node *node = NULL, *sibling, *near, *far;

	for (;;) {
		if (node != parent->right) {
			/* The short side is the left one. */
			sibling = parent->right;
			if (rb_is_red(sibling)) {
				/* Make the sibling black: rotate left. */
				near = sibling->left;
				parent->right = near;
				sibling->left = parent;
				rb_set_parent_color(near, parent, RB_BLACK);
				rb_rotate_set_parents(parent, sibling, root,
						      RB_RED);
				cb->rotate(parent, sibling);
				sibling = near;
			}
			far = sibling->right;
			if (rb_is_black_or_null(far)) {
				near = sibling->left;
				if (rb_is_black_or_null(near)) {
					/* Recolour and move the debt up. */
					rb_set_parent_color(sibling, parent,
							    RB_RED);
					if (rb_is_red(parent)) {
						parent->parent_color |=
							RB_BLACK;
						return;
					}
					node = parent;
					parent = rb_parent(node);
					if (!parent)
						return;
					continue;
				}
				/* Red near nephew: rotate right at sibling. */
				far = near->right;
				sibling->left = far;
				near->right = sibling;
				parent->right = near;
				if (far)
					rb_set_parent_color(far, sibling,
							    RB_BLACK);
				cb->rotate(sibling, near);
				far = sibling;
				sibling = near;
			}
			/* Red far nephew: rotate left at parent, recolour. */
			near = sibling->left;
			parent->right = near;
			sibling->left = parent;
			rb_set_parent_color(far, sibling, RB_BLACK);
			if (near)
				rb_set_parent(near, parent);
			rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
			cb->rotate(parent, sibling);
			return;
		}

		/* Mirror image: the short side is the right one. */
		sibling = parent->left;
		if (rb_is_red(sibling)) {
			near = sibling->right;
			parent->left = near;
			sibling->right = parent;
			rb_set_parent_color(near, parent, RB_BLACK);
			rb_rotate_set_parents(parent, sibling, root, RB_RED);
			cb->rotate(parent, sibling);
			sibling = near;
		}
		far = sibling->left;
		if (rb_is_black_or_null(far)) {
			near = sibling->right;
			if (rb_is_black_or_null(near)) {
				rb_set_parent_color(sibling, parent, RB_RED);
				if (rb_is_red(parent)) {
					parent->parent_color |= RB_BLACK;
					return;
				}
				node = parent;
				parent = rb_parent(node);
				if (!parent)
					return;
				continue;
			}
			far = near->left;
			sibling->right = far;
			near->left = sibling;
			parent->left = near;
			if (far)
				rb_set_parent_color(far, sibling, RB_BLACK);
			cb->rotate(sibling, near);
			far = sibling;
			sibling = near;
		}
		near = sibling->right;
		parent->left = near;
		sibling->right = parent;
		rb_set_parent_color(far, sibling, RB_BLACK);
		if (near)
			rb_set_parent(near, parent);
		rb_rotate_set_parents(parent, sibling, root, RB_BLACK);
		cb->rotate(parent, sibling);
		return;
	}
}

void rb_erase_augmented(struct rb_node *node, struct rb_root *root,
			const struct rb_augment_callbacks *cb)
{
	struct rb_node *left = node->left, *right = node->right;
	struct rb_node *parent, *rebalance = NULL, *fix_from;
	uintptr_t pc = node->parent_color;

	if (!left || !right) {
		/*
		 * At most one child. A lone child is red and @node black, so
		 * the child takes @node's place and colour and no rebalance
		 * is needed; with no child, removing a black node leaves a
		 * black debt at the parent.
		 */
		struct rb_node *child = left ? left : right;

		parent = (struct rb_node *)(pc & ~(uintptr_t)1);
		rb_replace_child(node, child, parent, root);
		if (child)
			child->parent_color = pc;
		else if (pc & RB_BLACK)
			rebalance = parent;
		fix_from = parent;
	} else {
		/*
		 * Two children: the in-order successor (leftmost of the right
		 * subtree) takes @node's place, colour and summary. The slot
		 * the successor leaves is where the debt, if any, lands.
		 */
		struct rb_node *successor = right, *child;

		if (!successor->left) {
			parent = successor;
			child = successor->right;
			cb->copy(node, successor);
		} else {
			do {
				parent = successor;
				successor = successor->left;
			} while (successor->left);
			child = successor->right;
			parent->left = child;
			successor->right = right;
			rb_set_parent(right, successor);
			cb->copy(node, successor);
			cb->propagate(parent, successor);
		}

		successor->left = left;
		rb_set_parent(left, successor);
		rb_replace_child(node, successor,
				 (struct rb_node *)(pc & ~(uintptr_t)1), root);

		if (child)
			rb_set_parent_color(child, parent, RB_BLACK);
		else if (rb_is_black(successor))
			rebalance = parent;
		successor->parent_color = pc;
		fix_from = successor;
	}

	cb->propagate(fix_from, NULL);
	if (rebalance)
		rb_erase_fixup(rebalance, root, cb);
}

struct rb_node *rb_first(const struct rb_root *root)
{
	struct rb_node *node = root->node;

	if (!node)
		return NULL;
	while (node->left)
		node = node->left;
	return node;
}

struct rb_node *rb_last(const struct rb_root *root)
{
	struct rb_node *node = root->node;

	if (!node)
		return NULL;
	while (node->right)
		node = node->right;
	return node;
}

struct rb_node *rb_next(const struct rb_node *node)
{
	struct rb_node *parent;

	if (node->right) {
		node = node->right;
		while (node->left)
			node = node->left;
		return (struct rb_node *)node;
	}
	/* Climb until we arrive from a left child. */
	while ((parent = rb_parent(node)) && node == parent->right)
		node = parent;
	return parent;
}

struct rb_node *rb_prev(const struct rb_node *node)
{
	struct rb_node *parent;

	if (node->left) {
		node = node->left;
		while (node->right)
			node = node->right;
		return (struct rb_node *)node;
	}
	while ((parent = rb_parent(node)) && node == parent->left)
		node = parent;
	return parent;
}
