/*
 * ratelimit - Exim-style EWMA rates, decaying counters, Bloom and small-set
 * distinct counters. See ratelimit.h for the semantics.
 */
#include "policy/ratelimit.h"

#include <math.h>
#include <string.h>

double ratelimit_ewma_peek(const struct ratelimit_ewma *s, double count, int64_t now_ms,
                           int64_t period_ms)
{
	if (s->last_ms == 0 || period_ms <= 0)
		return count;
	double rate;
	double i_over_p = (double)(now_ms - s->last_ms) / (double)period_ms;
	if (i_over_p < 1e-9) {
		/* The limit of the formula as i -> 0 (and a clock that went back). */
		rate = s->rate + count;
	} else {
		double a = exp(-i_over_p);
		rate = (1.0 - a) * count / i_over_p + a * s->rate;
	}
	if (rate < count)
		rate = count;
	return rate;
}

bool ratelimit_ewma_hit(struct ratelimit_ewma *s, double count, double limit, int64_t period_ms,
                        enum ratelimit_mode mode, int64_t now_ms, double *rate_out)
{
	double rate = ratelimit_ewma_peek(s, count, now_ms, period_ms);
	bool over = rate >= limit;
	if (rate_out)
		*rate_out = rate;
	if (mode == RATELIMIT_STRICT || (mode == RATELIMIT_LEAKY && !over)) {
		s->rate = rate;
		if (now_ms > s->last_ms || s->last_ms == 0)
			s->last_ms = now_ms ? now_ms : 1;
	}
	return over;
}

double ratelimit_ewma_decayed(const struct ratelimit_ewma *s, int64_t now_ms, int64_t period_ms)
{
	if (s->last_ms == 0 || period_ms <= 0)
		return 0;
	if (now_ms <= s->last_ms)
		return s->rate;
	return s->rate * exp(-(double)(now_ms - s->last_ms) / (double)period_ms);
}

double ratelimit_decay_value(const struct ratelimit_decay *d, int64_t now_ms, int64_t tau_ms)
{
	if (d->last_ms == 0 || tau_ms <= 0 || now_ms <= d->last_ms)
		return d->value;
	return d->value * exp(-(double)(now_ms - d->last_ms) / (double)tau_ms);
}

void ratelimit_decay_add(struct ratelimit_decay *d, double n, int64_t now_ms, int64_t tau_ms)
{
	d->value = ratelimit_decay_value(d, now_ms, tau_ms) + n;
	if (now_ms > d->last_ms)
		d->last_ms = now_ms;
}

uint64_t ratelimit_hash(const void *data, size_t len)
{
	/* Eight bytes at a time, each word mixed by a 64-bit multiply, then the
	 * murmur3 finaliser: fast on short keys and well spread. */
	const unsigned char *p = data;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ (len * 0xff51afd7ed558ccdULL);
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		h = (h ^ (w * 0x87c37b91114253d5ULL)) * 0x4cf5ad432745937fULL;
		h ^= h >> 29;
		p += 8;
		len -= 8;
	}
	uint64_t w = 0;
	for (size_t i = 0; i < len; i++)
		w |= (uint64_t)p[i] << (8 * i);
	h = (h ^ (w * 0x87c37b91114253d5ULL)) * 0x4cf5ad432745937fULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static bool ratelimit_pow2(size_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

int ratelimit_bloom_init(struct ratelimit_bloom *b, uint64_t *bits, size_t nwords)
{
	if (!ratelimit_pow2(nwords) || nwords > (1u << 20))
		return -1;
	memset(b, 0, sizeof *b);
	memset(bits, 0, nwords * sizeof *bits);
	b->nbits = (uint32_t)(nwords * 64);
	return 0;
}

static bool ratelimit_bloom_expired(const struct ratelimit_bloom *b, int64_t now_ms,
                                    int64_t period_ms)
{
	return b->window_start_ms == 0 || now_ms - b->window_start_ms >= period_ms ||
	       now_ms < b->window_start_ms;
}

uint32_t ratelimit_bloom_count(const struct ratelimit_bloom *b, int64_t now_ms, int64_t period_ms)
{
	return ratelimit_bloom_expired(b, now_ms, period_ms) ? 0 : b->count;
}

/* The filter's size in bits as stored, or 64 for a record from elsewhere
 * whose size does not fit its bits. */
static uint32_t ratelimit_bloom_nbits(const struct ratelimit_bloom *b, size_t nwords)
{
	uint32_t nbits = b->nbits;
	if (nbits < 64 || !ratelimit_pow2(nbits) || nbits / 64 > nwords)
		nbits = 64; /* stay inside the bits */
	return nbits;
}

/* A blocked Bloom filter: the high bits of the hash pick one 512-bit block
 * (one cache line), four 9-bit slices of the low bits pick the bits in it.
 * One cache miss per insertion instead of four, for a slightly higher
 * false-positive rate (about 0.5% at 500 values in 8192 bits). */
static size_t ratelimit_bloom_block(uint32_t nbits, uint64_t h, uint32_t *block_bits)
{
	uint32_t blocks = nbits >= 512 ? nbits / 512 : 1;
	*block_bits = nbits >= 512 ? 512 : nbits;
	return (size_t)((h >> 40) % blocks) * (*block_bits / 64);
}

void ratelimit_bloom_prefetch(const struct ratelimit_bloom *b, const uint64_t *bits, size_t nwords,
                              uint64_t h)
{
	uint32_t block_bits;
	__builtin_prefetch(
	    bits + ratelimit_bloom_block(ratelimit_bloom_nbits(b, nwords), h, &block_bits), 1);
}

uint32_t ratelimit_bloom_add_hash(struct ratelimit_bloom *b, uint64_t *bits, size_t nwords,
                                  uint64_t h, int64_t now_ms, int64_t period_ms)
{
	uint32_t nbits = ratelimit_bloom_nbits(b, nwords);
	if (ratelimit_bloom_expired(b, now_ms, period_ms)) {
		memset(bits, 0, (nbits / 64) * sizeof *bits);
		b->count = 0;
		b->nbits = nbits;
		b->window_start_ms = now_ms ? now_ms : 1;
	}
	uint32_t block_bits;
	uint64_t *blk = bits + ratelimit_bloom_block(nbits, h, &block_bits);
	bool fresh = false;
	for (uint32_t n = 0; n < 4; n++) {
		uint32_t bit = (uint32_t)(h >> (9 * n)) & (block_bits - 1);
		uint64_t mask = 1ULL << (bit & 63);
		if (!(blk[bit >> 6] & mask)) {
			fresh = true;
			blk[bit >> 6] |= mask;
		}
	}
	if (fresh && b->count < UINT32_MAX)
		b->count++;
	return b->count;
}

uint32_t ratelimit_bloom_add(struct ratelimit_bloom *b, uint64_t *bits, size_t nwords,
                             const void *data, size_t len, int64_t now_ms, int64_t period_ms)
{
	return ratelimit_bloom_add_hash(b, bits, nwords, ratelimit_hash(data, len), now_ms,
	                                period_ms);
}

uint32_t ratelimit_set_count(const struct ratelimit_set *s, int64_t win)
{
	return s->window == win ? s->n : 0;
}

uint32_t ratelimit_set_add(struct ratelimit_set *s, uint32_t hash, int64_t win)
{
	if (s->window != win) {
		s->window = win;
		s->n = 0;
	}
	uint32_t held = s->n < RATELIMIT_SET_MAX ? s->n : RATELIMIT_SET_MAX;
	for (uint32_t i = 0; i < held; i++)
		if (s->h[i] == hash)
			return s->n;
	if (s->n < RATELIMIT_SET_MAX)
		s->h[s->n] = hash;
	/* Past the set's size every new value is counted (values that recur are
	 * counted again: an overestimate only when the count is already high). */
	if (s->n < UINT32_MAX)
		s->n++;
	return s->n;
}
