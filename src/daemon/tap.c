/*
 * What tend does with a program's stdio besides logging it, as supervisord
 * does:
 *
 *  - stdin: every process gets a pipe whose write end tend keeps (never
 *    /dev/null; sl->stdin_fd), so supervisord's sendProcessStdin reaches it
 *    and an event listener reads its events there; tend writes without
 *    blocking, keeping at most TAP_STDIN_MAX bytes that the program has not
 *    read yet;
 *  - output taps: stdout/stderr_events_enabled turn each chunk of output
 *    into PROCESS_LOG_* events, *_capture_maxbytes runs capture mode
 *    (PROCESS_COMMUNICATION_*); both are told through the supervisor's
 *    observers, so the event bus sees them like any other event;
 *    stdout/stderr_syslog send each line to syslog.
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "daemon/events.h"
#include "daemon/log.h"
#include "daemon/logstream.h"

/* Made at the first write to stdin or the first output tap: most programs never have one. */
struct tap {
	struct slot *sl;
	struct io_watch w;       /* EPOLLOUT on sl->stdin_fd while pending holds bytes */
	struct sbuf pending;
	struct log_follower *fol[2]; /* stdout, stderr */
	struct capture cap[2];
	bool cap_on[2];
	struct sbuf line[2];     /* stdout/stderr_syslog: the line being assembled */
};

static struct tap *tap_of(struct slot *sl)
{
	if (!sl->tap) {
		struct tap *t = xcalloc(1, sizeof(*t));

		t->sl = sl;
		t->w = (struct io_watch)IO_WATCH_INIT;
		sl->tap = t;
	}
	return sl->tap;
}

/* ---- stdin -------------------------------------------------------------------------- */

static void close_stdin(struct slot *sl)
{
	if (sl->tap) {
		loop_io_del(&sl->sv->loop, &sl->tap->w);
		sbuf_reset(&sl->tap->pending);
	}
	if (sl->stdin_fd >= 0)
		close(sl->stdin_fd);
	sl->stdin_fd = -1;
}

int tap_stdin_pipe(struct slot *sl, int *ret_child_fd)
{
	int p[2];

	close_stdin(sl);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	/* a pipe's write end has no other status flag to keep: no F_GETFL first */
	fcntl(p[1], F_SETFL, O_NONBLOCK);
	sl->stdin_fd = p[1];
	*ret_child_fd = p[0];
	return 0;
}

void tap_exited(struct slot *sl)
{
	close_stdin(sl);
}

/* Write what the pipe takes now; 0, or -EPIPE when the reader is gone. */
static int flush_stdin(struct tap *t)
{
	while (t->pending.len > 0) {
		ssize_t n = write(t->sl->stdin_fd, t->pending.s, t->pending.len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0)
			return -errno;
		sbuf_consume(&t->pending, (size_t)n);
	}
	return 0;
}

static void on_writable(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct tap *t = container_of(w, struct tap, w);

	(void)revents;
	if (flush_stdin(t) < 0) {
		close_stdin(t->sl);
		return;
	}
	if (t->pending.len == 0)
		loop_io_del(l, &t->w);
}

int tap_write_stdin(struct slot *sl, const char *data, size_t len)
{
	struct tap *t;
	int r;

	if (sl->stdin_fd < 0 || !sl->in.pid)
		return -EPIPE;
	t = tap_of(sl);
	if (t->pending.len + len > TAP_STDIN_MAX)
		return -ENOBUFS;
	sbuf_add(&t->pending, data, len);
	r = flush_stdin(t);
	if (r < 0) {
		close_stdin(sl);
		return -EPIPE;
	}
	if (t->pending.len > 0 && t->w.fd < 0 &&
	    loop_io_add(&sl->sv->loop, &t->w, sl->stdin_fd, EPOLLOUT, on_writable) < 0)
		return -errno;
	return 0;
}

int sv_send_stdin(struct inst *in, const char *data, size_t len)
{
	return tap_write_stdin(slot_of(in), data, len);
}

/* ---- output taps ------------------------------------------------------------------ */

static void captured(struct tap *t, bool err, const char *data, size_t len)
{
	sv_notify_output(t->sl->sv, &t->sl->in, err, true, data, len);
}

static void captured_out(void *ctx, const char *data, size_t len)
{
	captured(ctx, false, data, len);
}

static void captured_err(void *ctx, const char *data, size_t len)
{
	captured(ctx, true, data, len);
}

/* stdout/stderr_syslog: each whole line as "NAME line" (supervisord's format); a long one in pieces */
static void to_syslog(struct tap *t, bool err, const char *data, size_t len)
{
	struct sbuf *b = &t->line[err];
	const char *name = t->sl->in.cfg->name;

	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);

		if (b->len == 0)
			sbuf_printf(b, "%s ", name);
		sbuf_add(b, p, n);
		p += n + (nl ? 1 : 0);
		if (nl || b->len >= LOG_LINE_MAX) {
			log_syslog(b->s, b->len);
			sbuf_reset(b);
		}
	}
}

static void output(struct tap *t, bool err, const char *data, size_t len)
{
	const struct prog_config *pc = t->sl->in.cfg;

	if (!data) { /* the stream is gone */
		t->fol[err] = NULL;
		return;
	}
	if (err ? pc->stderr_syslog : pc->stdout_syslog)
		to_syslog(t, err, data, len);
	if (err ? pc->stderr_events : pc->stdout_events)
		sv_notify_output(t->sl->sv, &t->sl->in, err, false, data, len);
	if (t->cap_on[err])
		capture_feed(&t->cap[err], data, len, err ? captured_err : captured_out, t);
}

static void output_out(void *ctx, const char *data, size_t len)
{
	output(ctx, false, data, len);
}

static void output_err(void *ctx, const char *data, size_t len)
{
	output(ctx, true, data, len);
}

bool tap_wants_output(const struct prog_config *pc, bool err)
{
	return err ? pc->stderr_events || pc->stderr_capture || pc->stderr_syslog
		   : pc->stdout_events || pc->stdout_capture || pc->stdout_syslog;
}

void tap_output_open(struct slot *sl, struct logstream *ls, bool err)
{
	const struct prog_config *pc = sl->in.cfg;
	struct tap *t;

	if (!tap_wants_output(pc, err))
		return;
	t = tap_of(sl);
	if (t->fol[err])
		return;
	t->cap_on[err] = (err ? pc->stderr_capture : pc->stdout_capture) > 0;
	t->cap[err].maxbytes = err ? pc->stderr_capture : pc->stdout_capture;
	t->fol[err] = logstream_follow(ls, err ? output_err : output_out, t);
}

void tap_free(struct slot *sl)
{
	struct tap *t = sl->tap;

	close_stdin(sl);
	if (!t)
		return;
	sbuf_done(&t->pending);
	if (t->fol[0] && sl->out)
		logstream_unfollow(sl->out, t->fol[0]);
	if (t->fol[1] && sl->err)
		logstream_unfollow(sl->err, t->fol[1]);
	capture_done(&t->cap[0]);
	capture_done(&t->cap[1]);
	sbuf_done(&t->line[0]);
	sbuf_done(&t->line[1]);
	free(t);
	sl->tap = NULL;
}
