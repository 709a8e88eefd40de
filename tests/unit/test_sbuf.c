/*
 * The string buffer's number writers and format_uptime (src/common/util.c),
 * which replace printf where an answer lists every instance: each checked
 * against snprintf over the edges (0, signs, the 64-bit limits, carries in
 * the decimals, days).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/api-internal.h"

/* b holds exactly want; b is emptied */
static void expect(struct sbuf *b, const char *want)
{
	assert_int_equal(b->len, strlen(want));
	assert_memory_equal(b->s, want, b->len);
	sbuf_done(b);
}

static void test_integers(void **state)
{
	static const int64_t iv[] = { 0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN };
	static const uint64_t uv[] = { 0, 7, 10, 99, 100, 18446744073709551615ULL };
	struct sbuf b = SBUF_INIT;
	char want[32];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(iv); i++) {
		sbuf_add_i64(&b, iv[i]);
		snprintf(want, sizeof(want), "%" PRId64, iv[i]);
		expect(&b, want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(uv); i++) {
		sbuf_add_u64(&b, uv[i]);
		snprintf(want, sizeof(want), "%" PRIu64, uv[i]);
		expect(&b, want);
	}
	/* every length: the digits are counted before they are written */
	for (uint64_t p = 1; p <= 1000000000000000000ULL; p *= 10) {
		const uint64_t around[] = { p - 1, p, p + 1, p * 5 + 3 };

		for (size_t i = 0; i < ARRAY_SIZE(around); i++) {
			sbuf_adds(&b, "x");
			sbuf_add_u64(&b, around[i]);
			snprintf(want, sizeof(want), "x%" PRIu64, around[i]);
			expect(&b, want);
		}
	}
}

static void test_fixed(void **state)
{
	static const struct {
		int64_t v;
		int digits;
		const char *want;
	} cases[] = {
		{ 0, 3, "0.000" },      { 1, 3, "0.001" },       { 999, 3, "0.999" },
		{ 1000, 3, "1.000" },   { 1234, 3, "1.234" },    { -1234, 3, "-1.234" },
		{ -5, 1, "-0.5" },      { 42, 1, "4.2" },        { 7, 0, "7" },
		{ 1733390000123, 3, "1733390000.123" },          { INT64_MIN, 3, "-9223372036854775.808" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sbuf b = SBUF_INIT;

		sbuf_adds(&b, "[");
		sbuf_add_fixed(&b, cases[i].v, cases[i].digits);
		sbuf_adds(&b, "]");
		assert_int_equal(b.len, strlen(cases[i].want) + 2);
		assert_memory_equal(b.s + 1, cases[i].want, b.len - 2);
		sbuf_done(&b);
	}
}

/* api_json_str, against the rule written out byte by byte: every ASCII byte,
 * the two escaped ones, controls as \u00XX, UTF-8 kept, bad UTF-8 as U+FFFD */
static void test_json_str(void **state)
{
	struct sbuf b = SBUF_INIT, want = SBUF_INIT;
	char all[128], u[8];

	(void)state;
	for (int c = 1; c < 128; c++)
		all[c - 1] = (char)c;
	all[127] = '\0';
	sbuf_addc(&want, '"');
	for (int c = 1; c < 128; c++) {
		if (c == '"' || c == '\\') {
			sbuf_addc(&want, '\\');
			sbuf_addc(&want, (char)c);
		} else if (c < 0x20) {
			snprintf(u, sizeof(u), "\\u%04x", c);
			sbuf_adds(&want, u);
		} else {
			sbuf_addc(&want, (char)c);
		}
	}
	sbuf_addc(&want, '"');
	api_json_str(&b, all);
	assert_string_equal(b.s, want.s);
	sbuf_done(&b);
	sbuf_done(&want);

	api_json_str(&b, "caf\xc3\xa9 \xff x\xc3");
	assert_string_equal(b.s, "\"caf\xc3\xa9 \\ufffd x\\ufffd\"");
	sbuf_reset(&b);
	api_json_str(&b, NULL);
	assert_string_equal(b.s, "null");
	sbuf_reset(&b);
	api_json_str(&b, "");
	assert_string_equal(b.s, "\"\"");
	sbuf_done(&b);
}

/* format_uptime writes the common case by hand: it must say what snprintf says */
static void test_uptime(void **state)
{
	static const int64_t secs[] = { -5, 0, 9, 59, 60, 3599, 3600, 36000, 86399, 86400, 90061, 2 * 86400 + 5 };
	char got[64], want[64];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(secs); i++) {
		int64_t v = secs[i] < 0 ? 0 : secs[i], d = v / 86400;

		if (d)
			snprintf(want, sizeof(want), "%lld day%s, %lld:%02lld:%02lld", (long long)d, d == 1 ? "" : "s",
				 (long long)(v / 3600 % 24), (long long)(v / 60 % 60), (long long)(v % 60));
		else
			snprintf(want, sizeof(want), "%lld:%02lld:%02lld", (long long)(v / 3600 % 24),
				 (long long)(v / 60 % 60), (long long)(v % 60));
		format_uptime(got, sizeof(got), secs[i]);
		assert_string_equal(got, want);
	}
	format_uptime(got, 5, 3661); /* too small for by hand: truncated as snprintf does */
	assert_string_equal(got, "1:01");
}

/* sbuf_take hands over the string without its spare room; strv_pack copies an array into one block */
static void test_take_and_pack(void **state)
{
	struct sbuf b = SBUF_INIT;
	char *v[] = { "LISTEN_FDS=1", "", "SUPERVISOR_PROCESS_NAME=web", NULL }, **p, *s;

	(void)state;
	sbuf_adds(&b, "/bin/sleep");
	assert_true(b.cap >= 64);
	s = sbuf_take(&b);
	assert_string_equal(s, "/bin/sleep");
	assert_null(b.s);
	assert_int_equal(b.len + b.cap, 0);
	free(s);
	s = sbuf_take(&b); /* empty: an empty string, never NULL */
	assert_string_equal(s, "");
	free(s);

	p = strv_pack(v);
	assert_int_equal(strv_len(p), 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(p[i], v[i]);
		assert_ptr_not_equal(p[i], v[i]);
		/* inside the block, after the array */
		assert_true((char *)p[i] >= (char *)(p + 4));
	}
	assert_null(p[3]);
	free(p);
	p = strv_pack((char *[]){ NULL });
	assert_null(p[0]);
	free(p);
}

/*
 * read_file: a regular file in one read into a buffer of its size, a file
 * whose size stat does not know (/proc, cgroupfs: st_size 0) in pieces,
 * an empty one as "" (NUL-terminated: under ASan the first version of the
 * one-read change read past its buffer here), and one over max refused.
 */
static void test_read_file(void **state)
{
	char path[] = "/tmp/tend-unit-rf-XXXXXX", *data = NULL, big[10000];
	size_t len = 1;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(read_file(path, 100, &data, &len), 0);
	assert_int_equal(len, 0);
	assert_string_equal(data, "");
	free(data);
	memset(big, 'x', sizeof(big));
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	close(fd);
	assert_int_equal(read_file(path, sizeof(big), &data, &len), 0);
	assert_int_equal(len, sizeof(big));
	assert_int_equal(strlen(data), sizeof(big));
	free(data);
	assert_int_equal(read_file(path, sizeof(big) - 1, &data, &len), -EFBIG);
	unlink(path);
	/* st_size 0, content there */
	assert_int_equal(read_file("/proc/self/status", 1 << 20, &data, &len), 0);
	assert_true(len > 0);
	assert_int_equal(strlen(data), len);
	assert_non_null(strstr(data, "Name:"));
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_fixed),
		cmocka_unit_test(test_json_str),
		cmocka_unit_test(test_uptime),
		cmocka_unit_test(test_take_and_pack),
		cmocka_unit_test(test_read_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
