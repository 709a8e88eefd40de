#include "daemon/events.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/inst.h"
#include "daemon/log.h"
#include "daemon/supervisor.h"

/* ---- events ----------------------------------------------------------------------- */

struct event *event_new(enum evtype t)
{
	struct event *e = xcalloc(1, sizeof(*e));

	e->refs = 1;
	e->type = t;
	e->wall_ns = wall_ns();
	return e;
}

struct event *event_ref(struct event *e)
{
	e->refs++;
	return e;
}

void event_unref(struct event *e)
{
	if (!e || --e->refs > 0)
		return;
	free(e->process);
	free(e->group);
	free(e->fullname);
	free(e->reason);
	free(e->data);
	free(e->comm_type);
	free(e);
}

/* ---- supervisord's encoding -------------------------------------------------------- */

static bool valid_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	while (p < end) {
		size_t n = *p < 0x80 ? 1 : utf8_seq_len(p, (size_t)(end - p));

		if (!n)
			return false;
		p += n;
	}
	return true;
}

size_t utf8_chars(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	size_t n = 0;

	while (p < end) {
		size_t k = *p < 0x80 ? 1 : utf8_seq_len(p, (size_t)(end - p));

		p += k ? k : 1;
		n++;
	}
	return n;
}

/* Python's repr() of bytes: what supervisord writes after "Undecodable: ". */
static void py_bytes_repr(struct sbuf *out, const char *s, size_t len)
{
	char quote = memchr(s, '\'', len) && !memchr(s, '"', len) ? '"' : '\'';

	sbuf_addc(out, 'b');
	sbuf_addc(out, quote);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == (unsigned char)quote || c == '\\') {
			sbuf_addc(out, '\\');
			sbuf_addc(out, (char)c);
		} else if (c == '\t') {
			sbuf_adds(out, "\\t");
		} else if (c == '\n') {
			sbuf_adds(out, "\\n");
		} else if (c == '\r') {
			sbuf_adds(out, "\\r");
		} else if (c < 0x20 || c >= 0x7f) {
			sbuf_printf(out, "\\x%02x", c);
		} else {
			sbuf_addc(out, (char)c);
		}
	}
	sbuf_addc(out, quote);
}

/* The bytes of a log or communication event, as supervisord's as_string() leaves them. */
static void add_data(struct sbuf *out, const char *data, size_t len)
{
	if (valid_utf8(data, len)) {
		sbuf_add(out, data, len);
		return;
	}
	sbuf_adds(out, "Undecodable: ");
	py_bytes_repr(out, data, len);
}

static const char *state_name(int s)
{
	return pstate_name((enum pstate)s);
}

void event_payload(const struct event *e, struct sbuf *out)
{
	const char *group = e->group ? e->group : "";
	const char *proc = e->process ? e->process : "";

	switch (e->type) {
	case EVT_PROCESS_STATE_STARTING:
	case EVT_PROCESS_STATE_BACKOFF:
		sbuf_printf(out, "processname:%s groupname:%s from_state:%s tries:%u", proc, group,
			    state_name(e->from_state), e->tries);
		break;
	case EVT_PROCESS_STATE_EXITED:
		sbuf_printf(out, "processname:%s groupname:%s from_state:%s expected:%d pid:%d", proc, group,
			    state_name(e->from_state), e->expected, (int)e->pid);
		break;
	case EVT_PROCESS_STATE_RUNNING:
	case EVT_PROCESS_STATE_STOPPING:
	case EVT_PROCESS_STATE_STOPPED:
		sbuf_printf(out, "processname:%s groupname:%s from_state:%s pid:%d", proc, group,
			    state_name(e->from_state), (int)e->pid);
		break;
	case EVT_PROCESS_STATE_FATAL:
	case EVT_PROCESS_STATE_UNKNOWN:
		sbuf_printf(out, "processname:%s groupname:%s from_state:%s", proc, group, state_name(e->from_state));
		break;
	case EVT_PROCESS_LOG_STDOUT:
	case EVT_PROCESS_LOG_STDERR:
		sbuf_printf(out, "processname:%s groupname:%s pid:%d channel:%s\n", proc, group, (int)e->pid,
			    e->type == EVT_PROCESS_LOG_STDOUT ? "stdout" : "stderr");
		add_data(out, e->data ? e->data : "", e->len);
		break;
	case EVT_PROCESS_COMMUNICATION_STDOUT:
	case EVT_PROCESS_COMMUNICATION_STDERR:
		sbuf_printf(out, "processname:%s groupname:%s pid:%d\n", proc, group, (int)e->pid);
		add_data(out, e->data ? e->data : "", e->len);
		break;
	case EVT_REMOTE_COMMUNICATION:
		sbuf_printf(out, "type:%s\n", e->comm_type ? e->comm_type : "");
		add_data(out, e->data ? e->data : "", e->len);
		break;
	case EVT_TICK_5:
	case EVT_TICK_60:
	case EVT_TICK_3600:
		sbuf_printf(out, "when:%lld", (long long)e->when);
		break;
	case EVT_PROCESS_GROUP_ADDED:
	case EVT_PROCESS_GROUP_REMOVED:
		sbuf_printf(out, "groupname:%s\n", group);
		break;
	case EVT_POOL_SCALED:
		sbuf_printf(out, "program:%s from:%d to:%d\n%s", e->fullname ? e->fullname : "", e->scale_from,
			    e->scale_to, e->reason ? e->reason : "");
		break;
	default: /* SUPERVISOR_STATE_CHANGE_*: no payload */
		break;
	}
}

void event_envelope(const struct event *e, const char *server, const char *pool, uint64_t poolserial,
		    struct sbuf *out)
{
	struct sbuf payload = SBUF_INIT;

	event_payload(e, &payload);
	sbuf_printf(out, "ver:3.0 server:%s serial:%llu pool:%s poolserial:%llu eventname:%s len:%zu\n", server,
		    (unsigned long long)e->serial, pool, (unsigned long long)poolserial, evtype_name(e->type),
		    utf8_chars(payload.s ? payload.s : "", payload.len));
	sbuf_add(out, payload.s ? payload.s : "", payload.len);
	sbuf_done(&payload);
}

/* ---- the bus ------------------------------------------------------------------------ */

static const int tick_periods[] = { 5, 60, 3600 };

struct event_bus {
	struct supervisor *sv;
	struct sv_observer obs;
	struct event_sub *subs;
	uint32_t want;          /* the union of the subscribers' masks */
	uint64_t serial;        /* the next serial */
	struct timer tick;
	int64_t last_tick[3];   /* the time slice of each period last seen (0: not yet) */
	bool started;           /* the loop runs: timers may be armed */
};

bool event_wanted(const struct event_bus *b, enum evtype t)
{
	return b && (b->want & EVT_BIT(t));
}

void event_publish(struct event_bus *b, struct event *e)
{
	if (!event_wanted(b, e->type)) {
		event_unref(e);
		return;
	}
	e->serial = b->serial++;
	for (struct event_sub *s = b->subs, *next; s; s = next) {
		next = s->next; /* a subscriber may unsubscribe itself */
		if (s->mask & EVT_BIT(e->type))
			s->deliver(s, e);
	}
	event_unref(e);
}

static int64_t slice_of(int64_t now, int period)
{
	return now - now % period;
}

static void arm_tick(struct event_bus *b);

static void on_tick(struct loop *l, struct timer *t)
{
	struct event_bus *b = container_of(t, struct event_bus, tick);
	int64_t now = wall_ns() / NSEC_PER_SEC;

	(void)l;
	for (size_t i = 0; i < ARRAY_SIZE(tick_periods); i++) {
		int64_t slice = slice_of(now, tick_periods[i]);
		struct event *e;

		if (slice == b->last_tick[i])
			continue;
		b->last_tick[i] = slice;
		e = event_new((enum evtype)(EVT_TICK_5 + (int)i));
		e->when = slice;
		event_publish(b, e);
	}
	arm_tick(b);
}

/* The TICK_* timer runs while somebody wants a TICK: at each 5 s boundary of the wall clock. */
static void arm_tick(struct event_bus *b)
{
	struct loop *l = &b->sv->loop;
	int64_t now;

	if (!b->started)
		return;
	if (!(b->want & EVT_MASK_TICK)) {
		loop_timer_stop(l, &b->tick);
		memset(b->last_tick, 0, sizeof(b->last_tick));
		return;
	}
	now = wall_ns();
	if (!b->last_tick[0]) {
		/* supervisord starts counting when it starts: the slice we are in gives no event */
		for (size_t i = 0; i < ARRAY_SIZE(tick_periods); i++)
			b->last_tick[i] = slice_of(now / NSEC_PER_SEC, tick_periods[i]);
	}
	if (!timer_armed(&b->tick))
		loop_timer_start(l, &b->tick, 5 * NSEC_PER_SEC - now % (5 * NSEC_PER_SEC) + NSEC_PER_MSEC, on_tick);
}

void event_resubscribe(struct event_bus *b)
{
	b->want = 0;
	for (struct event_sub *s = b->subs; s; s = s->next)
		b->want |= s->mask;
	arm_tick(b);
}

void event_bus_start(struct event_bus *b)
{
	b->started = true;
	arm_tick(b);
}

void event_subscribe(struct event_bus *b, struct event_sub *sub)
{
	sub->next = b->subs;
	b->subs = sub;
	event_resubscribe(b);
}

void event_unsubscribe(struct event_bus *b, struct event_sub *sub)
{
	for (struct event_sub **p = &b->subs; *p; p = &(*p)->next) {
		if (*p == sub) {
			*p = sub->next;
			break;
		}
	}
	event_resubscribe(b);
}

/* ---- what the supervisor tells: the observer ---------------------------------------- */

static struct event *process_event(enum evtype t, const struct inst *in)
{
	struct event *e = event_new(t);

	e->process = xstrdup(in->cfg->name);
	e->group = xstrdup(in->cfg->group);
	e->fullname = xstrdup(in->cfg->fullname);
	e->pid = in->pid;
	return e;
}

static void on_changed(struct sv_observer *o, const struct inst *in, enum pstate from)
{
	struct event_bus *b = container_of(o, struct event_bus, obs);
	enum evtype t = evtype_of_state(in->state);
	struct event *e;

	if (!event_wanted(b, t))
		return;
	e = process_event(t, in);
	e->from_state = from;
	e->to_state = in->state;
	e->draining = in->draining;
	/* the process that just ended, as supervisord reports it in EXITED and STOPPED */
	if (!e->pid && (in->state == PS_EXITED || in->state == PS_STOPPED) &&
	    (from == PS_STARTING || from == PS_RUNNING || from == PS_STOPPING))
		e->pid = in->last_pid;
	if (in->state == PS_EXITED)
		e->expected = !in->last_sig && prog_config_expected_exit(in->cfg, in->last_code);
	/* failed starts in a row; a BACKOFF after a crash of a RUNNING program: its restart number */
	e->tries = in->state == PS_BACKOFF && from == PS_EXITED ? in->crashes : in->retries;
	if (in->last_reason && (in->state == PS_EXITED || in->state == PS_BACKOFF || in->state == PS_FATAL ||
				   in->state == PS_STOPPED))
		e->reason = xstrdup(in->last_reason);
	event_publish(b, e);
}

static void on_scaled(struct sv_observer *o, const char *program, int from, int to, const char *reason)
{
	struct event_bus *b = container_of(o, struct event_bus, obs);
	struct event *e;

	if (!event_wanted(b, EVT_POOL_SCALED))
		return;
	e = event_new(EVT_POOL_SCALED);
	e->fullname = xstrdup(program);
	e->scale_from = from;
	e->scale_to = to;
	e->reason = xstrdup(reason ? reason : "");
	event_publish(b, e);
}

static void on_output(struct sv_observer *o, const struct inst *in, bool err, bool comm, const char *data,
		      size_t len)
{
	struct event_bus *b = container_of(o, struct event_bus, obs);
	enum evtype t = comm ? (err ? EVT_PROCESS_COMMUNICATION_STDERR : EVT_PROCESS_COMMUNICATION_STDOUT)
			     : (err ? EVT_PROCESS_LOG_STDERR : EVT_PROCESS_LOG_STDOUT);
	struct event *e;

	if (!event_wanted(b, t) || len == 0)
		return;
	e = process_event(t, in);
	e->data = xmalloc(len + 1);
	memcpy(e->data, data, len);
	e->data[len] = '\0';
	e->len = len;
	event_publish(b, e);
}

static void on_group(struct sv_observer *o, const char *group, bool added)
{
	struct event_bus *b = container_of(o, struct event_bus, obs);
	enum evtype t = added ? EVT_PROCESS_GROUP_ADDED : EVT_PROCESS_GROUP_REMOVED;
	struct event *e;

	if (!event_wanted(b, t))
		return;
	e = event_new(t);
	e->group = xstrdup(group);
	event_publish(b, e);
}

static void on_daemon(struct sv_observer *o, bool stopping)
{
	struct event_bus *b = container_of(o, struct event_bus, obs);

	event_publish(b, event_new(stopping ? EVT_SUPERVISOR_STATE_CHANGE_STOPPING
					    : EVT_SUPERVISOR_STATE_CHANGE_RUNNING));
}

static void on_remote(struct sv_observer *o, const char *type, const char *data, size_t len)
{
	struct event_bus *b = container_of(o, struct event_bus, obs);
	struct event *e;

	if (!event_wanted(b, EVT_REMOTE_COMMUNICATION))
		return;
	e = event_new(EVT_REMOTE_COMMUNICATION);
	e->comm_type = xstrdup(type);
	e->data = xmalloc(len + 1);
	memcpy(e->data, data, len);
	e->data[len] = '\0';
	e->len = len;
	event_publish(b, e);
}

struct event_bus *event_bus_new(struct supervisor *s)
{
	struct event_bus *b = xcalloc(1, sizeof(*b));

	b->sv = s;
	b->tick = (struct timer)TIMER_INIT;
	b->obs.changed = on_changed;
	b->obs.scaled = on_scaled;
	b->obs.output = on_output;
	b->obs.group = on_group;
	b->obs.daemon = on_daemon;
	b->obs.remote = on_remote;
	sv_observe(s, &b->obs);
	return b;
}

void event_bus_free(struct event_bus *b)
{
	if (!b)
		return;
	sv_unobserve(b->sv, &b->obs);
	loop_timer_stop(&b->sv->loop, &b->tick);
	free(b);
}

/* ---- capture mode ---------------------------------------------------------------------- */

/* The longest end of s (shorter than the token) that the token starts with. */
static size_t token_prefix_at_end(const char *s, size_t len, const char *token)
{
	size_t tlen = strlen(token);

	for (size_t k = MIN(len, tlen - 1); k > 0; k--)
		if (memcmp(s + len - k, token, k) == 0)
			return k;
	return 0;
}

static void capture_keep(struct capture *c, const char *data, size_t len)
{
	if (!c->capturing || len == 0)
		return;
	sbuf_add(&c->text, data, len);
	if (c->maxbytes && c->text.len > c->maxbytes)
		sbuf_consume(&c->text, c->text.len - (size_t)c->maxbytes);
}

void capture_feed(struct capture *c, const char *data, size_t len, capture_cb *cb, void *ctx)
{
	sbuf_add(&c->pending, data, len);
	while (c->pending.len > 0) {
		const char *token = c->capturing ? CAPTURE_END : CAPTURE_BEGIN;
		size_t tlen = strlen(token);
		const char *at = memmem(c->pending.s, c->pending.len, token, tlen);
		size_t keep;

		if (at) {
			size_t before = (size_t)(at - c->pending.s);

			capture_keep(c, c->pending.s, before);
			if (c->capturing) {
				cb(ctx, c->text.s ? c->text.s : "", c->text.len);
				sbuf_reset(&c->text);
			}
			c->capturing = !c->capturing;
			sbuf_consume(&c->pending, before + tlen);
			continue;
		}
		keep = token_prefix_at_end(c->pending.s, c->pending.len, token);
		capture_keep(c, c->pending.s, c->pending.len - keep);
		sbuf_consume(&c->pending, c->pending.len - keep);
		break;
	}
}

void capture_done(struct capture *c)
{
	sbuf_done(&c->pending);
	sbuf_done(&c->text);
}
