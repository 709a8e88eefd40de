/*
 * XML-RPC values (src/daemon/xmlrpc.c): every type parsed, nesting, the
 * grammar's refusals, limits, and the writer's escaping (what Python's
 * xmlrpc.client reads back is checked end to end in tests/e2e).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "daemon/xmlrpc.h"

static int parse(const char *xml, struct xml_call *call, char *err)
{
	return xml_call_parse(xml, strlen(xml), call, err, 256);
}

static void test_every_type(void **state)
{
	static const char xml[] =
		"<?xml version=\"1.0\"?><methodCall><methodName>m.x</methodName><params>"
		"<param><value><int>42</int></value></param>"
		"<param><value><i4>-7</i4></value></param>"
		"<param><value><i8>9007199254740993</i8></value></param>"
		"<param><value><boolean>1</boolean></value></param>"
		"<param><value><double>-1.5e3</double></value></param>"
		"<param><value><string>a &amp; &lt;b&gt;</string></value></param>"
		"<param><value>untyped</value></param>"
		"<param><value></value></param>"
		"<param><value><nil/></value></param>"
		"<param><value><base64>aGk=</base64></value></param>"
		"<param><value><array><data><value><int>1</int></value><value>two</value>"
		"<value><array><data/></array></value></data></array></value></param>"
		"<param><value><struct><member><name>k</name><value><boolean>0</boolean></value></member>"
		"<member><name>s</name><value><struct></struct></value></member></struct></value></param>"
		"</params></methodCall>";
	struct xml_call c;
	char err[256] = "";
	const struct xv *p;

	(void)state;
	assert_int_equal(parse(xml, &c, err), 0);
	assert_string_equal(c.method, "m.x");
	p = c.params;
	assert_int_equal(p->n, 12);
	assert_int_equal(p->item[0]->type, XV_INT);
	assert_int_equal(p->item[0]->i, 42);
	assert_int_equal(p->item[1]->i, -7);
	assert_true(p->item[2]->i == 9007199254740993LL);
	assert_int_equal(p->item[3]->type, XV_BOOL);
	assert_int_equal(p->item[3]->i, 1);
	assert_true(p->item[4]->d == -1500.0);
	assert_string_equal(p->item[5]->s, "a & <b>");
	assert_int_equal(p->item[6]->type, XV_STRING);
	assert_string_equal(p->item[6]->s, "untyped");
	assert_string_equal(p->item[7]->s, "");
	assert_int_equal(p->item[8]->type, XV_NIL);
	assert_int_equal(p->item[9]->type, XV_BASE64);
	assert_int_equal(p->item[10]->type, XV_ARRAY);
	assert_int_equal(p->item[10]->n, 3);
	assert_string_equal(p->item[10]->item[1]->s, "two");
	assert_int_equal(p->item[10]->item[2]->n, 0);
	assert_int_equal(p->item[11]->type, XV_STRUCT);
	assert_int_equal(xv_get(p->item[11], "k")->type, XV_BOOL);
	assert_int_equal(xv_get(p->item[11], "s")->type, XV_STRUCT);
	assert_null(xv_get(p->item[11], "nope"));
	xml_call_done(&c);
}

static void test_no_params(void **state)
{
	struct xml_call c;
	char err[256];

	(void)state;
	assert_int_equal(parse("<methodCall><methodName>a</methodName></methodCall>", &c, err), 0);
	assert_int_equal(c.params->type, XV_ARRAY);
	assert_int_equal(c.params->n, 0);
	xml_call_done(&c);
}

static void test_refusals(void **state)
{
	static const struct {
		const char *xml, *msg;
	} bad[] = {
		{ "<methodCall><methodName>a</methodName>", "not well-formed" },
		{ "garbage", "not well-formed" },
		{ "<methodCall><params/></methodCall>", "no <methodName>" },
		{ "<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>", "two <methodName>" },
		{ "<methodCall><methodName>a</methodName><params><value>1</value></params></methodCall>",
		  "<value> outside" },
		{ "<methodCall><methodName>a</methodName><params><param><value><int>1</int><int>2</int>"
		  "</value></param></params></methodCall>",
		  "one typed element" },
		{ "<methodCall><methodName>a</methodName><params><param><value><int>x1</int></value></param>"
		  "</params></methodCall>",
		  "bad <int>" },
		{ "<methodCall><methodName>a</methodName><params><param><value><int>99999999999999999999</int>"
		  "</value></param></params></methodCall>",
		  "bad <int>" },
		{ "<methodCall><methodName>a</methodName><params><param><value><boolean>2</boolean></value>"
		  "</param></params></methodCall>",
		  "bad <boolean>" },
		{ "<methodCall><methodName>a</methodName><params><param><value><double>nan</double></value>"
		  "</param></params></methodCall>",
		  "bad <double>" },
		{ "<methodCall><methodName>a</methodName><params><param><value><struct><member><name>k</name>"
		  "</member></struct></value></param></params></methodCall>",
		  "needs a <name> and a <value>" },
		{ "<methodCall><methodName>a</methodName><params><param></param></params></methodCall>",
		  "without a <value>" },
		{ "<methodCall><methodName>a</methodName><script/></methodCall>", "unexpected element <script>" },
		{ "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"e\">]><methodCall><methodName>&e;</methodName>"
		  "</methodCall>",
		  "DOCTYPE" },
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct xml_call c;

		err[0] = '\0';
		assert_int_equal(parse(bad[i].xml, &c, err), -EINVAL);
		if (!strstr(err, bad[i].msg))
			fail_msg("case %zu: '%s' does not say '%s'", i, err, bad[i].msg);
		assert_null(c.method);
		assert_null(c.params);
	}
}

static void test_depth_limit(void **state)
{
	struct sbuf b = SBUF_INIT;
	struct xml_call c;
	char err[256];

	(void)state;
	for (int depth = XV_MAX_DEPTH - 1; depth <= XV_MAX_DEPTH + 1; depth++) {
		sbuf_reset(&b);
		sbuf_adds(&b, "<methodCall><methodName>a</methodName><params><param>");
		for (int i = 0; i < depth; i++)
			sbuf_adds(&b, "<value><array><data>");
		for (int i = 0; i < depth; i++)
			sbuf_adds(&b, "</data></array></value>");
		sbuf_adds(&b, "</param></params></methodCall>");
		if (depth <= XV_MAX_DEPTH) {
			assert_int_equal(parse(b.s, &c, err), 0);
			xml_call_done(&c);
		} else {
			assert_int_equal(parse(b.s, &c, err), -EINVAL);
			assert_non_null(strstr(err, "deeper"));
		}
	}
	sbuf_done(&b);
}

static void test_write_escapes(void **state)
{
	struct xv *v = xv_struct();
	struct sbuf b = SBUF_INIT;
	static const char raw[] = "a<b>&c\r\n\x01\x7f\xc3\xa9\xff";

	(void)state;
	xv_set(v, "s<", xv_strn(raw, sizeof(raw) - 1));
	xv_set(v, "arr", xv_push(xv_push(xv_array(), xv_int(-3)), xv_bool(true)));
	xv_set(v, "d", xv_double(0.5));
	xv_set(v, "n", xv_nil());
	xml_response(&b, v);
	assert_non_null(strstr(b.s, "<name>s&lt;</name>"));
	/* & < > escaped, CR kept as a reference, \x01 dropped, UTF-8 kept, a stray byte replaced */
	assert_non_null(strstr(b.s, "<string>a&lt;b&gt;&amp;c&#13;\n\x7f\xc3\xa9\xef\xbf\xbd</string>"));
	assert_non_null(strstr(b.s, "<int>-3</int>"));
	assert_non_null(strstr(b.s, "<boolean>1</boolean>"));
	assert_non_null(strstr(b.s, "<double>0.5</double>"));
	assert_non_null(strstr(b.s, "<nil/>"));
	assert_non_null(strstr(b.s, "<methodResponse>"));
	sbuf_reset(&b);
	xml_fault(&b, 10, "BAD_NAME: x&y");
	assert_non_null(strstr(b.s, "<fault>"));
	assert_non_null(strstr(b.s, "<name>faultCode</name><value><int>10</int></value>"));
	assert_non_null(strstr(b.s, "<string>BAD_NAME: x&amp;y</string>"));
	sbuf_done(&b);
	xv_free(v);
}

/* What the writer writes, the parser reads back the same. */
static void test_round_trip(void **state)
{
	struct xv *v = xv_array();
	struct sbuf b = SBUF_INIT;
	struct xml_call c;
	char err[256];
	const struct xv *back;

	(void)state;
	xv_push(v, xv_str("x & y < z"));
	xv_push(v, xv_int(-123456789012LL));
	xv_push(v, xv_set(xv_struct(), "k", xv_bool(false)));
	sbuf_adds(&b, "<methodCall><methodName>r</methodName><params><param>");
	xv_write(&b, v);
	sbuf_adds(&b, "</param></params></methodCall>");
	assert_int_equal(parse(b.s, &c, err), 0);
	back = c.params->item[0];
	assert_int_equal(back->n, 3);
	assert_string_equal(back->item[0]->s, "x & y < z");
	assert_true(back->item[1]->i == -123456789012LL);
	assert_int_equal(xv_get(back->item[2], "k")->i, 0);
	xml_call_done(&c);
	sbuf_done(&b);
	xv_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_type),  cmocka_unit_test(test_no_params),
		cmocka_unit_test(test_refusals),    cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_write_escapes), cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
