/* SPDX-License-Identifier: MIT */
/*
 * Small, fast, seedable PRNG (xoshiro256**) for randomized tests and
 * benchmarks: the same seed gives the same sequence on every machine.
 */
#ifndef UIOMMUFD_TEST_RNG_H
#define UIOMMUFD_TEST_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

static inline uint64_t rng_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline void rng_init(struct rng *r, uint64_t seed)
{
	for (int i = 0; i != 4; i++)
		r->s[i] = rng_splitmix(&seed);
}

static inline uint64_t rng_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rng_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rng_rotl(s[3], 45);
	return result;
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t rng_below(struct rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi], inclusive; the whole u64 range works. */
static inline uint64_t rng_range(struct rng *r, uint64_t lo, uint64_t hi)
{
	if (lo == 0 && hi == UINT64_MAX)
		return rng_next(r);
	return lo + rng_below(r, hi - lo + 1);
}

/* True with probability num/den. */
static inline int rng_chance(struct rng *r, uint64_t num, uint64_t den)
{
	return rng_below(r, den) < num;
}

#endif
