/*
 * GET /v1/events: the event bus (events.h) as NDJSON, one JSON object per
 * line, to every subscriber whose types it is; supervisord's listeners get
 * the same events in their own encoding (listener.c).
 */
#include "daemon/api-internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/evtypes.h"
#include "common/util.h"
#include "daemon/events.h"
#include "daemon/inst.h"

/* The subscribers' masks together: what the API asks of the bus. */
static void events_remask(struct api *a)
{
	uint32_t m = 0;

	for (struct subscriber *sub = a->subscribers; sub; sub = sub->next)
		m |= sub->mask;
	if (m != a->evsub.mask) {
		a->evsub.mask = m;
		event_resubscribe(a->bus);
	}
}

/* Bytes as a JSON string (a NUL or invalid UTF-8 byte becomes U+FFFD). */
static void json_bytes(struct sbuf *b, const char *s, size_t len)
{
	struct sbuf t = SBUF_INIT;

	for (size_t i = 0; i < len; i++)
		sbuf_addc(&t, s[i] ? s[i] : '\x01');
	api_json_str(b, t.s ? t.s : "");
	sbuf_done(&t);
}

/* The JSON encoding of e (supervisord's is event_payload): one line. */
static void event_json(const struct event *e, struct sbuf *b)
{
	const char *kind = NULL;

	sbuf_printf(b, "{\"time\":%.3f", (double)e->wall_ns / 1e9);
	if (e->type <= EVT_PROCESS_STATE_UNKNOWN) {
		sbuf_adds(b, ",\"program\":");
		api_json_str(b, e->fullname);
		sbuf_printf(b, ",\"from\":\"%s\",\"to\":\"%s\",\"pid\":%d,\"draining\":%s,\"reason\":",
			    pstate_name((enum pstate)e->from_state), pstate_name((enum pstate)e->to_state), (int)e->pid,
			    e->draining ? "true" : "false");
		api_json_str(b, e->reason);
	} else {
		switch (e->type) {
		case EVT_POOL_SCALED:
			kind = "scale";
			break;
		case EVT_PROCESS_LOG_STDOUT:
		case EVT_PROCESS_LOG_STDERR:
			kind = "log";
			break;
		case EVT_PROCESS_COMMUNICATION_STDOUT:
		case EVT_PROCESS_COMMUNICATION_STDERR:
			kind = "communication";
			break;
		case EVT_REMOTE_COMMUNICATION:
			kind = "remote";
			break;
		case EVT_TICK_5:
		case EVT_TICK_60:
		case EVT_TICK_3600:
			kind = "tick";
			break;
		case EVT_PROCESS_GROUP_ADDED:
		case EVT_PROCESS_GROUP_REMOVED:
			kind = "group";
			break;
		default:
			kind = "supervisor";
			break;
		}
		sbuf_printf(b, ",\"event\":\"%s\"", kind);
		if (e->fullname) {
			sbuf_adds(b, ",\"program\":");
			api_json_str(b, e->fullname);
		}
		if (e->type == EVT_POOL_SCALED) {
			sbuf_printf(b, ",\"from\":%d,\"to\":%d,\"reason\":", e->scale_from, e->scale_to);
			api_json_str(b, e->reason);
		} else if (e->type >= EVT_PROCESS_COMMUNICATION_STDOUT && e->type <= EVT_PROCESS_LOG_STDERR) {
			sbuf_printf(b, ",\"pid\":%d,\"channel\":\"%s\"", (int)e->pid,
				    e->type == EVT_PROCESS_LOG_STDERR || e->type == EVT_PROCESS_COMMUNICATION_STDERR
					    ? "stderr" : "stdout");
		} else if (e->type == EVT_REMOTE_COMMUNICATION) {
			sbuf_adds(b, ",\"comm_type\":");
			api_json_str(b, e->comm_type);
		} else if (kind[0] == 't') {
			sbuf_printf(b, ",\"when\":%lld", (long long)e->when);
		} else if (e->type == EVT_PROCESS_GROUP_ADDED || e->type == EVT_PROCESS_GROUP_REMOVED) {
			sbuf_adds(b, ",\"group\":");
			api_json_str(b, e->group);
		}
		if (e->data) {
			sbuf_adds(b, ",\"data\":");
			json_bytes(b, e->data, e->len);
		}
	}
	sbuf_printf(b, ",\"type\":\"%s\",\"serial\":%llu}\n", evtype_name(e->type), (unsigned long long)e->serial);
}

void api_on_event(struct event_sub *es, struct event *e)
{
	struct api *a = container_of(es, struct api, evsub);
	struct sbuf b = SBUF_INIT;

	event_json(e, &b);
	for (struct subscriber *sub = a->subscribers; sub; sub = sub->next) {
		if (!(sub->mask & EVT_BIT(e->type)))
			continue;
		if (sub->dropped) {
			static const char note[] = "{\"dropped\":true}\n";

			if (conn_stream_write(sub->conn, note, sizeof(note) - 1) == 0)
				sub->dropped = false;
		}
		if (conn_stream_write(sub->conn, b.s, b.len) < 0)
			sub->dropped = true; /* a slow reader loses events, never tend's memory */
	}
	sbuf_done(&b);
}

static void events_unsubscribe(void *ctx)
{
	struct subscriber *sub = ctx;
	struct api *a = sub->api;

	api_unsubscribe(&a->subscribers, sub);
	events_remask(a);
}

/* GET /v1/events[?types=NAME,NAME]: supervisord's event type names (default: state changes, pool resizes) */
void r_events(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	uint32_t mask = EVT_MASK_PROCESS_STATE | EVT_BIT(EVT_POOL_SCALED);
	char types[512], bad[64];
	struct subscriber *sub;

	(void)args;
	if (api_query_get(req->query, "types", types, sizeof(types))) {
		/* "+" and "%2C" separate names too */
		for (char *p = types; *p; p++) {
			if (*p == '+')
				*p = ',';
			if (p[0] == '%' && p[1] == '2' && (p[2] == 'C' || p[2] == 'c'))
				p[0] = p[1] = p[2] = ',';
		}
		if (evtype_mask_parse(types, &mask, bad, sizeof(bad)) < 0)
			return conn_reply_error(c, 400, "bad_request", "unknown event type '%s'", bad);
	}
	conn_stream_begin(c, "application/x-ndjson");
	sub = api_subscribe(a, &a->subscribers, c);
	sub->mask = mask;
	conn_set_cancel(c, events_unsubscribe, sub);
	events_remask(a);
}
