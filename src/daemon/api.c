#include "daemon/api.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/signames.h"
#include "common/util.h"
#include "common/version.h"
#include "daemon/log.h"
#include "daemon/logs.h"
#include "daemon/rpc.h"
#include "daemon/supervisor.h"
#include "sys/procscan.h"

#define OP_TIMEOUT_NS (300 * NSEC_PER_SEC)

static const char *exit_kind_name(enum exit_kind k)
{
	switch (k) {
	case EXIT_CODE:
		return "exit";
	case EXIT_SIGNAL:
		return "signal";
	case EXIT_EXEC:
		return "spawn-error";
	case EXIT_STOPPED:
		return "stopped";
	case EXIT_MEMORY:
		return "memory-limit";
	case EXIT_RECYCLED:
		return "recycled";
	default:
		return NULL;
	}
}

static bool query_get(const char *query, const char *key, char *out, size_t n);

/* Append s as a JSON string; invalid UTF-8 becomes U+FFFD, so the output always parses. */
static void json_str(struct sbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	if (!s) {
		sbuf_adds(b, "null");
		return;
	}
	sbuf_addc(b, '"');
	while (*p) {
		size_t len = 1;

		if (*p == '"' || *p == '\\') {
			sbuf_addc(b, '\\');
			sbuf_addc(b, (char)*p);
		} else if (*p < 0x20) {
			sbuf_printf(b, "\\u%04x", *p);
		} else if (*p < 0x80) {
			sbuf_addc(b, (char)*p);
		} else {
			size_t need = utf8_seq_len(p, strnlen((const char *)p, 4));

			if (need) {
				sbuf_add(b, p, need);
				len = need;
			} else {
				sbuf_adds(b, "\\ufffd");
			}
		}
		p += len;
	}
	sbuf_addc(b, '"');
}

/*
 * One instance as a JSON object.  Written by hand rather than with jansson:
 * `tend status` with 1000 programs spends most of its time here.  brief
 * keeps what the status table needs.
 */
static void inst_json(struct sbuf *b, const struct inst *in, bool brief)
{
	const struct proc_config *pc = in->cfg;
	int64_t now = mono_ns();
	bool alive = in->pid != 0;
	char desc[256];
	const char *out = inst_log_path(in, false), *err = inst_log_path(in, true);

	inst_describe(in, desc, sizeof(desc));
	sbuf_adds(b, "{\"name\":");
	json_str(b, pc->fullname);
	sbuf_printf(b, ",\"state\":\"%s\",\"statecode\":%d,\"pid\":%d,\"description\":",
		    pstate_name(in->state), (int)in->state, alive ? (int)in->pid : 0);
	json_str(b, desc);
	sbuf_printf(b, ",\"pending_start\":%s,\"draining\":%s", in->pending_start ? "true" : "false",
		    in->draining ? "true" : "false");
	sbuf_adds(b, ",\"last_exit\":");
	if (in->last_kind == EXIT_NONE) {
		sbuf_adds(b, "null");
	} else {
		const char *sn = in->last_sig ? sig_name(in->last_sig) : NULL;

		sbuf_printf(b, "{\"kind\":\"%s\",\"code\":", exit_kind_name(in->last_kind));
		if (in->last_sig || in->last_kind == EXIT_EXEC)
			sbuf_adds(b, "null");
		else
			sbuf_printf(b, "%d", in->last_code);
		sbuf_adds(b, ",\"signal\":");
		json_str(b, sn);
		sbuf_adds(b, ",\"reason\":");
		json_str(b, in->last_reason);
		sbuf_printf(b, ",\"time\":%.3f}", (double)in->last_wall / 1e9);
	}
	if (!brief) {
		sbuf_adds(b, ",\"group\":");
		json_str(b, pc->group);
		sbuf_adds(b, ",\"program\":");
		json_str(b, pc->program);
		sbuf_adds(b, ",\"process_name\":");
		json_str(b, pc->name);
		sbuf_printf(b,
			    ",\"uptime\":%.3f,\"start_time\":%.3f,\"restarts\":%u,\"retries\":%u,"
			    "\"autostart\":%s",
			    alive ? (double)(now - in->start_ns) / 1e9 : 0.0,
			    in->start_wall ? (double)in->start_wall / 1e9 : 0.0, in->restarts, in->retries,
			    pc->autostart ? "true" : "false");
		sbuf_adds(b, ",\"stdout_logfile\":");
		json_str(b, out);
		sbuf_adds(b, ",\"stderr_logfile\":");
		json_str(b, err);
		{
			struct sv_usage u;

			sv_usage((struct inst *)in, &u);
			sbuf_printf(b, ",\"memory\":{\"current\":%llu,\"peak\":%llu,\"limit\":%llu,\"source\":\"%s\"}"
				       ",\"cpu_seconds\":%.3f",
				    (unsigned long long)u.mem_current, (unsigned long long)u.mem_peak,
				    (unsigned long long)pc->memory_limit, u.source, (double)u.cpu_usec / 1e6);
		}
		for (int i = 0; i < 2; i++) {
			struct logstream *ls = sv_logstream((struct inst *)in, i == 1);
			struct logstream_stats st;

			if (!ls)
				continue;
			logstream_stats(ls, &st);
			sbuf_printf(b, ",\"%s_log\":{\"bytes\":%llu,\"dropped\":%llu,\"rotations\":%llu,\"error\":",
				    i ? "stderr" : "stdout", (unsigned long long)st.bytes,
				    (unsigned long long)st.dropped, (unsigned long long)st.rotations);
			json_str(b, st.error);
			sbuf_addc(b, '}');
		}
		if (in->state == PS_BACKOFF) {
			int64_t left = in->delay_ns - (now - in->state_ns);

			sbuf_printf(b, ",\"restart_in\":%.3f", (double)(left > 0 ? left : 0) / 1e9);
		}
	}
	sbuf_addc(b, '}');
}

/* Answer {"programs": [...]} for a list of instances. */
static void reply_list(struct conn *c, const struct request *req, struct inst **list, size_t n)
{
	struct sbuf b = SBUF_INIT;
	char view[16] = "";
	bool brief;

	query_get(req->query, "view", view, sizeof(view));
	brief = strcmp(view, "brief") == 0;
	sbuf_grow(&b, n * (brief ? 160 : 420) + 32);
	sbuf_adds(&b, "{\"programs\":[");
	for (size_t i = 0; i < n; i++) {
		if (i)
			sbuf_addc(&b, ',');
		inst_json(&b, list[i], brief);
	}
	sbuf_adds(&b, "]}");
	conn_reply(c, 200, "application/json", b.s, b.len);
	sbuf_done(&b);
}

/* ---- query helpers ------------------------------------------------------- */

/* Value of key in a query string "a=1&b=2" (no decoding needed for our keys). */
static bool query_get(const char *query, const char *key, char *out, size_t n)
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

/* ---- operations that answer once their instances settle ------------------ */

enum op_kind { OP_START, OP_STOP, OP_RESTART };

struct op {
	struct conn *conn;
	enum op_kind kind;
	struct inst **targets;
	bool *already; /* per target: nothing to do (already running / not running) */
	size_t n;
	struct waiter *w;
};

static const char *op_name(enum op_kind k)
{
	return k == OP_START ? "start" : k == OP_STOP ? "stop" : "restart";
}

static void op_free(struct op *op)
{
	free(op->targets);
	free(op->already);
	free(op);
}

static void op_cancel(void *ctx)
{
	struct op *op = ctx;

	sv_wait_cancel(sv, op->w);
	op_free(op);
}

static void op_done(struct waiter *w, void *ctx)
{
	struct op *op = ctx;
	json_t *results = json_array();
	bool all_ok = true;

	(void)w;
	for (size_t i = 0; i < op->n; i++) {
		const struct inst *in = op->targets[i];
		bool ok;
		const char *msg;
		json_t *r;

		if (op->kind == OP_STOP) {
			ok = pstate_is_stopped(in->state);
			msg = op->already[i] ? "not running" : ok ? "stopped" : "still stopping";
		} else {
			ok = in->state == PS_RUNNING;
			msg = ok ? (op->already[i] ? "already started" : "started")
				 : in->state == PS_FATAL ? "gave up (FATAL)"
				 : in->state == PS_BACKOFF ? "exited too quickly; retrying"
				 : in->state == PS_STARTING ? "still starting"
				 : in->pending_start ? "waiting for dependencies"
							 : "not running";
		}
		all_ok &= ok;
		r = json_pack("{s:s,s:b,s:s,s:s}", "name", in->cfg->fullname, "ok", ok, "message", msg,
			      "state", pstate_name(in->state));
		if (!ok && in->last_reason[0])
			json_object_set_new(r, "reason", json_string(in->last_reason));
		json_array_append_new(results, r);
	}
	conn_reply_json(op->conn, 200,
			json_pack("{s:s,s:b,s:o}", "action", op_name(op->kind), "ok", all_ok, "results",
				  results));
	op_free(op);
}

static void do_op(struct conn *c, const struct request *req, enum op_kind kind, struct inst **list,
		  size_t n)
{
	struct op *op = xcalloc(1, sizeof(*op));
	char wait[8] = "1";

	op->conn = c;
	op->kind = kind;
	op->targets = list;
	op->n = n;
	op->already = xcalloc(n + 1, sizeof(bool));
	for (size_t i = 0; i < n; i++) {
		struct inst *in = list[i];

		switch (kind) {
		case OP_START:
			op->already[i] = in->state == PS_RUNNING || in->state == PS_STARTING;
			sv_start(sv, in);
			break;
		case OP_STOP:
			op->already[i] = pstate_is_stopped(in->state) && !in->pending_start;
			sv_stop(sv, in);
			break;
		case OP_RESTART:
			sv_restart(sv, in);
			break;
		}
	}
	query_get(req->query, "wait", wait, sizeof(wait));
	if (strcmp(wait, "0") == 0) {
		reply_list(c, req, list, n);
		op_free(op);
		return;
	}
	op->w = sv_wait(sv, kind == OP_STOP ? WAIT_STOP : WAIT_START, list, n, OP_TIMEOUT_NS, op_done,
			op);
	conn_set_cancel(c, op_cancel, op);
}

/* ---- routes -------------------------------------------------------------- */

static int resolve_or_404(struct conn *c, const char *spec, struct inst ***list, size_t *n)
{
	if (sv_resolve(sv, spec, list, n) < 0) {
		conn_reply_error(c, 404, "no_such_program", "no such program, group or process '%s'",
				 spec);
		free(*list);
		return -ENOENT;
	}
	return 0;
}

/* POST .../restart?rolling=1: answers when the rollout is over */
struct roll {
	struct conn *conn;
	struct rolling *r;
};

static void roll_done(void *ctx, bool ok, json_t *results)
{
	struct roll *ro = ctx;

	conn_reply_json(ro->conn, 200, json_pack("{s:s,s:b,s:o}", "action", "rolling-restart", "ok", ok,
						 "results", results));
	free(ro);
}

static void roll_cancel(void *ctx)
{
	struct roll *ro = ctx;

	sv_rolling_cancel(ro->r);
	free(ro);
}

static void r_programs(struct conn *c, const struct request *req, const char *name,
		       const char *action)
{
	struct inst **list = NULL;
	size_t n = 0;
	char rolling_s[8];

	(void)req;
	if (!name) {
		if (sv_resolve(sv, "all", &list, &n) < 0)
			n = 0;
		reply_list(c, req, list, n);
		free(list);
		return;
	}
	if (resolve_or_404(c, name, &list, &n) < 0)
		return;
	if (!action) {
		reply_list(c, req, list, n);
		free(list);
		return;
	}
	if (sv->shutting_down) {
		conn_reply_error(c, 503, "shutting_down", "tend is shutting down");
		free(list);
		return;
	}
	if (strcmp(action, "signal") == 0) {
		char sigbuf[32] = "";
		json_t *results = json_array(), *body = NULL;
		bool all_ok = true;
		int sig;

		if (!query_get(req->query, "signal", sigbuf, sizeof(sigbuf)) && req->body_len) {
			const char *s;

			body = json_loadb(req->body, req->body_len, 0, NULL);
			s = json_string_value(json_object_get(body, "signal"));
			if (s)
				snprintf(sigbuf, sizeof(sigbuf), "%s", s);
			json_decref(body);
		}
		sig = sig_from_name(sigbuf);
		if (sig < 0) {
			conn_reply_error(c, 400, "bad_signal", "'%s' is not a signal name or number", sigbuf);
			json_decref(results);
			free(list);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			int r = inst_signal(list[i], sig);

			all_ok &= r == 0;
			json_array_append_new(results,
					      json_pack("{s:s,s:b,s:s}", "name", list[i]->cfg->fullname,
							"ok", r == 0, "message",
							r == 0 ? "signalled"
							: r == -ESRCH ? "not running"
								      : strerror(-r)));
		}
		conn_reply_json(c, 200, json_pack("{s:s,s:b,s:o}", "action", "signal", "ok", all_ok,
						  "results", results));
		free(list);
		return;
	}
	if (strcmp(action, "rotate") == 0) {
		json_t *results = json_array();
		bool all_ok = true;

		for (size_t i = 0; i < n; i++) {
			struct logstream *o = sv_logstream(list[i], false), *e = sv_logstream(list[i], true);
			int r = -ENOENT;

			if (o)
				r = logstream_rotate(o);
			if (e) {
				int r2 = logstream_rotate(e);

				r = r == -ENOENT ? r2 : r < 0 ? r : r2;
			}
			all_ok &= r == 0;
			json_array_append_new(results,
					      json_pack("{s:s,s:b,s:s}", "name", list[i]->cfg->fullname,
							"ok", r == 0, "message",
							r == 0 ? "rotated"
							: r == -ENOENT ? "no log file"
								       : strerror(-r)));
		}
		conn_reply_json(c, 200, json_pack("{s:s,s:b,s:o}", "action", "rotate", "ok", all_ok,
						  "results", results));
		free(list);
		return;
	}
	if (strcmp(action, "scale") == 0) {
		char ns[16] = "";
		long want;
		int before;

		for (size_t i = 1; i < n; i++) {
			if (strcmp(list[i]->cfg->program, list[0]->cfg->program) != 0) {
				conn_reply_error(c, 400, "not_one_program", "'%s' names more than one program", name);
				free(list);
				return;
			}
		}
		if (!query_get(req->query, "n", ns, sizeof(ns)) || parse_int(ns, 0, 100000, &want) < 0) {
			conn_reply_error(c, 400, "bad_request", "scale needs ?n=COUNT");
			free(list);
			return;
		}
		before = sv_scale(sv, list[0]->cfg->program, (int)want, "tend scale");
		if (before == -ERANGE)
			conn_reply_error(c, 400, "out_of_range", "%s: %ld is outside %d..%d", list[0]->cfg->program,
					 want, list[0]->cfg->pool_max ? list[0]->cfg->pool_min : 0,
					 list[0]->cfg->pool_max ? list[0]->cfg->pool_max : (int)n);
		else
			conn_reply_json(c, 200, json_pack("{s:s,s:b,s:s,s:i,s:i}", "action", "scale", "ok", 1,
							  "program", list[0]->cfg->program, "from", before,
							  "to", (int)want));
		free(list);
		return;
	}
	if (strcmp(action, "restart") == 0 && query_get(req->query, "rolling", rolling_s, sizeof(rolling_s)) &&
	    strcmp(rolling_s, "1") == 0) {
		struct roll *ro = xcalloc(1, sizeof(*ro));

		ro->conn = c;
		conn_set_cancel(c, roll_cancel, ro);
		sv_rolling_restart(sv, list, n, roll_done, ro, &ro->r); /* may answer at once */
		free(list);
		return;
	}
	if (strcmp(action, "start") == 0)
		do_op(c, req, OP_START, list, n);
	else if (strcmp(action, "stop") == 0)
		do_op(c, req, OP_STOP, list, n);
	else if (strcmp(action, "restart") == 0)
		do_op(c, req, OP_RESTART, list, n);
	else {
		conn_reply_error(c, 404, "not_found",
				 "no action '%s' (start, stop, restart, signal, rotate, scale)", action);
		free(list);
	}
}

/* ---- logs ---------------------------------------------------------------- */

/* a client of a stream: events, the main log */
struct subscriber {
	struct subscriber *next;
	struct conn *conn;
	bool dropped;
};

struct follow {
	struct conn *conn;
	struct logstream *ls;
	struct log_follower *f;
	uint64_t dropped;
};

static void follow_data(void *ctx, const char *data, size_t len)
{
	struct follow *fw = ctx;

	if (!data) {
		/* the stream went away (program removed): end the answer */
		fw->f = NULL;
		conn_stream_end(fw->conn);
		free(fw);
		return;
	}
	if (fw->dropped) {
		char note[96];
		int n = snprintf(note, sizeof(note), "\n[tend: %llu bytes not shown, the reader was slow]\n",
				 (unsigned long long)fw->dropped);

		if (conn_stream_write(fw->conn, note, (size_t)n) < 0) {
			fw->dropped += len;
			return;
		}
		fw->dropped = 0;
	}
	if (conn_stream_write(fw->conn, data, len) < 0)
		fw->dropped += len;
}

static void follow_cancel(void *ctx)
{
	struct follow *fw = ctx;

	if (fw->f)
		logstream_unfollow(fw->ls, fw->f);
	free(fw);
}

/* Stream initial, then whatever ls gets, until the client goes away. */
static void follow(struct conn *c, struct logstream *ls, const char *initial, size_t len)
{
	struct follow *fw = xcalloc(1, sizeof(*fw));

	fw->conn = c;
	fw->ls = ls;
	conn_stream_begin(c, "text/plain; charset=utf-8");
	if (len)
		conn_stream_write(c, initial, len);
	fw->f = logstream_follow(ls, follow_data, fw);
	conn_set_cancel(c, follow_cancel, fw);
}

/* GET /v1/logs/NAME?stream=stdout|stderr&lines=N&follow=1 */
static void r_logs(struct conn *c, const struct request *req, const char *name)
{
	char stream[16] = "stdout", lines_s[16] = "10", follow_s[8] = "0";
	struct inst **list = NULL;
	struct sbuf out = SBUF_INIT;
	struct logstream *ls;
	struct inst *in;
	size_t n = 0;
	long lines;
	bool err;

	if (resolve_or_404(c, name, &list, &n) < 0)
		return;
	if (n != 1) {
		conn_reply_error(c, 400, "ambiguous", "'%s' names %zu processes; name one", name, n);
		free(list);
		return;
	}
	in = list[0];
	free(list);
	query_get(req->query, "stream", stream, sizeof(stream));
	query_get(req->query, "lines", lines_s, sizeof(lines_s));
	query_get(req->query, "follow", follow_s, sizeof(follow_s));
	err = strcmp(stream, "stderr") == 0;
	if ((!err && strcmp(stream, "stdout") != 0) || parse_int(lines_s, 0, 1000000, &lines) < 0) {
		conn_reply_error(c, 400, "bad_request", "stream must be stdout or stderr, lines a number");
		return;
	}
	if (err && in->cfg->redirect_stderr) {
		conn_reply_error(c, 404, "no_log", "%s: stderr is redirected to stdout", in->cfg->fullname);
		return;
	}
	ls = sv_logstream(in, err);
	if (!ls) {
		const struct log_dest *d = err ? &in->cfg->err : &in->cfg->out;

		conn_reply_error(c, 404, "no_log", "%s: %s is not captured (%s)", in->cfg->fullname, stream,
				 d->kind == LOGDEST_NONE ? "logfile = NONE"
				 : d->kind == LOGDEST_STDOUT || d->kind == LOGDEST_STDERR
					 ? "it goes to tend's own output"
					 : "the program has not started yet");
		return;
	}
	logstream_tail(ls, (size_t)lines, &out);
	if (strcmp(follow_s, "1") != 0)
		conn_reply(c, 200, "text/plain; charset=utf-8", out.s ? out.s : "", out.len);
	else
		follow(c, ls, out.s, out.len);
	sbuf_done(&out);
}

/*
 * supervisorctl tail -f: GET /logtail/NAME[/stdout|stderr], like
 * supervisord's: the last 1 KiB, then everything new, chunked.
 */
static void r_logtail(struct conn *c, const char *rest)
{
	char *name = xstrdup(rest), *slash = strrchr(name, '/');
	struct inst **list = NULL;
	struct logstream *ls = NULL;
	struct sbuf out = SBUF_INIT;
	size_t n = 0;
	bool err = false;

	if (slash && (strcmp(slash, "/stdout") == 0 || strcmp(slash, "/stderr") == 0)) {
		err = strcmp(slash, "/stderr") == 0;
		*slash = '\0';
	}
	if (sv_resolve(sv, name, &list, &n) < 0 || n != 1) {
		conn_reply(c, 404, "text/plain", "no such process\n", 16);
		free(list);
		free(name);
		return;
	}
	if (!(err && list[0]->cfg->redirect_stderr))
		ls = sv_logstream(list[0], err);
	free(list);
	free(name);
	if (!ls) {
		conn_reply(c, 404, "text/plain", "no log\n", 7);
		return;
	}
	logstream_tail(ls, 40, &out);
	if (out.len > 1024)
		follow(c, ls, out.s + out.len - 1024, 1024);
	else
		follow(c, ls, out.s, out.len);
	sbuf_done(&out);
}

/* ---- supervisorctl maintail -f: GET /mainlogtail ---------------------------- */

static struct subscriber *main_followers;

static void main_tap(const char *line, size_t len)
{
	for (struct subscriber *sub = main_followers; sub; sub = sub->next)
		if (conn_stream_write(sub->conn, line, len) < 0)
			sub->dropped = true;
}

static void main_unfollow(void *ctx)
{
	for (struct subscriber **p = &main_followers; *p; p = &(*p)->next) {
		if (*p == ctx) {
			*p = (*p)->next;
			free(ctx);
			break;
		}
	}
	if (!main_followers)
		log_set_tap(NULL);
}

static void r_mainlogtail(struct conn *c)
{
	struct subscriber *sub = xcalloc(1, sizeof(*sub));
	const char *path = sv->cfg->logfile;

	conn_stream_begin(c, "text/plain; charset=utf-8");
	if (path) {
		char buf[1024];
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		struct stat st;

		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
			off_t from = st.st_size > (off_t)sizeof(buf) ? st.st_size - (off_t)sizeof(buf) : 0;
			ssize_t r = pread(fd, buf, sizeof(buf), from);

			if (r > 0)
				conn_stream_write(c, buf, (size_t)r);
		}
		if (fd >= 0)
			close(fd);
	}
	sub->conn = c;
	sub->next = main_followers;
	main_followers = sub;
	log_set_tap(main_tap);
	conn_set_cancel(c, main_unfollow, sub);
}

/* ---- events: NDJSON of state changes ------------------------------------ */

static struct subscriber *subscribers;

static void on_change(const struct inst *in, enum pstate from)
{
	struct sbuf b = SBUF_INIT;

	if (!subscribers)
		return;
	sbuf_printf(&b, "{\"time\":%.3f,\"program\":", (double)wall_ns() / 1e9);
	json_str(&b, in->cfg->fullname);
	sbuf_printf(&b, ",\"from\":\"%s\",\"to\":\"%s\",\"pid\":%d,\"draining\":%s,\"reason\":",
		    pstate_name(from), pstate_name(in->state), (int)in->pid, in->draining ? "true" : "false");
	json_str(&b, in->last_reason[0] && (in->state == PS_EXITED || in->state == PS_BACKOFF ||
					    in->state == PS_FATAL || in->state == PS_STOPPED)
			     ? in->last_reason
			     : NULL);
	sbuf_adds(&b, "}\n");
	for (struct subscriber *sub = subscribers; sub; sub = sub->next) {
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

static void on_scale(const char *program, int from, int to, const char *reason)
{
	struct sbuf b = SBUF_INIT;

	if (!subscribers)
		return;
	sbuf_printf(&b, "{\"time\":%.3f,\"event\":\"scale\",\"program\":", (double)wall_ns() / 1e9);
	json_str(&b, program);
	sbuf_printf(&b, ",\"from\":%d,\"to\":%d,\"reason\":", from, to);
	json_str(&b, reason);
	sbuf_adds(&b, "}\n");
	for (struct subscriber *sub = subscribers; sub; sub = sub->next)
		if (conn_stream_write(sub->conn, b.s, b.len) < 0)
			sub->dropped = true;
	sbuf_done(&b);
}

static void unsubscribe(void *ctx)
{
	for (struct subscriber **p = &subscribers; *p; p = &(*p)->next) {
		if (*p == ctx) {
			*p = (*p)->next;
			free(ctx);
			return;
		}
	}
}

static void r_events(struct conn *c)
{
	struct subscriber *sub = xcalloc(1, sizeof(*sub));

	sub->conn = c;
	sub->next = subscribers;
	subscribers = sub;
	sv->on_change = on_change;
	sv->on_scale = on_scale;
	conn_stream_begin(c, "application/x-ndjson");
	conn_set_cancel(c, unsubscribe, sub);
}

/* ---- metrics (Prometheus text format) ------------------------------------ */

/* A label value: backslash, double quote and newline escaped. */
static void label(struct sbuf *b, const char *s)
{
	sbuf_addc(b, '"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			sbuf_addc(b, '\\');
		if (*s == '\n')
			sbuf_adds(b, "\\n");
		else
			sbuf_addc(b, *s);
	}
	sbuf_addc(b, '"');
}

static void inst_labels(struct sbuf *b, const struct inst *in)
{
	sbuf_adds(b, "{name=");
	label(b, in->cfg->fullname);
	sbuf_adds(b, ",program=");
	label(b, in->cfg->program);
	sbuf_adds(b, ",group=");
	label(b, in->cfg->group);
}

static void r_metrics(struct conn *c)
{
	static const enum exit_kind kinds[] = { EXIT_CODE, EXIT_SIGNAL, EXIT_EXEC, EXIT_STOPPED,
						EXIT_MEMORY, EXIT_RECYCLED };
	struct inst **list = NULL;
	struct sbuf b = SBUF_INIT;
	struct proc_table t;
	size_t n = 0, zombies = 0, orphans = 0;

	if (sv_resolve(sv, "all", &list, &n) < 0)
		n = 0;
	sbuf_adds(&b, "# HELP tend_up 1 while tend supervises.\n# TYPE tend_up gauge\n");
	sbuf_printf(&b, "tend_up %d\n", sv->shutting_down ? 0 : 1);
	sbuf_adds(&b, "# HELP tend_program_state State of each instance, as supervisord's code "
		      "(0 STOPPED, 10 STARTING, 20 RUNNING, 30 BACKOFF, 40 STOPPING, 100 EXITED, 200 FATAL).\n"
		      "# TYPE tend_program_state gauge\n");
	for (size_t i = 0; i < n; i++) {
		sbuf_adds(&b, "tend_program_state");
		inst_labels(&b, list[i]);
		sbuf_printf(&b, ",state=\"%s\"} %d\n", pstate_name(list[i]->state), (int)list[i]->state);
	}
	sbuf_adds(&b, "# HELP tend_program_restarts_total Automatic restarts of each instance.\n"
		      "# TYPE tend_program_restarts_total counter\n");
	for (size_t i = 0; i < n; i++) {
		sbuf_adds(&b, "tend_program_restarts_total");
		inst_labels(&b, list[i]);
		sbuf_printf(&b, "} %u\n", list[i]->restarts);
	}
	sbuf_adds(&b, "# HELP tend_program_cpu_seconds_total CPU time used (the cgroup's, else the main "
		      "process's).\n# TYPE tend_program_cpu_seconds_total counter\n");
	{
		struct sbuf mem = SBUF_INIT;

		sbuf_adds(&mem, "# HELP tend_program_memory_bytes Memory in use (the cgroup's, else the main "
				"process's resident set).\n# TYPE tend_program_memory_bytes gauge\n");
		for (size_t i = 0; i < n; i++) {
			struct sv_usage u;

			sv_usage(list[i], &u);
			sbuf_adds(&b, "tend_program_cpu_seconds_total");
			inst_labels(&b, list[i]);
			sbuf_printf(&b, "} %.3f\n", (double)u.cpu_usec / 1e6);
			sbuf_adds(&mem, "tend_program_memory_bytes");
			inst_labels(&mem, list[i]);
			sbuf_printf(&mem, "} %llu\n", (unsigned long long)u.mem_current);
		}
		sbuf_add(&b, mem.s ? mem.s : "", mem.len);
		sbuf_done(&mem);
	}
	sbuf_adds(&b, "# HELP tend_program_exits_total Exits of each instance by reason.\n"
		      "# TYPE tend_program_exits_total counter\n");
	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
			sbuf_adds(&b, "tend_program_exits_total");
			inst_labels(&b, list[i]);
			sbuf_printf(&b, ",reason=\"%s\"} %u\n", exit_kind_name(kinds[k]),
				    list[i]->exits[kinds[k]]);
		}
	}
	/* system-wide counts: scanned now, only because someone asked */
	if (proc_scan(&t) == 0) {
		for (size_t i = 0; i < t.n; i++) {
			zombies += t.v[i].state == 'Z';
			orphans += proc_is_orphan(&t, &t.v[i]);
		}
		proc_table_done(&t);
	}
	sbuf_printf(&b, "# HELP tend_system_zombies Zombie processes on the system.\n"
			"# TYPE tend_system_zombies gauge\ntend_system_zombies %zu\n"
			"# HELP tend_system_orphans Orphaned processes on the system (see tend ps --orphans).\n"
			"# TYPE tend_system_orphans gauge\ntend_system_orphans %zu\n",
		    zombies, orphans);
	conn_reply(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
	sbuf_done(&b);
	free(list);
}

/*
 * GET /readyz: 200 when every program has as many ready instances (RUNNING,
 * not draining) as its config has autostart instances (a pool: numprocs_min);
 * 503 while starting,
 * failing, draining or shutting down.  During a rolling restart a
 * replacement counts once ready and the old instance stops counting when it
 * drains, so the answer stays 200.
 * GET /readyz/NAME: 200 when at least one instance NAME names is ready: the
 * health check of a pool behind its shared socket (503 once all drain).
 */
static bool inst_ready(const struct inst *in)
{
	return in->state == PS_RUNNING && !in->draining;
}

static void r_readyz(struct conn *c, const char *name)
{
	struct sbuf b = SBUF_INIT;
	bool ready = !sv->shutting_down;
	struct inst **list = NULL;
	size_t n = 0, nready = 0;

	if (sv->shutting_down)
		sbuf_adds(&b, "shutting down\n");
	if (name) {
		if (sv_resolve(sv, name, &list, &n) < 0) {
			free(list);
			sbuf_done(&b);
			conn_reply(c, 404, "text/plain", "no such program\n", 16);
			return;
		}
		for (size_t i = 0; i < n; i++) {
			nready += inst_ready(list[i]);
			sbuf_printf(&b, "%s %s\n", list[i]->cfg->fullname,
				    list[i]->draining ? "DRAINING" : pstate_name(list[i]->state));
		}
		ready = ready && nready > 0;
		free(list);
	} else {
		const struct config *cfg = sv->cfg;

		for (size_t i = 0; i < cfg->nprocs; i++) {
			const struct proc_config *pc = cfg->procs[i];
			size_t need = 0, have = 0;

			if (i > 0 && strcmp(cfg->procs[i - 1]->program, pc->program) == 0)
				continue; /* one line per program */
			for (size_t k = i; k < cfg->nprocs && strcmp(cfg->procs[k]->program, pc->program) == 0; k++)
				need += cfg->procs[k]->autostart;
			if (pc->pool_max) /* a pool the autoscaler may shrink: its minimum */
				need = (size_t)pc->pool_min;
			for (size_t k = 0; k < sv->ninst; k++)
				have += strcmp(sv->insts[k]->cfg->program, pc->program) == 0 && inst_ready(sv->insts[k]);
			if (have < need) {
				ready = false;
				sbuf_printf(&b, "%s %zu of %zu ready\n", pc->program, have, need);
			}
		}
	}
	if (ready)
		sbuf_adds(&b, "ready\n");
	conn_reply(c, ready ? 200 : 503, "text/plain", b.s, b.len);
	sbuf_done(&b);
}


/* ---- GET /v1/system: the dashboard's system panel --------------------------- */

static struct proc_table last_scan; /* CPU percentages are over the time since the last call */

static void proc_list(struct sbuf *b, const struct proc_info *const *v, size_t n)
{
	sbuf_addc(b, '[');
	for (size_t i = 0; i < n; i++) {
		sbuf_printf(b, "%s{\"pid\":%d,\"ppid\":%d,\"state\":\"%c\",\"command\":", i ? "," : "",
			    (int)v[i]->pid, (int)v[i]->ppid, v[i]->state);
		json_str(b, v[i]->comm);
		sbuf_printf(b, ",\"cpu_percent\":%.1f,\"rss\":%llu}", v[i]->cpu_percent,
			    (unsigned long long)v[i]->rss_bytes);
	}
	sbuf_addc(b, ']');
}

static void r_system(struct conn *c)
{
	struct proc_table t;
	struct proc_summary sum;
	const struct proc_info *zombies[20];
	size_t nz = 0, norphans = 0;
	struct sbuf b = SBUF_INIT;
	double load[3] = { 0 };

	if (proc_scan(&t) < 0) {
		conn_reply_error(c, 500, "proc", "cannot read /proc: %s", strerror(errno));
		return;
	}
	if (last_scan.n) {
		proc_rate(&t, &last_scan);
	} else { /* the first call: over each process's life */
		for (size_t i = 0; i < t.n; i++) {
			double age = proc_age(&t, &t.v[i]);

			t.v[i].cpu_percent = age > 0 ? (double)t.v[i].cpu_ticks / (double)t.hz / age * 100 : 0;
		}
	}
	proc_summarize(&t, &sum);
	for (size_t i = 0; i < t.n; i++) {
		if (t.v[i].state == 'Z' && nz < ARRAY_SIZE(zombies))
			zombies[nz++] = &t.v[i];
		norphans += proc_is_orphan(&t, &t.v[i]);
	}
	getloadavg(load, 3);
	sbuf_printf(&b,
		    "{\"processes\":{\"total\":%zu,\"running\":%zu,\"sleeping\":%zu,\"zombie\":%zu,"
		    "\"other\":%zu},\"orphans\":%zu,\"rss_total\":%llu,\"load\":[%.2f,%.2f,%.2f],"
		    "\"ncpu\":%ld,\"zombies\":",
		    sum.total, sum.running, sum.sleeping, sum.zombie, sum.other, norphans,
		    (unsigned long long)sum.rss_total, load[0], load[1], load[2], sysconf(_SC_NPROCESSORS_ONLN));
	proc_list(&b, zombies, nz);
	sbuf_adds(&b, ",\"top_cpu\":");
	proc_list(&b, sum.top_cpu, sum.ntop_cpu);
	sbuf_adds(&b, ",\"top_mem\":");
	proc_list(&b, sum.top_mem, sum.ntop_mem);
	sbuf_addc(&b, '}');
	conn_reply(c, 200, "application/json", b.s, b.len);
	sbuf_done(&b);
	proc_table_done(&last_scan);
	last_scan = t;
}

/* ---- the dashboard: one page, embedded (dashboard.c) ------------------------- */

extern const char dashboard_html[];
extern const char dashboard_html_end[];

/* A POST from a browser must come from tend's own page (the dashboard), never another site's. */
static bool same_origin(const struct request *req)
{
	const char *o = req->origin;

	if (req->fetch_site && strcmp(req->fetch_site, "same-origin") != 0 &&
	    strcmp(req->fetch_site, "none") != 0)
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

static json_t *daemon_json(void)
{
	return json_pack("{s:i,s:s,s:s,s:f,s:s,s:i}", "pid", (int)getpid(), "version", TEND_VERSION,
			 "state", sv->shutting_down ? "SHUTDOWN" : "RUNNING", "uptime",
			 (double)(mono_ns() - sv->start_ns) / 1e9, "config", sv->cfg->path, "programs",
			 (int)sv->ninst);
}

void api_handle(struct conn *c, const struct request *req)
{
	bool get = strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
	bool post = strcmp(req->method, "POST") == 0;
	const char *p = req->path;

	/* public read-only endpoints, also over TCP */
	if (strcmp(p, "/healthz") == 0 && get) {
		conn_reply(c, 200, "text/plain", "ok\n", 3);
		return;
	}
	if (strcmp(p, "/readyz") == 0 && get) {
		r_readyz(c, NULL);
		return;
	}
	if (strncmp(p, "/readyz/", 8) == 0 && p[8] && get) {
		r_readyz(c, p + 8);
		return;
	}
	if (strcmp(p, "/metrics") == 0 && get) {
		r_metrics(c);
		return;
	}
	if (req->need_auth) {
		static const char msg[] = "authentication required\n";

		conn_reply_headers(c, 401, "text/plain", "WWW-Authenticate: Basic realm=\"tend\"\r\n", msg,
				   sizeof(msg) - 1);
		return;
	}
	if (post && !same_origin(req)) {
		conn_reply_error(c, 403, "cross_origin", "a POST from another site (Origin %s) is refused",
				 req->origin ? req->origin : "-");
		return;
	}
	if (!req->may_read) {
		conn_reply_error(c, 403, "forbidden", "uid %u may not read", (unsigned)req->uid);
		return;
	}
	if (strcmp(p, "/RPC2") == 0 && post) {
		rpc_handle(c, req); /* rights are checked method by method */
		return;
	}
	if (post && !req->may_write) {
		if (req->tcp)
			conn_reply_error(c, 403, "forbidden",
					 "read-only: set [inet_http_server] username and password to change things over TCP");
		else
			conn_reply_error(c, 403, "forbidden", "uid %u may not change anything", (unsigned)req->uid);
		return;
	}
	if ((strcmp(p, "/") == 0 || strcmp(p, "/index.html") == 0) && get) {
		conn_reply_headers(c, 200, "text/html; charset=utf-8",
				   "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; "
				   "style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'\r\n"
				   "X-Content-Type-Options: nosniff\r\n",
				   dashboard_html, (size_t)(dashboard_html_end - dashboard_html));
		return;
	}
	if (strcmp(p, "/v1/system") == 0 && get) {
		r_system(c);
		return;
	}
	if (strncmp(p, "/logtail/", 9) == 0 && p[9] && get) {
		r_logtail(c, p + 9);
		return;
	}
	if (strcmp(p, "/mainlogtail") == 0 && get) {
		r_mainlogtail(c);
		return;
	}
	if (strcmp(p, "/v1/events") == 0 && get) {
		r_events(c);
		return;
	}
	if (strcmp(p, "/v1/daemon") == 0 && get) {
		conn_reply_json(c, 200, daemon_json());
		return;
	}
	if (strncmp(p, "/v1/logs/", 9) == 0 && p[9] && get) {
		r_logs(c, req, p + 9);
		return;
	}
	if (strcmp(p, "/v1/reload") == 0 && post) {
		char dry[8] = "0";
		json_t *res = NULL;
		int r;

		query_get(req->query, "dry_run", dry, sizeof(dry));
		r = sv_reload_file(sv, strcmp(dry, "1") != 0, &res);
		conn_reply_json(c, r == 0 ? 200 : r == -EINVAL ? 422 : 503, res);
		return;
	}
	if (strcmp(p, "/v1/shutdown") == 0 && post) {
		conn_reply_json(c, 200, json_pack("{s:b,s:s}", "ok", 1, "message", "shutting down"));
		sv_shutdown(sv, "shutdown requested");
		return;
	}
	if (strncmp(p, "/v1/programs", 12) == 0 && (p[12] == '\0' || p[12] == '/')) {
		char *rest = p[12] ? xstrdup(p + 13) : NULL, *action = NULL;

		if (rest && !*rest) {
			free(rest);
			rest = NULL;
		}
		if (rest) {
			char *slash = strchr(rest, '/');

			if (slash) {
				*slash = '\0';
				action = slash + 1;
			}
		}
		if ((action && !post) || (!action && !get)) {
			conn_reply_error(c, 405, "method_not_allowed", "%s not allowed on %s", req->method,
					 p);
		} else {
			r_programs(c, req, rest, action);
		}
		free(rest);
		return;
	}
	conn_reply_error(c, 404, "not_found", "no such resource '%s'", p);
}
