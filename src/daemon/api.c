/*
 * The control API (see api.h): decode a request, call the command layer,
 * encode the answer as JSON.  The route table at the end is the whole
 * surface, with its access level per row.
 */
#include "daemon/api-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/signames.h"
#include "common/util.h"
#include "common/version.h"
#include "daemon/cmd.h"
#include "daemon/events.h"
#include "daemon/log.h"
#include "daemon/logstream.h"
#include "daemon/metrics.h"
#include "daemon/rpc.h"
#include "sys/procscan.h"

#define OP_TIMEOUT_NS (300 * NSEC_PER_SEC)

struct supervisor *api_supervisor(const struct api *a)
{
	return a->sv;
}

/* Value of key in a query string "a=1&b=2" (no decoding needed for our keys). */
bool api_query_get(const char *query, const char *key, char *out, size_t n)
{
	size_t klen = strlen(key);

	for (const char *p = query; p && *p;) {
		const char *amp = strchrnul(p, '&');

		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			size_t vlen = (size_t)(amp - p - klen - 1);

			if (vlen >= n)
				vlen = n - 1;
			memcpy(out, p + klen + 1, vlen);
			out[vlen] = '\0';
			return true;
		}
		p = *amp ? amp + 1 : amp;
	}
	return false;
}

bool api_query_is(const struct request *req, const char *key, const char *value)
{
	char v[16];

	return api_query_get(req->query, key, v, sizeof(v)) && strcmp(v, value) == 0;
}

static bool brief_view(const struct request *req)
{
	return api_query_is(req, "view", "brief");
}

/* Resolve a name, or answer 404 (then -ENOENT). */
int api_resolve_or_404(struct api *a, struct conn *c, const char *spec, struct targets *t)
{
	if (cmd_resolve(a->sv, spec, NAMES_TEND, t) < 0) {
		conn_reply_error(c, 404, "no_such_program", "no such program, group or process '%s'", spec);
		targets_done(t);
		return -ENOENT;
	}
	return 0;
}

/* A change is refused while tend shuts down (then -ESHUTDOWN, answered). */
static int refuse_in_shutdown(struct api *a, struct conn *c)
{
	struct cmd_info info;

	cmd_info(a->sv, &info);
	if (!info.shutting_down)
		return 0;
	conn_reply_error(c, 503, "shutting_down", "tend is shutting down");
	return -ESHUTDOWN;
}

/* ---- GET /v1/programs[/NAME] --------------------------------------------------- */

static void r_programs(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct targets t = { 0 };

	if (!args[0])
		(void)cmd_resolve(a->sv, "all", NAMES_TEND, &t);
	else if (api_resolve_or_404(a, c, args[0], &t) < 0)
		return;
	if (api_query_is(req, "view", "table"))
		api_reply_table(c, t.v, t.n);
	else
		api_reply_list(c, brief_view(req), req->may_read, t.v, t.n);
	targets_done(&t);
}

/* ---- start, stop, restart: answered once their instances settle --------------- */

struct api_op {
	struct conn *conn;
	enum cmd_kind kind;
	bool wait, brief, paths;
	struct cmd_op *cmd;
};

static void api_op_cancel(void *ctx)
{
	struct api_op *op = ctx;

	cmd_cancel(op->cmd);
	free(op);
}

static void api_op_done(void *ctx, const struct cmd_outcome *v, size_t n)
{
	static const char *const names[] = { [CMD_START] = "start", [CMD_STOP] = "stop", [CMD_RESTART] = "restart" };
	struct api_op *op = ctx;
	json_t *results;
	bool all_ok = true;

	if (!op->wait) {
		struct inst **list = xcalloc(n + 1, sizeof(*list));

		for (size_t i = 0; i < n; i++)
			list[i] = v[i].in;
		api_reply_list(op->conn, op->brief, op->paths, list, n);
		free(list);
		free(op);
		return;
	}
	results = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_pack("{s:s,s:b,s:s,s:s}", "name", v[i].in->cfg->fullname, "ok", v[i].ok, "message",
				      cmd_result_text(op->kind, v[i].result), "state", pstate_name(v[i].in->state));

		all_ok &= v[i].ok;
		if (v[i].reason)
			json_object_set_new(r, "reason", json_string(v[i].reason));
		json_array_append_new(results, r);
	}
	conn_reply_json(op->conn, 200,
			json_pack("{s:s,s:b,s:o}", "action", names[op->kind], "ok", all_ok, "results", results));
	free(op);
}

static void api_op_run(struct api *a, struct conn *c, const struct request *req, const char *name, enum cmd_kind kind)
{
	struct targets t = { 0 };
	struct api_op *op;

	if (api_resolve_or_404(a, c, name, &t) < 0)
		return;
	if (refuse_in_shutdown(a, c) < 0) {
		targets_done(&t);
		return;
	}
	op = xcalloc(1, sizeof(*op));
	op->conn = c;
	op->kind = kind;
	op->wait = !api_query_is(req, "wait", "0");
	op->brief = brief_view(req);
	op->paths = req->may_read;
	op->cmd = cmd_run(a->sv, kind, t.v, t.n, op->wait, OP_TIMEOUT_NS, api_op_done, op);
	conn_set_cancel(c, api_op_cancel, op);
	targets_done(&t);
}

static void r_start(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	api_op_run(a, c, req, args[0], CMD_START);
}

static void r_stop(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	api_op_run(a, c, req, args[0], CMD_STOP);
}

/* POST .../restart?rolling=1: answers when the rollout is over */
struct roll {
	struct conn *conn;
	struct rolling *r;
};

static void roll_done(void *ctx, bool ok, const struct rollout_step *steps, size_t n)
{
	struct roll *ro = ctx;
	json_t *results = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *r = json_pack("{s:s,s:b,s:s}", "name", steps[i].name, "ok", steps[i].ok, "message",
				      steps[i].message);

		if (steps[i].ok) {
			json_object_set_new(r, "old_pid", json_integer(steps[i].old_pid));
			json_object_set_new(r, "pid", json_integer(steps[i].pid));
		}
		json_array_append_new(results, r);
	}
	conn_reply_json(ro->conn, 200,
			json_pack("{s:s,s:b,s:o}", "action", "rolling-restart", "ok", ok, "results", results));
	free(ro);
}

static void roll_cancel(void *ctx)
{
	struct roll *ro = ctx;

	sv_rolling_cancel(ro->r);
	free(ro);
}

static void r_restart(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct targets t = { 0 };
	struct roll *ro;

	if (!api_query_is(req, "rolling", "1")) {
		api_op_run(a, c, req, args[0], CMD_RESTART);
		return;
	}
	if (api_resolve_or_404(a, c, args[0], &t) < 0)
		return;
	if (refuse_in_shutdown(a, c) < 0) {
		targets_done(&t);
		return;
	}
	ro = xcalloc(1, sizeof(*ro));
	ro->conn = c;
	conn_set_cancel(c, roll_cancel, ro);
	sv_rolling_restart(a->sv, t.v, t.n, roll_done, ro, &ro->r); /* may answer at once */
	targets_done(&t);
}

/* ---- signal, rotate, scale --------------------------------------------------------- */

/* {"action": ACTION, "ok": all, "results": [{"name", "ok", "message"}...]} for r per target */
static void reply_each(struct conn *c, const char *action, const struct targets *t, const int *r,
		       const char *done, const char *(*why)(int r))
{
	json_t *results = json_array();
	bool all_ok = true;

	for (size_t i = 0; i < t->n; i++) {
		all_ok &= r[i] == 0;
		json_array_append_new(results, json_pack("{s:s,s:b,s:s}", "name", t->v[i]->cfg->fullname, "ok",
							 r[i] == 0, "message", r[i] == 0 ? done : why(r[i])));
	}
	conn_reply_json(c, 200, json_pack("{s:s,s:b,s:o}", "action", action, "ok", all_ok, "results", results));
}

static const char *signal_why(int r)
{
	return r == -ESRCH ? "not running" : strerror(-r);
}

static const char *rotate_why(int r)
{
	return r == -ENOENT ? "no log file" : strerror(-r);
}

static void r_signal(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct targets t = { 0 };
	char sigbuf[32] = "";
	int sig, *r;

	if (api_resolve_or_404(a, c, args[0], &t) < 0)
		return;
	if (refuse_in_shutdown(a, c) < 0)
		goto out;
	if (!api_query_get(req->query, "signal", sigbuf, sizeof(sigbuf)) && req->body_len) {
		json_t *body = json_loadb(req->body, req->body_len, 0, NULL);
		const char *s = json_string_value(json_object_get(body, "signal"));

		if (s)
			snprintf(sigbuf, sizeof(sigbuf), "%s", s);
		json_decref(body);
	}
	sig = sig_from_name(sigbuf);
	if (sig < 0) {
		conn_reply_error(c, 400, "bad_signal", "'%s' is not a signal name or number", sigbuf);
		goto out;
	}
	r = xcalloc(t.n + 1, sizeof(*r));
	for (size_t i = 0; i < t.n; i++)
		r[i] = inst_signal(t.v[i], sig);
	reply_each(c, "signal", &t, r, "signalled", signal_why);
	free(r);
out:
	targets_done(&t);
}

static int rotate_logs(struct inst *in)
{
	struct logstream *o = sv_logstream(in, false), *e = sv_logstream(in, true);
	int r = -ENOENT;

	if (o)
		r = logstream_rotate(o);
	if (e) {
		int r2 = logstream_rotate(e);

		r = r == -ENOENT ? r2 : r < 0 ? r : r2;
	}
	return r;
}

static void r_rotate(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct targets t = { 0 };
	int *r;

	(void)req;
	if (api_resolve_or_404(a, c, args[0], &t) < 0)
		return;
	if (refuse_in_shutdown(a, c) == 0) {
		r = xcalloc(t.n + 1, sizeof(*r));
		for (size_t i = 0; i < t.n; i++)
			r[i] = rotate_logs(t.v[i]);
		reply_each(c, "rotate", &t, r, "rotated", rotate_why);
		free(r);
	}
	targets_done(&t);
}

static void r_scale(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct targets t = { 0 };
	const struct prog_config *pc;
	char ns[16] = "";
	long want;
	int before;

	if (api_resolve_or_404(a, c, args[0], &t) < 0)
		return;
	if (refuse_in_shutdown(a, c) < 0)
		goto out;
	pc = t.v[0]->cfg;
	for (size_t i = 1; i < t.n; i++) {
		if (strcmp(t.v[i]->cfg->program, pc->program) != 0) {
			conn_reply_error(c, 400, "not_one_program", "'%s' names more than one program", args[0]);
			goto out;
		}
	}
	if (!api_query_get(req->query, "n", ns, sizeof(ns)) || parse_int(ns, 0, 100000, &want) < 0) {
		conn_reply_error(c, 400, "bad_request", "scale needs ?n=COUNT");
		goto out;
	}
	before = sv_scale(a->sv, pc->program, (int)want, "tend scale");
	if (before == -ERANGE)
		conn_reply_error(c, 400, "out_of_range", "%s: %ld is outside %d..%d", pc->program, want,
				 pc->pool_max ? pc->pool_min : 0, pc->pool_max ? pc->pool_max : (int)t.n);
	else
		conn_reply_json(c, 200, json_pack("{s:s,s:b,s:s,s:i,s:i}", "action", "scale", "ok", 1, "program",
						  pc->program, "from", before, "to", (int)want));
out:
	targets_done(&t);
}

/* POST /v1/programs/NAME/ACTION with an ACTION no row has */
static void r_no_action(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	(void)a;
	(void)req;
	conn_reply_error(c, 404, "not_found", "no action '%s' (start, stop, restart, signal, rotate, scale)",
			 args[1]);
}

/* ---- streams: subscribers ---------------------------------------------------- */

struct subscriber *api_subscribe(struct api *a, struct subscriber **list, struct conn *c)
{
	struct subscriber *sub = xcalloc(1, sizeof(*sub));

	sub->api = a;
	sub->conn = c;
	sub->next = *list;
	*list = sub;
	return sub;
}

void api_unsubscribe(struct subscriber **list, struct subscriber *sub)
{
	for (struct subscriber **p = list; *p; p = &(*p)->next) {
		if (*p == sub) {
			*p = sub->next;
			free(sub);
			return;
		}
	}
}

/* ---- the daemon ------------------------------------------------------------- */

static void r_daemon(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct cmd_info info;
	json_t *j;

	(void)args;
	cmd_info(a->sv, &info);
	/* may_write: what this client may do (the dashboard greys its buttons when read-only) */
	j = json_pack("{s:i,s:s,s:s,s:f,s:i,s:b}", "pid", (int)info.pid, "version", TEND_VERSION, "state",
		      info.shutting_down ? "SHUTDOWN" : "RUNNING", "uptime", round(info.uptime * 1000) / 1000,
		      "programs", (int)info.ninst, "may_write", req->may_write);
	if (req->may_read) /* a path: not for status-only callers */
		json_object_set_new(j, "config", json_string(info.cfg->path));
	conn_reply_json(c, 200, j);
}

static void r_reload(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct cmd_reload rl;
	json_t *res;
	int r;

	(void)args;
	r = cmd_reload_file(a->sv, !api_query_is(req, "dry_run", "1"), &rl);
	if (r == -EINVAL) {
		json_t *errs = json_array();

		for (size_t i = 0; i < rl.nerrors; i++)
			json_array_append_new(errs, json_string(rl.errors[i]));
		res = json_pack("{s:b,s:o}", "ok", 0, "errors", errs);
	} else if (r < 0) {
		res = json_pack("{s:b,s:s}", "ok", 0, "error", "tend is shutting down");
	} else {
		res = json_pack("{s:b,s:b,s:i}", "ok", 1, "dry_run", !rl.applied, "unchanged",
				(int)rl.plan.count[PLAN_KEEP]);
		for (int k = PLAN_ADD; k < PLAN_KEEP; k++)
			json_object_set_new(res, plan_action_name((enum plan_action)k), json_array());
		for (size_t i = 0; i < rl.plan.n; i++)
			if (rl.plan.v[i].action != PLAN_KEEP)
				json_array_append_new(json_object_get(res, plan_action_name(rl.plan.v[i].action)),
						      json_string(rl.plan.v[i].name));
	}
	cmd_reload_done(&rl);
	conn_reply_json(c, r == 0 ? 200 : r == -EINVAL ? 422 : 503, res);
}

static void r_shutdown(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	(void)req;
	(void)args;
	conn_reply_json(c, 200, json_pack("{s:b,s:s}", "ok", 1, "message", "shutting down"));
	sv_shutdown(a->sv, "shutdown requested");
}

static void r_rpc(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	(void)args;
	rpc_handle(a->rpc, c, req); /* rights are checked method by method */
}

/* ---- the routes ------------------------------------------------------------------ */

static const struct route routes[] = {
	{ "GET", "/healthz", r_healthz, ACCESS_PUBLIC, false },
	{ "GET", "/readyz", r_readyz, ACCESS_PUBLIC, false },
	{ "GET", "/readyz/{}", r_readyz, ACCESS_PUBLIC, false },
	{ "GET", "/metrics", r_metrics, ACCESS_PUBLIC, false },
	{ "GET", "/", r_dashboard, ACCESS_STATUS, false },
	{ "GET", "/index.html", r_dashboard, ACCESS_STATUS, false },
	{ "GET", "/v1/programs", r_programs, ACCESS_STATUS, false },
	{ "GET", "/v1/programs/{}", r_programs, ACCESS_STATUS, false },
	{ "POST", "/v1/programs/{}/start", r_start, ACCESS_WRITE, false },
	{ "POST", "/v1/programs/{}/stop", r_stop, ACCESS_WRITE, false },
	{ "POST", "/v1/programs/{}/restart", r_restart, ACCESS_WRITE, false },
	{ "POST", "/v1/programs/{}/signal", r_signal, ACCESS_WRITE, false },
	{ "POST", "/v1/programs/{}/rotate", r_rotate, ACCESS_WRITE, false },
	{ "POST", "/v1/programs/{}/scale", r_scale, ACCESS_WRITE, false },
	{ "POST", "/v1/programs/{}/{}", r_no_action, ACCESS_WRITE, false },
	{ "GET", "/v1/logs/{}", r_logs, ACCESS_READ, true },
	{ "POST", "/v1/reload", r_reload, ACCESS_WRITE, false },
	{ "POST", "/v1/shutdown", r_shutdown, ACCESS_WRITE, false },
	{ "GET", "/v1/daemon", r_daemon, ACCESS_STATUS, false },
	{ "GET", "/v1/events", r_events, ACCESS_STATUS, true },
	{ "GET", "/v1/system", r_system, ACCESS_READ, false },
	{ "POST", "/RPC2", r_rpc, ACCESS_STATUS, false },
	{ "GET", "/logtail/{*}", r_logtail, ACCESS_READ, true },
	{ "GET", "/mainlogtail", r_mainlogtail, ACCESS_READ, true },
};

const struct route *api_routes(size_t *ret_n)
{
	*ret_n = ARRAY_SIZE(routes);
	return routes;
}

/* Match path against pattern; the captures go to args (malloc'ed). */
static bool path_match(const char *pattern, const char *path, char *args[ROUTE_MAX_ARGS])
{
	size_t nargs = 0;

	while (*pattern && *path) {
		if (strncmp(pattern, "{*}", 3) == 0) {
			args[nargs++] = xstrdup(path);
			return true; /* the rest, '/' included (non-empty: *path) */
		}
		if (strncmp(pattern, "{}", 2) == 0) {
			size_t len = strcspn(path, "/");

			if (len == 0 || nargs == ROUTE_MAX_ARGS)
				break;
			args[nargs++] = xstrndup(path, len);
			path += len;
			pattern += 2;
			continue;
		}
		if (*pattern != *path)
			break;
		pattern++;
		path++;
	}
	if (!*pattern && !*path)
		return true;
	while (nargs > 0) {
		free(args[--nargs]);
		args[nargs] = NULL;
	}
	return false;
}

const struct route *api_route_match(const char *method, const char *path, char *args[ROUTE_MAX_ARGS],
				    bool *ret_wrong_method)
{
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;

	*ret_wrong_method = false;
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		char *tmp[ROUTE_MAX_ARGS] = { NULL };

		if (!path_match(routes[i].pattern, path, tmp))
			continue;
		if (strcmp(routes[i].method, m) != 0) {
			*ret_wrong_method = true;
			for (size_t k = 0; k < ROUTE_MAX_ARGS; k++)
				free(tmp[k]);
			continue;
		}
		memcpy(args, tmp, sizeof(tmp));
		return &routes[i];
	}
	return NULL;
}

/* A POST from a browser must come from tend's own page (the dashboard), never another site's. */
static bool same_origin(const struct request *req)
{
	const char *o = req->origin;

	if (req->fetch_site && strcmp(req->fetch_site, "same-origin") != 0 && strcmp(req->fetch_site, "none") != 0)
		return false;
	if (!o)
		return true; /* not a browser (curl, supervisorctl, tend) */
	if (strncmp(o, "http://", 7) == 0)
		o += 7;
	else if (strncmp(o, "https://", 8) == 0)
		o += 8;
	else
		return false; /* "null" and the like */
	return req->host && strcasecmp(o, req->host) == 0;
}

int api_check_access(const struct route *r, const struct request *req, struct denial *ret)
{
	if (req->tcp && req->wrong_host) {
		/* a DNS-rebinding page reaches 127.0.0.1 under its own name: not ours */
		*ret = (struct denial){ .status = 421, .code = "misdirected" };
		snprintf(ret->message, sizeof(ret->message), "Host '%.100s' is not this server's name",
			 req->host ? req->host : "");
		return -EACCES;
	}
	if (r->access == ACCESS_PUBLIC)
		return 0;
	if (req->reserve) {
		*ret = (struct denial){ .status = 503, .code = "busy" };
		snprintf(ret->message, sizeof(ret->message),
			 "too many connections from %.60s: only /healthz, /readyz and /metrics are answered now",
			 req->tcp ? req->peer : "your uid");
		return -EACCES;
	}
	if (req->login_blocked) {
		*ret = (struct denial){ .status = 429, .code = "too_many_logins" };
		snprintf(ret->message, sizeof(ret->message), "too many failed logins from %.60s: wait %d s",
			 req->peer ? req->peer : "", (int)(CONTROL_LOGIN_REFILL_NS / NSEC_PER_SEC));
		return -EACCES;
	}
	if (req->need_auth) {
		*ret = (struct denial){ .status = 401, .code = "unauthorized" };
		snprintf(ret->message, sizeof(ret->message), "authentication required");
		return -EACCES;
	}
	if (strcmp(req->method, "POST") == 0 && !same_origin(req)) {
		*ret = (struct denial){ .status = 403, .code = "cross_origin" };
		snprintf(ret->message, sizeof(ret->message), "a POST from another site (Origin %.100s) is refused",
			 req->origin ? req->origin : "-");
		return -EACCES;
	}
	if (!req->may_status && !req->may_read) {
		*ret = (struct denial){ .status = 403, .code = "forbidden" };
		snprintf(ret->message, sizeof(ret->message), "uid %u may not read", (unsigned)req->uid);
		return -EACCES;
	}
	if (r->access == ACCESS_READ && !req->may_read) {
		*ret = (struct denial){ .status = 403, .code = "forbidden" };
		snprintf(ret->message, sizeof(ret->message),
			 "status only: over TCP without credentials logs and paths need "
			 "[inet_http_server] username and password, or anonymous_read = true");
		return -EACCES;
	}
	if (r->access == ACCESS_WRITE && !req->may_write) {
		*ret = (struct denial){ .status = 403, .code = "forbidden" };
		if (req->tcp)
			snprintf(ret->message, sizeof(ret->message),
				 "read-only: set [inet_http_server] username and password to change things over TCP");
		else
			snprintf(ret->message, sizeof(ret->message), "uid %u may not change anything",
				 (unsigned)req->uid);
		return -EACCES;
	}
	return 0;
}

void api_handle(void *ctx, struct conn *c, const struct request *req)
{
	struct api *a = ctx;
	char *args[ROUTE_MAX_ARGS] = { NULL };
	const struct route *r;
	struct denial d;
	bool wrong_method;

	r = api_route_match(req->method, req->path, args, &wrong_method);
	if (!r) {
		if (wrong_method)
			conn_reply_error(c, 405, "method_not_allowed", "%s not allowed on %s", req->method, req->path);
		else
			conn_reply_error(c, 404, "not_found", "no such resource '%s'", req->path);
		return;
	}
	if (req->body_too_big && r->fn != r_rpc) {
		conn_reply_error(c, 413, "too_large", "request body exceeds %d bytes", CONTROL_MAX_BODY);
	} else if (api_check_access(r, req, &d) < 0) {
		if (d.status == 401) {
			static const char msg[] = "authentication required\n";

			conn_reply_headers(c, 401, "text/plain", "WWW-Authenticate: Basic realm=\"tend\"\r\n", msg,
					   sizeof(msg) - 1);
		} else {
			conn_reply_error(c, d.status, d.code, "%s", d.message);
		}
	} else if (r->stream && !conn_may_stream(c)) {
		conn_reply_error(c, 503, "too_many_streams",
				 "too many open streams (at most %d per client, %d in all): close one first",
				 CONTROL_MAX_STREAMS_PER_CLIENT, CONTROL_MAX_STREAMS);
	} else {
		r->fn(a, c, req, args);
	}
	for (size_t i = 0; i < ROUTE_MAX_ARGS; i++)
		free(args[i]);
}

struct api *api_new(struct supervisor *s)
{
	struct api *a = xcalloc(1, sizeof(*a));

	a->sv = s;
	a->rpc = rpc_new(s);
	a->bus = cmd_event_bus(s);
	a->evsub.deliver = api_on_event;
	event_subscribe(a->bus, &a->evsub);
	return a;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	/* every connection is closed by now: its cancel freed its subscriber */
	event_unsubscribe(a->bus, &a->evsub);
	rpc_free(a->rpc);
	proc_table_done(&a->last_scan);
	metrics_done(a);
	api_logs_done(a);
	free(a);
}
