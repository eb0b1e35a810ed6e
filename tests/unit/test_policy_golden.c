/*
 * Golden tests of the policy engine, in the Postfix manner: every
 * tests/data/policy/NAME.events is replayed through a fresh engine on a
 * memory store (time from the file: a fake clock), and the verdicts that are
 * not a plain allow are compared with NAME.expected, line by line. An
 * optional NAME.conf is the engine's configuration. On a mismatch the diff
 * is printed. Every file is replayed again on an LMDB store and on a Redis
 * store (a redis-server the test starts on a free loopback port; skipped,
 * saying so, when it is not installed), which must decide exactly the same
 * (DESIGN invariant 6 across backends), and on a memory store without the
 * optional expiring-record calls (put_exp, expire: a backend may leave them
 * out), which must also agree.
 * POLICY_GOLDEN_UPDATE=1 rewrites the .expected files instead.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "core/str.h"
#include "policy/config.h"
#include "policy/engine.h"
#include "policy/event.h"
#include "policy/store.h"
#include "redis_server.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GOLDEN_DIR "tests/data/policy"

static int golden_read(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	char chunk[4096];
	size_t n;
	int rc = 0;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (buf_append(out, chunk, n) != 0)
			rc = -1;
	fclose(f);
	return rc;
}

/* Replays one .events file; the verdict lines go to out. 0 or -1. */
enum golden_backend { GOLDEN_MEM, GOLDEN_LMDB, GOLDEN_REDIS, GOLDEN_MEM_NO_EXPIRY };
static int golden_redis_port;

static int golden_replay(const char *name, enum golden_backend backend, struct buf *out)
{
	char path[512], err[256];
	struct buf text, conf;
	struct pol_config *cfg = malloc(sizeof *cfg);
	int rc = -1;
	buf_init(&text, 16 << 20);
	buf_init(&conf, 1 << 20);
	assert_non_null(cfg);
	assert_int_equal(str_format(path, sizeof path, "%s/%s.conf", GOLDEN_DIR, name), 0);
	if (golden_read(path, &conf) == 0) {
		if (pol_config_load_string(cfg, buf_cstr(&conf), path, err, sizeof err) != 0) {
			print_error("%s\n", err);
			goto out;
		}
	} else if (pol_config_defaults(cfg, err, sizeof err) != 0) {
		goto out;
	}
	assert_int_equal(str_format(path, sizeof path, "%s/%s.events", GOLDEN_DIR, name), 0);
	if (golden_read(path, &text) != 0) {
		print_error("%s: cannot read\n", path);
		goto out;
	}
	char dir[] = "/tmp/rg-policy-golden-XXXXXX";
	struct store *st;
	bool lmdb = backend == GOLDEN_LMDB;
	if (lmdb) {
		assert_non_null(mkdtemp(dir));
		st = store_lmdb_open(dir, 256 << 20, err, sizeof err);
	} else if (backend == GOLDEN_REDIS) {
		char prefix[160];
		assert_int_equal(str_format(prefix, sizeof prefix, "golden:%s:", name), 0);
		struct store_redis_options o = {
		    .port = golden_redis_port, .prefix = prefix, .require_connection = true};
		st = store_redis_open(&o, err, sizeof err);
	} else {
		st = store_mem_new();
	}
	assert_non_null(st);
	if (backend == GOLDEN_MEM_NO_EXPIRY) {
		st->put_exp = NULL;
		st->expire = NULL;
	}
	struct pol_engine *e = pol_engine_new(cfg, st);
	assert_non_null(e);
	const char *p = buf_cstr(&text), *end = p + text.len;
	unsigned lineno = 0;
	static struct pol_event ev;
	rc = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lineno++;
		int prc = pol_event_parse(p, len, &ev, err, sizeof err);
		p += len + (nl ? 1 : 0);
		if (prc == 0)
			continue;
		if (prc < 0) {
			print_error("%s:%u: %s\n", path, lineno, err);
			rc = -1;
			break;
		}
		struct pol_verdict v;
		if (pol_engine_evaluate(e, &ev, &v) != 0) {
			print_error("%s:%u: store error\n", path, lineno);
			rc = -1;
			break;
		}
		if (v.action == POL_ALLOW && v.delay_ms == 0 && !v.block_created && !v.rule[0])
			continue;
		char line[2048];
		(void)pol_verdict_format(&v, POL_EVENT_EPOCH_MS, line, sizeof line);
		if (buf_printf(out, "T+%lld %s\n",
		               (long long)((ev.time_ms - POL_EVENT_EPOCH_MS) / 1000), line) != 0)
			rc = -1;
	}
	pol_engine_free(e);
	st->close(st);
	if (lmdb) {
		char cmd[128];
		assert_int_equal(str_format(cmd, sizeof cmd, "rm -rf %s", dir), 0);
		assert_int_equal(system(cmd), 0);
	}
out:
	free(cfg);
	buf_free(&text);
	buf_free(&conf);
	return rc;
}

/* A plain diff: the expected and the got lines side by side from the first difference. */
static void golden_diff(const char *exp, const char *got)
{
	unsigned line = 1;
	while (*exp && *got) {
		const char *e1 = strchr(exp, '\n'), *g1 = strchr(got, '\n');
		size_t el = e1 ? (size_t)(e1 - exp) : strlen(exp);
		size_t gl = g1 ? (size_t)(g1 - got) : strlen(got);
		if (el != gl || memcmp(exp, got, el) != 0)
			break;
		exp += el + (e1 ? 1 : 0);
		got += gl + (g1 ? 1 : 0);
		line++;
	}
	print_error("first difference at line %u\n", line);
	for (const char *s = exp; *s;) {
		const char *n = strchr(s, '\n');
		size_t l = n ? (size_t)(n - s) : strlen(s);
		print_error("- %.*s\n", (int)l, s);
		s += l + (n ? 1 : 0);
	}
	for (const char *s = got; *s;) {
		const char *n = strchr(s, '\n');
		size_t l = n ? (size_t)(n - s) : strlen(s);
		print_error("+ %.*s\n", (int)l, s);
		s += l + (n ? 1 : 0);
	}
}

static void test_policy_golden(void **state)
{
	DIR *d = opendir(GOLDEN_DIR);
	assert_non_null(d);
	struct dirent *de;
	unsigned files = 0, failed = 0;
	bool update = getenv("POLICY_GOLDEN_UPDATE") != NULL;
	char names[128][128];
	size_t n = 0;
	golden_redis_port = redis_server_start();
	if (golden_redis_port == 0)
		print_message(
		    "redis-server is not installed: golden files not replayed on Redis\n");
	assert_true(golden_redis_port >= 0);
	while ((de = readdir(d)) != NULL && n < 128) {
		size_t l = strlen(de->d_name);
		if (l > 7 && l < 120 && strcmp(de->d_name + l - 7, ".events") == 0)
			assert_int_equal(str_copy_n(names[n++], sizeof names[0], de->d_name, l - 7),
			                 0);
	}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		struct buf got, exp;
		char path[512];
		buf_init(&got, 16 << 20);
		buf_init(&exp, 16 << 20);
		files++;
		struct buf got2;
		buf_init(&got2, 16 << 20);
		int rc = golden_replay(names[i], GOLDEN_MEM, &got);
		static const char *const other[] = {"", "the LMDB store", "the Redis store",
		                                    "a store without put_exp/expire"};
		for (int b = GOLDEN_LMDB; rc == 0 && b <= GOLDEN_MEM_NO_EXPIRY; b++) {
			if (b == GOLDEN_REDIS && golden_redis_port <= 0)
				continue;
			buf_reset(&got2);
			if (golden_replay(names[i], (enum golden_backend)b, &got2) != 0 ||
			    strcmp(buf_cstr(&got), buf_cstr(&got2)) != 0) {
				print_error("%s: %s decided differently\n", names[i], other[b]);
				golden_diff(buf_cstr(&got), buf_cstr(&got2));
				rc = -1;
			}
		}
		buf_free(&got2);
		assert_int_equal(
		    str_format(path, sizeof path, "%s/%s.expected", GOLDEN_DIR, names[i]), 0);
		if (rc != 0) {
			failed++;
		} else if (update) {
			FILE *f = fopen(path, "w");
			assert_non_null(f);
			fputs(buf_cstr(&got), f);
			fclose(f);
		} else if (golden_read(path, &exp) != 0) {
			print_error("%s: missing\n", path);
			failed++;
		} else if (strcmp(buf_cstr(&exp), buf_cstr(&got)) != 0) {
			print_error("%s: verdicts differ\n", names[i]);
			golden_diff(buf_cstr(&exp), buf_cstr(&got));
			failed++;
		}
		buf_free(&got);
		buf_free(&exp);
	}
	redis_server_stop();
	print_message("policy golden: %u files, %u failed\n", files, failed);
	assert_true(files > 0);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_policy_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
