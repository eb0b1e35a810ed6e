/*
 * replay_bench - events per second through pol_engine_evaluate on one core.
 *
 * Generates N million synthetic events in memory first (compact records:
 * many users over a working day, a realistic mix of logins, failed logins,
 * messages, rejected recipients and delivery results, a few hijacked
 * accounts that burst and a few guessing bots), then times the replay:
 * filling each struct pol_event (what the SMTP layer does) and evaluating it
 * against the memory store. Prints events/s (and per CPU-second); the last line is
 * "speedup: X" with X = events/s / 1,000,000, the target, because
 * raw replay has no peer program to compare with.
 *
 * usage: replay_bench [MILLIONS] (default 2)
 */
#include "core/clock.h"
#include "core/log.h"
#include "core/str.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_USERS
#define BENCH_USERS 20000
#endif
#define BENCH_RCPTS 4096

struct bench_ev {
	int64_t t;
	uint32_t who; /* user index, or (bit 31) an unauthenticated IP */
	uint32_t ip;
	uint32_t rcpt0;
	uint64_t fp;
	uint8_t type, nrcpt;
};

static uint64_t bench_rng = 88172645463325252ULL;

static uint32_t bench_rand(void)
{
	bench_rng ^= bench_rng << 13;
	bench_rng ^= bench_rng >> 7;
	bench_rng ^= bench_rng << 17;
	return (uint32_t)(bench_rng >> 16);
}

static char bench_users[BENCH_USERS][40];
static char bench_rcpts[BENCH_RCPTS][40];

static void bench_generate(struct bench_ev *evs, size_t n)
{
	int64_t t = POL_EVENT_EPOCH_MS + 8 * 3600000LL;
	int64_t step = (10 * 3600000LL) / (int64_t)(n ? n : 1); /* a working day */
	if (step < 1)
		step = 1;
	for (size_t i = 0; i < n; i++) {
		struct bench_ev *e = &evs[i];
		uint32_t r = bench_rand() % 1000;
		t += step;
		e->t = t;
		e->who = bench_rand() % BENCH_USERS;
		e->ip = 0xC0000000u | (e->who * 7u % 65536u) << 8 | 10; /* each user's usual IP */
		e->rcpt0 = bench_rand() % BENCH_RCPTS;
		e->nrcpt = (uint8_t)(1 + bench_rand() % 3);
		e->fp = bench_rand();
		if (r < 700) {
			e->type = POL_EV_MAIL;
			if (r < 10) { /* a hijacked account bursting spam */
				e->who = bench_rand() % 20;
				e->ip = 0xCB007100u | (bench_rand() % 250);
				e->nrcpt = 8;
				e->fp = 0xbad;
			} else if (r < 60) { /* unauthenticated (trusted network) mail */
				e->who |= 1u << 31;
				e->ip = 0x0A000000u | (bench_rand() % 4096);
			}
		} else if (r < 850) {
			e->type = POL_EV_AUTH_OK;
		} else if (r < 900) {
			e->type = POL_EV_AUTH_FAIL;
			if (r < 880) /* a bot */
				e->ip = 0xC6336400u | (bench_rand() % 64);
		} else if (r < 950) {
			e->type = POL_EV_RCPT_REJECT;
			e->nrcpt = 1;
		} else {
			e->type = POL_EV_DELIVERY;
		}
	}
}

static void bench_fill(struct pol_event *ev, const struct bench_ev *b)
{
	uint32_t user = b->who & 0x7fffffffu;
	ev->type = (enum pol_event_type)b->type;
	ev->time_ms = b->t;
	if (b->who >> 31)
		ev->user[0] = '\0';
	else
		memcpy(ev->user, bench_users[user], sizeof bench_users[0]);
	ev->has_ip = true;
	ev->ip.family = 4;
	ev->ip.bytes[0] = (uint8_t)(b->ip >> 24);
	ev->ip.bytes[1] = (uint8_t)(b->ip >> 16);
	ev->ip.bytes[2] = (uint8_t)(b->ip >> 8);
	ev->ip.bytes[3] = (uint8_t)b->ip;
	memcpy(ev->sender, bench_users[user], sizeof bench_users[0]);
	ev->n_rcpt = b->nrcpt;
	ev->rcpt_count = b->nrcpt;
	for (unsigned i = 0; i < b->nrcpt; i++) {
		memcpy(ev->rcpt[i], bench_rcpts[(b->rcpt0 + i) % BENCH_RCPTS],
		       sizeof bench_rcpts[0]);
		ev->result[i] = (b->rcpt0 + i) % 7 == 0 ? POL_DLV_BOUNCED : POL_DLV_OK;
	}
	ev->size = 2000 + (b->fp & 0xffff);
	ev->fingerprint = b->fp;
	ev->flags = 0;
}

int main(int argc, char **argv)
{
	uint64_t millions = 2;
	char err[256];
	if (argc > 1 && str_to_u64(argv[1], strlen(argv[1]), 1, 1000, &millions) != 0) {
		fprintf(stderr, "usage: replay_bench [MILLIONS]\n");
		return 2;
	}
	size_t n = (size_t)millions * 1000000u;
	for (int i = 0; i < BENCH_USERS; i++)
		if (str_format(bench_users[i], sizeof bench_users[0], "user%d@dom%d.example", i,
		               i % 40) != 0)
			panic("main: bench_users[i] does not fit");
	for (int i = 0; i < BENCH_RCPTS; i++)
		if (str_format(bench_rcpts[i], sizeof bench_rcpts[0], "r%d@peer%d.example", i,
		               i % 300) != 0)
			panic("main: bench_rcpts[i] does not fit");
	struct bench_ev *evs = malloc(n * sizeof *evs);
	struct pol_config *cfg = malloc(sizeof *cfg);
	static struct pol_event ev;
	if (!evs || !cfg || pol_config_defaults(cfg, err, sizeof err) != 0)
		return 1;
	bench_generate(evs, n);
	struct store *st = store_mem_new();
	struct pol_engine *e = st ? pol_engine_new(cfg, st) : NULL;
	if (!e)
		return 1;
	pol_event_init(&ev, POL_EV_MAIL, 0);
	unsigned long long by_action[5] = {0}, blocks = 0;
	clock_update();
	int64_t start = clock_monotonic_ms();
	/* CPU time too: on a busy shared machine wall time also measures the neighbours */
	struct timespec c0, c1;
	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
	for (size_t i = 0; i < n; i++) {
		struct pol_verdict v;
		bench_fill(&ev, &evs[i]);
		if (pol_engine_evaluate(e, &ev, &v) != 0)
			return 1;
		by_action[v.action]++;
		blocks += v.block_created;
	}
	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
	clock_update();
	int64_t ms = clock_monotonic_ms() - start;
	double cpu = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9;
	if (ms <= 0)
		ms = 1;
	double rate = (double)n * 1000.0 / (double)ms;
	printf("events: %zu in %lld ms (memory store, one core)\n", n, (long long)ms);
	printf(
	    "verdicts: allow %llu warn %llu defer %llu hold %llu block %llu; blocks created %llu\n",
	    by_action[0], by_action[1], by_action[2], by_action[3], by_action[4], blocks);
	printf("events per CPU-second: %.0f (%.3f s CPU)\n", cpu > 0 ? (double)n / cpu : 0.0, cpu);
	printf("events/s: %.0f\n", rate);
	/* No peer replays raw events, so the comparison is with the 1,000,000 events/s target. */
	printf("speedup: %.2f\n", rate / 1000000.0);
	pol_engine_free(e);
	st->close(st);
	free(evs);
	free(cfg);
	return 0;
}
