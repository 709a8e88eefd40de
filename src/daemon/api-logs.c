/*
 * The API's log routes: /v1/logs/NAME (a tail, or followed), and
 * supervisorctl's /logtail/NAME and /mainlogtail streams.
 */
#include "daemon/api-internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/cmd.h"
#include "daemon/log.h"
#include "daemon/logstream.h"

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

/* The one instance spec names, or NULL (answered: 404 or 400). */
static struct inst *resolve_one(struct api *a, struct conn *c, const char *spec)
{
	struct targets t = { 0 };
	struct inst *in = NULL;

	if (api_resolve_or_404(a, c, spec, &t) < 0)
		return NULL;
	if (t.n != 1)
		conn_reply_error(c, 400, "ambiguous", "'%s' names %zu processes; name one", spec, t.n);
	else
		in = t.v[0];
	targets_done(&t);
	return in;
}

/* GET /v1/logs/NAME?stream=stdout|stderr&lines=N&follow=1 */
void r_logs(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	char stream[16] = "stdout", lines_s[16] = "10";
	struct sbuf out = SBUF_INIT;
	struct logstream *ls;
	struct inst *in;
	long lines;
	bool err;

	if (!(in = resolve_one(a, c, args[0])))
		return;
	api_query_get(req->query, "stream", stream, sizeof(stream));
	api_query_get(req->query, "lines", lines_s, sizeof(lines_s));
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
	if (!api_query_is(req, "follow", "1"))
		conn_reply(c, 200, "text/plain; charset=utf-8", out.s ? out.s : "", out.len);
	else
		follow(c, ls, out.s, out.len);
	sbuf_done(&out);
}

/*
 * supervisorctl tail -f: GET /logtail/NAME[/stdout|stderr], like
 * supervisord's: the last 1 KiB, then everything new, chunked.
 */
void r_logtail(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	char *name = args[0], *slash = strrchr(name, '/');
	struct targets t = { 0 };
	struct logstream *ls = NULL;
	struct sbuf out = SBUF_INIT;
	bool err = false;

	(void)req;
	if (slash && (strcmp(slash, "/stdout") == 0 || strcmp(slash, "/stderr") == 0)) {
		err = strcmp(slash, "/stderr") == 0;
		*slash = '\0';
	}
	if (cmd_resolve(a->sv, name, NAMES_TEND, &t) < 0 || t.n != 1) {
		conn_reply(c, 404, "text/plain", "no such process\n", 16);
		targets_done(&t);
		return;
	}
	if (!(err && t.v[0]->cfg->redirect_stderr))
		ls = sv_logstream(t.v[0], err);
	targets_done(&t);
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

static void main_tap(void *ctx, const char *line, size_t len)
{
	struct api *a = ctx;

	for (struct subscriber *sub = a->main_followers; sub; sub = sub->next)
		if (conn_stream_write(sub->conn, line, len) < 0)
			sub->dropped = true;
}

void api_logs_done(struct api *a)
{
	if (a->main_followers)
		log_set_tap(NULL, NULL);
}

static void main_unfollow(void *ctx)
{
	struct subscriber *sub = ctx;
	struct api *a = sub->api;

	api_unsubscribe(&a->main_followers, sub);
	if (!a->main_followers)
		log_set_tap(NULL, NULL);
}

void r_mainlogtail(struct api *a, struct conn *c, const struct request *req, char *const *args)
{
	struct cmd_info info;
	const char *path;

	(void)req;
	(void)args;
	cmd_info(a->sv, &info);
	path = info.cfg->logfile;
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
	conn_set_cancel(c, main_unfollow, api_subscribe(a, &a->main_followers, c));
	log_set_tap(main_tap, a);
}

