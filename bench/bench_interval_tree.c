// SPDX-License-Identifier: MIT
/*
 * Interval tree against a sorted array of {start, last} with binary search:
 * random point lookup, insert and remove, at several sizes.
 *
 * The u64 space is cut into N equal cells; each cell holds one range of
 * random (log-uniform) size in one of its halves, leaving the other half
 * free for the extra ranges the insert/remove runs add. Cell 0's range
 * starts at 0 and the last cell's ends at U64_MAX.
 *
 * Tree nodes live in one preallocated array but at shuffled positions, so
 * start order is not memory order: malloc'd nodes would not be either.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/interval_tree.h"
#include "bench.h"
#include "harness/rng.h"

#define SEED 0x1f2e3d4c5b6a7988ULL
#define LOOKUP_TARGET 1.5

struct range {
	u64 start;
	u64 last;
};

struct setup {
	u64 n; /* ranges held */
	u64 k; /* extra ranges each insert/remove round adds, then removes */
	unsigned int tree_rounds, arr_rounds;

	struct interval_tree_node *nodes; /* n + k, shuffled positions */
	u32 *slot; /* range i (start order) is nodes[slot[i]] */
	struct interval_tree_node **extra; /* the k extra nodes */
	struct rb_root_cached root;

	struct range *arr; /* sorted by start, room for n + k */
	u64 arr_len;

	u32 *ins_order, *rm_order; /* permutations of 0..k-1 */

	u64 *points;
	s64 *expect; /* range index holding points[i], or -1 */
	u64 nr_points;
	u64 expect_sum; /* sum of the starts of the ranges found */
};

static struct rng rng;

static void shuffle_u32(u32 *v, u64 n)
{
	for (u64 i = n; i > 1; i--) {
		u64 j = rng_below(&rng, i);
		u32 t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

static u32 *permutation(u64 n)
{
	u32 *v = bench_alloc(sizeof(*v) * n);

	for (u64 i = 0; i != n; i++)
		v[i] = i;
	shuffle_u32(v, n);
	return v;
}

/*
 * A range of log-uniform length inside [lo, hi], optionally pinned to
 * start at lo or end at hi.
 */
static struct range rand_range(u64 lo, u64 hi, bool pin_lo, bool pin_hi)
{
	/* Slots are at most half of u64, so size + 1 cannot wrap. */
	u64 size = hi - lo;
	unsigned int e = rng_below(&rng, 65 - __builtin_clzll(size | 1));
	u64 len_m1 = rng_below(&rng, min(size, (1ULL << e) - 1) + 1);
	struct range r;

	if (pin_lo)
		r.start = lo;
	else if (pin_hi)
		r.start = hi - len_m1;
	else
		r.start = lo + rng_below(&rng, size - len_m1 + 1);
	r.last = r.start + len_m1;
	return r;
}

/* Index of the last range with start <= p, if it also covers p; else -1. */
static inline s64 arr_find(const struct range *a, u64 len, u64 p)
{
	u64 lo = 0, hi = len;

	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2;

		if (a[mid].start <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || a[lo - 1].last < p)
		return -1;
	return lo - 1;
}

/* First index whose start is > key (the insert position). */
static inline u64 arr_upper(const struct range *a, u64 len, u64 key)
{
	u64 lo = 0, hi = len;

	while (lo < hi) {
		u64 mid = lo + (hi - lo) / 2;

		if (a[mid].start <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static inline void arr_insert(struct setup *s, const struct range *r)
{
	u64 pos = arr_upper(s->arr, s->arr_len, r->start);

	memmove(&s->arr[pos + 1], &s->arr[pos],
		(s->arr_len - pos) * sizeof(*s->arr));
	s->arr[pos] = *r;
	s->arr_len++;
}

static inline void arr_remove(struct setup *s, u64 start)
{
	u64 pos = arr_upper(s->arr, s->arr_len, start);

	if (!pos || s->arr[pos - 1].start != start)
		bench_fail("array remove: start %#llx not found",
			   (unsigned long long)start);
	pos--;
	memmove(&s->arr[pos], &s->arr[pos + 1],
		(s->arr_len - pos - 1) * sizeof(*s->arr));
	s->arr_len--;
}

static void gen_ranges(struct setup *s)
{
	u64 n = s->n, width = U64_MAX / n;
	u32 *cells = permutation(n);
	/* Cell i holds its extra range when extra_of[i] != 0 (1-based). */
	u32 *extra_of = bench_alloc(sizeof(*extra_of) * n);

	for (u64 j = 0; j != s->k; j++)
		extra_of[cells[j]] = j + 1;
	for (u64 i = 0; i != n; i++) {
		u64 base = i * width;
		u64 end = i == n - 1 ? U64_MAX : base + width - 1;
		u64 mid = base + width / 2;
		bool main_low = i == 0 ? true :
				i == n - 1 ? false : rng_below(&rng, 2);
		struct range m, x;

		if (main_low) {
			m = rand_range(base, mid - 1, i == 0, false);
			x = rand_range(mid, end, false, false);
		} else {
			m = rand_range(mid, end, false, i == n - 1);
			x = rand_range(base, mid - 1, false, false);
		}
		s->arr[i] = m;
		s->nodes[s->slot[i]].start = m.start;
		s->nodes[s->slot[i]].last = m.last;
		if (extra_of[i]) {
			s->extra[extra_of[i] - 1]->start = x.start;
			s->extra[extra_of[i] - 1]->last = x.last;
		}
	}
	s->arr_len = n;
	free(extra_of);
	free(cells);
}

static void build(struct setup *s)
{
	u32 *order = permutation(s->n);

	s->root = RB_ROOT_CACHED_INIT;
	for (u64 i = 0; i != s->n; i++)
		interval_tree_insert(&s->nodes[s->slot[order[i]]], &s->root);
	free(order);
}

/* Half the points inside a range, half in holes, in random order. */
static void gen_points(struct setup *s)
{
	s->expect_sum = 0;
	for (u64 i = 0; i != s->nr_points; i++) {
		u64 p;
		s64 idx;

		if (i & 1) {
			const struct range *r = &s->arr[rng_below(&rng, s->n)];

			idx = r - s->arr;
			p = rng_range(&rng, r->start, r->last);
		} else {
			do {
				p = rng_next(&rng);
			} while (arr_find(s->arr, s->n, p) >= 0);
			idx = -1;
		}
		s->points[i] = p;
		s->expect[i] = idx;
		if (idx >= 0)
			s->expect_sum += s->arr[idx].start;
	}
}

/* Untimed: every lookup, both ways, against the expected range. */
static void verify_lookups(struct setup *s)
{
	for (u64 i = 0; i != s->nr_points; i++) {
		u64 p = s->points[i];
		s64 want = s->expect[i];
		struct interval_tree_node *node =
			interval_tree_iter_first(&s->root, p, p);
		struct interval_tree_node *want_node =
			want < 0 ? NULL : &s->nodes[s->slot[want]];
		s64 got = arr_find(s->arr, s->arr_len, p);

		if (node != want_node || got != want)
			bench_fail("lookup %#llx: tree %p (want %p), "
				   "array %lld (want %lld)",
				   (unsigned long long)p, (void *)node,
				   (void *)want_node, (long long)got,
				   (long long)want);
	}
}

static void run_lookup(void *arg, double *figs)
{
	struct setup *s = arg;
	u64 sum, t0;

	sum = 0;
	t0 = bench_now_ns();
	for (u64 i = 0; i != s->nr_points; i++) {
		u64 p = s->points[i];
		struct interval_tree_node *node =
			interval_tree_iter_first(&s->root, p, p);

		sum += node ? node->start : 0;
	}
	figs[0] = bench_per_op(t0, s->nr_points);
	BENCH_CHECK(sum == s->expect_sum, "tree lookup checksum");
	bench_consume(sum);

	sum = 0;
	t0 = bench_now_ns();
	for (u64 i = 0; i != s->nr_points; i++) {
		s64 idx = arr_find(s->arr, s->arr_len, s->points[i]);

		sum += idx >= 0 ? s->arr[idx].start : 0;
	}
	figs[1] = bench_per_op(t0, s->nr_points);
	BENCH_CHECK(sum == s->expect_sum, "array lookup checksum");
	bench_consume(sum);
}

/* Untimed: the extras are all in the tree, or all gone from it. */
static void verify_tree_extras(struct setup *s, bool present)
{
	for (u64 j = 0; j != s->k; j++) {
		struct interval_tree_node *e = s->extra[j];
		struct interval_tree_node *node =
			interval_tree_iter_first(&s->root, e->start, e->start);

		if (node != (present ? e : NULL))
			bench_fail("extra %llu: tree lookup gave %p, want %s",
				   (unsigned long long)j, (void *)node,
				   present ? "it" : "none");
	}
}

/* Untimed: the same for the array. */
static void verify_arr_extras(struct setup *s, bool present)
{
	BENCH_CHECK(s->arr_len == s->n + (present ? s->k : 0), "array length");
	for (u64 j = 0; j != s->k; j++) {
		struct interval_tree_node *e = s->extra[j];
		s64 idx = arr_find(s->arr, s->arr_len, e->start);
		bool found = idx >= 0 && s->arr[idx].start == e->start &&
			     s->arr[idx].last == e->last;

		if (found != present)
			bench_fail("extra %llu: array lookup gave %lld",
				   (unsigned long long)j, (long long)idx);
	}
}

/* figs: tree insert, tree remove, array insert, array remove (ns/op). */
static void run_update(void *arg, double *figs)
{
	struct setup *s = arg;
	u64 ins = 0, rm = 0, t0;

	for (unsigned int r = 0; r != s->tree_rounds; r++) {
		t0 = bench_now_ns();
		for (u64 j = 0; j != s->k; j++)
			interval_tree_insert(s->extra[s->ins_order[j]],
					     &s->root);
		ins += bench_now_ns() - t0;
		if (!r)
			verify_tree_extras(s, true);
		t0 = bench_now_ns();
		for (u64 j = 0; j != s->k; j++)
			interval_tree_remove(s->extra[s->rm_order[j]],
					     &s->root);
		rm += bench_now_ns() - t0;
	}
	figs[0] = (double)ins / (s->tree_rounds * s->k);
	figs[1] = (double)rm / (s->tree_rounds * s->k);

	ins = rm = 0;
	for (unsigned int r = 0; r != s->arr_rounds; r++) {
		t0 = bench_now_ns();
		for (u64 j = 0; j != s->k; j++) {
			const struct interval_tree_node *e =
				s->extra[s->ins_order[j]];
			struct range x = { e->start, e->last };

			arr_insert(s, &x);
		}
		ins += bench_now_ns() - t0;
		if (!r)
			verify_arr_extras(s, true);
		t0 = bench_now_ns();
		for (u64 j = 0; j != s->k; j++)
			arr_remove(s, s->extra[s->rm_order[j]]->start);
		rm += bench_now_ns() - t0;
	}
	figs[2] = (double)ins / (s->arr_rounds * s->k);
	figs[3] = (double)rm / (s->arr_rounds * s->k);
	verify_tree_extras(s, false);
	verify_arr_extras(s, false);
}

struct result {
	u64 n, k;
	double lookup[2], update[4];
};

static void setup_init(struct setup *s, u64 n, u64 nr_points)
{
	memset(s, 0, sizeof(*s));
	s->n = n;
	s->k = min(n / 2, (u64)1000);
	/* ~20000 ops per figure, but the array's memmove is O(n): cap it. */
	s->tree_rounds = max((u64)1, 20000 / s->k);
	s->arr_rounds = max((u64)1, min(20000 / s->k,
					(u64)200000000 / (s->k * n)));
	s->nodes = bench_alloc(sizeof(*s->nodes) * (n + s->k));
	s->slot = permutation(n + s->k);
	s->extra = bench_alloc(sizeof(*s->extra) * s->k);
	for (u64 j = 0; j != s->k; j++)
		s->extra[j] = &s->nodes[s->slot[n + j]];
	s->arr = bench_alloc(sizeof(*s->arr) * (n + s->k));
	s->ins_order = permutation(s->k);
	s->rm_order = permutation(s->k);
	s->nr_points = nr_points;
	s->points = bench_alloc(sizeof(*s->points) * nr_points);
	s->expect = bench_alloc(sizeof(*s->expect) * nr_points);
}

static void setup_free(struct setup *s)
{
	free(s->points);
	free(s->expect);
	free(s->ins_order);
	free(s->rm_order);
	free(s->arr);
	free(s->extra);
	free(s->slot);
	free(s->nodes);
}

static void bench_size(struct result *res, u64 n, u64 nr_points)
{
	struct setup s;

	setup_init(&s, n, nr_points);
	gen_ranges(&s);
	build(&s);
	gen_points(&s);
	verify_lookups(&s);
	verify_tree_extras(&s, false);
	verify_arr_extras(&s, false);

	bench_median_multi(run_lookup, &s, 2, res->lookup);
	bench_median_multi(run_update, &s, 4, res->update);
	/* The runs must leave both structures as they found them. */
	verify_lookups(&s);
	res->n = n;
	res->k = s.k;
	setup_free(&s);
}

int main(int argc, char **argv)
{
	static const u64 full_sizes[] = { 100, 10000, 1000000 };
	static const u64 quick_sizes[] = { 100, 10000 };
	const u64 *sizes;
	unsigned int nr_sizes;
	struct result res[ARRAY_SIZE(full_sizes)];
	u64 nr_points;
	double worst = 0;
	char op[64];

	bench_init(argc, argv, "interval tree");
	rng_init(&rng, SEED);
	if (bench_quick()) {
		sizes = quick_sizes;
		nr_sizes = ARRAY_SIZE(quick_sizes);
		nr_points = 20000;
	} else {
		sizes = full_sizes;
		nr_sizes = ARRAY_SIZE(full_sizes);
		nr_points = 200000;
	}
	for (unsigned int i = 0; i != nr_sizes; i++)
		bench_size(&res[i], sizes[i], nr_points);

	bench_table_begin("interval tree vs sorted array "
			  "(ratio = tree / array)",
			  "sorted array of {start,last}, binary search "
			  "(insert/remove: + memmove)",
			  "ns/op");
	for (unsigned int i = 0; i != nr_sizes; i++) {
		snprintf(op, sizeof(op), "lookup, %llu random points",
			 (unsigned long long)nr_points);
		bench_table_row(op, res[i].n, res[i].lookup[0],
				res[i].lookup[1]);
		worst = max(worst, res[i].lookup[0] / res[i].lookup[1]);
	}
	for (unsigned int i = 0; i != nr_sizes; i++) {
		snprintf(op, sizeof(op), "insert, %llu into holes",
			 (unsigned long long)res[i].k);
		bench_table_row(op, res[i].n, res[i].update[0],
				res[i].update[2]);
	}
	for (unsigned int i = 0; i != nr_sizes; i++) {
		snprintf(op, sizeof(op), "remove, those %llu",
			 (unsigned long long)res[i].k);
		bench_table_row(op, res[i].n, res[i].update[1],
				res[i].update[3]);
	}
	bench_table_end();
	bench_note("lookup: iter_first(p, p) vs last start <= p; half the "
		   "points hit a range, half fall in holes; every answer "
		   "verified");
	bench_note("remove: the tree is handed its node (intrusive); the array "
		   "binary-searches for it");
	snprintf(op, sizeof(op),
		 "lookup <= %.1fx sorted array at every size (worst %.2fx)",
		 LOOKUP_TARGET, worst);
	bench_target(op, worst <= LOOKUP_TARGET);
	return 0;
}
