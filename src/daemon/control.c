/* The control socket's connections: HTTP parsing, dispatch, answers, streams (see control.h). */
#include "daemon/control-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/log.h"

static void conn_process(struct conn *c);
static void conn_flush(struct conn *c);
static void free_conn(struct loop *l, struct deferred *d);

static void trim_now(struct loop *l, struct timer *t)
{
	(void)l;
	(void)t;
	malloc_trim(0);
}

/*
 * A large answer or request was freed: give the memory back to the system
 * CONTROL_TRIM_AFTER_NS later (once for all freed meanwhile), so an
 * attack's peak does not stay in tend's RSS.  Not at once: a client that
 * polls (`tend status` in a loop, the dashboard) made tendd shrink its heap
 * and grow it again per request, and a shrink flushes the TLB of every CPU
 * tendd ran on (with 1000 programs, a sixth of the CPU of `tend status`'s
 * request on this VM).  An armed timer is not pushed back: under a steady
 * stream of answers the trim still runs once per period.
 */
static void want_trim(struct control *ctl)
{
	if (!timer_armed(&ctl->trim_timer))
		loop_timer_start(ctl->loop, &ctl->trim_timer, CONTROL_TRIM_AFTER_NS, trim_now);
}

/* ---- http-parser callbacks ------------------------------------------------ */

static int on_message_begin(http_parser *p)
{
	struct conn *c = p->data;

	sbuf_reset(&c->url);
	sbuf_reset(&c->body);
	sbuf_reset(&c->hname);
	for (int i = 0; i < HDR_COUNT; i++)
		sbuf_reset(&c->hv[i]);
	c->hcur = -1;
	c->in_value = false;
	c->header_bytes = 0;
	c->header_too_big = c->body_too_big = false;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	c->header_bytes += len;
	if (c->header_bytes > CONTROL_MAX_HEADER) {
		c->header_too_big = true;
		return 1;
	}
	sbuf_add(&c->url, at, len);
	return 0;
}

static int header_bytes(struct conn *c, size_t len)
{
	c->header_bytes += len;
	if (c->header_bytes > CONTROL_MAX_HEADER) {
		c->header_too_big = true;
		return 1;
	}
	return 0;
}

/* Field and value may each come in pieces: a field piece after a value starts a new header. */
static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (header_bytes(c, len))
		return 1;
	if (c->in_value) {
		sbuf_reset(&c->hname);
		c->in_value = false;
	}
	sbuf_add(&c->hname, at, len);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (header_bytes(c, len))
		return 1;
	if (!c->in_value) {
		c->in_value = true;
		c->hcur = -1;
		for (int i = 0; i < HDR_COUNT; i++)
			if (c->hname.s && strcasecmp(c->hname.s, hdr_names[i]) == 0)
				c->hcur = i;
		if (c->hcur >= 0)
			sbuf_reset(&c->hv[c->hcur]); /* a repeated header: the last one counts */
	}
	if (c->hcur >= 0)
		sbuf_add(&c->hv[c->hcur], at, len);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;

	/* refuse a large body before reading (or allocating) any of it */
	if (p->content_length != ULLONG_MAX && p->content_length > CONTROL_MAX_BODY) {
		c->body_too_big = true;
		return 1;
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct conn *c = p->data;

	if (c->body.len + len > CONTROL_MAX_BODY) {
		c->body_too_big = true;
		return 1;
	}
	sbuf_add(&c->body, at, len);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	c->complete = true;
	c->keep_alive = http_should_keep_alive(p);
	http_parser_pause(p, 1);
	return 0;
}

/* ---- replies ------------------------------------------------------------- */

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 421: return "Misdirected Request";
	case 422: return "Unprocessable Entity";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

/* Bytes of answers not yet sent or still being built, over every connection but skip. */
static size_t control_unsent(const struct control *ctl, const struct conn *skip)
{
	size_t n = 0;

	for (const struct conn *c = ctl->conns; c; c = c->next)
		n += c->out.len - c->out_off + (c == skip ? 0 : c->preparing);
	return n;
}

void conn_preparing(struct conn *c, size_t bytes)
{
	c->preparing = bytes;
}

size_t conn_reply_room(const struct conn *c)
{
	size_t unsent = control_unsent(c->ctl, c);
	size_t room = unsent >= CONTROL_OUT_BUDGET ? 0 : CONTROL_OUT_BUDGET - unsent;

	if (room > CONTROL_MAX_RESPONSE)
		room = CONTROL_MAX_RESPONSE;
	return room < CONTROL_SMALL_RESPONSE ? CONTROL_SMALL_RESPONSE : room;
}

void conn_reply(struct conn *c, int status, const char *content_type, const char *body, size_t len)
{
	conn_reply_headers(c, status, content_type, NULL, body, len);
}

#define HEAD_FMT                                                         \
	"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n" \
	"Cache-Control: no-store\r\nConnection: %s\r\n%s\r\n"

static bool reply_closes(const struct conn *c, int status)
{
	return c->close_after || !c->keep_alive || c->peer_eof || status >= 400 || c->ctl->lfd < 0;
}

/* The request is answered: no longer in flight, nothing to cancel. */
static void reply_given(struct conn *c)
{
	c->in_flight = false;
	c->cancel = NULL;
	c->cancel_ctx = NULL;
	c->preparing = 0;
}

void conn_reply_headers(struct conn *c, int status, const char *content_type, const char *headers,
			const char *body, size_t len)
{
	bool close_it = reply_closes(c, status);

	if (c->closed)
		return;
	if (len > conn_reply_room(c)) {
		/* never buffer without bound for a client that may not read */
		bool large = len > CONTROL_MAX_RESPONSE;

		log_warn("control: an answer of %zu bytes to %s refused: %s", len, c->tcp ? c->peer : "the socket",
			 large ? "larger than tend sends at once" : "too many answers wait to be read");
		c->close_after = true;
		conn_reply_error(c, 503, large ? "too_large" : "busy",
				 large ? "the answer would be %zu bytes, more than %d: ask for less at a time"
				       : "the answer would be %zu bytes and too many answers wait to be read: retry later",
				 len, CONTROL_MAX_RESPONSE);
		return;
	}
	reply_given(c);
	sbuf_printf(&c->out, HEAD_FMT, status, status_text(status), content_type, len,
		    close_it ? "close" : "keep-alive", headers ? headers : "");
	sbuf_add(&c->out, body, len);
	if (close_it)
		c->close_after = true;
	conn_flush(c);
}

/* From this size on, a body is written into huge pages where the kernel has them (THP on madvise). */
#define HUGE_BODY (4u << 20)

void conn_body_begin(struct sbuf *b, size_t size)
{
	sbuf_grow(b, CONN_HEAD_ROOM + size);
	if (size >= HUGE_BODY) {
		/* 2,000 page faults fewer for 8 MB (/metrics with 10,000 programs) */
		uintptr_t from = ((uintptr_t)b->s + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1);
		uintptr_t to = ((uintptr_t)b->s + b->cap) & ~(uintptr_t)((2u << 20) - 1);

		if (to > from)
			(void)madvise((void *)from, to - from, MADV_HUGEPAGE);
	}
	/* a body this large is a mapping of its own, new at each answer (tendd's M_MMAP_THRESHOLD) */
	mem_populate(b->s, b->cap);
	memset(b->s + b->len, ' ', CONN_HEAD_ROOM);
	b->len += CONN_HEAD_ROOM;
	b->s[b->len] = '\0';
}

void conn_reply_take(struct conn *c, int status, const char *content_type, struct sbuf *b)
{
	size_t len = b->len - CONN_HEAD_ROOM;
	bool close_it = reply_closes(c, status);
	char head[CONN_HEAD_ROOM];
	int n = snprintf(head, sizeof(head), HEAD_FMT, status, status_text(status), content_type, len,
			 close_it ? "close" : "keep-alive", "");

	if (c->closed || c->out_off < c->out.len || n < 0 || (size_t)n >= sizeof(head) ||
	    len > conn_reply_room(c)) {
		/* closed, refused, or behind answers not yet sent: the copying path */
		conn_reply(c, status, content_type, b->s + CONN_HEAD_ROOM, len);
		sbuf_done(b);
		return;
	}
	reply_given(c);
	memcpy(b->s + CONN_HEAD_ROOM - n, head, (size_t)n);
	sbuf_done(&c->out);
	c->out = *b;
	c->out_off = CONN_HEAD_ROOM - (size_t)n;
	*b = (struct sbuf)SBUF_INIT;
	if (close_it)
		c->close_after = true;
	conn_flush(c);
}

void conn_reply_json(struct conn *c, int status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)); /* 2.614, not 2.6139999999999999 */

	json_decref(j);
	if (!s) {
		conn_reply(c, 500, "text/plain", "json\n", 5);
		return;
	}
	if (strlen(s) <= conn_reply_room(c))
		sbuf_grow(&c->out, strlen(s) + 256);
	conn_reply(c, status, "application/json", s, strlen(s));
	free(s);
}

void conn_reply_error(struct conn *c, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	conn_reply_json(c, status,
			json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", msg));
}

void conn_stream_begin(struct conn *c, const char *content_type)
{
	if (c->closed)
		return;
	c->streaming = true;
	c->close_after = false;
	sbuf_printf(&c->out,
		    "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n"
		    "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		    content_type);
	conn_flush(c);
}

int conn_stream_write(struct conn *c, const void *data, size_t len)
{
	if (c->closed || !c->streaming || c->write_failed)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (c->out.len - c->out_off + len > CONTROL_STREAM_MAX)
		return -ENOBUFS;
	sbuf_printf(&c->out, "%zx\r\n", len);
	sbuf_add(&c->out, data, len);
	sbuf_add(&c->out, "\r\n", 2);
	conn_flush(c);
	return 0;
}

void conn_stream_end(struct conn *c)
{
	if (c->closed || !c->streaming)
		return;
	c->streaming = false;
	c->in_flight = false;
	c->cancel = NULL;
	c->close_after = true;
	sbuf_add(&c->out, "0\r\n\r\n", 5);
	conn_flush(c);
}

void conn_set_cancel(struct conn *c, void (*cancel)(void *ctx), void *ctx)
{
	c->cancel = cancel;
	c->cancel_ctx = ctx;
}

/* ---- connection I/O ------------------------------------------------------ */

static void on_deadline(struct loop *l, struct timer *t)
{
	struct conn *c = container_of(t, struct conn, deadline);

	(void)l;
	if (c->out_off < c->out.len) {
		/* nothing of the answer read for so long: give its memory back */
		log_info("control: %s read nothing of its answer for %d s; connection closed",
			 c->tcp ? c->peer : "a client of the socket",
			 (int)((c->streaming ? CONTROL_STREAM_STALL_NS : CONTROL_WRITE_TIMEOUT_NS) / NSEC_PER_SEC));
		conn_close(c);
		return;
	}
	if (c->in_flight)
		return; /* the answer is on its way; the op has its own timeout */
	if (c->in.len > 0 || c->parser.nread > 0) {
		c->close_after = true;
		conn_reply_error(c, 408, "timeout", "request not complete within %d s",
				 (int)(CONTROL_REQUEST_TIMEOUT_NS / NSEC_PER_SEC));
	} else {
		conn_close(c);
	}
}

/*
 * While large requests wait their turn (dispatch_fair) with CONTROL_BODY_BUDGET
 * bytes of body, a connection that is in the middle of a body is not read:
 * its bytes wait in the kernel, not in tend.  Headers are still read (a
 * health check has no body).
 */
static bool body_starved(const struct conn *c)
{
	return c->ctl->heavy_bytes >= CONTROL_BODY_BUDGET && c->body.len > 0 && !c->complete;
}

static void update_events(struct conn *c)
{
	/* after EOF, RDHUP would stay ready (level-triggered): stop asking for it */
	uint32_t ev = c->peer_eof ? 0 : EPOLLRDHUP;

	if (c->out_off < c->out.len)
		ev |= EPOLLOUT;
	/* stop reading while an answer is pending or the input backlog is full */
	if (!c->peer_eof && !c->close_after && c->in.len < CONTROL_MAX_HEADER + 4096 && !body_starved(c))
		ev |= EPOLLIN;
	loop_io_mod(c->ctl->loop, &c->w, ev);
}

static void close_later(struct loop *l, struct deferred *d)
{
	(void)l;
	conn_close(container_of(d, struct conn, close_later));
}

static void conn_flush(struct conn *c)
{
	bool sent = false;

	while (c->out_off < c->out.len) {
		ssize_t n = send(c->w.fd, c->out.s + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				/* the client reads slowly or not at all: the write timeout
				 * runs from the last byte it took */
				if (sent || !timer_armed(&c->deadline))
					loop_timer_start(c->ctl->loop, &c->deadline,
							 c->streaming ? CONTROL_STREAM_STALL_NS
								      : CONTROL_WRITE_TIMEOUT_NS,
							 on_deadline);
				update_events(c);
				return;
			}
			if (c->streaming) {
				/*
				 * A stream write comes from a producer walking its list of
				 * readers (log followers, event subscribers): closing now
				 * would run the cancel hook, which unlinks this reader from
				 * that very list.  Close once the producer is done.
				 */
				c->write_failed = true;
				loop_defer(c->ctl->loop, &c->close_later, close_later);
				return;
			}
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
		sent = true;
	}
	/* a large answer's buffer goes back at once, not when the connection ends */
	if (c->out.cap > CONTROL_SMALL_RESPONSE) {
		sbuf_done(&c->out);
		want_trim(c->ctl);
	} else
		sbuf_reset(&c->out);
	c->out_off = 0;
	if (c->streaming) {
		loop_timer_stop(c->ctl->loop, &c->deadline); /* all read: no stall */
		update_events(c);
		return;
	}
	if (c->close_after) {
		conn_close(c);
		return;
	}
	if (c->complete && !c->in_flight) {
		/* ready for the next request on this connection */
		c->complete = false;
		http_parser_pause(&c->parser, 0);
		loop_timer_start(c->ctl->loop, &c->deadline, CONTROL_IDLE_TIMEOUT_NS, on_deadline);
		conn_process(c);
		if (c->closed)
			return;
	}
	update_events(c);
}

static void dispatch(struct conn *c)
{
	struct http_parser_url u;
	struct request req = { 0 };
	char *path, *query, *body;
	size_t plen = 0, body_len;

	http_parser_url_init(&u);
	if (http_parser_parse_url(c->url.s ? c->url.s : "", c->url.len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_PATH))) {
		c->close_after = true;
		conn_reply_error(c, 400, "bad_request", "bad request target");
		return;
	}
	path = xmalloc(u.field_data[UF_PATH].len + 1);
	/* percent-decode the path */
	for (size_t i = 0; i < u.field_data[UF_PATH].len; i++) {
		const char *s = c->url.s + u.field_data[UF_PATH].off;
		unsigned hex;

		if (s[i] == '%' && i + 2 < u.field_data[UF_PATH].len &&
		    sscanf(s + i + 1, "%2x", &hex) == 1 && hex > 0) {
			path[plen++] = (char)hex;
			i += 2;
		} else {
			path[plen++] = s[i];
		}
	}
	path[plen] = '\0';
	query = u.field_set & (1 << UF_QUERY)
			? xstrndup(c->url.s + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len)
			: xstrdup("");
	/* the body is the request's: a large one is given back once it is answered */
	body_len = c->body.len;
	body = sbuf_take(&c->body);
	req.method = http_method_str(c->parser.method);
	req.path = path;
	req.query = query;
	req.body = body;
	req.body_len = body_len;
	req.uid = c->uid;
	req.gid = c->gid;
	req.pid = c->pid;
	req.tcp = c->tcp;
	req.peer = c->peer;
	req.reserve = c->reserve;
	req.authorization = c->hv[HDR_AUTH].s;
	req.origin = c->hv[HDR_ORIGIN].s;
	req.host = c->hv[HDR_HOST].s;
	req.fetch_site = c->hv[HDR_FETCH_SITE].s;
	req.body_too_big = c->body_too_big;
	control_rights(c, &req);
	if (c->reserve)
		c->close_after = true; /* a reserve slot serves one health check */
	c->in_flight = true;
	loop_timer_stop(c->ctl->loop, &c->deadline);
	c->ctl->handler(c->ctl->handler_ctx, c, &req);
	free(path);
	free(query);
	free(body);
}

/* One queued large request per loop iteration; between two, the loop serves the others. */
static void run_heavy(struct loop *l, struct deferred *d)
{
	struct control *ctl = container_of(d, struct control, heavy_later);
	struct conn *c = ctl->heavy;

	(void)l;
	if (!c)
		return;
	ctl->heavy = c->heavy_next;
	ctl->heavy_bytes -= c->body.len;
	c->heavy_next = NULL;
	c->heavy_queued = false;
	dispatch(c);
	if (ctl->heavy_bytes + CONTROL_MAX_BODY >= CONTROL_BODY_BUDGET) {
		/* room for more bodies again: read the connections that wait */
		for (struct conn *o = ctl->conns; o; o = o->next)
			if (!o->closed && o->body.len > 0 && !o->complete)
				update_events(o);
	}
	if (ctl->heavy)
		loop_defer(ctl->loop, &ctl->heavy_later, run_heavy);
	else
		want_trim(ctl); /* the burst is over: what parsing took (XML-RPC's trees) goes back */
}

/*
 * Dispatch a complete request now, or, when its body is large (a request of
 * up to 1 MiB may take 100 ms to parse and answer), queue it: large
 * requests are handled one per loop iteration, so a burst of them never
 * holds up /healthz or the CLI for long.
 */
static void dispatch_fair(struct conn *c)
{
	struct conn **p = &c->ctl->heavy;

	if (c->body.len <= CONTROL_SMALL_RESPONSE) {
		dispatch(c);
		return;
	}
	c->in_flight = true; /* no reading, no request deadline meanwhile */
	loop_timer_stop(c->ctl->loop, &c->deadline);
	while (*p)
		p = &(*p)->heavy_next;
	*p = c;
	c->heavy_queued = true;
	c->ctl->heavy_bytes += c->body.len;
	loop_defer(c->ctl->loop, &c->ctl->heavy_later, run_heavy);
}

/* Parse what is buffered; dispatch one complete request at a time. */
static void conn_process(struct conn *c)
{
	size_t n;
	enum http_errno err;

	if (c->in_flight || c->complete || c->closed || c->in.len == 0)
		return;
	n = http_parser_execute(&c->parser, &c->ctl->settings, c->in.s, c->in.len);
	err = HTTP_PARSER_ERRNO(&c->parser);
	sbuf_consume(&c->in, n);
	if (c->header_too_big) {
		c->close_after = true;
		conn_reply_error(c, 431, "too_large", "request line and headers exceed %d bytes",
				 CONTROL_MAX_HEADER);
		return;
	}
	if (c->body_too_big) {
		/* the handler answers it as the path's protocol does (an XML-RPC
		 * client understands a fault, not a 413) */
		c->close_after = true;
		c->body.len = 0;
		dispatch(c);
		return;
	}
	if (err != HPE_OK && err != HPE_PAUSED) {
		c->close_after = true;
		conn_reply_error(c, 400, "bad_request", "malformed HTTP request: %s",
				 http_errno_description(err));
		return;
	}
	if (c->complete)
		dispatch_fair(c);
}

static void on_conn_io(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct conn *c = container_of(w, struct conn, w);
	char buf[16384];

	(void)l;
	if (revents & (EPOLLHUP | EPOLLERR)) {
		/* the peer is gone both ways: nobody can read an answer */
		conn_close(c);
		return;
	}
	if (revents & EPOLLOUT) {
		conn_flush(c);
		if (c->closed)
			return;
	}
	if (revents & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		for (;;) {
			ssize_t n;

			if (c->in.len >= CONTROL_MAX_HEADER + 4096 && (c->in_flight || c->complete))
				break; /* backlog full: stop reading until the answer is out */
			if (body_starved(c))
				break; /* large requests wait their turn: this body waits in the kernel */
			n = recv(w->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN) {
					conn_close(c);
					return;
				}
				break;
			}
			if (n == 0) {
				c->peer_eof = true;
				if (c->streaming) {
					conn_close(c);
					return;
				}
				break;
			}
			sbuf_add(&c->in, buf, (size_t)n);
			if (!c->in_flight && !c->complete) {
				conn_process(c);
				if (c->closed)
					return;
			}
		}
		if (c->peer_eof && !c->in_flight && !c->complete && c->out_off >= c->out.len) {
			/* the peer is gone (or half-closed) with no complete request */
			if (c->parser.nread > 0 || c->in.len > 0)
				http_parser_execute(&c->parser, &c->ctl->settings, NULL, 0);
			if (c->complete)
				dispatch_fair(c);
			else
				conn_close(c);
			if (c->closed)
				return;
		}
	}
	if (!c->closed)
		update_events(c);
}

static void free_conn(struct loop *l, struct deferred *d)
{
	struct conn *c = container_of(d, struct conn, free_later);

	(void)l;
	if (c->out.cap > CONTROL_SMALL_RESPONSE)
		want_trim(c->ctl);
	sbuf_done(&c->in);
	sbuf_done(&c->url);
	sbuf_done(&c->body);
	sbuf_done(&c->hname);
	for (int i = 0; i < HDR_COUNT; i++)
		sbuf_done(&c->hv[i]);
	sbuf_done(&c->out);
	free(c);
}

void conn_close(struct conn *c)
{
	struct control *ctl = c->ctl;

	if (c->closed)
		return;
	c->closed = true;
	loop_undefer(ctl->loop, &c->close_later);
	if (c->heavy_queued) {
		for (struct conn **p = &ctl->heavy; *p; p = &(*p)->heavy_next) {
			if (*p == c) {
				*p = c->heavy_next;
				break;
			}
		}
		c->heavy_queued = false;
		ctl->heavy_bytes -= c->body.len;
	}
	if (c->cancel)
		c->cancel(c->cancel_ctx);
	c->cancel = NULL;
	loop_timer_stop(ctl->loop, &c->deadline);
	/*
	 * Out of epoll first, then close: a child between clone() and the
	 * close-on-exec step of its execve() may still hold this socket (when
	 * spawns copy the fd table, spawn.h), so
	 * close() alone would not drop the registration, an EPOLL_CTL_DEL on
	 * the closed fd would fail, and an event could name this conn after
	 * it is freed.
	 */
	{
		int fd = c->w.fd;

		loop_io_del(ctl->loop, &c->w);
		close(fd);
	}
	for (struct conn **p = &ctl->conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	ctl->nconns--;
	/* freed after this iteration: an event for it may still be in the batch */
	loop_defer(ctl->loop, &c->free_later, free_conn);
}

/* A TCP peer's address as text; an IPv4 address mapped into IPv6 as plain IPv4. */
static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)n);
	} else if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a))
			inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)n);
		else
			inet_ntop(AF_INET6, a, buf, (socklen_t)n);
	} else {
		snprintf(buf, n, "?");
	}
}

void control_accept(struct loop *l, struct control *ctl, int lfd, bool tcp)
{
	for (int i = 0; i < 64; i++) {
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t len = sizeof(cred);
		struct sockaddr_storage ss;
		socklen_t sslen = sizeof(ss);
		char peer[INET6_ADDRSTRLEN] = "";
		struct conn *c;
		int fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_CLOEXEC | SOCK_NONBLOCK), slot;

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EMFILE || errno == ENFILE) && ctl->spare_fd >= 0) {
				/* give one fd back, take the connection, refuse it */
				close(ctl->spare_fd);
				fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				if (fd >= 0)
					close(fd);
				ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
				log_warn("control: out of file descriptors; connection refused");
				continue;
			}
			return;
		}
		if (tcp) {
			/* a fixed send buffer: what a client does not read waits in tend,
			 * counted against CONTROL_OUT_BUDGET and cut by the write timeout,
			 * not in megabytes of autotuned kernel buffers */
			int sndbuf = CONTROL_SNDBUF;

			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
			peer_name(&ss, peer, sizeof(peer));
		}
		if ((!tcp && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) ||
		    (slot = control_admit(ctl, tcp, cred.uid, peer)) < 0) {
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->ctl = ctl;
		c->tcp = tcp;
		c->reserve = slot == 0;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
		snprintf(c->peer, sizeof(c->peer), "%s", peer);
		c->deadline = (struct timer)TIMER_INIT;
		c->free_later = (struct deferred)DEFERRED_INIT;
		c->close_later = (struct deferred)DEFERRED_INIT;
		http_parser_init(&c->parser, HTTP_REQUEST);
		c->parser.data = c;
		if (loop_io_add(l, &c->w, fd, EPOLLIN | EPOLLRDHUP, on_conn_io) < 0) {
			close(fd);
			free(c);
			continue;
		}
		c->next = ctl->conns;
		ctl->conns = c;
		ctl->nconns++;
		/* a reserve connection is for a health check: it asks at once or goes */
		loop_timer_start(l, &c->deadline, c->reserve ? CONTROL_RESERVE_TIMEOUT_NS : CONTROL_REQUEST_TIMEOUT_NS,
				 on_deadline);
	}
}

struct loop *conn_loop(const struct conn *c)
{
	return c->ctl->loop;
}

/* The connection side of a new control: the parser's callbacks, the deferred jobs. */
void control_conns_init(struct control *ctl)
{
	ctl->heavy_later = (struct deferred)DEFERRED_INIT;
	ctl->trim_timer = (struct timer)TIMER_INIT;
	ctl->settings = (http_parser_settings){
		.on_message_begin = on_message_begin,
		.on_url = on_url,
		.on_header_field = on_header_field,
		.on_header_value = on_header_value,
		.on_headers_complete = on_headers_complete,
		.on_body = on_body,
		.on_message_complete = on_message_complete,
	};
}

/* Close every connection now (the control goes). */
void control_conns_close(struct control *ctl)
{
	while (ctl->conns) {
		struct conn *c = ctl->conns;

		conn_close(c);
		/* outside any iteration: nothing can still refer to it, free it now */
		loop_undefer(ctl->loop, &c->free_later);
		free_conn(ctl->loop, &c->free_later);
	}
	loop_undefer(ctl->loop, &ctl->heavy_later);
	loop_timer_stop(ctl->loop, &ctl->trim_timer);
}

