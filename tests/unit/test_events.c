/*
 * supervisord's events, the pure parts: the type hierarchy (events=), each
 * payload as supervisor/events.py writes it, the envelope and its len, the
 * capture mode parser, a pool's buffer (overflow: the oldest goes), the
 * listener protocol parser (READY, RESULT, violations) and the bus's
 * serials and masks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/evtypes.h"
#include "common/util.h"
#include "config/config.h"
#include "daemon/events.h"
#include "daemon/inst.h"
#include "daemon/listener.h"
#include "daemon/supervisor.h"

static void test_type_hierarchy(void **state)
{
	uint32_t m = 0;
	char bad[64];

	(void)state;
	assert_int_equal(evtype_mask_parse("PROCESS_STATE", &m, bad, sizeof(bad)), 0);
	assert_int_equal(m, EVT_MASK_PROCESS_STATE);
	for (int t = EVT_PROCESS_STATE_STOPPED; t <= EVT_PROCESS_STATE_UNKNOWN; t++)
		assert_true(m & EVT_BIT(t));
	assert_false(m & EVT_BIT(EVT_TICK_5));
	/* supervisord upper-cases the names; commas and spaces separate them */
	assert_int_equal(evtype_mask_parse("tick_60, process_log_stderr,PROCESS_GROUP", &m, bad, sizeof(bad)), 0);
	assert_int_equal(m, EVT_BIT(EVT_TICK_60) | EVT_BIT(EVT_PROCESS_LOG_STDERR) | EVT_BIT(EVT_PROCESS_GROUP_ADDED) |
				    EVT_BIT(EVT_PROCESS_GROUP_REMOVED));
	assert_int_equal(evtype_mask_parse("TICK", &m, bad, sizeof(bad)), 0);
	assert_int_equal(m, EVT_MASK_TICK);
	assert_int_equal(evtype_mask_parse("PROCESS_COMMUNICATION", &m, bad, sizeof(bad)), 0);
	assert_int_equal(m, EVT_BIT(EVT_PROCESS_COMMUNICATION_STDOUT) | EVT_BIT(EVT_PROCESS_COMMUNICATION_STDERR));
	assert_int_equal(evtype_mask_parse("SUPERVISOR_STATE_CHANGE", &m, bad, sizeof(bad)), 0);
	assert_int_equal(m, EVT_BIT(EVT_SUPERVISOR_STATE_CHANGE_RUNNING) | EVT_BIT(EVT_SUPERVISOR_STATE_CHANGE_STOPPING));
	/* EVENT: every supervisord type, not tend's own */
	assert_int_equal(evtype_mask_parse("EVENT", &m, bad, sizeof(bad)), 0);
	assert_int_equal(m, EVT_MASK_EVENT);
	assert_true(m & EVT_BIT(EVT_REMOTE_COMMUNICATION));
	assert_false(m & EVT_BIT(EVT_POOL_SCALED));
	/* unknown names and empty lists */
	m = 7;
	assert_int_equal(evtype_mask_parse("PROCESS_STATE,PROCESS_DANCING", &m, bad, sizeof(bad)), -EINVAL);
	assert_string_equal(bad, "PROCESS_DANCING");
	assert_int_equal(m, 7);
	assert_int_equal(evtype_mask_parse(" , ", &m, bad, sizeof(bad)), -ENODATA);
	assert_int_equal(evtype_mask_parse("PROCESS_STATE_", &m, bad, sizeof(bad)), -EINVAL);
	assert_string_equal(evtype_name(EVT_PROCESS_STATE_EXITED), "PROCESS_STATE_EXITED");
	assert_int_equal(evtype_of_state(PS_BACKOFF), EVT_PROCESS_STATE_BACKOFF);
	assert_int_equal(evtype_of_state(PS_UNKNOWN), EVT_PROCESS_STATE_UNKNOWN);
}

static struct event *state_ev(enum evtype t, int from)
{
	struct event *e = event_new(t);

	e->process = xstrdup("web_1");
	e->group = xstrdup("web");
	e->from_state = from;
	e->pid = 4242;
	e->tries = 2;
	return e;
}

static char *payload_of(const struct event *e)
{
	struct sbuf b = SBUF_INIT;

	event_payload(e, &b);
	return sbuf_take(&b);
}

#define ASSERT_PAYLOAD(e, want)                          \
	do {                                             \
		char *got_ = payload_of(e);              \
		assert_string_equal(got_, want);         \
		free(got_);                              \
	} while (0)

/* Each payload exactly as supervisor/events.py writes it. */
static void test_payloads(void **state)
{
	struct event *e;

	(void)state;
	e = state_ev(EVT_PROCESS_STATE_EXITED, PS_RUNNING);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:RUNNING expected:0 pid:4242");
	e->expected = 1;
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:RUNNING expected:1 pid:4242");
	event_unref(e);
	e = state_ev(EVT_PROCESS_STATE_BACKOFF, PS_STARTING);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:STARTING tries:2");
	event_unref(e);
	e = state_ev(EVT_PROCESS_STATE_STARTING, PS_STOPPED);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:STOPPED tries:2");
	event_unref(e);
	e = state_ev(EVT_PROCESS_STATE_RUNNING, PS_STARTING);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:STARTING pid:4242");
	event_unref(e);
	e = state_ev(EVT_PROCESS_STATE_STOPPING, PS_RUNNING);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:RUNNING pid:4242");
	event_unref(e);
	e = state_ev(EVT_PROCESS_STATE_STOPPED, PS_STOPPING);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:STOPPING pid:4242");
	event_unref(e);
	e = state_ev(EVT_PROCESS_STATE_FATAL, PS_BACKOFF);
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web from_state:BACKOFF");
	event_unref(e);

	e = state_ev(EVT_PROCESS_LOG_STDERR, 0);
	e->data = xstrdup("oops\n");
	e->len = 5;
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web pid:4242 channel:stderr\noops\n");
	event_unref(e);
	e = state_ev(EVT_PROCESS_COMMUNICATION_STDOUT, 0);
	e->data = xstrdup("hi");
	e->len = 2;
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web pid:4242\nhi");
	event_unref(e);

	e = event_new(EVT_REMOTE_COMMUNICATION);
	e->comm_type = xstrdup("deploy");
	e->data = xstrdup("v2");
	e->len = 2;
	ASSERT_PAYLOAD(e, "type:deploy\nv2");
	event_unref(e);
	e = event_new(EVT_TICK_60);
	e->when = 1700000040;
	ASSERT_PAYLOAD(e, "when:1700000040");
	event_unref(e);
	e = event_new(EVT_PROCESS_GROUP_REMOVED);
	e->group = xstrdup("web");
	ASSERT_PAYLOAD(e, "groupname:web\n");
	event_unref(e);
	e = event_new(EVT_SUPERVISOR_STATE_CHANGE_STOPPING);
	ASSERT_PAYLOAD(e, "");
	event_unref(e);
}

/* Bytes that are not UTF-8: supervisord writes "Undecodable: " and Python's repr of them. */
static void test_undecodable(void **state)
{
	struct event *e = state_ev(EVT_PROCESS_LOG_STDOUT, 0);
	static const char raw[] = "a\xff'\n\\";

	(void)state;
	e->data = xmalloc(sizeof(raw));
	memcpy(e->data, raw, sizeof(raw));
	e->len = sizeof(raw) - 1;
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web pid:4242 channel:stdout\n"
			  "Undecodable: b\"a\\xff'\\n\\\\\"");
	free(e->data);
	e->data = xstrdup("caf\xc3\xa9");
	e->len = 5;
	ASSERT_PAYLOAD(e, "processname:web_1 groupname:web pid:4242 channel:stdout\ncaf\xc3\xa9");
	event_unref(e);
}

static void test_envelope(void **state)
{
	struct event *e = event_new(EVT_REMOTE_COMMUNICATION);
	struct sbuf b = SBUF_INIT;

	(void)state;
	e->serial = 17;
	e->comm_type = xstrdup("t");
	e->data = xstrdup("caf\xc3\xa9"); /* 5 bytes, 4 characters */
	e->len = 5;
	event_envelope(e, "tend", "mon", 3, &b);
	/* len counts characters, as supervisord's Python and childutils' text-mode stdin do */
	assert_string_equal(b.s, "ver:3.0 server:tend serial:17 pool:mon poolserial:3 eventname:REMOTE_COMMUNICATION "
				 "len:11\ntype:t\ncaf\xc3\xa9");
	assert_int_equal(utf8_chars("caf\xc3\xa9", 5), 4);
	assert_int_equal(utf8_chars("\xff\xfe", 2), 2);
	sbuf_done(&b);
	event_unref(e);
}

/* ---- capture mode ---------------------------------------------------------------------- */

struct captured {
	char *v[8];
	size_t n;
};

static void on_capture(void *ctx, const char *data, size_t len)
{
	struct captured *c = ctx;

	assert_true(c->n < 8);
	c->v[c->n++] = xstrndup(data, len);
}

static void captured_done(struct captured *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	c->n = 0;
}

static void test_capture(void **state)
{
	struct capture c = { .maxbytes = 0 };
	struct captured got = { .n = 0 };
	const char *text = "before<!--XSUPERVISOR:BEGIN-->hello<!--XSUPERVISOR:END-->after"
			   "<!--XSUPERVISOR:BEGIN-->two\nlines<!--XSUPERVISOR:END-->";

	(void)state;
	/* in one piece, then byte by byte: the tokens may be cut anywhere */
	capture_feed(&c, text, strlen(text), on_capture, &got);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.v[0], "hello");
	assert_string_equal(got.v[1], "two\nlines");
	captured_done(&got);
	for (const char *p = text; *p; p++)
		capture_feed(&c, p, 1, on_capture, &got);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.v[0], "hello");
	assert_string_equal(got.v[1], "two\nlines");
	captured_done(&got);
	/* an END without a BEGIN is output, not a message; a BEGIN not closed gives nothing yet */
	capture_feed(&c, "<!--XSUPERVISOR:END-->x<!--XSUPERVISOR:BEGIN-->pending", 54, on_capture, &got);
	assert_int_equal(got.n, 0);
	capture_feed(&c, "<!--XSUPERVISOR:END-->", 22, on_capture, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.v[0], "pending");
	captured_done(&got);
	capture_done(&c);

	/* maxbytes: the last bytes of a long message are kept */
	c = (struct capture){ .maxbytes = 4 };
	capture_feed(&c, "<!--XSUPERVISOR:BEGIN-->abcdefgh<!--XSUPERVISOR:END-->", 54, on_capture, &got);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.v[0], "efgh");
	captured_done(&got);
	capture_done(&c);
}

/* ---- a pool's buffer ---------------------------------------------------------------------- */

static struct event *serial_ev(uint64_t serial)
{
	struct event *e = event_new(EVT_TICK_5);

	e->serial = serial;
	return e;
}

static void test_buffer_overflow(void **state)
{
	struct lbuf b = { 0 };
	struct lbuf_item it;
	uint64_t dropped = 99;
	struct event *e[5];

	(void)state;
	for (int i = 0; i < 5; i++)
		e[i] = serial_ev((uint64_t)i);
	assert_false(lbuf_add(&b, 3, e[0], 0, false, &dropped));
	assert_false(lbuf_add(&b, 3, e[1], 1, false, &dropped));
	assert_false(lbuf_add(&b, 3, e[2], 2, false, &dropped));
	/* full: the oldest goes */
	assert_true(lbuf_add(&b, 3, e[3], 3, false, &dropped));
	assert_int_equal(dropped, 0);
	assert_int_equal(b.n, 3);
	/* an event sent again goes to the front; a full buffer still drops its oldest (supervisord) */
	assert_true(lbuf_take(&b, &it));
	assert_int_equal(it.e->serial, 1);
	assert_false(lbuf_add(&b, 3, e[4], 4, false, &dropped));
	assert_true(lbuf_add(&b, 3, it.e, it.poolserial, true, &dropped));
	assert_int_equal(dropped, 2);
	event_unref(it.e);
	assert_true(lbuf_take(&b, &it));
	assert_int_equal(it.e->serial, 1);
	assert_int_equal(it.poolserial, 1);
	event_unref(it.e);
	assert_true(lbuf_take(&b, &it));
	assert_int_equal(it.e->serial, 3);
	event_unref(it.e);
	assert_true(lbuf_take(&b, &it));
	assert_int_equal(it.e->serial, 4);
	event_unref(it.e);
	assert_false(lbuf_take(&b, &it));
	/* the references: each event is still ours once */
	assert_int_equal(b.n, 0);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(e[i]->refs, 1);
		event_unref(e[i]);
	}
	lbuf_add(&b, 1, e[0] = serial_ev(9), 0, false, &dropped);
	event_unref(e[0]);
	lbuf_done(&b); /* frees what it holds */
}

/* ---- the protocol --------------------------------------------------------------------- */

static void feed(struct lproto *p, const char *s)
{
	lproto_feed(p, s, strlen(s));
}

static bool result_ok(struct lproto *p)
{
	struct sbuf out = SBUF_INIT;
	bool ok = lresult_handle(RESULT_HANDLER_DEFAULT, p->result.s, p->result.len, &out);

	assert_int_equal(out.len, 0);
	sbuf_done(&out);
	return ok;
}

static void test_protocol(void **state)
{
	struct lproto p;

	(void)state;
	lproto_init(&p);
	assert_int_equal(lproto_step(&p), LP_NONE);
	feed(&p, "REA");
	assert_int_equal(lproto_step(&p), LP_NONE);
	feed(&p, "DY\n");
	assert_int_equal(lproto_step(&p), LP_READY);
	assert_int_equal(lproto_step(&p), LP_NONE);
	assert_int_equal(p.state, LS_READY);
	p.state = LS_BUSY; /* an event went out */
	feed(&p, "RESULT 2\nO");
	assert_int_equal(lproto_step(&p), LP_NONE);
	feed(&p, "KREADY\n");
	assert_int_equal(lproto_step(&p), LP_RESULT);
	assert_true(result_ok(&p));
	assert_int_equal(lproto_step(&p), LP_READY);
	p.state = LS_BUSY;
	feed(&p, "RESULT 4\nFAILREADY\n");
	assert_int_equal(lproto_step(&p), LP_RESULT);
	assert_false(result_ok(&p)); /* the default handler rejects it: sent again */
	assert_int_equal(lproto_step(&p), LP_READY);
	p.state = LS_BUSY;
	/* a result of 0 bytes is not OK */
	feed(&p, "RESULT 0\n");
	assert_int_equal(lproto_step(&p), LP_RESULT);
	assert_false(result_ok(&p));
	assert_int_equal(p.state, LS_ACKNOWLEDGED);
	lproto_done(&p);

	/* output while waiting for an event: UNKNOWN, and it stays there */
	lproto_init(&p);
	feed(&p, "READY\nhello");
	assert_int_equal(lproto_step(&p), LP_READY);
	assert_int_equal(lproto_step(&p), LP_BAD);
	assert_int_equal(p.state, LS_UNKNOWN);
	feed(&p, "READY\n");
	assert_int_equal(lproto_step(&p), LP_NONE);
	lproto_done(&p);

	/* not READY first */
	lproto_init(&p);
	feed(&p, "hello world\n");
	assert_int_equal(lproto_step(&p), LP_BAD);
	assert_non_null(strstr(p.bad, "not READY"));
	lproto_done(&p);

	/* a bad result line */
	lproto_init(&p);
	p.state = LS_BUSY;
	feed(&p, "RESULT two\nOK");
	assert_int_equal(lproto_step(&p), LP_BAD);
	assert_non_null(strstr(p.bad, "bad result line"));
	lproto_done(&p);
	lproto_init(&p);
	p.state = LS_BUSY;
	feed(&p, "RESULT -1\n");
	assert_int_equal(lproto_step(&p), LP_BAD);
	lproto_done(&p);
}

/* supervisor_stdout's handler: the echoed PROCESS_LOG event, each line prefixed, on tend's stdout. */
static void test_stdout_result_handler(void **state)
{
	static const char echoed[] = "processname:web groupname:web pid:12 channel:stderr\nline one\nline two\n";
	struct sbuf out = SBUF_INIT;

	(void)state;
	assert_true(lresult_handle(RESULT_HANDLER_STDOUT, echoed, sizeof(echoed) - 1, &out));
	/* Python's '\n'.join(prefix + l for l in data.split('\n')), then print's newline */
	assert_string_equal(out.s, "web stderr | line one\nweb stderr | line two\nweb stderr | \n");
	sbuf_done(&out);
}

/* ---- the bus --------------------------------------------------------------------------- */

struct got {
	struct event_sub sub;
	uint64_t serials[8];
	size_t n;
};

static void record(struct event_sub *sub, struct event *e)
{
	struct got *g = container_of(sub, struct got, sub);

	g->serials[g->n++] = e->serial;
}

static void test_bus(void **state)
{
	static struct supervisor sv; /* the bus links itself into its observers; no loop runs */
	struct supervisor *s = &sv;
	struct event_bus *b;
	struct got ticks = { .sub = { .mask = EVT_BIT(EVT_TICK_5), .deliver = record } };
	struct got remote = { .sub = { .mask = EVT_BIT(EVT_REMOTE_COMMUNICATION), .deliver = record } };

	(void)state;
	b = event_bus_new(s);
	assert_false(event_wanted(b, EVT_TICK_5));
	event_subscribe(b, &ticks.sub);
	event_subscribe(b, &remote.sub);
	assert_true(event_wanted(b, EVT_TICK_5));
	assert_false(event_wanted(b, EVT_TICK_60));
	/* nobody wants it: no serial taken */
	event_publish(b, event_new(EVT_TICK_60));
	event_publish(b, event_new(EVT_TICK_5));
	event_publish(b, event_new(EVT_REMOTE_COMMUNICATION));
	event_publish(b, event_new(EVT_TICK_5));
	assert_int_equal(ticks.n, 2);
	assert_int_equal(ticks.serials[0], 0);
	assert_int_equal(ticks.serials[1], 2);
	assert_int_equal(remote.n, 1);
	assert_int_equal(remote.serials[0], 1);
	event_unsubscribe(b, &ticks.sub);
	assert_false(event_wanted(b, EVT_TICK_5));
	event_publish(b, event_new(EVT_TICK_5));
	assert_int_equal(ticks.n, 2);
	event_unsubscribe(b, &remote.sub);
	event_bus_free(b);
	assert_null(s->observers);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_hierarchy), cmocka_unit_test(test_payloads),
		cmocka_unit_test(test_undecodable),    cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_capture),        cmocka_unit_test(test_buffer_overflow),
		cmocka_unit_test(test_protocol),       cmocka_unit_test(test_stdout_result_handler),
		cmocka_unit_test(test_bus),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
