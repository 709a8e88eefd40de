#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netdb.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/util.h"
#include "daemon/log.h"

/* the request headers tend looks at */
enum { HDR_AUTH, HDR_ORIGIN, HDR_HOST, HDR_FETCH_SITE, HDR_COUNT };
static const char *const hdr_names[HDR_COUNT] = { "authorization", "origin", "host", "sec-fetch-site" };

struct conn {
	struct conn *next;
	struct control *ctl;
	struct io_watch w;
	struct timer deadline;
	http_parser parser;
	struct sbuf in;        /* bytes read, not yet parsed */
	struct sbuf url;
	struct sbuf body;
	size_t header_bytes;
	struct sbuf hname;     /* the header field being read */
	int hcur;              /* which of hv[] its value goes to (-1: none) */
	bool in_value;
	struct sbuf hv[HDR_COUNT];
	bool header_too_big;
	bool body_too_big;
	bool complete;         /* a full request was parsed */
	bool in_flight;        /* dispatched, no answer yet */
	bool keep_alive;
	bool close_after;      /* close once out is written */
	bool peer_eof;
	bool closed;
	bool streaming;        /* a chunked answer is being sent */
	bool tcp;              /* came through the TCP listener: no credentials */
	struct sbuf out;
	size_t out_off;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	void (*cancel)(void *ctx);
	void *cancel_ctx;
	struct deferred free_later;
	struct deferred close_later; /* a streamed write failed: close outside the writer's loop */
	bool write_failed;
};

struct control {
	struct loop *loop;
	struct io_watch lw;
	int lfd;
	struct io_watch tw;    /* the optional TCP listener */
	int tfd;
	int lockfd;
	int spare_fd;
	char *path;
	char *lockpath;
	gid_t sock_gid;
	bool chowned;          /* chown=: owner_uid and members of sock_gid may write */
	uid_t owner_uid;
	char *user;            /* [inet_http_server] credentials, NULL: none */
	char *password;
	request_handler *handler;
	void *handler_ctx;
	struct conn *conns;
	size_t nconns;
	http_parser_settings settings;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void conn_flush(struct conn *c);

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
	case 422: return "Unprocessable Entity";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

void conn_reply(struct conn *c, int status, const char *content_type, const char *body, size_t len)
{
	conn_reply_headers(c, status, content_type, NULL, body, len);
}

void conn_reply_headers(struct conn *c, int status, const char *content_type, const char *headers,
			const char *body, size_t len)
{
	bool close_it = c->close_after || !c->keep_alive || c->peer_eof || status >= 400 ||
			c->ctl->lfd < 0;

	if (c->closed)
		return;
	c->in_flight = false;
	c->cancel = NULL;
	c->cancel_ctx = NULL;
	sbuf_printf(&c->out,
		    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		    "Cache-Control: no-store\r\nConnection: %s\r\n%s\r\n",
		    status, status_text(status), content_type, len, close_it ? "close" : "keep-alive",
		    headers ? headers : "");
	sbuf_add(&c->out, body, len);
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

static void update_events(struct conn *c)
{
	/* after EOF, RDHUP would stay ready (level-triggered): stop asking for it */
	uint32_t ev = c->peer_eof ? 0 : EPOLLRDHUP;

	if (c->out_off < c->out.len)
		ev |= EPOLLOUT;
	/* stop reading while an answer is pending or the input backlog is full */
	if (!c->peer_eof && !c->close_after && c->in.len < CONTROL_MAX_HEADER + 4096)
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
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->w.fd, c->out.s + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
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
	}
	sbuf_reset(&c->out);
	c->out_off = 0;
	if (c->streaming) {
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

/* Compare without an early exit, so timing tells nothing about the secret. */
static bool same_secret(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char diff = alen != blen;

	for (size_t i = 0; i < alen && i < blen; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* "Basic base64(user:password)" against the configured user and password (plain or {SHA}). */
static bool basic_auth_ok(const struct control *ctl, const char *hdr)
{
	unsigned char raw[512], md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned mdlen = 0;
	const char *b64, *colon, *pw;
	size_t n, pwlen;
	int len;
	bool ok;

	if (!hdr || strncasecmp(hdr, "Basic ", 6) != 0)
		return false;
	for (b64 = hdr + 6; *b64 == ' '; b64++)
		;
	n = strcspn(b64, " \t\r\n");
	if (n == 0 || n % 4 || n / 4 * 3 >= sizeof(raw))
		return false;
	len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
	if (len < 0)
		return false;
	while (len > 0 && n > 0 && b64[--n] == '=') /* EVP_DecodeBlock counts the padding */
		len--;
	raw[len] = '\0';
	if (memchr(raw, '\0', (size_t)len) || !(colon = strchr((char *)raw, ':')))
		return false;
	pw = colon + 1;
	pwlen = (size_t)len - (size_t)(pw - (char *)raw);
	ok = same_secret((char *)raw, (size_t)(colon - (char *)raw), ctl->user, strlen(ctl->user));
	if (strncmp(ctl->password, "{SHA}", 5) == 0) {
		if (!EVP_Digest(pw, pwlen, md, &mdlen, EVP_sha1(), NULL))
			return false;
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		ok &= strlen(ctl->password + 5) == 2 * mdlen &&
		      strncasecmp(hex, ctl->password + 5, 2 * mdlen) == 0;
	} else {
		ok &= same_secret(pw, pwlen, ctl->password, strlen(ctl->password));
	}
	explicit_bzero(raw, sizeof(raw));
	return ok;
}

void control_set_credentials(struct control *ctl, const char *user, const char *password)
{
	free(ctl->user);
	free(ctl->password);
	ctl->user = user && password ? xstrdup(user) : NULL;
	ctl->password = user && password ? xstrdup(password) : NULL;
}

/* True when the peer's primary or supplementary groups have gid (its /proc status says which). */
static bool peer_in_group(const struct conn *c, gid_t gid)
{
	char path[64], *data = NULL, *line;
	bool in = c->gid == gid;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)c->pid);
	if (in || c->pid <= 0 || read_file(path, 1 << 16, &data, NULL) < 0)
		return in;
	line = strstr(data, "\nGroups:");
	if (line) {
		char *p = line + 9, *end;

		for (;;) {
			long g = strtol(p, &end, 10);

			if (end == p || *p == '\n')
				break;
			in |= g == (long)gid;
			p = end;
		}
	}
	free(data);
	return in;
}

static void dispatch(struct conn *c)
{
	struct http_parser_url u;
	struct request req = { 0 };
	char *path, *query;
	size_t plen = 0;

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
	req.method = http_method_str(c->parser.method);
	req.path = path;
	req.query = query;
	req.body = c->body.s ? c->body.s : "";
	req.body_len = c->body.len;
	req.uid = c->uid;
	req.gid = c->gid;
	req.pid = c->pid;
	req.tcp = c->tcp;
	req.authorization = c->hv[HDR_AUTH].s;
	req.origin = c->hv[HDR_ORIGIN].s;
	req.host = c->hv[HDR_HOST].s;
	req.fetch_site = c->hv[HDR_FETCH_SITE].s;
	req.body_too_big = c->body_too_big;
	if (!c->tcp) {
		req.may_write = c->uid == 0 || c->uid == geteuid() ||
				(c->ctl->chowned && (c->uid == c->ctl->owner_uid || peer_in_group(c, c->ctl->sock_gid)));
		req.may_read = req.may_write || c->gid == c->ctl->sock_gid;
	} else if (c->ctl->user) {
		/* credentials configured: they give every right, their absence none */
		req.may_read = req.may_write = basic_auth_ok(c->ctl, req.authorization);
		req.need_auth = !req.may_read;
	} else {
		req.may_read = true; /* no credentials configured: read-only over TCP */
	}
	c->in_flight = true;
	loop_timer_stop(c->ctl->loop, &c->deadline);
	c->ctl->handler(c->ctl->handler_ctx, c, &req);
	free(path);
	free(query);
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
		dispatch(c);
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
				dispatch(c);
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
	sbuf_done(&c->in);
	sbuf_done(&c->url);
	sbuf_done(&c->body);
	sbuf_done(&c->hname);
	for (int i = 0; i < HDR_COUNT; i++)
		sbuf_done(&c->hv[i]);
	sbuf_done(&c->out);
	free(c);
}

static void conn_close(struct conn *c)
{
	struct control *ctl = c->ctl;

	if (c->closed)
		return;
	c->closed = true;
	loop_undefer(ctl->loop, &c->close_later);
	if (c->cancel)
		c->cancel(c->cancel_ctx);
	c->cancel = NULL;
	loop_timer_stop(ctl->loop, &c->deadline);
	/*
	 * Out of epoll first, then close: a child between clone() and the
	 * close-on-exec step of its execve() still holds this socket, so
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

static bool conn_idle(const struct conn *c)
{
	return !c->in_flight && !c->complete && c->in.len == 0 && c->parser.nread == 0 &&
	       c->out.len == 0;
}

/*
 * Room for one more connection from uid?  At the limit, the oldest idle
 * connection (nothing sent yet, nothing owed) makes way, so idle sockets can
 * never lock the CLI out; a uid other than tend's owner and root may hold at
 * most half of the connections.
 */
static bool make_room(struct control *ctl, uid_t uid)
{
	struct conn *oldest = NULL;
	size_t mine = 0;
	bool privileged = uid == 0 || uid == geteuid();

	for (struct conn *c = ctl->conns; c; c = c->next)
		mine += c->uid == uid;
	if (!privileged && mine >= CONTROL_MAX_CONNS / 2)
		return false;
	if (ctl->nconns < CONTROL_MAX_CONNS)
		return true;
	for (struct conn *c = ctl->conns; c; c = c->next)
		if (conn_idle(c) && (privileged || c->uid == uid))
			oldest = c; /* the list is newest first: the last match is the oldest */
	if (!oldest)
		return false;
	conn_close(oldest);
	return true;
}

static void accept_on(struct loop *l, struct control *ctl, int lfd, bool tcp)
{
	for (int i = 0; i < 64; i++) {
		struct ucred cred = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
		socklen_t len = sizeof(cred);
		struct conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

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
		if ((!tcp && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) ||
		    !make_room(ctl, cred.uid)) {
			close(fd);
			continue;
		}
		c = xcalloc(1, sizeof(*c));
		c->ctl = ctl;
		c->tcp = tcp;
		c->uid = cred.uid;
		c->gid = cred.gid;
		c->pid = cred.pid;
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
		loop_timer_start(l, &c->deadline, CONTROL_REQUEST_TIMEOUT_NS, on_deadline);
	}
}

static void on_accept(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct control *ctl = container_of(w, struct control, lw);

	(void)revents;
	accept_on(l, ctl, ctl->lfd, false);
}

static void on_accept_tcp(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct control *ctl = container_of(w, struct control, tw);

	(void)revents;
	accept_on(l, ctl, ctl->tfd, true);
}

int control_listen_tcp(struct control *ctl, const char *host, int port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *res = NULL;
	char portstr[16];
	int fd, one = 1, r;

	snprintf(portstr, sizeof(portstr), "%d", port);
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0 || !res)
		return -EADDRNOTAVAIL;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		r = -errno;
		freeaddrinfo(res);
		return r;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		close(fd);
		freeaddrinfo(res);
		return r;
	}
	freeaddrinfo(res);
	ctl->tfd = fd;
	ctl->tw = (struct io_watch)IO_WATCH_INIT;
	r = loop_io_add(ctl->loop, &ctl->tw, fd, EPOLLIN, on_accept_tcp);
	if (r < 0) {
		close(fd);
		ctl->tfd = -1;
	}
	return r;
}

/* Is a daemon answering on path?  (connect succeeds) */
static bool socket_alive(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return alive;
}

static void control_free(struct control *ctl)
{
	free(ctl->path);
	free(ctl->lockpath);
	free(ctl->user);
	free(ctl->password);
	free(ctl);
}

int control_open(struct control **ret, struct loop *l, const char *path, mode_t mode,
		 request_handler *handler, void *ctx)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *ctl;
	struct stat st;
	mode_t old;
	int r;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	ctl = xcalloc(1, sizeof(*ctl));
	ctl->loop = l;
	ctl->lfd = ctl->lockfd = ctl->spare_fd = ctl->tfd = -1;
	ctl->path = xstrdup(path);
	ctl->lockpath = xasprintf("%s.lock", path);
	ctl->handler = handler;
	ctl->handler_ctx = ctx;
	ctl->lw = (struct io_watch)IO_WATCH_INIT;
	ctl->settings = (http_parser_settings){
		.on_message_begin = on_message_begin,
		.on_url = on_url,
		.on_header_field = on_header_field,
		.on_header_value = on_header_value,
		.on_headers_complete = on_headers_complete,
		.on_body = on_body,
		.on_message_complete = on_message_complete,
	};

	/* one daemon per socket: hold a lock, and never steal a live socket */
	ctl->lockfd = open(ctl->lockpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (ctl->lockfd < 0) {
		r = -errno;
		goto out_free;
	}
	if (flock(ctl->lockfd, LOCK_EX | LOCK_NB) < 0 || socket_alive(path)) {
		r = -EADDRINUSE;
		goto out_free;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			r = -EEXIST;
			goto out_free;
		}
		unlink(path);
	}
	ctl->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctl->lfd < 0) {
		r = -errno;
		goto out_free;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	old = umask(0177); /* no window in which the socket is more open than 0600 */
	r = bind(ctl->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0) {
		r = -errno;
		goto out_free;
	}
	if (chmod(path, mode) < 0 || listen(ctl->lfd, 128) < 0) {
		r = -errno;
		unlink(path);
		goto out_free;
	}
	ctl->sock_gid = stat(path, &st) == 0 ? st.st_gid : getegid();
	ctl->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = loop_io_add(l, &ctl->lw, ctl->lfd, EPOLLIN, on_accept);
	if (r < 0) {
		unlink(path);
		goto out_free;
	}
	*ret = ctl;
	return 0;

out_free:
	if (ctl->lfd >= 0)
		close(ctl->lfd);
	if (ctl->lockfd >= 0)
		close(ctl->lockfd);
	control_free(ctl);
	return r;
}

int control_chown(struct control *ctl, uid_t uid, gid_t gid)
{
	if (chown(ctl->path, uid, gid) < 0)
		return -errno;
	ctl->chowned = true;
	ctl->owner_uid = uid;
	ctl->sock_gid = gid;
	return 0;
}

void control_close(struct control *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns) {
		struct conn *c = ctl->conns;

		conn_close(c);
		/* outside any iteration: nothing can still refer to it, free it now */
		loop_undefer(ctl->loop, &c->free_later);
		free_conn(ctl->loop, &c->free_later);
	}
	if (ctl->tfd >= 0) {
		loop_io_del(ctl->loop, &ctl->tw);
		close(ctl->tfd);
	}
	if (ctl->lfd >= 0) {
		loop_io_del(ctl->loop, &ctl->lw);
		close(ctl->lfd);
		unlink(ctl->path);
	}
	if (ctl->spare_fd >= 0)
		close(ctl->spare_fd);
	if (ctl->lockfd >= 0) {
		unlink(ctl->lockpath);
		close(ctl->lockfd);
	}
	control_free(ctl);
}

size_t control_nconns(const struct control *ctl)
{
	return ctl->nconns;
}
