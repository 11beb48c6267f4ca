/* SPDX-License-Identifier: MIT */
/*
 * The common benchmark harness.
 *
 * A benchmark measures a closure several times and reports the median, next
 * to a baseline measured in the same process and run, as a ratio. A closure
 * that times several things at once (the structure and its baseline, say)
 * fills several figures per run, so the two are interleaved and drift on a
 * shared machine hits both alike.
 *
 * Benchmarks print; they never fail on speed. bench_fail() is for real
 * errors only (a wrong result, a failed allocation).
 *
 * Options: -r N or UIOMMUFD_BENCH_REPS=N sets the repetitions (default 5);
 * -q or UIOMMUFD_BENCH_QUICK=1 asks for a smoke run with small sizes.
 */
#ifndef UIOMMUFD_BENCH_H
#define UIOMMUFD_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_DEFAULT_REPS 5

/* Results are folded into this so the compiler must compute them. */
extern volatile uint64_t bench_sink;

static inline void bench_consume(uint64_t v)
{
	bench_sink += v;
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/*
 * Call first: parses options, turns glibc's heap trimming off (so a
 * warm-up run leaves a warm heap) and prints the header line.
 */
void bench_init(int argc, char **argv, const char *name);
unsigned int bench_reps(void);
bool bench_quick(void);

/* One timed run: ns per op, or total ns, as the caller defines. */
typedef double (*bench_fn)(void *arg);
/* One timed run that produces @nfigs figures at once into @figs. */
typedef void (*bench_multi_fn)(void *arg, double *figs);

/* The median of bench_reps() runs, after one untimed warm-up run. */
double bench_median(bench_fn fn, void *arg);
/* Per-figure medians of bench_reps() runs (plus a warm-up) into @medians. */
void bench_median_multi(bench_multi_fn fn, void *arg, unsigned int nfigs,
			double *medians);

/* Sorts @v in place and returns its median (mean of the middle two). */
double bench_median_of(double *v, size_t n);

/* Elapsed ns since @t0, divided over @ops operations. */
static inline double bench_per_op(uint64_t t0, uint64_t ops)
{
	return (double)(bench_now_ns() - t0) / (double)(ops ? ops : 1);
}

/*
 * A table: "operation | N | <unit> | baseline <unit> | ratio", ratio being
 * value / baseline. @baseline names what the baseline is.
 */
void bench_table_begin(const char *title, const char *baseline,
		       const char *unit);
void bench_table_row(const char *op, uint64_t n, double value,
		     double baseline);
void bench_table_end(void);

/* Informational: "target: <what>: met" or "not met". */
void bench_target(const char *what, bool met);
void bench_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A real error: print it and exit non-zero. */
void bench_fail(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define BENCH_CHECK(cond, fmt, ...)                                        \
	do {                                                                \
		if (!(cond))                                                \
			bench_fail("%s:%d: check '%s' failed: " fmt,        \
				   __FILE__, __LINE__, #cond, ##__VA_ARGS__); \
	} while (0)

/* Allocation that cannot return NULL: a failure is a bench_fail(). */
void *bench_alloc(size_t size);

#endif
