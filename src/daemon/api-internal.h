/*
 * What the API's files share: api.c (the dispatcher, the route table and
 * most routes), api-list.c (instances as JSON and as the status table),
 * api-logs.c (the log routes), api-events.c (/v1/events), dashboard.c
 * (GET / and /v1/system) and metrics.c.
 */
#ifndef TEND_API_INTERNAL_H
#define TEND_API_INTERNAL_H

#include <stdbool.h>

#include "daemon/api.h"
#include "daemon/cmd.h"
#include "daemon/events.h"
#include "sys/procscan.h"

/* a client of a stream: events, the main log */
struct subscriber {
	struct subscriber *next;
	struct api *api;
	struct conn *conn;
	bool dropped;
	uint32_t mask;   /* /v1/events: the event types it asked for (EVT_BIT) */
};

struct api {
	struct supervisor *sv;
	struct event_bus *bus;           /* the supervisor's (cmd_event_bus) */
	struct rpc *rpc;
	struct event_sub evsub;          /* the bus's events, for /v1/events */
	struct subscriber *subscribers;  /* /v1/events */
	struct subscriber *main_followers; /* /mainlogtail */
	struct proc_table last_scan;     /* /v1/system: CPU percentages since the last call */
	int64_t sys_count_ns;            /* /metrics: when zombies and orphans were counted (0: never) */
	size_t sys_zombies, sys_orphans;
	struct proc_scanner sys_scan;    /* the count under way (sys_timer armed) */
	struct timer sys_timer;
	struct loop *sys_loop;
};

/* Value of key in a query string "a=1&b=2" (no decoding needed for our keys); false if absent. */
bool api_query_get(const char *query, const char *key, char *out, size_t n);
/* True when the query has key=value. */
bool api_query_is(const struct request *req, const char *key, const char *value);
/* Resolve a tend name into t, or answer 404 (then -ENOENT, t released). */
int api_resolve_or_404(struct api *a, struct conn *c, const char *spec, struct targets *t);
/* Add a streaming client c to list (it is removed by api_unsubscribe, which frees it). */
struct subscriber *api_subscribe(struct api *a, struct subscriber **list, struct conn *c);
void api_unsubscribe(struct subscriber **list, struct subscriber *sub);

/* Append s as a JSON string (NULL: null); invalid UTF-8 becomes U+FFFD, so the output always parses. */
void api_json_str(struct sbuf *b, const char *s);

/* api-list.c: answer {"programs": [...]} for list (brief: what the status
 * table needs; paths: the caller may read log paths), or the status table */
void api_reply_list(struct conn *c, bool brief, bool paths, struct inst *const *list, size_t n);
void api_reply_table(struct conn *c, struct inst *const *list, size_t n);

/* api-events.c: the route, and the bus's delivery to its subscribers */
route_fn r_events;
void api_on_event(struct event_sub *es, struct event *e);

/* dashboard.c: the page and the system panel's data */
route_fn r_dashboard, r_system;

/* api-logs.c: the routes, and forgetting a's main-log followers */
route_fn r_logs, r_logtail, r_mainlogtail;
void api_logs_done(struct api *a);

#endif
