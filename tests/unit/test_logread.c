/*
 * Unit tests for src/forensics/logread.c: lines handed out exactly as a plain
 * split at '\n' gives them, wherever they fall against the 64-byte steps of
 * the newline scan and the 4 MiB blocks (short, empty, exactly 63/64/65
 * bytes, a last line without a newline), lines over LOGREAD_LINE_MAX counted
 * and skipped, gzip read the same as plain, and a callback that stops.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "forensics/logread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

struct seen {
	char *text; /* every line given, each followed by '\n' */
	size_t len, cap;
	size_t lines, too_long, stop_after;
};

static int on_line(void *ctx, const char *p, size_t n)
{
	struct seen *s = ctx;
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->text = realloc(s->text, s->cap);
		assert_non_null(s->text);
	}
	memcpy(s->text + s->len, p, n);
	s->len += n;
	s->text[s->len++] = '\n';
	s->lines++;
	return s->stop_after && s->lines == s->stop_after ? -1 : 0;
}

static void on_long(void *ctx)
{
	((struct seen *)ctx)->too_long++;
}

/* What logread must give for data: its lines up to LOGREAD_LINE_MAX bytes,
 * each with '\n'; *skipped the longer ones. */
static char *expected(const char *data, size_t len, size_t *out_len, size_t *lines, size_t *skipped)
{
	char *e = malloc(len + 2);
	size_t o = 0, i = 0;
	assert_non_null(e);
	*lines = *skipped = 0;
	while (i < len) {
		const char *nl = memchr(data + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (data + i)) : len - i;
		if (n > LOGREAD_LINE_MAX) {
			(*skipped)++;
		} else {
			memcpy(e + o, data + i, n);
			o += n;
			e[o++] = '\n';
			(*lines)++;
		}
		i += n + 1;
	}
	*out_len = o;
	return e;
}

static void write_file(const char *path, const char *data, size_t len, bool gz)
{
	if (gz) {
		gzFile g = gzopen(path, "wb");
		assert_non_null(g);
		assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
		assert_int_equal(gzclose(g), Z_OK);
		return;
	}
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void check(const char *data, size_t len, bool gz)
{
	char path[] = "/tmp/test_logread_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, data, len, gz);
	struct logread r;
	char err[256];
	assert_int_equal(logread_open(&r, path, err, sizeof err), 0);
	struct seen s = {0};
	assert_int_equal(logread_each(&r, on_line, on_long, &s, err, sizeof err), 0);
	logread_close(&r);
	unlink(path);
	size_t elen, lines, skipped;
	char *e = expected(data, len, &elen, &lines, &skipped);
	assert_int_equal(s.lines, lines);
	assert_int_equal(s.too_long, skipped);
	assert_int_equal(s.len, elen);
	if (elen)
		assert_memory_equal(s.text, e, elen);
	free(e);
	free(s.text);
}

/* Lines of every length from 0 to 200 one after the other: each newline at
 * a different place against the 64-byte steps. */
static void test_lengths(void **state)
{
	size_t cap = 64 * 1024, len = 0;
	char *d = malloc(cap);
	assert_non_null(d);
	for (size_t n = 0; n <= 200; n++) {
		for (size_t k = 0; k < n; k++)
			d[len++] = (char)('a' + (n + k) % 26);
		d[len++] = '\n';
	}
	check(d, len, false);
	check(d, len, true);
	/* no newline at the end, and a lone last byte */
	check(d, len - 1, false);
	d[len] = 'z';
	check(d, len + 1, false);
	check("", 0, false);
	check("\n\n\n", 3, false);
	free(d);
}

/* Lines around LOGREAD_LINE_MAX, and across the 4 MiB block boundary. */
static void test_long_and_blocks(void **state)
{
	size_t cap = (9u << 20), len = 0;
	char *d = malloc(cap);
	assert_non_null(d);
	const size_t sizes[] = {LOGREAD_LINE_MAX - 1,
	                        LOGREAD_LINE_MAX,
	                        LOGREAD_LINE_MAX + 1,
	                        10,
	                        3 * LOGREAD_LINE_MAX,
	                        0,
	                        65};
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		memset(d + len, 'x', sizes[k]);
		len += sizes[k];
		d[len++] = '\n';
	}
	/* then short lines past the first block */
	while (len < (9u << 20) - 200) {
		size_t n = len % 97;
		memset(d + len, 'y', n);
		len += n;
		d[len++] = '\n';
	}
	check(d, len, false);
	check(d, len, true);
	free(d);
}

static void test_stop(void **state)
{
	char path[] = "/tmp/test_logread_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	const char *data = "one\ntwo\nthree\nfour\n";
	write_file(path, data, strlen(data), false);
	struct logread r;
	char err[256];
	assert_int_equal(logread_open(&r, path, err, sizeof err), 0);
	struct seen s = {0};
	s.stop_after = 2;
	assert_int_equal(logread_each(&r, on_line, on_long, &s, err, sizeof err), -2);
	assert_int_equal(s.lines, 2);
	logread_close(&r);
	unlink(path);
	free(s.text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_lengths),
	    cmocka_unit_test(test_long_and_blocks),
	    cmocka_unit_test(test_stop),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
