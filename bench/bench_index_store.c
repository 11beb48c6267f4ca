// SPDX-License-Identifier: MIT
/*
 * Index store against a flat array: store, load and erase per entry, and
 * memory per entry, for dense and sparse index sets.
 *
 * The flat array holds N slots touched in the same order as the store's
 * indices (for a sparse set, slot j stands for the j-th index): the ideal
 * cost of touching N entries. Entries are tagged values carrying j, so
 * every load and erase can be checked.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/index_store.h"
#include "bench.h"
#include "harness/rng.h"

#define SEED 0x5eed1d8e57043a11ULL
/* "Close to 8 bytes per entry when dense", read as within 1.25x. */
#define DENSE_BYTES_TARGET 10.0

enum kind { DENSE, SPARSE_U64, SPARSE_U32 };

static const char *const kind_name[] = {
	[DENSE] = "dense",
	[SPARSE_U64] = "sparse u64",
	[SPARSE_U32] = "sparse <2^32",
};

static const char *const kind_title[] = {
	[DENSE] = "dense: indices 0..N-1",
	[SPARSE_U64] = "sparse: N random distinct indices over all of u64",
	[SPARSE_U32] = "sparse, clustered: N random distinct indices < 2^32",
};

struct setup {
	enum kind kind;
	u64 n;
	u64 *idx; /* store order: dense ascending, sparse as generated */
	u64 *asc; /* idx sorted */
	u64 *asc_pos; /* asc[i] == idx[asc_pos[i]] */
	u32 *load_perm, *erase_perm; /* random orders, as positions in idx */
	u64 *load_idx, *erase_idx; /* idx[] in those orders */
	void **flat;
	struct index_store is;
	u64 value_sum; /* sum of every entry's value: 0 + 1 + ... + n-1 */
};

/* Figures of one run, store then flat array. */
enum { F_STORE, F_LOAD_RND, F_LOAD_ASC, F_ERASE, NR_OPS };

static const char *const op_name[NR_OPS] = {
	[F_STORE] = "store",
	[F_LOAD_RND] = "load, random order",
	[F_LOAD_ASC] = "load, ascending",
	[F_ERASE] = "erase, random order",
};

struct result {
	u64 n;
	double ns[2 * NR_OPS]; /* store figures, then flat's */
	double bytes, heap;
};

static struct rng rng;

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return (x > y) - (x < y);
}

static u32 *permutation(u64 n)
{
	u32 *v = bench_alloc(sizeof(*v) * n);

	for (u64 i = 0; i != n; i++)
		v[i] = i;
	for (u64 i = n; i > 1; i--) {
		u64 j = rng_below(&rng, i);
		u32 t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
	return v;
}

static u64 rand_index(enum kind kind)
{
	return kind == SPARSE_U32 ? rng_below(&rng, 1ULL << 32) :
				    rng_next(&rng);
}

/* N distinct random indices, in random order; asc gets them sorted. */
static void gen_sparse(struct setup *s)
{
	u64 have = 0;

	while (have < s->n) {
		u64 uniq = 0;

		for (u64 i = have; i != s->n; i++)
			s->asc[i] = rand_index(s->kind);
		qsort(s->asc, s->n, sizeof(*s->asc), cmp_u64);
		for (u64 i = 0; i != s->n; i++)
			if (!uniq || s->asc[i] != s->asc[uniq - 1])
				s->asc[uniq++] = s->asc[i];
		have = uniq;
	}
	/* Random store order: a shuffle of the sorted set. */
	u32 *perm = permutation(s->n);

	for (u64 i = 0; i != s->n; i++) {
		s->idx[perm[i]] = s->asc[i];
		s->asc_pos[i] = perm[i];
	}
	free(perm);
}

static void setup_init(struct setup *s, enum kind kind, u64 n)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->n = n;
	s->idx = bench_alloc(sizeof(*s->idx) * n);
	s->asc = bench_alloc(sizeof(*s->asc) * n);
	s->asc_pos = bench_alloc(sizeof(*s->asc_pos) * n);
	if (kind == DENSE) {
		for (u64 i = 0; i != n; i++)
			s->idx[i] = s->asc[i] = s->asc_pos[i] = i;
	} else {
		gen_sparse(s);
	}
	s->load_perm = permutation(n);
	s->erase_perm = permutation(n);
	s->load_idx = bench_alloc(sizeof(*s->load_idx) * n);
	s->erase_idx = bench_alloc(sizeof(*s->erase_idx) * n);
	for (u64 i = 0; i != n; i++) {
		s->load_idx[i] = s->idx[s->load_perm[i]];
		s->erase_idx[i] = s->idx[s->erase_perm[i]];
	}
	s->flat = bench_alloc(sizeof(*s->flat) * n);
	s->value_sum = n * (n - 1) / 2;
	index_store_init(&s->is);
}

static void setup_free(struct setup *s)
{
	free(s->flat);
	free(s->erase_idx);
	free(s->load_idx);
	free(s->erase_perm);
	free(s->load_perm);
	free(s->asc_pos);
	free(s->asc);
	free(s->idx);
}

static void fill(struct setup *s)
{
	for (u64 j = 0; j != s->n; j++)
		if (index_store_store(&s->is, s->idx[j],
				      index_store_mk_value(j)))
			bench_fail("%s N=%llu: store of index %#llx failed",
				   kind_name[s->kind], (unsigned long long)s->n,
				   (unsigned long long)s->idx[j]);
}

/* Untimed: every index holds its value and a neighbour outside does not. */
static void verify_full(struct setup *s)
{
	for (u64 i = 0; i != s->n; i++) {
		u64 index = s->asc[i];
		void *e = index_store_load(&s->is, index);

		if (e != index_store_mk_value(s->asc_pos[i]))
			bench_fail("%s: load %#llx gave %p, want value %llu",
				   kind_name[s->kind],
				   (unsigned long long)index, e,
				   (unsigned long long)s->asc_pos[i]);
		if (index != U64_MAX &&
		    (i + 1 == s->n || s->asc[i + 1] != index + 1))
			BENCH_CHECK(!index_store_load(&s->is, index + 1),
				    "index %#llx is absent",
				    (unsigned long long)index + 1);
	}
}

static void check_sum(struct setup *s, u64 sum, const char *what)
{
	if (sum != s->value_sum)
		bench_fail("%s N=%llu: %s checksum %llu, want %llu",
			   kind_name[s->kind], (unsigned long long)s->n, what,
			   (unsigned long long)sum,
			   (unsigned long long)s->value_sum);
	bench_consume(sum);
}

static void run_store(struct setup *s, double *figs)
{
	u64 sum, t0, n = s->n;

	t0 = bench_now_ns();
	fill(s);
	figs[F_STORE] = bench_per_op(t0, n);

	sum = 0;
	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++)
		sum += index_store_value(
			index_store_load(&s->is, s->load_idx[j]));
	figs[F_LOAD_RND] = bench_per_op(t0, n);
	check_sum(s, sum, "store load random");

	sum = 0;
	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++)
		sum += index_store_value(index_store_load(&s->is, s->asc[j]));
	figs[F_LOAD_ASC] = bench_per_op(t0, n);
	check_sum(s, sum, "store load ascending");

	sum = 0;
	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++)
		sum += index_store_value(
			index_store_erase(&s->is, s->erase_idx[j]));
	figs[F_ERASE] = bench_per_op(t0, n);
	check_sum(s, sum, "store erase");
	BENCH_CHECK(index_store_empty(&s->is) && !index_store_bytes(&s->is),
		    "store empty after erasing everything");
}

static void run_flat(struct setup *s, double *figs)
{
	void **flat = s->flat;
	u64 sum, t0, n = s->n;

	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++)
		flat[j] = index_store_mk_value(j);
	figs[F_STORE] = bench_per_op(t0, n);

	sum = 0;
	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++)
		sum += index_store_value(flat[s->load_perm[j]]);
	figs[F_LOAD_RND] = bench_per_op(t0, n);
	check_sum(s, sum, "flat load random");

	sum = 0;
	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++)
		sum += index_store_value(flat[j]);
	figs[F_LOAD_ASC] = bench_per_op(t0, n);
	check_sum(s, sum, "flat load ascending");

	sum = 0;
	t0 = bench_now_ns();
	for (u64 j = 0; j != n; j++) {
		u32 p = s->erase_perm[j];

		sum += index_store_value(flat[p]);
		flat[p] = NULL;
	}
	figs[F_ERASE] = bench_per_op(t0, n);
	check_sum(s, sum, "flat erase");
}

static void run(void *arg, double *figs)
{
	struct setup *s = arg;

	run_store(s, figs);
	run_flat(s, figs + NR_OPS);
}

/* Bytes per entry: the store's own count and the real heap growth. */
static void measure_memory(struct setup *s, struct result *res)
{
	size_t before = mallinfo2().uordblks, after;

	fill(s);
	after = mallinfo2().uordblks;
	verify_full(s);
	res->bytes = (double)index_store_bytes(&s->is) / s->n;
	res->heap = ((double)after - (double)before) / s->n;
	index_store_destroy(&s->is);
	BENCH_CHECK(index_store_empty(&s->is) && !index_store_bytes(&s->is),
		    "store empty after destroy");
}

static void bench_case(struct result *res, enum kind kind, u64 n)
{
	struct setup s;

	setup_init(&s, kind, n);
	measure_memory(&s, res);
	bench_median_multi(run, &s, 2 * NR_OPS, res->ns);
	res->n = n;
	setup_free(&s);
}

struct plan {
	enum kind kind;
	u64 n;
};

/* Stores go in index order when dense, as generated when sparse. */
static const char *store_order(enum kind kind, unsigned int fig)
{
	if (fig != F_STORE)
		return "";
	return kind == DENSE ? ", ascending" : ", random order";
}

static void print_times(const struct plan *plan, const struct result *res,
			unsigned int nr)
{
	char title[128], op[64];

	for (unsigned int i = 0; i != nr; i++) {
		if (i && plan[i].kind == plan[i - 1].kind)
			continue;
		snprintf(title, sizeof(title), "index store, %s (ratio = "
			 "store / flat)", kind_title[plan[i].kind]);
		bench_table_begin(title, "flat array of N entries, slot j for "
				  "the j-th index, same order", "ns/op");
		for (unsigned int f = 0; f != NR_OPS; f++) {
			for (unsigned int c = i; c != nr; c++) {
				if (plan[c].kind != plan[i].kind)
					break;
				snprintf(op, sizeof(op), "%s%s", op_name[f],
					 store_order(plan[c].kind, f));
				bench_table_row(op, res[c].n, res[c].ns[f],
						res[c].ns[NR_OPS + f]);
			}
		}
		bench_table_end();
	}
}

static void print_memory(const struct plan *plan, const struct result *res,
			 unsigned int nr)
{
	char op[64];
	double dense_heap = 0;

	bench_table_begin("index store memory (ratio = store / flat)",
			  "flat array, 8 bytes per entry", "B/entry");
	for (unsigned int i = 0; i != nr; i++) {
		snprintf(op, sizeof(op), "%s: index_store_bytes",
			 kind_name[plan[i].kind]);
		bench_table_row(op, res[i].n, res[i].bytes, 8);
		snprintf(op, sizeof(op), "%s: heap delta (mallinfo2)",
			 kind_name[plan[i].kind]);
		bench_table_row(op, res[i].n, res[i].heap, 8);
		if (plan[i].kind == DENSE)
			dense_heap = max(dense_heap, res[i].heap);
	}
	bench_table_end();
	bench_note("memory: measured on a fresh fill; heap delta includes "
		   "malloc's per-chunk overhead");
	snprintf(op, sizeof(op),
		 "dense heap <= %.0f B/entry, ~8 (worst %.2f)",
		 DENSE_BYTES_TARGET, dense_heap);
	bench_target(op, dense_heap <= DENSE_BYTES_TARGET);
}

int main(int argc, char **argv)
{
	static const struct plan full[] = {
		{ DENSE, 10000 },      { DENSE, 1000000 },
		{ SPARSE_U64, 10000 }, { SPARSE_U32, 100000 },
	};
	static const struct plan quick[] = {
		{ DENSE, 10000 },
		{ SPARSE_U64, 1000 },
		{ SPARSE_U32, 10000 },
	};
	const struct plan *plan;
	unsigned int nr;
	struct result res[ARRAY_SIZE(full)];

	bench_init(argc, argv, "index store");
	plan = bench_quick() ? quick : full;
	nr = bench_quick() ? ARRAY_SIZE(quick) : ARRAY_SIZE(full);
	rng_init(&rng, SEED);
	for (unsigned int i = 0; i != nr; i++)
		bench_case(&res[i], plan[i].kind, plan[i].n);

	print_times(plan, res, nr);
	bench_note("store: dense in ascending index order, sparse in the "
		   "(random) order generated; every load and erase checked");
	bench_note("sparse N is kept small: with no path compression a lone "
		   "index costs a chain of nodes (see memory)");
	print_memory(plan, res, nr);
	return 0;
}
