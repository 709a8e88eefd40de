/*
 * json_indent (src/common/jsonfmt.c) against jansson's own JSON_INDENT(2):
 * the same text for documents jansson prints back unchanged (hand-picked
 * edge cases, then random trees), the same document for the rest (escapes
 * jansson rewrites).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/jsonfmt.h"

#define DUMP_FLAGS (JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15))

static char *ours(const char *text)
{
	struct sbuf b = SBUF_INIT;

	json_indent(&b, text, strlen(text));
	return sbuf_take(&b);
}

/* jansson's indent of text, with the newline the CLI's puts adds */
static char *theirs(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &err);
	char *s, *r;

	assert_non_null(j);
	s = json_dumps(j, DUMP_FLAGS | JSON_ENCODE_ANY);
	json_decref(j);
	assert_non_null(s);
	r = xasprintf("%s\n", s);
	free(s);
	return r;
}

static void same_text(const char *text)
{
	char *a = ours(text), *b = theirs(text);

	if (strcmp(a, b) != 0)
		fail_msg("input %s\nours:\n%s\njansson:\n%s", text, a, b);
	free(a);
	free(b);
}

static void test_cases(void **state)
{
	static const char *const cases[] = {
		"{}",
		"[]",
		"{\"a\":1}",
		"{\"programs\":[]}",
		"{\"a\":{},\"b\":[],\"c\":[{}],\"d\":[[],[[]]]}",
		"[1,-2,3.5,0.25,true,false,null,\"x\"]",
		"{\"s\":\"a \\\"quoted\\\" {brace} [bracket], colon: \\\\\"}",
		"{\"nested\":{\"deep\":{\"deeper\":[1,{\"k\":\"v\"}]}}}",
		"{\"programs\":[{\"name\":\"web:0\",\"state\":\"RUNNING\",\"pid\":123,\"cpu_percent\":1.5,"
		"\"last_exit\":null,\"maps\":[],\"argv\":[\"/bin/sleep\",\"100\"]}]}",
		"\"just a string\"",
		"42",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		same_text(cases[i]);
}

/* Whitespace in the input does not matter. */
static void test_spaced_input(void **state)
{
	char *a = ours(" { \"a\" : [ 1 , 2 ] ,\n\t\"b\" : { } , \"c\" : [ ] } ");
	char *b = theirs("{\"a\":[1,2],\"b\":{},\"c\":[]}");

	(void)state;
	assert_string_equal(a, b);
	free(a);
	free(b);
}

/* Escapes jansson writes otherwise (\u00e9, \/) stay as given: the same document. */
static void test_escapes_kept(void **state)
{
	const char *text = "{\"e\":\"caf\\u00e9 \\/ \\n \\t \\u0001\",\"k\\\"ey\":[\"\\\\\"]}";
	char *a = ours(text);
	json_t *x = json_loads(a, 0, NULL), *y = json_loads(text, 0, NULL);

	(void)state;
	assert_non_null(strstr(a, "caf\\u00e9 \\/"));
	assert_non_null(x);
	assert_non_null(y);
	assert_true(json_equal(x, y));
	json_decref(x);
	json_decref(y);
	free(a);
}

static json_t *random_value(unsigned *seed, int depth)
{
	int kind = depth > 4 ? (int)(rand_r(seed) % 5) : (int)(rand_r(seed) % 7);

	switch (kind) {
	case 0: return json_integer((json_int_t)rand_r(seed) - RAND_MAX / 2);
	case 1: return json_real((double)(rand_r(seed) % 100000) / 8);
	case 2: {
		char s[24];
		size_t n = rand_r(seed) % sizeof(s);
		static const char alphabet[] = "ab{}[],:\" \\/xyz\n\t";

		for (size_t i = 0; i < n; i++)
			s[i] = alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
		return json_stringn(s, n);
	}
	case 3: return json_boolean(rand_r(seed) % 2);
	case 4: return json_null();
	case 5: {
		json_t *a = json_array();
		int n = (int)(rand_r(seed) % 5);

		for (int i = 0; i < n; i++)
			json_array_append_new(a, random_value(seed, depth + 1));
		return a;
	}
	default: {
		json_t *o = json_object();
		int n = (int)(rand_r(seed) % 5);

		for (int i = 0; i < n; i++) {
			char k[16];

			snprintf(k, sizeof(k), "k%d:%u", i, rand_r(seed) % 100);
			json_object_set_new(o, k, random_value(seed, depth + 1));
		}
		return o;
	}
	}
}

/* Random documents, compact as the daemon sends them: the same text as jansson's indent. */
static void test_random_trees(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		json_t *j = random_value(&seed, 0);
		char *compact = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
						      JSON_REAL_PRECISION(15));

		assert_non_null(compact);
		same_text(compact);
		free(compact);
		json_decref(j);
	}
}

/* Written to a stream in 64 KB pieces: the same bytes as the whole, for a document of several pieces. */
static void test_to_stream(void **state)
{
	unsigned seed = 777;
	json_t *all = json_array();
	char *compact, *streamed = NULL;
	size_t slen = 0;
	struct sbuf whole = SBUF_INIT;
	FILE *f;

	(void)state;
	while (json_array_size(all) < 20000)
		json_array_append_new(all, random_value(&seed, 0));
	compact = json_dumps(all, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	assert_non_null(compact);
	json_indent(&whole, compact, strlen(compact));
	assert_true(whole.len > 3 * 64 * 1024);
	f = open_memstream(&streamed, &slen);
	assert_non_null(f);
	assert_int_equal(json_indent_to(f, compact, strlen(compact)), 0);
	fclose(f);
	assert_int_equal(slen, whole.len);
	assert_memory_equal(streamed, whole.s, whole.len);
	free(streamed);
	sbuf_done(&whole);
	free(compact);
	json_decref(all);
}

/*
 * Fed in pieces (a socket's reads), cut anywhere: inside strings, right
 * after a backslash, inside numbers and literals, between '{' and '}': the
 * same text as fed whole.  Pieces of 1 byte, then of random sizes.
 */
static void test_pieces(void **state)
{
	static const char *const docs[] = {
		"{\"a\":[],\"b\":{},\"c\":[ ],\"d\":{ \n}}",
		"[\"x\\\"y\",\"\\\\\",\"\\\\\\\"\",-12.5e+3,true,false,null]",
		"{\"k\\u00e9y\":\"v\\n\\\\\",\"n\":[1,[2,[3,{}]]]}",
	};
	unsigned seed = 4242;
	json_t *big = json_array();
	char *compact;

	(void)state;
	while (json_array_size(big) < 300)
		json_array_append_new(big, random_value(&seed, 0));
	compact = json_dumps(big, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	assert_non_null(compact);
	for (size_t d = 0; d <= ARRAY_SIZE(docs); d++) {
		const char *text = d < ARRAY_SIZE(docs) ? docs[d] : compact;
		size_t n = strlen(text);
		struct sbuf whole = SBUF_INIT;

		json_indent(&whole, text, n);
		for (int round = 0; round < 20; round++) {
			struct json_indenter ji;

			json_indent_init(&ji, NULL);
			for (size_t i = 0; i < n;) {
				size_t k = round == 0 ? 1 : 1 + (size_t)rand_r(&seed) % 17;

				if (k > n - i)
					k = n - i;
				json_indent_feed(&ji, text + i, k);
				i += k;
			}
			assert_int_equal(json_indent_end(&ji), 0);
			if (ji.out.len != whole.len || memcmp(ji.out.s, whole.s, whole.len) != 0)
				fail_msg("round %d of %.60s: pieces give\n%.*s\nwhole gives\n%s", round, text,
					 (int)ji.out.len, ji.out.s, whole.s);
			sbuf_done(&ji.out);
		}
		sbuf_done(&whole);
	}
	free(compact);
	json_decref(big);
}

/* Not JSON: a NUL in the text is copied, and the indenter goes on past it (it looped there) */
static void test_nul_byte(void **state)
{
	static const char text[] = { '[', '1', ',', '\0', ',', '2', ']' };
	struct sbuf b = SBUF_INIT;

	(void)state;
	json_indent(&b, text, sizeof(text));
	assert_int_equal(b.len, 18);
	assert_memory_equal(b.s, "[\n  1,\n  \0,\n  2\n]\n", 18);
	sbuf_done(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_spaced_input),
		cmocka_unit_test(test_escapes_kept),
		cmocka_unit_test(test_random_trees),
		cmocka_unit_test(test_to_stream),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_nul_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
