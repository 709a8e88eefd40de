/*
 * The control API: a table of routes over the command layer (cmd.h), JSON
 * in and out.  A path either matches a row of the table or is 404; a path
 * that matches with another method is 405.  Each row carries its access
 * level, and the dispatcher checks it before the handler runs, from the row
 * alone: where a route sits in the table changes nothing about who may call
 * it.
 *
 *   GET  /healthz                   public  200 while the loop answers
 *   GET  /readyz, /readyz/NAME      public  200 when ready, else 503 (metrics.c)
 *   GET  /metrics                   public  Prometheus text format (metrics.c)
 *   GET  /                          status  the dashboard (dashboard.html, embedded)
 *   GET  /v1/programs               status  every instance (?view=brief: the fields of tend status;
 *                                           ?view=table: its table as text after "not_wanted N")
 *   GET  /v1/programs/NAME          status  NAME as tend status takes it (name, group:*, all)
 *   POST /v1/programs/NAME/start    write   answers once started (or failed); ?wait=0 at once
 *   POST /v1/programs/NAME/stop     write   answers once stopped
 *   POST /v1/programs/NAME/restart  write   ?rolling=1: one instance after the other
 *   POST /v1/programs/NAME/signal   write   ?signal=HUP or {"signal": "HUP"}
 *   POST /v1/programs/NAME/rotate   write   rotate its log files now
 *   POST /v1/programs/NAME/scale    write   ?n=COUNT
 *   GET  /v1/logs/NAME              read    stream  ?stream=stdout|stderr&lines=N (10); &follow=1 streams
 *   POST /v1/reload                 write   re-read the config (?dry_run=1: the plan only); 422 + errors
 *   POST /v1/shutdown               write   ordered shutdown, answers at once
 *   GET  /v1/daemon                 status  pid, version, state, uptime (and the config's path: read)
 *   GET  /v1/events                 status  stream  NDJSON of state changes and pool resizes
 *   GET  /v1/system                 read    process counts, zombies, orphans, top CPU and memory
 *   POST /RPC2                      status  supervisord's XML-RPC (rpc.c; a level per method)
 *   GET  /logtail/NAME[/stdout|stderr] read stream  supervisorctl tail -f: the last KiB, then live
 *   GET  /mainlogtail               read    stream  supervisorctl maintail -f: tend's own log, live
 *
 * Access levels: public needs nothing; status (names, states, pids,
 * counts: no log contents, no paths) needs on the unix socket the owner,
 * root or the socket's group, over TCP the [inet_http_server] credentials
 * when they are set (401 otherwise) and nothing when they are not; read
 * (logs, paths, the machine's processes) needs the same as status, except
 * over TCP without credentials configured, where it needs
 * anonymous_read = true; write needs the owner or root (over TCP: the
 * credentials).  Over TCP a Host header that names another server is 421 on
 * every route (DNS rebinding), too many failed logins from the address 429,
 * and a connection of the reserve (its client is at its quota) may only
 * call public routes (503).  A POST whose Origin or Sec-Fetch-Site names
 * another site is refused (403) on every route that is not public.  A row
 * marked stream answers with a stream that stays open: a client at its
 * stream limit (control.h) gets 503 there.
 */
#ifndef TEND_API_H
#define TEND_API_H

#include "daemon/control.h"
#include "daemon/supervisor.h"

struct api;

enum access {
	ACCESS_PUBLIC,
	ACCESS_STATUS,
	ACCESS_READ,
	ACCESS_WRITE,
};

#define ROUTE_MAX_ARGS 2

/* args: what the {} (one path segment) and {*} (the rest) of the pattern matched */
typedef void route_fn(struct api *a, struct conn *c, const struct request *req, char *const *args);

struct route {
	const char *method;  /* "GET" (HEAD is served as GET) or "POST" */
	const char *pattern; /* "/v1/programs/{}/start", "/logtail/{*}" */
	route_fn *fn;
	enum access access;
	bool stream;         /* the answer may stay open (a stream): counted per client */
};

/* The API over supervisor s (one per daemon).  Free with api_free(). */
struct api *api_new(struct supervisor *s);
void api_free(struct api *a);

/* The control socket's request handler (ctx: the struct api). */
void api_handle(void *ctx, struct conn *c, const struct request *req);

/* The route table, for tests. */
const struct route *api_routes(size_t *ret_n);

/*
 * The row for method and path: its args (malloc'ed, caller frees each) in
 * args.  NULL when no row matches; *ret_wrong_method tells a path that
 * matches only with another method (405).
 */
const struct route *api_route_match(const char *method, const char *path, char *args[ROUTE_MAX_ARGS],
				    bool *ret_wrong_method);

/* Why a request may not use a route: an HTTP status and message. */
struct denial {
	int status;          /* 401, 403, 421, 429 or 503 */
	const char *code;    /* "unauthorized", "cross_origin", "forbidden", "misdirected", "too_many_logins", "busy" */
	char message[160];
};

/* 0 when req may call r; else -EACCES with *ret filled. */
int api_check_access(const struct route *r, const struct request *req, struct denial *ret);

/* The supervisor an api serves (for the route handlers in metrics.c and rpc.c). */
struct supervisor *api_supervisor(const struct api *a);

#endif
