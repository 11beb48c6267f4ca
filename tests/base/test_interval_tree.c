// SPDX-License-Identifier: MIT
/*
 * Interval tree, span and double-span iterators against a brute-force model.
 *
 * The model is the plain list of ranges in the tree. Every query, span walk
 * and double-span walk is checked against it, and the red-black and
 * augmentation invariants are checked directly on the tree.
 */
#include <stdlib.h>

#include "base/interval_tree.h"
#include "harness/rng.h"
#include "harness/test.h"

/* Operations per randomized test at full scale; 4 tests x 3 universes. */
#define OPS_PER_TEST 300000

enum universe {
	U_SMALL,	/* [0, 4096]: dense overlaps and adjacency */
	U_EDGES,	/* hugging 0 and U64_MAX */
	U_WIDE,		/* anywhere in u64, short and huge ranges */
};

struct model {
	struct interval_tree_node *pool;
	struct interval_tree_node **in_tree; /* the model: nodes in the tree */
	unsigned int nr, cap;
	struct rb_root_cached root;
	struct rng rng;
	enum universe universe;
	/* scratch for coverage checks */
	struct interval_tree_node **tmp;
};

static void model_init(struct model *m, unsigned int cap, enum universe u,
		       u64 seed)
{
	m->pool = calloc(cap, sizeof(*m->pool));
	m->in_tree = calloc(cap, sizeof(*m->in_tree));
	m->tmp = calloc(cap, sizeof(*m->tmp));
	ASSERT_NONNULL(m->pool);
	ASSERT_NONNULL(m->in_tree);
	ASSERT_NONNULL(m->tmp);
	m->nr = 0;
	m->cap = cap;
	m->root = RB_ROOT_CACHED_INIT;
	m->universe = u;
	rng_init(&m->rng, seed ^ ((u64)u << 56));
}

static void model_free(struct model *m)
{
	free(m->pool);
	free(m->in_tree);
	free(m->tmp);
}

static u64 clip_add(u64 a, u64 b)
{
	return a > U64_MAX - b ? U64_MAX : a + b;
}

/* A random range [*start, *last] drawn from the universe. */
static void random_range(struct model *m, u64 *start, u64 *last)
{
	struct rng *r = &m->rng;

	switch (m->universe) {
	case U_SMALL:
		*start = rng_below(r, 4097);
		*last = min(clip_add(*start, rng_below(r, 80)), (u64)4096);
		return;
	case U_EDGES:
		if (rng_chance(r, 1, 50)) {
			*start = rng_below(r, 3);
			*last = U64_MAX - rng_below(r, 3);
		} else if (rng_chance(r, 1, 2)) {
			*start = rng_below(r, 200);
			*last = *start + rng_below(r, 40);
		} else {
			*start = U64_MAX - rng_below(r, 200);
			*last = clip_add(*start, rng_below(r, 40));
		}
		return;
	case U_WIDE:
		*start = rng_next(r);
		if (rng_chance(r, 1, 4))
			*last = rng_range(r, *start, U64_MAX);
		else
			*last = clip_add(*start, rng_below(r, (u64)1 << 40));
		return;
	}
}

static void model_insert(struct model *m)
{
	struct interval_tree_node *node = NULL;

	/* Reuse a pool slot that is not in the tree. */
	for (unsigned int i = 0; i != m->cap; i++) {
		unsigned int k = (i + rng_below(&m->rng, m->cap)) % m->cap;

		if (!m->pool[k].rb.parent_color && m->root.root.node !=
		    &m->pool[k].rb && !m->pool[k].subtree_last) {
			node = &m->pool[k];
			break;
		}
	}
	ASSERT_NONNULL(node);
	random_range(m, &node->start, &node->last);
	interval_tree_insert(node, &m->root);
	m->in_tree[m->nr++] = node;
}

static void model_remove(struct model *m)
{
	unsigned int k = rng_below(&m->rng, m->nr);
	struct interval_tree_node *node = m->in_tree[k];

	interval_tree_remove(node, &m->root);
	/* Mark the pool slot free again (see model_insert). */
	memset(node, 0, sizeof(*node));
	m->in_tree[k] = m->in_tree[--m->nr];
}

/* Red-black properties, parent links, ordering and subtree_last. */
static unsigned int check_subtree(const struct rb_node *rb,
				  const struct rb_node *parent, u64 *max_last,
				  unsigned int *count)
{
	const struct interval_tree_node *node;
	unsigned int lh, rh;
	u64 left_max = 0, right_max = 0;

	if (!rb)
		return 1;
	node = container_of(rb, struct interval_tree_node, rb);
	ASSERT_EQ((uintptr_t)parent, rb->parent_color & ~(uintptr_t)1);
	if (!(rb->parent_color & 1)) {
		/* red: no red child */
		if (rb->left)
			ASSERT_TRUE(rb->left->parent_color & 1);
		if (rb->right)
			ASSERT_TRUE(rb->right->parent_color & 1);
	}
	if (rb->left)
		ASSERT_LE(container_of(rb->left, struct interval_tree_node, rb)
				  ->start,
			  node->start);
	if (rb->right)
		ASSERT_GE(container_of(rb->right, struct interval_tree_node, rb)
				  ->start,
			  node->start);
	lh = check_subtree(rb->left, rb, &left_max, count);
	rh = check_subtree(rb->right, rb, &right_max, count);
	ASSERT_EQ(lh, rh);
	*max_last = max(node->last, max(left_max, right_max));
	ASSERT_EQ(*max_last, node->subtree_last);
	(*count)++;
	return lh + (rb->parent_color & 1);
}

static void check_tree(struct model *m)
{
	u64 max_last = 0;
	unsigned int count = 0;
	const struct rb_node *top = m->root.root.node;

	if (top)
		ASSERT_TRUE(top->parent_color & 1); /* black root */
	check_subtree(top, NULL, &max_last, &count);
	ASSERT_EQ(m->nr, count);
	ASSERT_EQ(rb_first(&m->root.root), m->root.leftmost);
}

static bool intersects(const struct interval_tree_node *n, u64 a, u64 b)
{
	return n->start <= b && n->last >= a;
}

static int cmp_node(const void *pa, const void *pb)
{
	const struct interval_tree_node *a = *(void *const *)pa;
	const struct interval_tree_node *b = *(void *const *)pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a < b ? -1 : a > b;
}

/* iter_first/iter_next return exactly the intersecting nodes, by start. */
static void check_query(struct model *m, u64 a, u64 b)
{
	struct interval_tree_node *node, *prev = NULL;
	unsigned int expect = 0, seen = 0;

	for (unsigned int i = 0; i != m->nr; i++)
		expect += intersects(m->in_tree[i], a, b);
	interval_tree_for_each(node, &m->root, a, b) {
		ASSERT_TRUE(intersects(node, a, b));
		if (prev)
			ASSERT_LE(prev->start, node->start);
		m->tmp[seen++] = node;
		ASSERT_LE(seen, expect);
		prev = node;
	}
	ASSERT_EQ(expect, seen);
	/* No node returned twice. */
	qsort(m->tmp, seen, sizeof(*m->tmp), cmp_node);
	for (unsigned int i = 1; i < seen; i++)
		ASSERT_NE(m->tmp[i - 1], m->tmp[i]);
}

/* True when the nodes of @m together cover every index of [a, b]. */
static bool model_covers(struct model *m, u64 a, u64 b)
{
	unsigned int n = 0;
	u64 pos = a;

	for (unsigned int i = 0; i != m->nr; i++)
		if (intersects(m->in_tree[i], a, b))
			m->tmp[n++] = m->in_tree[i];
	qsort(m->tmp, n, sizeof(*m->tmp), cmp_node);
	for (unsigned int i = 0; i != n; i++) {
		if (m->tmp[i]->start > pos)
			return false;
		if (m->tmp[i]->last >= b)
			return true;
		if (m->tmp[i]->last >= pos)
			pos = m->tmp[i]->last + 1;
	}
	return false;
}

static bool model_hole(struct model *m, u64 a, u64 b)
{
	for (unsigned int i = 0; i != m->nr; i++)
		if (intersects(m->in_tree[i], a, b))
			return false;
	return true;
}

/*
 * The spans tile [a, b] exactly, alternate between used and hole (so each
 * is maximal), and each is what it claims.
 */
static void check_spans(struct model *m, u64 a, u64 b)
{
	struct interval_tree_span_iter span;
	u64 next = a;
	int prev_kind = -1;
	bool ended = false;

	interval_tree_for_each_span(&span, &m->root, a, b) {
		ASSERT_FALSE(ended);
		ASSERT_EQ(next, span.start);
		ASSERT_LE(span.start, span.last);
		ASSERT_LE(span.last, b);
		ASSERT_NE(prev_kind, span.is_hole);
		if (span.is_hole)
			ASSERT_TRUE(model_hole(m, span.start, span.last));
		else
			ASSERT_TRUE(model_covers(m, span.start, span.last));
		prev_kind = span.is_hole;
		if (span.last == b)
			ended = true;
		else
			next = span.last + 1;
	}
	ASSERT_TRUE(ended);
}

/* Jumping ahead with advance() lands where a fresh walk from there would. */
static void check_span_advance(struct model *m, u64 a, u64 b)
{
	struct interval_tree_span_iter span, fresh;

	interval_tree_span_iter_first(&span, &m->root, a, b);
	while (!interval_tree_span_iter_done(&span)) {
		u64 to;

		if (span.start == U64_MAX)
			break;
		to = rng_range(&m->rng, span.start + 1,
			       min(clip_add(span.last, 2 + rng_below(&m->rng,
								 4096)),
				   U64_MAX));
		interval_tree_span_iter_advance(&span, &m->root, to);
		if (to > b) {
			ASSERT_TRUE(interval_tree_span_iter_done(&span));
			break;
		}
		interval_tree_span_iter_first(&fresh, &m->root, to, b);
		ASSERT_EQ(fresh.is_hole, span.is_hole);
		ASSERT_EQ(fresh.start, span.start);
		ASSERT_EQ(fresh.last, span.last);
	}
}

static void check_double_spans(struct model *m0, struct model *m1, u64 a,
			       u64 b)
{
	struct interval_tree_double_span_iter span;
	u64 next = a;
	int prev_kind = -1;
	bool ended = false;

	interval_tree_for_each_double_span(&span, &m0->root, &m1->root, a, b) {
		ASSERT_FALSE(ended);
		ASSERT_EQ(next, span.start);
		ASSERT_LE(span.start, span.last);
		ASSERT_LE(span.last, b);
		ASSERT_NE(prev_kind, span.is_used);
		switch (span.is_used) {
		case 1:
			ASSERT_TRUE(model_covers(m0, span.start, span.last));
			break;
		case 2:
			ASSERT_TRUE(model_hole(m0, span.start, span.last));
			ASSERT_TRUE(model_covers(m1, span.start, span.last));
			break;
		case 0:
			ASSERT_TRUE(model_hole(m0, span.start, span.last));
			ASSERT_TRUE(model_hole(m1, span.start, span.last));
			break;
		default:
			ASSERT_TRUE(false);
		}
		prev_kind = span.is_used;
		if (span.last == b)
			ended = true;
		else
			next = span.last + 1;
	}
	ASSERT_TRUE(ended);
}

/* A query range from the universe, sometimes everything. */
static void random_query(struct model *m, u64 *a, u64 *b)
{
	if (rng_chance(&m->rng, 1, 20)) {
		*a = 0;
		*b = U64_MAX;
		return;
	}
	random_range(m, a, b);
	if (m->universe == U_SMALL && rng_chance(&m->rng, 1, 4))
		*b = clip_add(*b, rng_below(&m->rng, 2000));
}

/* Grow and shrink around a target size that itself drifts. */
static void random_update(struct model *m, unsigned int target)
{
	bool insert = m->nr < target ? rng_chance(&m->rng, 3, 4) :
				       rng_chance(&m->rng, 1, 4);

	if (!m->nr || (insert && m->nr < m->cap))
		model_insert(m);
	else
		model_remove(m);
}

FIXTURE(itree)
{
	struct model m0, m1;
	u64 ops;
};

FIXTURE_VARIANT(itree)
{
	enum universe universe;
};

FIXTURE_VARIANT_ADD(itree, small) { .universe = U_SMALL };
FIXTURE_VARIANT_ADD(itree, edges) { .universe = U_EDGES };
FIXTURE_VARIANT_ADD(itree, wide) { .universe = U_WIDE };

FIXTURE_SETUP(itree)
{
	u64 seed = test_seed();

	model_init(&self->m0, 512, variant->universe, seed);
	model_init(&self->m1, 512, variant->universe, ~seed);
	self->ops = test_iterations(OPS_PER_TEST);
}

FIXTURE_TEARDOWN(itree)
{
	model_free(&self->m0);
	model_free(&self->m1);
}

static unsigned int drifting_target(struct model *m, u64 i)
{
	/* Sizes sweep 0..~300 so both tiny and deeper trees are covered. */
	static const unsigned int targets[] = { 0, 3, 40, 300, 12, 150, 1 };

	return targets[(i / 4096) % ARRAY_SIZE(targets)];
}

TEST_F(itree, insert_remove_keeps_invariants)
{
	struct model *m = &self->m0;

	for (u64 i = 0; i != self->ops; i++) {
		random_update(m, drifting_target(m, i));
		/* Full structural check is O(n): do it often, not always. */
		if (m->nr < 40 || !(i % 16))
			check_tree(m);
	}
	while (m->nr) {
		model_remove(m);
		check_tree(m);
	}
	ASSERT_TRUE(rb_empty_cached(&m->root));
	ASSERT_NULL(m->root.leftmost);
}

TEST_F(itree, queries_match_model)
{
	struct model *m = &self->m0;

	for (u64 i = 0; i != self->ops; i++) {
		u64 a, b;

		if (rng_chance(&m->rng, 1, 3))
			random_update(m, drifting_target(m, i));
		random_query(m, &a, &b);
		check_query(m, a, b);
		check_query(m, a, a);
	}
}

TEST_F(itree, spans_match_model)
{
	struct model *m = &self->m0;

	for (u64 i = 0; i != self->ops; i++) {
		u64 a, b;

		if (rng_chance(&m->rng, 1, 2))
			random_update(m, drifting_target(m, i) / 4);
		random_query(m, &a, &b);
		check_spans(m, a, b);
		if (!(i % 8))
			check_span_advance(m, a, b);
	}
}

TEST_F(itree, double_spans_match_model)
{
	for (u64 i = 0; i != self->ops; i++) {
		struct model *m = rng_chance(&self->m0.rng, 1, 2) ? &self->m0 :
								   &self->m1;
		u64 a, b;

		if (rng_chance(&self->m0.rng, 1, 2))
			random_update(m, drifting_target(m, i) / 8);
		random_query(&self->m0, &a, &b);
		check_double_spans(&self->m0, &self->m1, a, b);
	}
}

/* Directed cases at the edges of u64. */

static struct interval_tree_node mk(u64 start, u64 last)
{
	return (struct interval_tree_node){ .start = start, .last = last };
}

struct span_want {
	int kind;
	u64 start, last;
};

static void expect_spans(struct rb_root_cached *root, u64 a, u64 b,
			 const struct span_want *want, unsigned int nr)
{
	struct interval_tree_span_iter span;
	unsigned int i = 0;

	interval_tree_for_each_span(&span, root, a, b) {
		ASSERT_LT(i, nr);
		ASSERT_EQ(want[i].kind, span.is_hole);
		ASSERT_EQ(want[i].start, span.start);
		ASSERT_EQ(want[i].last, span.last);
		i++;
	}
	ASSERT_EQ(nr, i);
}

TEST(empty_tree_is_one_hole)
{
	struct rb_root_cached root = RB_ROOT_CACHED_INIT;
	const struct span_want all[] = { { 1, 0, U64_MAX } };
	const struct span_want one[] = { { 1, U64_MAX, U64_MAX } };

	ASSERT_NULL(interval_tree_iter_first(&root, 0, U64_MAX));
	expect_spans(&root, 0, U64_MAX, all, 1);
	expect_spans(&root, U64_MAX, U64_MAX, one, 1);
}

TEST(whole_u64_node)
{
	struct rb_root_cached root = RB_ROOT_CACHED_INIT;
	struct interval_tree_node n = mk(0, U64_MAX);
	const struct span_want all[] = { { 0, 0, U64_MAX } };
	const struct span_want top[] = { { 0, U64_MAX, U64_MAX } };

	interval_tree_insert(&n, &root);
	ASSERT_EQ(&n, interval_tree_iter_first(&root, U64_MAX, U64_MAX));
	ASSERT_EQ(&n, interval_tree_iter_first(&root, 0, 0));
	ASSERT_NULL(interval_tree_iter_next(&n, 0, U64_MAX));
	expect_spans(&root, 0, U64_MAX, all, 1);
	expect_spans(&root, U64_MAX, U64_MAX, top, 1);
	interval_tree_remove(&n, &root);
	ASSERT_TRUE(rb_empty_cached(&root));
}

TEST(nodes_at_both_ends)
{
	struct rb_root_cached root = RB_ROOT_CACHED_INIT;
	struct interval_tree_node lo = mk(0, 0), hi = mk(U64_MAX, U64_MAX);
	const struct span_want all[] = {
		{ 0, 0, 0 },
		{ 1, 1, U64_MAX - 1 },
		{ 0, U64_MAX, U64_MAX },
	};
	const struct span_want mid[] = { { 1, 1, U64_MAX - 1 } };
	const struct span_want tail[] = {
		{ 1, U64_MAX - 1, U64_MAX - 1 },
		{ 0, U64_MAX, U64_MAX },
	};

	interval_tree_insert(&hi, &root);
	interval_tree_insert(&lo, &root);
	ASSERT_EQ(&lo.rb, root.leftmost);
	expect_spans(&root, 0, U64_MAX, all, 3);
	expect_spans(&root, 1, U64_MAX - 1, mid, 1);
	expect_spans(&root, U64_MAX - 1, U64_MAX, tail, 2);
	ASSERT_EQ(&hi, interval_tree_iter_first(&root, 1, U64_MAX));
	ASSERT_EQ(&hi, interval_tree_iter_next(&lo, 0, U64_MAX));
	ASSERT_NULL(interval_tree_iter_next(&hi, 0, U64_MAX));
}

TEST(adjacent_and_overlapping_nodes_merge)
{
	struct rb_root_cached root = RB_ROOT_CACHED_INIT;
	struct interval_tree_node a = mk(10, 19), b = mk(20, 29),
				  c = mk(25, 100), d = mk(30, 40),
				  e = mk(102, 110);
	const struct span_want want[] = {
		{ 1, 0, 9 },
		{ 0, 10, 100 },
		{ 1, 101, 101 },
		{ 0, 102, 110 },
		{ 1, 111, 200 },
	};
	const struct span_want inside[] = { { 0, 15, 35 } };

	interval_tree_insert(&c, &root);
	interval_tree_insert(&a, &root);
	interval_tree_insert(&e, &root);
	interval_tree_insert(&d, &root);
	interval_tree_insert(&b, &root);
	expect_spans(&root, 0, 200, want, ARRAY_SIZE(want));
	expect_spans(&root, 15, 35, inside, 1);
}

TEST(double_span_prefers_first_tree)
{
	struct rb_root_cached t0 = RB_ROOT_CACHED_INIT,
			      t1 = RB_ROOT_CACHED_INIT;
	struct interval_tree_node a = mk(10, 20), b = mk(0, U64_MAX);
	struct interval_tree_double_span_iter span;
	const struct span_want want[] = {
		{ 2, 0, 9 },
		{ 1, 10, 20 },
		{ 2, 21, U64_MAX },
	};
	unsigned int i = 0;

	interval_tree_insert(&a, &t0);
	interval_tree_insert(&b, &t1);
	interval_tree_for_each_double_span(&span, &t0, &t1, 0, U64_MAX) {
		ASSERT_LT(i, ARRAY_SIZE(want));
		ASSERT_EQ(want[i].kind, span.is_used);
		ASSERT_EQ(want[i].start, span.start);
		ASSERT_EQ(want[i].last, span.last);
		i++;
	}
	ASSERT_EQ(ARRAY_SIZE(want), i);
}

TEST(duplicate_ranges)
{
	struct rb_root_cached root = RB_ROOT_CACHED_INIT;
	struct interval_tree_node n[8];
	struct interval_tree_node *it;
	unsigned int seen = 0;

	for (unsigned int i = 0; i != ARRAY_SIZE(n); i++) {
		n[i] = mk(5, 5);
		interval_tree_insert(&n[i], &root);
	}
	interval_tree_for_each(it, &root, 5, 5)
		seen++;
	ASSERT_EQ(ARRAY_SIZE(n), seen);
	for (unsigned int i = 0; i != ARRAY_SIZE(n); i += 2)
		interval_tree_remove(&n[i], &root);
	seen = 0;
	interval_tree_for_each(it, &root, 0, U64_MAX)
		seen++;
	ASSERT_EQ(ARRAY_SIZE(n) / 2, seen);
}

/* Sorted and reverse-sorted inserts are the rebalancing worst cases. */
TEST(height_stays_logarithmic)
{
	const unsigned int n = 1 << 16;
	struct model m;
	unsigned int max_depth = 0;

	model_init(&m, n, U_SMALL, 1);
	for (unsigned int pass = 0; pass != 2; pass++) {
		for (unsigned int i = 0; i != n; i++) {
			struct interval_tree_node *node = &m.pool[i];
			u64 key = pass ? n - i : i;

			*node = mk(key * 2, key * 2 + 1);
			interval_tree_insert(node, &m.root);
			m.in_tree[m.nr++] = node;
		}
		check_tree(&m);
		for (unsigned int i = 0; i != n; i++) {
			unsigned int depth = 0;

			for (const struct rb_node *rb = &m.pool[i].rb; rb;
			     rb = rb_parent(rb))
				depth++;
			max_depth = max(max_depth, depth);
		}
		/* 2 * log2(n + 1) bounds a red-black tree's height. */
		ASSERT_LE(max_depth, 2 * 17);
		for (unsigned int i = 0; i != n; i++)
			interval_tree_remove(&m.pool[i], &m.root);
		ASSERT_TRUE(rb_empty_cached(&m.root));
		m.nr = 0;
	}
	model_free(&m);
}
