// SPDX-License-Identifier: MIT
/*
 * Index store: dense and sparse contents, indices at the top of u64, range
 * store and erase, ID allocation, and an allocation failure at every point.
 *
 * Most checks run every operation on the store and on a reference model,
 * the sorted array of (index, entry) pairs the store must hold (reserved
 * entries included), and compare the two:
 *
 *  - contents, by ordered iteration and by load at every model index;
 *  - reserved indices: load sees NULL, alloc sees them taken;
 *  - memory: the tree's shape is a function of the set of indices held (no
 *    node is ever empty; the root is the smallest node covering the largest
 *    index), so the model predicts the exact node count, and with it
 *    index_store_bytes() and the library's live allocations.
 *
 * The last point is what makes "a failed call leaves the store as it was"
 * and "erase frees what it no longer needs" checkable to the byte.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base/err_reason.h"
#include "base/fault_inject.h"
#include "base/index_store.h"
#include "base/mem.h"
#include "harness/rng.h"
#include "harness/test.h"

/* The tree's geometry: 64 slots a node, six index bits a level. */
#define NODE_SHIFT 6
#define NODE_SLOTS 64
#define TOP_SHIFT 60 /* shift of a root covering all of u64 */

#define RESERVED INDEX_STORE_RESERVED
#define VALUE_MAX INDEX_STORE_VALUE_MAX

/* Longest run the model will fill in one call. */
#define MODEL_MAX_RUN (1u << 20)

/* What an alloc's *id holds before the call, to see it was written. */
#define ID_POISON 0xdeadbeefcafef00dULL

/* ----------------------------------------------------------------------
 * Entries and expected shapes
 */

/* A fake, aligned pointer entry; never dereferenced. @n must be > 0. */
static void *ptr(u64 n)
{
	return (void *)(uintptr_t)(n << 3);
}

static void *val(u64 v)
{
	return index_store_mk_value(v);
}

/* Shift of the root a store whose largest index is @max_index must have. */
static unsigned int root_shift(u64 max_index)
{
	unsigned int shift = 0;

	while (shift < TOP_SHIFT && (max_index >> (shift + NODE_SHIFT)))
		shift += NODE_SHIFT;
	return shift;
}

/* Nodes a store holding exactly the indices [first, last] must have. */
static size_t run_nodes(u64 first, u64 last)
{
	unsigned int top = root_shift(last);
	size_t nodes = 0;

	for (unsigned int shift = 0; shift <= top; shift += NODE_SHIFT) {
		unsigned int above = shift + NODE_SHIFT;

		if (above >= 64)
			nodes++;
		else
			nodes += (last >> above) - (first >> above) + 1;
	}
	return nodes;
}

/* Bytes of one node, measured on a store holding a single leaf. */
static size_t node_size(void)
{
	static size_t size;

	if (!size) {
		struct index_store is = INDEX_STORE_INIT;

		ASSERT_EQ(0, index_store_store(&is, 0, ptr(1)));
		ASSERT_EQ(1, is.nr_nodes);
		size = index_store_bytes(&is);
		index_store_destroy(&is);
		/* At least the 64 slots themselves. */
		ASSERT_GE(size, NODE_SLOTS * sizeof(void *));
	}
	return size;
}

/* ----------------------------------------------------------------------
 * Failure context: what the test was doing, printed when a check fails
 */

static char where_prefix[96] = "setup";
static char where[sizeof(where_prefix) + 168];

static void __attribute__((format(printf, 1, 2)))
set_where_prefix(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(where_prefix, sizeof(where_prefix), fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 1, 2))) set_where(const char *fmt,
							    ...)
{
	char buf[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	snprintf(where, sizeof(where), "%s: %s", where_prefix, buf);
}

#define CHECK_EQ(e, s)                                                    \
	do {                                                                \
		__typeof__(e) _ce = (e);                                    \
		__typeof__(s) _cs = (s);                                    \
		if (_ce != _cs) {                                           \
			TH_LOG("while %s", where);                          \
			ASSERT_EQ(_ce, _cs);                                \
		}                                                           \
	} while (0)

#define CHECK_TRUE(c)                                                     \
	do {                                                                \
		if (!(c)) {                                                 \
			TH_LOG("while %s", where);                          \
			ASSERT_TRUE(c);                                     \
		}                                                           \
	} while (0)

/* ----------------------------------------------------------------------
 * Reference model: sorted (index, entry) pairs
 */

struct model_entry {
	u64 index;
	void *entry;
};

struct model {
	struct model_entry *e;
	size_t nr, cap;
};

static void model_init(struct model *m)
{
	m->nr = 0;
	m->cap = 256;
	m->e = malloc(m->cap * sizeof(*m->e));
	ASSERT_NONNULL(m->e);
}

static void model_free(struct model *m)
{
	free(m->e);
	m->e = NULL;
	m->nr = m->cap = 0;
}

static void model_reserve(struct model *m, size_t extra)
{
	size_t cap = m->cap;

	if (m->nr + extra <= cap)
		return;
	while (cap < m->nr + extra)
		cap *= 2;
	m->e = realloc(m->e, cap * sizeof(*m->e));
	ASSERT_NONNULL(m->e);
	m->cap = cap;
}

/* Position of the first entry at or above @index. */
static size_t model_lower_bound(const struct model *m, u64 index)
{
	size_t lo = 0, hi = m->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->e[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Position just past the last entry at or below @index. */
static size_t model_upper_bound(const struct model *m, u64 index)
{
	return index == U64_MAX ? m->nr : model_lower_bound(m, index + 1);
}

/* The raw entry at @index (RESERVED included), NULL if none. */
static void *model_get(const struct model *m, u64 index)
{
	size_t pos = model_lower_bound(m, index);

	return pos < m->nr && m->e[pos].index == index ? m->e[pos].entry :
							 NULL;
}

/* What load() must return at @index. */
static void *model_load(const struct model *m, u64 index)
{
	void *entry = model_get(m, index);

	return entry == RESERVED ? NULL : entry;
}

static void model_erase_range(struct model *m, u64 first, u64 last)
{
	size_t lo, hi;

	if (first > last)
		return;
	lo = model_lower_bound(m, first);
	hi = model_upper_bound(m, last);
	memmove(&m->e[lo], &m->e[hi], (m->nr - hi) * sizeof(*m->e));
	m->nr -= hi - lo;
}

/* Every index of [first, last] to @entry, or to values counting up. */
static void model_fill(struct model *m, u64 first, u64 last, void *entry,
		       bool counting, u64 value)
{
	size_t n, pos;

	ASSERT_LT(last - first, (u64)MODEL_MAX_RUN);
	n = last - first + 1;
	model_erase_range(m, first, last);
	model_reserve(m, n);
	pos = model_lower_bound(m, first);
	memmove(&m->e[pos + n], &m->e[pos], (m->nr - pos) * sizeof(*m->e));
	for (size_t i = 0; i != n; i++) {
		m->e[pos + i].index = first + i;
		m->e[pos + i].entry = counting ? val(value + i) : entry;
	}
	m->nr += n;
}

static void model_set(struct model *m, u64 index, void *entry)
{
	if (entry)
		model_fill(m, index, index, entry, false, 0);
	else
		model_erase_range(m, index, index);
}

/*
 * find (or find_after) in the model: the first non-reserved entry in
 * [*index, last] (or (*index, last]).
 */
static void *model_find(const struct model *m, u64 *index, u64 last,
			bool after)
{
	u64 from = *index;

	if (after) {
		if (from >= last)
			return NULL;
		from++;
	}
	if (from > last)
		return NULL;
	for (size_t pos = model_lower_bound(m, from);
	     pos < m->nr && m->e[pos].index <= last; pos++) {
		if (m->e[pos].entry != RESERVED) {
			*index = m->e[pos].index;
			return m->e[pos].entry;
		}
	}
	return NULL;
}

/* Lowest index in [min, max] holding nothing (reserved counts as taken). */
static int model_alloc(struct model *m, u64 *id, u64 min, u64 max,
		       void *entry)
{
	u64 cand = min;

	if (!entry || min > max)
		return -EINVAL;
	for (size_t pos = model_lower_bound(m, min);
	     pos < m->nr && m->e[pos].index == cand; pos++) {
		if (cand == max)
			return -EBUSY;
		cand++;
	}
	model_set(m, cand, entry);
	*id = cand;
	return 0;
}

/* The nodes a store holding exactly the model's indices must have. */
static size_t model_nodes(const struct model *m)
{
	unsigned int top;
	size_t nodes = 0;

	if (!m->nr)
		return 0;
	top = root_shift(m->e[m->nr - 1].index);
	for (unsigned int shift = 0; shift <= top; shift += NODE_SHIFT) {
		unsigned int above = shift + NODE_SHIFT;

		if (above >= 64) {
			nodes++;
			continue;
		}
		/* One node per distinct index prefix above this level. */
		for (size_t i = 0; i != m->nr; i++) {
			if (!i || (m->e[i].index >> above) !=
					  (m->e[i - 1].index >> above))
				nodes++;
		}
	}
	return nodes;
}

/* ----------------------------------------------------------------------
 * Operations, applied to the store and to the model
 */

enum op_kind {
	OP_END, /* terminates a list of operations */
	OP_STORE,
	OP_ERASE,
	OP_STORE_RANGE,
	OP_STORE_VALUES,
	OP_ERASE_RANGE,
	OP_ALLOC,
};

static const char *const op_names[] = {
	[OP_END] = "end",
	[OP_STORE] = "store",
	[OP_ERASE] = "erase",
	[OP_STORE_RANGE] = "store_range",
	[OP_STORE_VALUES] = "store_values",
	[OP_ERASE_RANGE] = "erase_range",
	[OP_ALLOC] = "alloc",
};

struct op {
	enum op_kind kind;
	u64 first;	/* index; first of a range; alloc min */
	u64 last;	/* last of a range; alloc max */
	void *entry;	/* store, store_range, alloc */
	u64 value;	/* store_values: the first value */
};

#define STORE(i, e) { .kind = OP_STORE, .first = (i), .entry = (e) }
#define RANGE(f, l, e)                                                    \
	{ .kind = OP_STORE_RANGE, .first = (f), .last = (l), .entry = (e) }
#define VALUES(f, l, v)                                                   \
	{ .kind = OP_STORE_VALUES, .first = (f), .last = (l), .value = (v) }
#define ALLOC(lo, hi, e)                                                  \
	{ .kind = OP_ALLOC, .first = (lo), .last = (hi), .entry = (e) }

static void describe_op(const struct op *op)
{
	set_where("%s(%#llx, %#llx, entry %p, value %#llx)",
		  op_names[op->kind], (unsigned long long)op->first,
		  (unsigned long long)op->last, op->entry,
		  (unsigned long long)op->value);
}

static int store_apply(struct index_store *is, const struct op *op, u64 *id,
		       void **old)
{
	*old = NULL;
	switch (op->kind) {
	case OP_STORE:
		return index_store_store(is, op->first, op->entry);
	case OP_ERASE:
		*old = index_store_erase(is, op->first);
		return 0;
	case OP_STORE_RANGE:
		return index_store_store_range(is, op->first, op->last,
					       op->entry);
	case OP_STORE_VALUES:
		return index_store_store_values(is, op->first, op->last,
						op->value);
	case OP_ERASE_RANGE:
		/* The count of erased entries comes back through @id. */
		*id = index_store_erase_range(is, op->first, op->last);
		return 0;
	case OP_ALLOC:
		return index_store_alloc(is, id, op->first, op->last,
					 op->entry);
	case OP_END:
		break;
	}
	ASSERT_TRUE(false);
	return 0;
}

/* The documented semantics, on the model. */
static int model_apply(struct model *m, const struct op *op, u64 *id,
		       void **old)
{
	u64 last_value;

	*old = NULL;
	switch (op->kind) {
	case OP_STORE:
		model_set(m, op->first, op->entry);
		return 0;
	case OP_ERASE:
		*old = model_load(m, op->first);
		model_set(m, op->first, NULL);
		return 0;
	case OP_STORE_RANGE:
		if (!op->entry || op->first > op->last)
			return -EINVAL;
		model_fill(m, op->first, op->last, op->entry, false, 0);
		return 0;
	case OP_STORE_VALUES:
		if (op->first > op->last ||
		    __builtin_add_overflow(op->value, op->last - op->first,
					   &last_value) ||
		    last_value > VALUE_MAX)
			return -EINVAL;
		model_fill(m, op->first, op->last, NULL, true, op->value);
		return 0;
	case OP_ERASE_RANGE:
		*id = op->first > op->last ? 0 :
		      model_upper_bound(m, op->last) -
			      model_lower_bound(m, op->first);
		model_erase_range(m, op->first, op->last);
		return 0;
	case OP_ALLOC:
		return model_alloc(m, id, op->first, op->last, op->entry);
	case OP_END:
		break;
	}
	ASSERT_TRUE(false);
	return 0;
}

/* A store, its model, and the live allocation count of an empty store. */
struct ctx {
	struct index_store is;
	struct model m;
	long live_base;
};

static void ctx_init(struct ctx *c)
{
	node_size(); /* measure before the baseline */
	index_store_init(&c->is);
	model_init(&c->m);
	c->live_base = mem_live_count();
}

/* Compare the whole store against the model. */
static void check_ctx(struct ctx *c)
{
	const struct model *m = &c->m;
	size_t pos = 0, nodes;
	u64 index, id;
	void *entry;

	/* Ordered iteration sees exactly the model's non-reserved entries. */
	index_store_for_each(&c->is, index, entry) {
		while (pos < m->nr && m->e[pos].entry == RESERVED)
			pos++;
		if (pos == m->nr) {
			TH_LOG("while %s: unexpected entry %p at %#llx", where,
			       entry, (unsigned long long)index);
			ASSERT_TRUE(false);
		}
		CHECK_EQ(m->e[pos].index, index);
		CHECK_EQ(m->e[pos].entry, entry);
		pos++;
	}
	while (pos < m->nr && m->e[pos].entry == RESERVED)
		pos++;
	CHECK_EQ(m->nr, pos);

	/* load() agrees; reserved indices load NULL but are taken. */
	for (pos = 0; pos != m->nr; pos++) {
		u64 at = m->e[pos].index;

		if (m->e[pos].entry != RESERVED) {
			CHECK_EQ(m->e[pos].entry, index_store_load(&c->is, at));
			continue;
		}
		CHECK_EQ(NULL, index_store_load(&c->is, at));
		id = ID_POISON;
		CHECK_EQ(-EBUSY,
			 index_store_alloc(&c->is, &id, at, at, RESERVED));
		CHECK_EQ(ID_POISON, id);
	}

	/* The exact shape, hence the exact memory. */
	nodes = model_nodes(m);
	CHECK_EQ(m->nr == 0, index_store_empty(&c->is));
	CHECK_EQ(nodes, c->is.nr_nodes);
	CHECK_EQ(nodes * node_size(), index_store_bytes(&c->is));
	CHECK_EQ(c->live_base + (long)nodes, mem_live_count());
}

static void ctx_destroy(struct ctx *c)
{
	index_store_destroy(&c->is);
	CHECK_TRUE(index_store_empty(&c->is));
	CHECK_EQ(0, index_store_bytes(&c->is));
	CHECK_EQ(c->live_base, mem_live_count());
	model_free(&c->m);
}

/*
 * Run @op on the store, with allocation @fail_nth failing (0: none), and
 * on the model unless the injected failure fired; the two must agree.
 * Returns the store's result.
 */
static int do_op_id(struct ctx *c, const struct op *op, unsigned int fail_nth,
		    bool *fired_out, u64 *id_out)
{
	u64 sid = ID_POISON, mid = ID_POISON;
	void *sold, *mold;
	int src, mrc;
	bool fired;

	describe_op(op);
	err_reason_clear();
	fault_fail_nth_set(fail_nth);
	src = store_apply(&c->is, op, &sid, &sold);
	fired = fault_fail_nth_fired();
	fault_fail_nth_set(0);
	if (fired_out)
		*fired_out = fired;
	if (id_out)
		*id_out = sid;

	if (fired) {
		/* All or nothing: the store must be exactly as before. */
		CHECK_EQ(-ENOMEM, src);
		CHECK_TRUE(err_reason_get());
		check_ctx(c);
		return src;
	}
	mrc = model_apply(&c->m, op, &mid, &mold);
	CHECK_EQ(mrc, src);
	if (src)
		CHECK_TRUE(err_reason_get());
	CHECK_EQ(mold, sold);
	if ((op->kind == OP_ALLOC && !src) || op->kind == OP_ERASE_RANGE)
		CHECK_EQ(mid, sid);
	return src;
}

static int do_op(struct ctx *c, const struct op *op)
{
	return do_op_id(c, op, 0, NULL, NULL);
}

/* Shorthands for the directed tests; each returns the store's result. */
static int c_store(struct ctx *c, u64 index, void *entry)
{
	return do_op(c, &(struct op)STORE(index, entry));
}

static void *c_erase(struct ctx *c, u64 index)
{
	struct op op = { .kind = OP_ERASE, .first = index };
	void *old;

	/* The model's answer, taken first; do_op() checks the store's. */
	old = model_load(&c->m, index);
	do_op(c, &op);
	return old;
}

static int c_store_range(struct ctx *c, u64 first, u64 last, void *entry)
{
	return do_op(c, &(struct op)RANGE(first, last, entry));
}

static int c_store_values(struct ctx *c, u64 first, u64 last, u64 value)
{
	return do_op(c, &(struct op)VALUES(first, last, value));
}

static void c_erase_range(struct ctx *c, u64 first, u64 last)
{
	struct op op = { .kind = OP_ERASE_RANGE, .first = first, .last = last };

	do_op(c, &op);
}

static int c_alloc(struct ctx *c, u64 *id, u64 min, u64 max, void *entry)
{
	return do_op_id(c, &(struct op)ALLOC(min, max, entry), 0, NULL, id);
}

/* ----------------------------------------------------------------------
 * Basics
 */

TEST(empty_store)
{
	struct index_store is = INDEX_STORE_INIT;
	long live = mem_live_count();
	u64 index = 5;
	void *entry;

	ASSERT_TRUE(index_store_empty(&is));
	ASSERT_EQ(0, index_store_bytes(&is));
	ASSERT_NULL(index_store_load(&is, 0));
	ASSERT_NULL(index_store_load(&is, U64_MAX));
	ASSERT_NULL(index_store_find(&is, &index, U64_MAX));
	ASSERT_EQ(5, index);
	ASSERT_NULL(index_store_find_after(&is, &index, U64_MAX));
	ASSERT_EQ(5, index);
	ASSERT_NULL(index_store_erase(&is, 5));
	index_store_erase_range(&is, 0, U64_MAX);
	index_store_for_each(&is, index, entry)
		ASSERT_TRUE(false);

	/* Storing NULL is erasing: nothing to allocate. */
	fault_fail_nth_set(1);
	ASSERT_EQ(0, index_store_store(&is, 7, NULL));
	ASSERT_FALSE(fault_fail_nth_fired());
	fault_fail_nth_set(0);
	ASSERT_TRUE(index_store_empty(&is));

	index_store_destroy(&is);
	index_store_destroy(&is);
	ASSERT_TRUE(index_store_empty(&is));
	ASSERT_EQ(live, mem_live_count());

	index_store_init(&is);
	ASSERT_NULL(is.root);
	ASSERT_EQ(0, is.nr_nodes);
}

TEST(entry_encoding)
{
	ASSERT_TRUE(index_store_is_value(val(0)));
	ASSERT_EQ(0, index_store_value(val(0)));
	ASSERT_NONNULL(val(0));
	ASSERT_TRUE(index_store_is_value(val(VALUE_MAX)));
	ASSERT_EQ(VALUE_MAX, index_store_value(val(VALUE_MAX)));
	ASSERT_EQ(U64_MAX >> 1, VALUE_MAX);
	ASSERT_EQ(12345, index_store_value(val(12345)));

	/* Aligned pointers and RESERVED are not values, nor NULL. */
	ASSERT_FALSE(index_store_is_value(ptr(1)));
	ASSERT_FALSE(index_store_is_value(RESERVED));
	ASSERT_NONNULL(RESERVED);
	for (u64 v = 0; v != 4; v++)
		ASSERT_NE(RESERVED, val(v));
}

TEST(store_load_replace_erase)
{
	struct ctx c;

	ctx_init(&c);
	ASSERT_EQ(0, c_store(&c, 5, ptr(1)));
	ASSERT_EQ(ptr(1), index_store_load(&c.is, 5));
	ASSERT_NULL(index_store_load(&c.is, 4));
	ASSERT_NULL(index_store_load(&c.is, 6));
	ASSERT_NULL(index_store_load(&c.is, 5 + 64));
	ASSERT_EQ(1, c.is.nr_nodes);
	check_ctx(&c);

	/* Replacing allocates nothing, so it cannot fail. */
	fault_fail_nth_set(1);
	ASSERT_EQ(0, index_store_store(&c.is, 5, ptr(2)));
	ASSERT_FALSE(fault_fail_nth_fired());
	ASSERT_EQ(0, index_store_store(&c.is, 5, val(7)));
	ASSERT_FALSE(fault_fail_nth_fired());
	fault_fail_nth_set(0);
	model_set(&c.m, 5, val(7));
	ASSERT_EQ(val(7), index_store_load(&c.is, 5));
	check_ctx(&c);

	/* A second entry in the same leaf costs nothing either. */
	ASSERT_EQ(0, c_store(&c, 63, ptr(3)));
	ASSERT_EQ(1, c.is.nr_nodes);

	ASSERT_EQ(val(7), c_erase(&c, 5));
	ASSERT_NULL(c_erase(&c, 5));
	ASSERT_NULL(c_erase(&c, 6));
	ASSERT_NULL(c_erase(&c, U64_MAX));
	check_ctx(&c);

	/* Storing NULL erases, and the last erase frees everything. */
	ASSERT_EQ(0, c_store(&c, 63, NULL));
	ASSERT_TRUE(index_store_empty(&c.is));
	ASSERT_EQ(0, index_store_bytes(&c.is));
	check_ctx(&c);
	ctx_destroy(&c);
}

/* ----------------------------------------------------------------------
 * Dense
 */

#define DENSE_N 100000

static void *dense_entry(u64 i)
{
	return i % 3 ? val(i * 7) : ptr(i + 1);
}

TEST(dense)
{
	struct index_store is = INDEX_STORE_INIT;
	long live = mem_live_count();
	u64 index, expect;
	void *entry;

	for (u64 i = 0; i != DENSE_N; i++)
		ASSERT_EQ(0, index_store_store(&is, i, dense_entry(i)));

	/* 1563 leaves, 25 nodes above them, one root. */
	ASSERT_EQ(1563 + 25 + 1, run_nodes(0, DENSE_N - 1));
	ASSERT_EQ(run_nodes(0, DENSE_N - 1), is.nr_nodes);
	ASSERT_EQ(is.nr_nodes * node_size(), index_store_bytes(&is));
	ASSERT_EQ(live + (long)is.nr_nodes, mem_live_count());
	/* A little over 8 bytes an entry. */
	ASSERT_LE(index_store_bytes(&is), 9 * DENSE_N);

	for (u64 i = 0; i != DENSE_N; i++)
		ASSERT_EQ(dense_entry(i), index_store_load(&is, i));
	ASSERT_NULL(index_store_load(&is, DENSE_N));
	ASSERT_NULL(index_store_load(&is, U64_MAX));

	expect = 0;
	index_store_for_each(&is, index, entry) {
		ASSERT_EQ(expect, index);
		ASSERT_EQ(dense_entry(expect), entry);
		expect++;
	}
	ASSERT_EQ(DENSE_N, expect);

	/* Erase the odd half: every leaf keeps entries, nothing is freed. */
	for (u64 i = 1; i < DENSE_N; i += 2)
		ASSERT_EQ(dense_entry(i), index_store_erase(&is, i));
	ASSERT_EQ(run_nodes(0, DENSE_N - 1), is.nr_nodes);
	for (u64 i = 0; i != DENSE_N; i++)
		ASSERT_EQ(i % 2 ? NULL : dense_entry(i),
			  index_store_load(&is, i));
	expect = 0;
	index_store_for_each(&is, index, entry) {
		ASSERT_EQ(expect, index);
		ASSERT_EQ(dense_entry(expect), entry);
		expect += 2;
	}
	ASSERT_EQ(DENSE_N, expect);

	/* Erase the upper half from the top: the tree shrinks with it. */
	for (u64 i = DENSE_N - 2;; i -= 2) {
		ASSERT_EQ(dense_entry(i), index_store_erase(&is, i));
		ASSERT_NULL(index_store_erase(&is, i));
		if (i == DENSE_N / 2)
			break;
	}
	ASSERT_EQ(run_nodes(0, DENSE_N / 2 - 2), is.nr_nodes);
	ASSERT_EQ(live + (long)is.nr_nodes, mem_live_count());
	expect = 0;
	index_store_for_each(&is, index, entry) {
		ASSERT_EQ(expect, index);
		expect += 2;
	}
	ASSERT_EQ(DENSE_N / 2, expect);

	/* Erase the rest from the bottom. */
	for (u64 i = 0; i < DENSE_N / 2; i += 2)
		ASSERT_EQ(dense_entry(i), index_store_erase(&is, i));
	ASSERT_TRUE(index_store_empty(&is));
	ASSERT_EQ(0, index_store_bytes(&is));
	ASSERT_EQ(live, mem_live_count());
	index_store_destroy(&is);
}

TEST(dense_bytes_per_entry)
{
	static const u64 bases[] = {
		0, 1ULL << 20, 1ULL << 40, 1ULL << 63, U64_MAX - 65535,
	};
	const u64 n = 65536;

	for (unsigned int i = 0; i != ARRAY_SIZE(bases); i++) {
		struct index_store is = INDEX_STORE_INIT;
		u64 first = bases[i], last = first + n - 1;

		ASSERT_EQ(0, index_store_store_values(&is, first, last, 0));
		ASSERT_EQ(run_nodes(first, last), is.nr_nodes);
		ASSERT_EQ(is.nr_nodes * node_size(), index_store_bytes(&is));
		/* 8 bytes an entry, plus a little: under 9. */
		ASSERT_GE(index_store_bytes(&is), 8 * n);
		ASSERT_LE(index_store_bytes(&is), 9 * n);
		index_store_destroy(&is);
	}
}

/* ----------------------------------------------------------------------
 * Sparse: every index where the tree's shape changes
 */

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* 0, 1, 63, 64, 2^6k +- 1, 2^63 +- 1, the top: sorted, unique. */
static size_t boundary_set(u64 *out)
{
	size_t n = 0, uniq = 0;

	for (u64 i = 0; i != 3; i++) {
		out[n++] = i;
		out[n++] = U64_MAX - i;
		out[n++] = (1ULL << 63) - 1 + i;
	}
	out[n++] = U64_MAX - 63;
	out[n++] = U64_MAX - 64;
	for (unsigned int k = 1; k <= 10; k++) {
		out[n++] = (1ULL << (6 * k)) - 1;
		out[n++] = 1ULL << (6 * k);
		out[n++] = (1ULL << (6 * k)) + 1;
	}
	qsort(out, n, sizeof(*out), cmp_u64);
	for (size_t i = 0; i != n; i++)
		if (!uniq || out[uniq - 1] != out[i])
			out[uniq++] = out[i];
	return uniq;
}

static void shuffle(struct rng *r, u64 *a, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = rng_below(r, i);
		u64 t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

TEST(sparse_boundary_indices)
{
	u64 idx[64], order[64], index;
	struct rng r;
	struct ctx c;
	size_t n = boundary_set(idx);
	void *entry;

	rng_init(&r, test_seed());
	ASSERT_EQ(0, idx[0]);
	ASSERT_EQ(U64_MAX, idx[n - 1]);
	ctx_init(&c);

	memcpy(order, idx, n * sizeof(*idx));
	shuffle(&r, order, n);
	for (size_t i = 0; i != n; i++) {
		ASSERT_EQ(0, c_store(&c, order[i], val(order[i] >> 1)));
		check_ctx(&c);
	}

	/* In order, and nothing between neighbours. */
	for (size_t i = 0; i + 1 != n; i++) {
		index = idx[i];
		ASSERT_EQ(val(idx[i + 1] >> 1),
			  index_store_find_after(&c.is, &index, U64_MAX));
		ASSERT_EQ(idx[i + 1], index);
		index = idx[i] + 1;
		ASSERT_EQ(val(idx[i + 1] >> 1),
			  index_store_find(&c.is, &index, idx[i + 1]));
		ASSERT_EQ(idx[i + 1], index);
		index = idx[i] + 1;
		if (index < idx[i + 1]) {
			ASSERT_NULL(index_store_find(&c.is, &index,
						     idx[i + 1] - 1));
			ASSERT_EQ(idx[i] + 1, index);
		}
		index = idx[i];
		ASSERT_NULL(index_store_find_after(&c.is, &index, idx[i]));
		ASSERT_EQ(idx[i], index);
	}
	n = 0;
	index_store_for_each(&c.is, index, entry) {
		ASSERT_EQ(idx[n], index);
		ASSERT_EQ(val(idx[n] >> 1), entry);
		n++;
	}
	ASSERT_EQ(c.m.nr, n);

	/* Erase in another order; the shape follows the remaining set. */
	shuffle(&r, order, n);
	for (size_t i = 0; i != n; i++) {
		ASSERT_EQ(val(order[i] >> 1), c_erase(&c, order[i]));
		check_ctx(&c);
	}
	ASSERT_TRUE(index_store_empty(&c.is));
	ctx_destroy(&c);
}

/* ----------------------------------------------------------------------
 * The top of u64
 */

TEST(top_index)
{
	struct ctx c;
	u64 index, n;
	void *entry;

	ctx_init(&c);
	ASSERT_EQ(0, c_store(&c, U64_MAX, ptr(1)));
	/* A full path: root at shift 60 down to a leaf, 11 nodes. */
	ASSERT_EQ(11, c.is.nr_nodes);
	ASSERT_EQ(ptr(1), index_store_load(&c.is, U64_MAX));
	ASSERT_NULL(index_store_load(&c.is, U64_MAX - 1));
	ASSERT_NULL(index_store_load(&c.is, 0));
	ASSERT_NULL(index_store_load(&c.is, 63));
	check_ctx(&c);

	index = 0;
	ASSERT_EQ(ptr(1), index_store_find(&c.is, &index, U64_MAX));
	ASSERT_EQ(U64_MAX, index);
	ASSERT_EQ(ptr(1), index_store_find(&c.is, &index, U64_MAX));
	ASSERT_EQ(U64_MAX, index);
	index = 0;
	ASSERT_NULL(index_store_find(&c.is, &index, U64_MAX - 1));
	ASSERT_EQ(0, index);
	index = U64_MAX - 1;
	ASSERT_EQ(ptr(1), index_store_find_after(&c.is, &index, U64_MAX));
	ASSERT_EQ(U64_MAX, index);
	/* Nothing after the top, and no wrapping round to 0. */
	ASSERT_NULL(index_store_find_after(&c.is, &index, U64_MAX));
	ASSERT_EQ(U64_MAX, index);
	ASSERT_EQ(0, c_store(&c, 0, ptr(2)));
	ASSERT_NULL(index_store_find_after(&c.is, &index, U64_MAX));
	ASSERT_EQ(U64_MAX, index);

	ASSERT_EQ(0, c_store(&c, U64_MAX - 1, val(3)));
	n = 0;
	index_store_for_each(&c.is, index, entry) {
		ASSERT_LT(n, 3);
		ASSERT_EQ(n == 0 ? 0 : U64_MAX - 2 + n, index);
		n++;
	}
	ASSERT_EQ(3, n);
	n = 0;
	index_store_for_each_range(&c.is, index, entry, U64_MAX - 1, U64_MAX) {
		ASSERT_LT(n, 2);
		n++;
	}
	ASSERT_EQ(2, n);
	check_ctx(&c);

	ASSERT_EQ(ptr(1), c_erase(&c, U64_MAX));
	ASSERT_NULL(index_store_load(&c.is, U64_MAX));
	check_ctx(&c);
	c_erase_range(&c, U64_MAX - 1, U64_MAX - 1);
	/* Only 0 is left: the root shrank back to a single leaf. */
	ASSERT_EQ(1, c.is.nr_nodes);
	check_ctx(&c);
	ctx_destroy(&c);
}

TEST(top_ranges)
{
	struct ctx c;
	u64 index, n;
	void *entry;

	ctx_init(&c);
	ASSERT_EQ(0, c_store_range(&c, U64_MAX - 200, U64_MAX, ptr(1)));
	n = 0;
	index_store_for_each_range(&c.is, index, entry, U64_MAX - 300,
				   U64_MAX) {
		ASSERT_EQ(U64_MAX - 200 + n, index);
		ASSERT_EQ(ptr(1), entry);
		n++;
	}
	ASSERT_EQ(201, n);
	check_ctx(&c);

	/* Values reaching both the top index and the top value. */
	ASSERT_EQ(0, c_store_values(&c, U64_MAX - 63, U64_MAX,
				    VALUE_MAX - 63));
	ASSERT_EQ(val(VALUE_MAX), index_store_load(&c.is, U64_MAX));
	ASSERT_EQ(val(VALUE_MAX - 63), index_store_load(&c.is, U64_MAX - 63));
	ASSERT_EQ(ptr(1), index_store_load(&c.is, U64_MAX - 64));
	ASSERT_EQ(-EINVAL, c_store_values(&c, U64_MAX - 1, U64_MAX,
					  VALUE_MAX));
	ASSERT_EQ(-EINVAL, c_store_values(&c, 0, U64_MAX, 0));
	check_ctx(&c);

	c_erase_range(&c, U64_MAX - 10, U64_MAX);
	ASSERT_NULL(index_store_load(&c.is, U64_MAX));
	ASSERT_EQ(val(VALUE_MAX - 11), index_store_load(&c.is, U64_MAX - 11));
	check_ctx(&c);

	ASSERT_EQ(0, c_store(&c, 0, ptr(2)));
	ASSERT_EQ(0, c_store(&c, 1ULL << 63, ptr(3)));
	ASSERT_EQ(0, c_alloc(&c, &index, 100, 200, RESERVED));
	c_erase_range(&c, 0, U64_MAX);
	ASSERT_TRUE(index_store_empty(&c.is));
	ASSERT_EQ(0, index_store_bytes(&c.is));
	check_ctx(&c);
	ctx_destroy(&c);
}

TEST(top_alloc)
{
	struct ctx c;
	u64 id;

	ctx_init(&c);
	ASSERT_EQ(0, c_alloc(&c, &id, U64_MAX, U64_MAX, ptr(1)));
	ASSERT_EQ(U64_MAX, id);
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, U64_MAX, U64_MAX, ptr(1)));

	ASSERT_EQ(0, c_store(&c, U64_MAX - 2, ptr(2)));
	ASSERT_EQ(0, c_store(&c, U64_MAX - 1, RESERVED));
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, U64_MAX - 2, U64_MAX, ptr(3)));
	check_ctx(&c);
	ASSERT_NULL(c_erase(&c, U64_MAX - 1));
	ASSERT_EQ(0, c_alloc(&c, &id, U64_MAX - 2, U64_MAX, ptr(3)));
	ASSERT_EQ(U64_MAX - 1, id);

	/* The whole range, with only the top taken: the bottom. */
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(4)));
	ASSERT_EQ(0, id);

	/* A full top leaf. */
	ASSERT_EQ(0, c_store_range(&c, U64_MAX - 63, U64_MAX, ptr(5)));
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, U64_MAX - 63, U64_MAX, ptr(6)));
	ASSERT_EQ(0, c_alloc(&c, &id, U64_MAX - 64, U64_MAX, ptr(6)));
	ASSERT_EQ(U64_MAX - 64, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 1ULL << 62, U64_MAX, ptr(7)));
	ASSERT_EQ(1ULL << 62, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 1ULL << 62, U64_MAX, ptr(7)));
	ASSERT_EQ((1ULL << 62) + 1, id);

	/* A full top 4096 node. */
	ASSERT_EQ(0, c_store_range(&c, U64_MAX - 4095, U64_MAX, RESERVED));
	ASSERT_EQ(0, c_alloc(&c, &id, U64_MAX - 4200, U64_MAX, ptr(8)));
	ASSERT_EQ(U64_MAX - 4200, id);
	ASSERT_EQ(0, c_alloc(&c, &id, U64_MAX - 4096, U64_MAX, ptr(8)));
	ASSERT_EQ(U64_MAX - 4096, id);
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, U64_MAX - 4096, U64_MAX, ptr(8)));
	check_ctx(&c);
	ctx_destroy(&c);
}

/* ----------------------------------------------------------------------
 * Range store and erase
 */

struct range_case {
	u64 first, last;
	size_t nodes; /* the shape, counted by hand (0: not given) */
};

static const struct range_case range_cases[] = {
	{ 5, 60, 1 },			/* inside one leaf */
	{ 0, 63, 1 },			/* exactly one leaf */
	{ 64, 127, 2 },			/* one leaf, not the first: a root */
	{ 60, 70, 3 },			/* across a leaf boundary */
	{ 4090, 4100, 5 },		/* across a 4096 node boundary */
	{ 262140, 262150, 7 },		/* across a 262144 node boundary */
	{ 63, 64 * 70 + 1, 71 + 2 + 1 },	/* 71 leaves, two nodes */
	{ 4096 * 3 - 1, 4096 * 5 + 1, 0 },
	{ (1ULL << 36) - 100, (1ULL << 36) + 100, 0 },
	{ (1ULL << 63) - 64, (1ULL << 63) + 63, 0 },
};

TEST(store_range_boundaries)
{
	for (unsigned int i = 0; i != ARRAY_SIZE(range_cases); i++) {
		const struct range_case *rc = &range_cases[i];
		u64 lo = rc->first >= 2 ? rc->first - 2 : 0;
		struct ctx c;

		set_where_prefix("range case %u", i);
		ctx_init(&c);
		ASSERT_EQ(0, c_store_range(&c, rc->first, rc->last, ptr(9)));
		if (rc->nodes)
			ASSERT_EQ(rc->nodes, run_nodes(rc->first, rc->last));
		ASSERT_EQ(run_nodes(rc->first, rc->last), c.is.nr_nodes);
		ASSERT_EQ(ptr(9), index_store_load(&c.is, rc->first));
		ASSERT_EQ(ptr(9), index_store_load(&c.is, rc->last));
		ASSERT_NULL(index_store_load(&c.is, rc->first - 1));
		ASSERT_NULL(index_store_load(&c.is, rc->last + 1));
		check_ctx(&c);

		/* The same range as counting values, over the pointers. */
		ASSERT_EQ(0, c_store_values(&c, rc->first, rc->last, 1000));
		for (u64 at = rc->first; at <= rc->last; at++)
			ASSERT_EQ(val(1000 + at - rc->first),
				  index_store_load(&c.is, at));
		ASSERT_EQ(run_nodes(rc->first, rc->last), c.is.nr_nodes);
		check_ctx(&c);

		/* Overlapping the middle and one end. */
		ASSERT_EQ(0, c_store_range(&c, rc->first + 1, rc->last + 3,
					   RESERVED));
		ASSERT_EQ(val(1000), index_store_load(&c.is, rc->first));
		ASSERT_NULL(index_store_load(&c.is, rc->first + 1));
		check_ctx(&c);
		ASSERT_EQ(0, c_store_values(&c, lo, rc->first + 2, 7));
		check_ctx(&c);

		/* Erasing what was stored gives an empty store. */
		c_erase_range(&c, lo, rc->last + 3);
		ASSERT_TRUE(index_store_empty(&c.is));
		check_ctx(&c);
		ctx_destroy(&c);
	}
}

TEST(store_values_counting)
{
	struct ctx c;
	u64 index, n;
	void *entry;

	ctx_init(&c);
	/* Across leaves, 4096 and 262144 nodes, values counting up. */
	ASSERT_EQ(0, c_store_values(&c, 262144 - 4096 - 3, 262144 + 70, 5));
	n = 0;
	index_store_for_each(&c.is, index, entry) {
		ASSERT_EQ(262144 - 4096 - 3 + n, index);
		ASSERT_TRUE(index_store_is_value(entry));
		ASSERT_EQ(5 + n, index_store_value(entry));
		n++;
	}
	ASSERT_EQ(4096 + 3 + 71, n);
	check_ctx(&c);

	/* The last value may be VALUE_MAX, not beyond. */
	ASSERT_EQ(0, c_store_values(&c, 100, 109, VALUE_MAX - 9));
	ASSERT_EQ(val(VALUE_MAX - 9), index_store_load(&c.is, 100));
	ASSERT_EQ(val(VALUE_MAX), index_store_load(&c.is, 109));
	ASSERT_EQ(0, c_store_values(&c, 0, 0, VALUE_MAX));
	ASSERT_EQ(val(VALUE_MAX), index_store_load(&c.is, 0));
	check_ctx(&c);
	ctx_destroy(&c);
}

TEST(range_invalid_args)
{
	static const struct op bad[] = {
		RANGE(10, 9, (void *)8),
		RANGE(U64_MAX, 0, (void *)8),
		RANGE(0, 10, NULL),
		RANGE(5, 5, NULL),
		VALUES(10, 9, 0),
		VALUES(U64_MAX, 0, 0),
		VALUES(0, 1, VALUE_MAX),	/* last value one too big */
		VALUES(5, 5, VALUE_MAX + 1),	/* first value too big */
		VALUES(0, 9, U64_MAX - 3),	/* the sum overflows */
		VALUES(0, U64_MAX, 1),
		VALUES(1, U64_MAX, 1),
		ALLOC(10, 9, (void *)8),
		ALLOC(U64_MAX, 0, (void *)8),
		ALLOC(0, U64_MAX, NULL),
	};
	struct ctx c;

	ctx_init(&c);
	ASSERT_EQ(0, c_store_values(&c, 0, 200, 0));
	ASSERT_EQ(0, c_store(&c, U64_MAX, ptr(1)));
	for (unsigned int i = 0; i != ARRAY_SIZE(bad); i++) {
		bool fired;

		/* Refused before allocating anything; nothing changes. */
		ASSERT_EQ(-EINVAL, do_op_id(&c, &bad[i], 1, &fired, NULL));
		CHECK_TRUE(!fired);
		check_ctx(&c);
	}
	ctx_destroy(&c);
}

TEST(erase_range_cases)
{
	struct ctx c;
	size_t nodes;

	ctx_init(&c);
	ASSERT_EQ(0, c_store_values(&c, 0, 64 * 8 - 1, 1000));
	ASSERT_EQ(0, c_store(&c, 700, RESERVED));
	ASSERT_EQ(0, c_store(&c, 5000, ptr(1)));
	ASSERT_EQ(0, c_store(&c, 1ULL << 30, ptr(2)));
	ASSERT_EQ(0, c_store(&c, U64_MAX, ptr(3)));
	check_ctx(&c);

	/* Part of a leaf: only those go, no node is freed. */
	nodes = c.is.nr_nodes;
	c_erase_range(&c, 10, 20);
	ASSERT_NULL(index_store_load(&c.is, 10));
	ASSERT_NULL(index_store_load(&c.is, 20));
	ASSERT_EQ(val(1009), index_store_load(&c.is, 9));
	ASSERT_EQ(val(1021), index_store_load(&c.is, 21));
	ASSERT_EQ(nodes, c.is.nr_nodes);
	check_ctx(&c);

	/* A whole leaf: exactly that leaf is freed. */
	c_erase_range(&c, 64, 127);
	ASSERT_EQ(nodes - 1, c.is.nr_nodes);
	check_ctx(&c);

	/* Across leaves, partly erased already. */
	c_erase_range(&c, 100, 300);
	check_ctx(&c);

	/* Empty ranges and ranges with nothing in them change nothing. */
	nodes = c.is.nr_nodes;
	c_erase_range(&c, 20, 10);
	c_erase_range(&c, U64_MAX, 0);
	c_erase_range(&c, 1000, 4000);
	c_erase_range(&c, 5001, (1ULL << 30) - 1);
	c_erase_range(&c, (1ULL << 30) + 1, U64_MAX - 1);
	ASSERT_EQ(nodes, c.is.nr_nodes);
	check_ctx(&c);

	/* Reserved entries are erased too: the index is free again. */
	c_erase_range(&c, 600, 800);
	check_ctx(&c);

	/* Single indices, the top included. */
	c_erase_range(&c, 5000, 5000);
	c_erase_range(&c, U64_MAX, U64_MAX);
	check_ctx(&c);

	/* All but the ends, then everything. */
	ASSERT_EQ(0, c_store(&c, U64_MAX, ptr(4)));
	c_erase_range(&c, 1, U64_MAX - 1);
	ASSERT_EQ(val(1000), index_store_load(&c.is, 0));
	ASSERT_EQ(ptr(4), index_store_load(&c.is, U64_MAX));
	check_ctx(&c);
	c_erase_range(&c, 0, U64_MAX);
	ASSERT_TRUE(index_store_empty(&c.is));
	ASSERT_EQ(0, index_store_bytes(&c.is));
	check_ctx(&c);
	ctx_destroy(&c);
}

/* ----------------------------------------------------------------------
 * ID allocation
 */

TEST(alloc_fills_holes_in_order)
{
	static const u64 holes[] = { 999, 0, 500, 63, 64, 4, 128, 127, 1 };
	static const u64 sorted[] = { 0, 1, 4, 63, 64, 127, 128, 500, 999 };
	struct ctx c;
	u64 id;

	ctx_init(&c);
	for (u64 i = 0; i != 1000; i++) {
		ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(i + 1)));
		ASSERT_EQ(i, id);
	}
	check_ctx(&c);
	for (unsigned int i = 0; i != ARRAY_SIZE(holes); i++)
		ASSERT_EQ(ptr(holes[i] + 1), c_erase(&c, holes[i]));
	check_ctx(&c);
	for (unsigned int i = 0; i != ARRAY_SIZE(sorted); i++) {
		ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(5000 + i)));
		ASSERT_EQ(sorted[i], id);
	}
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(6000)));
	ASSERT_EQ(1000, id);
	check_ctx(&c);
	ctx_destroy(&c);
}

TEST(alloc_bounds_and_busy)
{
	struct ctx c;
	size_t bytes;
	long live;
	u64 id;

	ctx_init(&c);
	for (u64 i = 100; i <= 200; i++) {
		ASSERT_EQ(0, c_alloc(&c, &id, 100, 200, ptr(i)));
		ASSERT_EQ(i, id);
	}
	check_ctx(&c);

	/* Full: -EBUSY, nothing allocated, nothing changed. */
	bytes = index_store_bytes(&c.is);
	live = mem_live_count();
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, 100, 200, ptr(1)));
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, 150, 150, ptr(1)));
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, 200, 200, ptr(1)));
	ASSERT_EQ(bytes, index_store_bytes(&c.is));
	ASSERT_EQ(live, mem_live_count());
	check_ctx(&c);

	ASSERT_EQ(0, c_alloc(&c, &id, 50, 150, ptr(1)));
	ASSERT_EQ(50, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 150, 250, ptr(1)));
	ASSERT_EQ(201, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 99, 99, ptr(1)));
	ASSERT_EQ(99, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 97, 200, ptr(1)));
	ASSERT_EQ(97, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 97, 200, ptr(1)));
	ASSERT_EQ(98, id);
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, 97, 200, ptr(1)));

	/* Beyond what the root covers, and below everything held. */
	ASSERT_EQ(0, c_alloc(&c, &id, 1000, 2000, ptr(1)));
	ASSERT_EQ(1000, id);
	ASSERT_EQ(0, c_store(&c, 1ULL << 40, ptr(2)));
	ASSERT_EQ(0, c_alloc(&c, &id, 0, 10, ptr(3)));
	ASSERT_EQ(0, id);
	ASSERT_EQ(0, c_alloc(&c, &id, (1ULL << 40) - 1, U64_MAX, ptr(3)));
	ASSERT_EQ((1ULL << 40) - 1, id);
	ASSERT_EQ(0, c_alloc(&c, &id, (1ULL << 40) - 1, U64_MAX, ptr(3)));
	ASSERT_EQ((1ULL << 40) + 1, id);
	check_ctx(&c);
	ctx_destroy(&c);
}

/* min at, just past and well past the last index the root covers. */
TEST(alloc_at_root_coverage_edge)
{
	struct ctx c;
	u64 id;

	ctx_init(&c);
	/* A single leaf root covers [0, 63]. */
	ASSERT_EQ(0, c_store(&c, 10, ptr(1)));
	ASSERT_EQ(0, c_alloc(&c, &id, 63, U64_MAX, ptr(2)));
	ASSERT_EQ(63, id);
	ASSERT_EQ(1, c.is.nr_nodes);
	ASSERT_EQ(0, c_alloc(&c, &id, 63, U64_MAX, ptr(3)));
	ASSERT_EQ(64, id);
	check_ctx(&c);

	/* Now [0, 4095]: min beyond it is taken as is. */
	ASSERT_EQ(0, c_alloc(&c, &id, 5000, 6000, ptr(4)));
	ASSERT_EQ(5000, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 1ULL << 40, U64_MAX, ptr(5)));
	ASSERT_EQ(1ULL << 40, id);
	/* A single index at the top, far past everything. */
	ASSERT_EQ(0, c_alloc(&c, &id, U64_MAX - 5, U64_MAX - 5, ptr(6)));
	ASSERT_EQ(U64_MAX - 5, id);
	check_ctx(&c);
	ctx_destroy(&c);
}

struct full_case {
	u64 first, last;	/* taken */
	u64 min;		/* alloc from here */
	u64 expect;
};

static const struct full_case full_cases[] = {
	{ 0, 63, 0, 64 },
	{ 0, 4095, 0, 4096 },
	{ 0, 262143, 0, 262144 },
	{ 64, 127, 60, 60 },
	{ 64, 127, 64, 128 },
	{ 4096 * 5, 4096 * 6 - 1, 4096 * 5 + 7, 4096 * 6 },
	{ 4096 * 5, 4096 * 6 - 1, 4096 * 5 - 1, 4096 * 5 - 1 },
	{ 262144, 262144 * 2 - 1, 262144, 262144 * 2 },
	{ (1ULL << 40) - 4096, (1ULL << 40) + 4095, (1ULL << 40) - 4096,
	  (1ULL << 40) + 4096 },
};

TEST(alloc_skips_full_runs)
{
	for (unsigned int i = 0; i != ARRAY_SIZE(full_cases); i++) {
		const struct full_case *fc = &full_cases[i];
		struct ctx c;
		u64 id;

		set_where_prefix("full case %u", i);
		ctx_init(&c);
		/* Something far away, so the run is not the whole tree. */
		ASSERT_EQ(0, c_store(&c, 1ULL << 50, ptr(1)));
		ASSERT_EQ(0, c_store_range(&c, fc->first, fc->last, ptr(2)));
		ASSERT_EQ(0, c_alloc(&c, &id, fc->min, U64_MAX, ptr(3)));
		ASSERT_EQ(fc->expect, id);
		check_ctx(&c);

		/* Reserved entries take their indices just the same. */
		ASSERT_EQ(ptr(3), c_erase(&c, id));
		ASSERT_EQ(0, c_store_range(&c, fc->first, fc->last, RESERVED));
		ASSERT_EQ(0, c_alloc(&c, &id, fc->min, U64_MAX, ptr(3)));
		ASSERT_EQ(fc->expect, id);
		check_ctx(&c);
		ctx_destroy(&c);
	}
}

TEST(alloc_tracks_full_subtrees)
{
	struct ctx c;
	u64 id;

	ctx_init(&c);
	/* 0..262143 taken: the root covers exactly that and is full. */
	ASSERT_EQ(0, c_store_values(&c, 0, 262143, 0));
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(1)));
	ASSERT_EQ(262144, id);
	ASSERT_EQ(-EBUSY, c_alloc(&c, &id, 0, 262144, ptr(1)));

	/* A hole deep in a full subtree is found, then it is full again. */
	ASSERT_EQ(val(200000), c_erase(&c, 200000));
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(2)));
	ASSERT_EQ(200000, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(3)));
	ASSERT_EQ(262145, id);

	/* Holes freed by erase_range, found lowest first. */
	c_erase_range(&c, 4096 * 7, 4096 * 9 - 1);
	c_erase_range(&c, 100, 100);
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(4)));
	ASSERT_EQ(100, id);
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(4)));
	ASSERT_EQ(4096 * 7, id);
	ASSERT_EQ(0, c_store_range(&c, 4096 * 7, 4096 * 9 - 1, ptr(5)));
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(6)));
	ASSERT_EQ(262146, id);
	check_ctx(&c);

	/* Fullness survives the root growing above it. */
	c_erase_range(&c, 262144, U64_MAX);
	ASSERT_EQ(0, c_store(&c, 1ULL << 30, ptr(7)));
	ASSERT_EQ(0, c_store(&c, U64_MAX, ptr(7)));
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(8)));
	ASSERT_EQ(262144, id);
	check_ctx(&c);
	ctx_destroy(&c);
}

TEST(alloc_reserved)
{
	struct ctx c;
	u64 id, index;
	void *entry;

	ctx_init(&c);
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, RESERVED));
	ASSERT_EQ(0, id);
	ASSERT_NULL(index_store_load(&c.is, 0));
	index = 0;
	ASSERT_NULL(index_store_find(&c.is, &index, U64_MAX));
	ASSERT_EQ(0, index);
	index_store_for_each(&c.is, index, entry)
		ASSERT_TRUE(false);
	ASSERT_FALSE(index_store_empty(&c.is));
	ASSERT_EQ(1, c.is.nr_nodes);

	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, ptr(1)));
	ASSERT_EQ(1, id);
	index = 0;
	ASSERT_EQ(ptr(1), index_store_find(&c.is, &index, U64_MAX));
	ASSERT_EQ(1, index);
	check_ctx(&c);

	/* Erasing a reservation returns NULL but frees the index. */
	ASSERT_NULL(c_erase(&c, 0));
	ASSERT_EQ(0, c_alloc(&c, &id, 0, U64_MAX, RESERVED));
	ASSERT_EQ(0, id);

	/* Publishing: store over the reservation, nothing to allocate. */
	fault_fail_nth_set(1);
	ASSERT_EQ(0, index_store_store(&c.is, 0, ptr(2)));
	ASSERT_FALSE(fault_fail_nth_fired());
	fault_fail_nth_set(0);
	model_set(&c.m, 0, ptr(2));
	ASSERT_EQ(ptr(2), index_store_load(&c.is, 0));
	index = 0;
	ASSERT_EQ(ptr(2), index_store_find(&c.is, &index, U64_MAX));
	ASSERT_EQ(0, index);
	check_ctx(&c);

	/* Reserving over a real entry hides it. */
	ASSERT_EQ(0, c_store(&c, 1, RESERVED));
	ASSERT_NULL(index_store_load(&c.is, 1));
	index = 0;
	ASSERT_NULL(index_store_find_after(&c.is, &index, U64_MAX));
	check_ctx(&c);

	/* Reserved runs, skipped by find and by alloc. */
	ASSERT_EQ(0, c_store_range(&c, 10, 20, RESERVED));
	ASSERT_EQ(0, c_store(&c, 21, ptr(3)));
	index = 2;
	ASSERT_EQ(ptr(3), index_store_find(&c.is, &index, U64_MAX));
	ASSERT_EQ(21, index);
	ASSERT_EQ(0, c_alloc(&c, &id, 10, 30, ptr(4)));
	ASSERT_EQ(22, id);
	c_erase_range(&c, 0, 15);
	ASSERT_EQ(0, c_alloc(&c, &id, 10, 30, ptr(4)));
	ASSERT_EQ(10, id);
	check_ctx(&c);
	ctx_destroy(&c);
}

/* ----------------------------------------------------------------------
 * An injected allocation failure at every point
 */

struct fault_case {
	const char *name;
	struct op setup[5];	/* builds the store first; OP_END ends */
	struct op op;		/* fails at each allocation in turn */
	unsigned int allocs;	/* allocations it makes, by hand (0: any) */
};

/*
 * Run @fc->op on a freshly built store with allocation 1, 2, ... failing
 * until it runs without the fault firing. A failure must leave contents,
 * bytes and live allocations exactly as before; the one success must give
 * the model's result, having allocated exactly the nodes it added.
 */
static void fault_every_point(const struct fault_case *fc)
{
	unsigned int nth;
	bool fired;

	for (nth = 1;; nth++) {
		size_t bytes, nodes;
		struct ctx c;
		long live;
		int rc;

		set_where_prefix("%s, setup", fc->name);
		ctx_init(&c);
		for (const struct op *op = fc->setup; op->kind != OP_END; op++)
			ASSERT_EQ(0, do_op(&c, op));
		check_ctx(&c);

		set_where_prefix("%s, allocation %u failing", fc->name, nth);
		bytes = index_store_bytes(&c.is);
		nodes = c.is.nr_nodes;
		live = mem_live_count();
		rc = do_op_id(&c, &fc->op, nth, &fired, NULL);
		if (fired) {
			CHECK_EQ(-ENOMEM, rc);
			CHECK_EQ(bytes, index_store_bytes(&c.is));
			CHECK_EQ(live, mem_live_count());
		} else {
			CHECK_EQ(0, rc);
			CHECK_EQ(nth - 1, c.is.nr_nodes - nodes);
			CHECK_EQ(live + (long)(nth - 1), mem_live_count());
			if (fc->allocs)
				CHECK_EQ(fc->allocs, nth - 1);
		}
		check_ctx(&c);
		ctx_destroy(&c);
		if (!fired)
			break;
	}
	/* Every case allocates, so the failure path really ran. */
	CHECK_TRUE(nth > 1);
	set_where_prefix("after %s", fc->name);
}

static void fault_cases(const struct fault_case *cases, size_t nr)
{
	for (size_t i = 0; i != nr; i++)
		fault_every_point(&cases[i]);
}

TEST(fault_store_into_empty)
{
	const struct fault_case cases[] = {
		{ "store 0", {}, STORE(0, ptr(1)), 1 },
		{ "store 63", {}, STORE(63, val(1)), 1 },
		{ "store 64", {}, STORE(64, ptr(1)), 2 },
		{ "store 4096", {}, STORE(4096, ptr(1)), 3 },
		{ "store 2^40", {}, STORE(1ULL << 40, ptr(1)), 7 },
		{ "store 2^63", {}, STORE(1ULL << 63, RESERVED), 11 },
		{ "store top", {}, STORE(U64_MAX, ptr(1)), 11 },
	};

	fault_cases(cases, ARRAY_SIZE(cases));
}

TEST(fault_store_grows_root)
{
	const struct fault_case cases[] = {
		{ "leaf root, store 64", { VALUES(0, 63, 0) },
		  STORE(64, ptr(1)), 2 },
		{ "leaf root, store 2^20", { VALUES(0, 63, 0) },
		  STORE(1ULL << 20, ptr(1)), 6 },
		{ "leaf root, store top", { STORE(5, ptr(2)) },
		  STORE(U64_MAX, ptr(1)), 20 },
		{ "shift 6 root, store 4096",
		  { STORE(64, ptr(2)), STORE(0, ptr(3)) },
		  STORE(4096, ptr(1)), 3 },
		{ "full root, store 2^30", { VALUES(0, 4095, 0) },
		  STORE(1ULL << 30, ptr(1)), 9 },
	};

	fault_cases(cases, ARRAY_SIZE(cases));
}

TEST(fault_store_new_levels)
{
	const struct fault_case cases[] = {
		/* Root at shift 60 with paths to 0 and the top. */
		{ "under 0 path", { STORE(0, ptr(2)), STORE(U64_MAX, ptr(3)) },
		  STORE((1ULL << 40) + 123, ptr(1)), 6 },
		{ "under top path",
		  { STORE(0, ptr(2)), STORE(U64_MAX, ptr(3)) },
		  STORE(U64_MAX - 4096, ptr(1)), 2 },
		{ "fresh top slot",
		  { STORE(0, ptr(2)), STORE(U64_MAX, ptr(3)) },
		  STORE(1ULL << 62, ptr(1)), 10 },
		{ "next to a dense run", { VALUES(0, 9999, 0) },
		  STORE(262143, ptr(1)), 2 },
	};

	fault_cases(cases, ARRAY_SIZE(cases));
}

TEST(fault_store_range)
{
	const struct fault_case cases[] = {
		{ "empty, 100 leaves across 4096", {},
		  RANGE(5, 64 * 100 + 7, ptr(1)), 101 + 2 + 1 },
		{ "empty, across 262144", {},
		  RANGE(262144 - 64 * 3 - 5, 262144 + 64 * 3 + 5, ptr(1)), 0 },
		{ "empty, to the top", {},
		  RANGE(U64_MAX - 64 * 5, U64_MAX, RESERVED), 0 },
		{ "over existing leaves, growing",
		  { VALUES(0, 40, 0), STORE(5000, ptr(2)),
		    STORE(9000, ptr(3)) },
		  RANGE(30, 64 * 150, ptr(1)), 0 },
		{ "growing mid-range",
		  { STORE(9000, ptr(2)), STORE(262144 - 64 * 2, ptr(3)) },
		  RANGE(262144 - 64 * 3 - 5, 262144 + 64 * 3 + 5, ptr(1)), 0 },
		{ "over the whole shape",
		  { STORE(0, ptr(2)), STORE(64 * 64 * 2, ptr(3)),
		    STORE(U64_MAX, ptr(4)) },
		  RANGE(1, 64 * 64 * 3, val(5)), 0 },
		{ "to the top, below an entry",
		  { STORE(0, ptr(2)), STORE(U64_MAX - 64 * 3, ptr(3)) },
		  RANGE(U64_MAX - 64 * 5, U64_MAX, ptr(1)), 0 },
	};

	fault_cases(cases, ARRAY_SIZE(cases));
}

TEST(fault_store_values)
{
	const struct fault_case cases[] = {
		{ "empty, 100 leaves across 4096", {},
		  VALUES(5, 64 * 100 + 7, 0), 101 + 2 + 1 },
		{ "empty, across 262144", {},
		  VALUES(262144 - 64 * 3 - 5, 262144 + 64 * 3 + 5, 77), 0 },
		{ "empty, to the top values", {},
		  VALUES(U64_MAX - 64 * 5, U64_MAX, VALUE_MAX - 64 * 5), 0 },
		{ "over existing leaves, growing",
		  { VALUES(0, 40, 0), STORE(5000, ptr(2)),
		    STORE(9000, ptr(3)) },
		  VALUES(30, 64 * 150, 3), 0 },
		{ "growing mid-range",
		  { STORE(9000, ptr(2)), STORE(262144 - 64 * 2, RESERVED) },
		  VALUES(262144 - 64 * 3 - 5, 262144 + 64 * 3 + 5, 1), 0 },
	};

	fault_cases(cases, ARRAY_SIZE(cases));
}

TEST(fault_alloc)
{
	const struct fault_case cases[] = {
		{ "empty", {}, ALLOC(0, U64_MAX, ptr(1)), 1 },
		{ "empty, high min", {},
		  ALLOC(1ULL << 50, U64_MAX, ptr(1)), 0 },
		{ "full leaf root", { VALUES(0, 63, 0) },
		  ALLOC(0, U64_MAX, ptr(1)), 2 },
		{ "full shift 6 root", { VALUES(0, 4095, 0) },
		  ALLOC(0, U64_MAX, RESERVED), 3 },
		{ "full run under a tall root",
		  { VALUES(0, 4095, 0), STORE(U64_MAX - 1, ptr(2)) },
		  ALLOC(0, U64_MAX, ptr(1)), 2 },
		{ "hole in an empty subtree",
		  { STORE(0, ptr(2)), STORE(1ULL << 40, ptr(3)) },
		  ALLOC(1ULL << 30, U64_MAX, ptr(1)), 0 },
		{ "just above what the root covers",
		  { VALUES(0, 63, 0), STORE(4095, ptr(2)) },
		  ALLOC(4095, U64_MAX, ptr(1)), 3 },
	};

	fault_cases(cases, ARRAY_SIZE(cases));
}

/*
 * A range over all of u64 would need 2^58 leaves: it must fail part way
 * and undo everything it built. (Only injected failures end it here.)
 */
TEST(fault_whole_u64_range_fails_cleanly)
{
	static const unsigned int nths[] = { 1, 2, 11, 12, 64, 65, 1000 };
	struct ctx c;

	ctx_init(&c);
	for (int pass = 0; pass != 2; pass++) {
		if (pass) {
			ASSERT_EQ(0, c_store(&c, 5, ptr(1)));
			ASSERT_EQ(0, c_store(&c, 1ULL << 40, ptr(2)));
			ASSERT_EQ(0, c_store(&c, U64_MAX, RESERVED));
		}
		for (unsigned int i = 0; i != ARRAY_SIZE(nths); i++) {
			const struct op ops[] = {
				RANGE(0, U64_MAX, ptr(3)),
				RANGE(1, U64_MAX - 1, RESERVED),
				VALUES(0, (1ULL << 62) - 1, 0),
			};

			for (unsigned int k = 0; k != ARRAY_SIZE(ops); k++) {
				bool fired;

				set_where_prefix("pass %d, fail nth %u", pass,
						 nths[i]);
				ASSERT_EQ(-ENOMEM, do_op_id(&c, &ops[k],
							    nths[i], &fired,
							    NULL));
				ASSERT_TRUE(fired);
			}
		}
	}
	ctx_destroy(&c);
}

/* ----------------------------------------------------------------------
 * Erase, erase_range and destroy allocate nothing and free everything
 */

TEST(erase_and_destroy_never_allocate)
{
	struct index_store is = INDEX_STORE_INIT;
	long live = mem_live_count();
	struct rng r;
	u64 idx[2000];

	rng_init(&r, test_seed());
	for (unsigned int i = 0; i != ARRAY_SIZE(idx); i++) {
		idx[i] = i % 2 ? rng_next(&r) : rng_below(&r, 100000);
		ASSERT_EQ(0, index_store_store(&is, idx[i], ptr(i + 1)));
	}
	ASSERT_EQ(0, index_store_store_values(&is, 1ULL << 45,
					      (1ULL << 45) + 20000, 0));
	ASSERT_EQ(live + (long)is.nr_nodes, mem_live_count());

	/* Erase a quarter one by one, with the next allocation failing. */
	for (unsigned int i = 0; i < ARRAY_SIZE(idx); i += 4) {
		fault_fail_nth_set(1);
		index_store_erase(&is, idx[i]);
		index_store_store(&is, idx[i] + 1, NULL);
		ASSERT_FALSE(fault_fail_nth_fired());
		ASSERT_EQ(live + (long)is.nr_nodes, mem_live_count());
	}
	fault_fail_nth_set(0);

	/* Erase some ranges the same way. */
	for (unsigned int i = 0; i != 50; i++) {
		u64 a = rng_next(&r), b = rng_next(&r);

		fault_fail_nth_set(1);
		index_store_erase_range(&is, min(a, b), max(a, b));
		index_store_erase_range(&is, (1ULL << 45) + i * 300,
					(1ULL << 45) + i * 300 + 150);
		ASSERT_FALSE(fault_fail_nth_fired());
		ASSERT_EQ(live + (long)is.nr_nodes, mem_live_count());
	}
	fault_fail_nth_set(0);

	/* Destroy frees the rest without allocating. */
	ASSERT_FALSE(index_store_empty(&is));
	fault_fail_nth_set(1);
	index_store_destroy(&is);
	ASSERT_FALSE(fault_fail_nth_fired());
	fault_fail_nth_set(0);
	ASSERT_TRUE(index_store_empty(&is));
	ASSERT_EQ(0, index_store_bytes(&is));
	ASSERT_EQ(live, mem_live_count());

	/* The store is usable again after destroy. */
	ASSERT_EQ(0, index_store_store(&is, U64_MAX, ptr(1)));
	ASSERT_EQ(ptr(1), index_store_load(&is, U64_MAX));
	fault_fail_nth_set(1);
	index_store_erase_range(&is, 0, U64_MAX);
	ASSERT_FALSE(fault_fail_nth_fired());
	fault_fail_nth_set(0);
	ASSERT_TRUE(index_store_empty(&is));
	ASSERT_EQ(live, mem_live_count());
	index_store_destroy(&is);
}

/* ----------------------------------------------------------------------
 * Randomized operations against the model
 */

enum dist {
	DIST_WHOLE,	/* anywhere in u64 */
	DIST_CLUSTERED,	/* around a few bases near node boundaries */
	DIST_BOUNDARY,	/* at and next to the boundaries themselves */
};

/* Clusters start just below boundaries, so runs cross them. */
#define CLUSTER_SPAN 600
static const u64 cluster_bases[] = {
	0,
	4096 - 300,
	262144 - 300,
	(1ULL << 24) - 300,
	(1ULL << 36) - 300,
	(1ULL << 54) - 300,
	(1ULL << 63) - 300,
	U64_MAX - (CLUSTER_SPAN - 1),
};

/* Above this many entries the model is trimmed by a range erase. */
#define MODEL_SOFT_CAP 6000

static u64 boundary_index(struct rng *r)
{
	switch (rng_below(r, 5)) {
	case 0:
		return rng_below(r, 3);
	case 1:
		return U64_MAX - rng_below(r, 3);
	case 2:
		return (1ULL << 63) - 1 + rng_below(r, 3);
	case 3:
		return (1ULL << (6 * rng_range(r, 1, 10))) - 2 +
		       rng_below(r, 5);
	default:
		return 64 * rng_range(r, 1, 200) - 1 + rng_below(r, 3);
	}
}

static u64 random_index(struct rng *r, enum dist dist, const struct model *m)
{
	u64 pick = rng_below(r, 100);

	/* Often where something already is (or right next to it). */
	if (m->nr && pick < 25) {
		u64 at = m->e[rng_below(r, m->nr)].index;

		switch (rng_below(r, 4)) {
		case 0:
			return at ? at - 1 : at;
		case 1:
			return at != U64_MAX ? at + 1 : at;
		default:
			return at;
		}
	}
	pick = rng_below(r, 100);
	switch (dist) {
	case DIST_WHOLE:
		if (pick < 10)
			return boundary_index(r);
		if (pick < 15)
			break;
		return rng_next(r);
	case DIST_CLUSTERED:
		if (pick < 10)
			return boundary_index(r);
		if (pick < 13)
			return rng_next(r);
		break;
	case DIST_BOUNDARY:
		if (pick < 10)
			return rng_next(r);
		if (pick < 30)
			break;
		return boundary_index(r);
	}
	return cluster_bases[rng_below(r, ARRAY_SIZE(cluster_bases))] +
	       rng_below(r, CLUSTER_SPAN);
}

static void *random_entry(struct rng *r)
{
	u64 pick = rng_below(r, 20);

	if (pick < 2)
		return RESERVED;
	if (pick < 11)
		return (void *)(uintptr_t)((rng_next(r) & ~7ULL) | 8);
	return val(rng_next(r) & VALUE_MAX);
}

static u64 clip_add(u64 a, u64 b)
{
	return a > U64_MAX - b ? U64_MAX : a + b;
}

/* A range to store into: mostly short, across leaves, sometimes long. */
static void random_run(struct rng *r, enum dist dist, const struct model *m,
		       u64 *first, u64 *last)
{
	u64 pick = rng_below(r, 100), len;

	if (pick < 55)
		len = 1 + rng_below(r, 70);
	else if (pick < 93)
		len = 1 + rng_below(r, 300);
	else
		len = 1 + rng_below(r, 9000);
	*first = random_index(r, dist, m);
	pick = rng_below(r, 100);
	if (pick < 5) {
		/* Up to the very top. */
		*first = U64_MAX - (len - 1);
	} else if (pick < 15) {
		/* Whole leaves. */
		*first &= ~63ULL;
		len = (len + 63) & ~63ULL;
	}
	*last = clip_add(*first, len - 1);
}

/* A range to erase or look in: short, arbitrary, or to an end. */
static void random_span(struct rng *r, enum dist dist, const struct model *m,
			u64 *first, u64 *last)
{
	u64 pick = rng_below(r, 100), a, b;

	if (pick < 40) {
		random_run(r, dist, m, first, last);
		return;
	}
	a = random_index(r, dist, m);
	b = random_index(r, dist, m);
	if (pick < 75) {
		*first = min(a, b);
		*last = max(a, b);
	} else if (pick < 85) {
		*first = 0;
		*last = a;
	} else if (pick < 95) {
		*first = a;
		*last = U64_MAX;
	} else if (pick < 97) {
		*first = 0;
		*last = U64_MAX;
	} else {
		/* Backwards: empty. */
		*first = max(a, b);
		*last = min(a, b);
	}
}

/* First value for store_values over a run of @len: valid or just not. */
static u64 random_first_value(struct rng *r, u64 len)
{
	u64 pick = rng_below(r, 100);

	if (pick < 75)
		return rng_below(r, 1ULL << 40);
	if (pick < 90)
		return VALUE_MAX - (len - 1) - rng_below(r, 3);
	if (pick < 97)
		return VALUE_MAX - (len - 1) + 1 + rng_below(r, 3);
	return rng_next(r);
}

/* An operation the store must refuse with -EINVAL. */
static struct op random_invalid_op(struct rng *r, enum dist dist,
				   const struct model *m)
{
	u64 a = random_index(r, dist, m), b = random_index(r, dist, m);
	struct op op = {};

	if (a == b)
		b = a ^ 1;
	switch (rng_below(r, 4)) {
	case 0:
		op = (struct op)RANGE(max(a, b), min(a, b), random_entry(r));
		break;
	case 1:
		op = (struct op)RANGE(min(a, b), min(a, b) + rng_below(r, 5),
				      NULL);
		break;
	case 2:
		op = (struct op)VALUES(max(a, b), min(a, b), 0);
		break;
	default:
		op = (struct op)ALLOC(max(a, b), min(a, b), random_entry(r));
		break;
	}
	if (op.kind == OP_ALLOC && rng_chance(r, 1, 2)) {
		op.first = min(a, b);
		op.last = max(a, b);
		op.entry = NULL;
	}
	return op;
}

static struct op random_alloc_op(struct rng *r, enum dist dist,
				 const struct model *m)
{
	u64 pick = rng_below(r, 100), lo, hi;

	lo = random_index(r, dist, m);
	if (pick < 30 && m->nr) {
		lo = m->e[rng_below(r, m->nr)].index;
		hi = U64_MAX;
	} else if (pick < 60) {
		hi = clip_add(lo, rng_below(r, 300));
	} else if (pick < 75) {
		hi = lo;
	} else if (pick < 85) {
		lo = 0;
		hi = U64_MAX;
	} else {
		hi = U64_MAX;
	}
	return (struct op)ALLOC(lo, hi, random_entry(r));
}

/* The next mutating operation. */
static struct op random_update(struct rng *r, enum dist dist,
			       const struct model *m)
{
	u64 pick = rng_below(r, 1000);
	struct op op = {};

	if (m->nr > MODEL_SOFT_CAP) {
		/* Trim: erase from a random entry to one end. */
		u64 at = m->e[rng_below(r, m->nr)].index;

		op.kind = OP_ERASE_RANGE;
		op.first = rng_chance(r, 1, 2) ? at : 0;
		op.last = op.first ? U64_MAX : at;
		return op;
	}
	if (pick < 300) {
		op.kind = OP_STORE;
		op.first = random_index(r, dist, m);
		op.entry = rng_chance(r, 1, 20) ? NULL : random_entry(r);
	} else if (pick < 450) {
		op.kind = OP_ERASE;
		op.first = random_index(r, dist, m);
	} else if (pick < 570) {
		op.kind = OP_STORE_RANGE;
		random_run(r, dist, m, &op.first, &op.last);
		op.entry = random_entry(r);
	} else if (pick < 680) {
		op.kind = OP_STORE_VALUES;
		random_run(r, dist, m, &op.first, &op.last);
		op.value = random_first_value(r, op.last - op.first + 1);
	} else if (pick < 750) {
		op.kind = OP_ERASE_RANGE;
		random_span(r, dist, m, &op.first, &op.last);
	} else if (pick < 970) {
		op = random_alloc_op(r, dist, m);
	} else {
		op = random_invalid_op(r, dist, m);
	}
	return op;
}

static void check_find(struct ctx *c, u64 from, u64 last, bool after)
{
	u64 sidx = from, midx = from;
	void *s, *m;

	set_where("find%s(%#llx, %#llx)", after ? "_after" : "",
		  (unsigned long long)from, (unsigned long long)last);
	if (after)
		s = index_store_find_after(&c->is, &sidx, last);
	else
		s = index_store_find(&c->is, &sidx, last);
	m = model_find(&c->m, &midx, last, after);
	CHECK_EQ(m, s);
	CHECK_EQ(midx, sidx);
}

static void check_walk(struct ctx *c, u64 first, u64 last)
{
	const struct model *m = &c->m;
	size_t pos = model_lower_bound(m, first);
	u64 index;
	void *entry;

	set_where("for_each_range(%#llx, %#llx)", (unsigned long long)first,
		  (unsigned long long)last);
	index_store_for_each_range(&c->is, index, entry, first, last) {
		while (pos < m->nr && m->e[pos].entry == RESERVED)
			pos++;
		CHECK_TRUE(pos < m->nr && m->e[pos].index <= last);
		CHECK_EQ(m->e[pos].index, index);
		CHECK_EQ(m->e[pos].entry, entry);
		pos++;
	}
	while (pos < m->nr && m->e[pos].entry == RESERVED)
		pos++;
	CHECK_TRUE(pos == m->nr || m->e[pos].index > last);
}

static void random_query(struct ctx *c, struct rng *r, enum dist dist)
{
	u64 pick = rng_below(r, 100), from, last;

	from = random_index(r, dist, &c->m);
	if (pick < 35) {
		set_where("load(%#llx)", (unsigned long long)from);
		CHECK_EQ(model_load(&c->m, from),
			 index_store_load(&c->is, from));
		return;
	}
	if (pick < 90) {
		switch (rng_below(r, 4)) {
		case 0:
			last = U64_MAX;
			break;
		case 1:
			last = clip_add(from, rng_below(r, 500));
			break;
		case 2:
			last = random_index(r, dist, &c->m);
			break;
		default:
			last = from;
			break;
		}
		check_find(c, from, last, pick >= 62);
		return;
	}
	random_span(r, dist, &c->m, &from, &last);
	check_walk(c, from, last);
}

FIXTURE(model_ops)
{
	struct ctx c;
	struct rng rng;
};

FIXTURE_VARIANT(model_ops)
{
	enum dist dist;
	bool faults;	/* make some allocation fail in one update of four */
	u64 ops;	/* at full scale */
};

FIXTURE_VARIANT_ADD(model_ops, whole_range)
{
	.dist = DIST_WHOLE, .ops = 100000,
};

FIXTURE_VARIANT_ADD(model_ops, clustered)
{
	.dist = DIST_CLUSTERED, .ops = 100000,
};

FIXTURE_VARIANT_ADD(model_ops, boundaries)
{
	.dist = DIST_BOUNDARY, .ops = 100000,
};

FIXTURE_VARIANT_ADD(model_ops, whole_range_faults)
{
	.dist = DIST_WHOLE, .faults = true, .ops = 50000,
};

FIXTURE_VARIANT_ADD(model_ops, clustered_faults)
{
	.dist = DIST_CLUSTERED, .faults = true, .ops = 50000,
};

FIXTURE_SETUP(model_ops)
{
	ctx_init(&self->c);
	rng_init(&self->rng, test_seed() ^ ((u64)variant->dist << 56) ^
				     ((u64)variant->faults << 48));
}

FIXTURE_TEARDOWN(model_ops)
{
	ctx_destroy(&self->c);
}

TEST_F(model_ops, random_ops)
{
	u64 nr_ops = test_iterations(variant->ops), failed = 0;
	struct ctx *c = &self->c;
	struct rng *r = &self->rng;

	for (u64 step = 0; step != nr_ops; step++) {
		unsigned int nth = 0;
		struct op op;
		bool fired;

		set_where_prefix("step %llu", (unsigned long long)step);
		if (rng_chance(r, 1, 3)) {
			random_query(c, r, variant->dist);
			continue;
		}
		op = random_update(r, variant->dist, &c->m);
		if (variant->faults && rng_chance(r, 1, 4))
			nth = 1 + rng_below(r, 8);
		do_op_id(c, &op, nth, &fired, NULL);
		failed += fired;
		/* do_op_id() checked everything after a failure already. */
		if (!fired && (c->m.nr < 64 || step % 32 == 0))
			check_ctx(c);
	}
	set_where_prefix("end");
	check_ctx(c);
	if (variant->faults && nr_ops >= 1000)
		ASSERT_GT(failed, 0);

	c_erase_range(c, 0, U64_MAX);
	check_ctx(c);
	ASSERT_TRUE(index_store_empty(&c->is));
}

/* ---- walking a leaf at a time ---- */

struct chunk_log {
	u64 index[16];
	unsigned int n[16];
	unsigned int calls;
	u64 sum;
	unsigned int stop_after;
};

static int log_chunk(void *arg, u64 index, void *const *slots, unsigned int n)
{
	struct chunk_log *log = arg;

	ASSERT_LT(log->calls, 16);
	log->index[log->calls] = index;
	log->n[log->calls] = n;
	for (unsigned int i = 0; i != n; i++)
		if (slots[i] && slots[i] != INDEX_STORE_RESERVED)
			log->sum += index_store_value(slots[i]) - (index + i);
	log->calls++;
	return log->calls == log->stop_after ? 7 : 0;
}

TEST(walk_chunks_visits_present_leaves_in_order)
{
	struct index_store is = INDEX_STORE_INIT;
	struct chunk_log log = {};

	/* Leaves 0, 2 and 3 of [0, 255] exist; 64..127 does not. */
	ASSERT_EQ(0, index_store_store_values(&is, 10, 20, 10));
	ASSERT_EQ(0, index_store_store_values(&is, 130, 140, 130));
	ASSERT_EQ(0, index_store_store(&is, 199, INDEX_STORE_RESERVED));
	ASSERT_EQ(0, index_store_walk_chunks(&is, 5, 250, log_chunk, &log));
	ASSERT_EQ(3, log.calls);
	/*
	 * Each chunk starts at the first entry found (reserved ones count)
	 * and runs to its leaf's end, or the range's.
	 */
	ASSERT_EQ(10, log.index[0]);
	ASSERT_EQ(54, log.n[0]);
	ASSERT_EQ(130, log.index[1]);
	ASSERT_EQ(62, log.n[1]);
	ASSERT_EQ(199, log.index[2]);
	ASSERT_EQ(52, log.n[2]);
	ASSERT_EQ(0, log.sum); /* every value equals its index */

	/* A non-zero return stops the walk and comes back. */
	memset(&log, 0, sizeof(log));
	log.stop_after = 1;
	ASSERT_EQ(7, index_store_walk_chunks(&is, 0, U64_MAX, log_chunk, &log));
	ASSERT_EQ(1, log.calls);

	/* Empty range and empty store. */
	memset(&log, 0, sizeof(log));
	ASSERT_EQ(0, index_store_walk_chunks(&is, 21, 129, log_chunk, &log));
	ASSERT_EQ(0, log.calls);
	index_store_destroy(&is);
	ASSERT_EQ(0, index_store_walk_chunks(&is, 0, U64_MAX, log_chunk, &log));
	ASSERT_EQ(0, log.calls);
}

TEST(walk_chunks_at_the_top)
{
	struct index_store is = INDEX_STORE_INIT;
	struct chunk_log log = {};

	ASSERT_EQ(0, index_store_store_values(&is, U64_MAX - 3, U64_MAX, 5));
	ASSERT_EQ(0, index_store_walk_chunks(&is, U64_MAX - 100, U64_MAX,
					     log_chunk, &log));
	ASSERT_EQ(1, log.calls);
	ASSERT_EQ(U64_MAX - 3, log.index[0]);
	ASSERT_EQ(4, log.n[0]);
	index_store_destroy(&is);
}
