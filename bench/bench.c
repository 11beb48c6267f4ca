// SPDX-License-Identifier: MIT
#include "bench.h"

#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS 1000

volatile uint64_t bench_sink;

static unsigned int reps = BENCH_DEFAULT_REPS;
static bool quick;

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static unsigned int parse_reps(const char *s)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v < 1 || v > MAX_REPS)
		bench_fail("bad repetition count '%s' (1..%d)", s, MAX_REPS);
	return v;
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);

	return v && *v && strcmp(v, "0");
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-r REPS] [-q]\n"
		"  -r REPS  repetitions per figure, median reported "
		"(UIOMMUFD_BENCH_REPS, default %d)\n"
		"  -q       quick smoke run with small sizes "
		"(UIOMMUFD_BENCH_QUICK=1)\n",
		prog, BENCH_DEFAULT_REPS);
}

void bench_init(int argc, char **argv, const char *name)
{
	const char *env = getenv("UIOMMUFD_BENCH_REPS");
	int opt, trim_off;

	quick = env_true("UIOMMUFD_BENCH_QUICK");
	if (env && *env)
		reps = parse_reps(env);
	while ((opt = getopt(argc, argv, "r:qh")) != -1) {
		switch (opt) {
		case 'r':
			reps = parse_reps(optarg);
			break;
		case 'q':
			quick = true;
			break;
		default:
			usage(argv[0]);
			exit(opt == 'h' ? 0 : 2);
		}
	}
	/*
	 * glibc gives freed heap back to the OS, so every run would fault it
	 * in again and the warm-up would not warm it: keep it. Sanitizer
	 * allocators refuse, which is fine.
	 */
	trim_off = mallopt(M_TRIM_THRESHOLD, INT_MAX);
	printf("### %s: median of %u runs (after 1 warm-up), "
	       "CLOCK_MONOTONIC, heap trim %s, cc %s%s\n",
	       name, reps, trim_off ? "off" : "ON", __VERSION__,
	       quick ? ", QUICK smoke run: sizes shrunk" : "");
	fflush(stdout);
}

unsigned int bench_reps(void)
{
	return reps;
}

bool bench_quick(void)
{
	return quick;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

double bench_median_of(double *v, size_t n)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_double);
	return n & 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void bench_median_multi(bench_multi_fn fn, void *arg, unsigned int nfigs,
			double *medians)
{
	/* runs[fig * reps + rep], so each figure's runs are contiguous. */
	double *runs = bench_alloc(sizeof(*runs) * nfigs * reps);
	double *figs = bench_alloc(sizeof(*figs) * nfigs);

	/* Warm-up: first touch, page faults, a cold heap and caches. */
	fn(arg, figs);
	for (unsigned int r = 0; r != reps; r++) {
		fn(arg, figs);
		for (unsigned int f = 0; f != nfigs; f++)
			runs[f * reps + r] = figs[f];
	}
	for (unsigned int f = 0; f != nfigs; f++)
		medians[f] = bench_median_of(runs + f * reps, reps);
	free(figs);
	free(runs);
}

struct single {
	bench_fn fn;
	void *arg;
};

static void single_run(void *arg, double *figs)
{
	struct single *s = arg;

	figs[0] = s->fn(s->arg);
}

double bench_median(bench_fn fn, void *arg)
{
	struct single s = { fn, arg };
	double median;

	bench_median_multi(single_run, &s, 1, &median);
	return median;
}

#define OP_WIDTH 38

void bench_table_begin(const char *title, const char *baseline,
		       const char *unit)
{
	char base_col[64];

	snprintf(base_col, sizeof(base_col), "baseline %s", unit);
	printf("\n== %s ==\n", title);
	printf("baseline: %s\n", baseline);
	printf("%-*s | %9s | %12s | %16s | %8s\n", OP_WIDTH, "operation", "N",
	       unit, base_col, "ratio");
	printf("%.*s-+-%.9s-+-%.12s-+-%.16s-+-%.8s\n", OP_WIDTH,
	       "----------------------------------------------------------",
	       "----------", "--------------", "------------------",
	       "----------");
}

/* Enough significant digits for both 3 ns and 3e6 ns. */
static void fmt_value(char *buf, size_t len, double v)
{
	if (v < 10)
		snprintf(buf, len, "%.2f", v);
	else if (v < 1000)
		snprintf(buf, len, "%.1f", v);
	else
		snprintf(buf, len, "%.0f", v);
}

void bench_table_row(const char *op, uint64_t n, double value,
		     double baseline)
{
	char v[32], b[32], ratio[32];

	fmt_value(v, sizeof(v), value);
	fmt_value(b, sizeof(b), baseline);
	if (baseline <= 0)
		snprintf(ratio, sizeof(ratio), "-");
	else if (value / baseline >= 0.1)
		snprintf(ratio, sizeof(ratio), "%.2fx", value / baseline);
	else /* two significant digits, not 0.00x */
		snprintf(ratio, sizeof(ratio), "%.2gx", value / baseline);
	printf("%-*s | %9llu | %12s | %16s | %8s\n", OP_WIDTH, op,
	       (unsigned long long)n, v, b, ratio);
	fflush(stdout);
}

void bench_table_end(void)
{
	fflush(stdout);
}

void bench_target(const char *what, bool met)
{
	printf("target: %s: %s\n", what, met ? "met" : "not met");
	fflush(stdout);
}

void bench_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

void bench_fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("BENCH ERROR: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

void *bench_alloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		bench_fail("out of memory allocating %zu bytes", size);
	/* Touch every page now, not inside a timed run. */
	memset(p, 0, size);
	return p;
}
