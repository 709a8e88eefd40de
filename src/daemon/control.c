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
#include <arpa/inet.h>
#include <malloc.h>
#include <netdb.h>
#include <strings.h>
#include <ctype.h>
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
	bool reserve;          /* beyond its client's quota: public routes only, then closed */
	bool heavy_queued;     /* a large request waiting its turn (dispatch_fair) */
	struct conn *heavy_next;
	char peer[INET6_ADDRSTRLEN]; /* TCP: the client's address; "" on the unix socket */
	struct sbuf out;
	size_t out_off;
	size_t preparing;      /* an answer being built over several iterations (conn_preparing) */
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
	bool anonymous_read;   /* without credentials configured, TCP clients may read logs */
	char *tcp_host;        /* the listener's host as configured, and its port */
	int tcp_port;
	char hostname[256];    /* this machine's name, also a good Host */
	struct login_bucket {  /* failed logins per TCP address (the least recently seen goes) */
		char peer[INET6_ADDRSTRLEN];
		double tokens;     /* failures still allowed now */
		int64_t at;        /* when tokens was computed */
	} logins[64];
	request_handler *handler;
	void *handler_ctx;
	struct conn *conns;
	size_t nconns;
	struct conn *heavy;    /* large requests waiting their turn, oldest first */
	size_t heavy_bytes;    /* their bodies */
	struct deferred heavy_later;
	struct deferred trim_later; /* give freed memory back to the system (want_trim) */
	http_parser_settings settings;
};

static void conn_close(struct conn *c);
static void conn_process(struct conn *c);
static void conn_flush(struct conn *c);

static void trim_now(struct loop *l, struct deferred *d)
{
	(void)l;
	(void)d;
	malloc_trim(0);
}

/*
 * A large answer or request was freed: give the memory back to the system
 * at the end of this loop iteration (once, however many were freed), so an
 * attack's peak does not stay in tend's RSS.
 */
static void want_trim(struct control *ctl)
{
	loop_defer(ctl->loop, &ctl->trim_later, trim_now);
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

void conn_reply_headers(struct conn *c, int status, const char *content_type, const char *headers,
			const char *body, size_t len)
{
	bool close_it = c->close_after || !c->keep_alive || c->peer_eof || status >= 400 ||
			c->ctl->lfd < 0;

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
	c->in_flight = false;
	c->cancel = NULL;
	c->cancel_ctx = NULL;
	c->preparing = 0;
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

/* The same client: one TCP address, or one uid on the unix socket. */
static bool same_client(const struct conn *c, bool tcp, uid_t uid, const char *peer)
{
	return c->tcp == tcp && (tcp ? strcmp(c->peer, peer) == 0 : c->uid == uid);
}

/* tend's owner and root on the unix socket: no per-client limit. */
static bool privileged(bool tcp, uid_t uid)
{
	return !tcp && (uid == 0 || uid == geteuid());
}

bool conn_may_stream(const struct conn *c)
{
	size_t all = 0, mine = 0;

	for (const struct conn *o = c->ctl->conns; o; o = o->next) {
		if (!o->streaming)
			continue;
		all++;
		mine += same_client(o, c->tcp, c->uid, c->peer);
	}
	if (privileged(c->tcp, c->uid))
		return true;
	return all < CONTROL_MAX_STREAMS && mine < CONTROL_MAX_STREAMS_PER_CLIENT;
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
		char want[2 * EVP_MAX_MD_SIZE + 1];
		size_t wlen = strlen(ctl->password + 5);

		if (!EVP_Digest(pw, pwlen, md, &mdlen, EVP_sha1(), NULL) || wlen >= sizeof(want))
			return false;
		for (unsigned i = 0; i < mdlen; i++)
			snprintf(hex + 2 * i, 3, "%02x", md[i]);
		/* the configured digest in lower case, then compared in constant time */
		for (size_t i = 0; i <= wlen; i++)
			want[i] = (char)tolower((unsigned char)ctl->password[5 + i]);
		ok &= same_secret(hex, 2 * mdlen, want, wlen);
	} else {
		ok &= same_secret(pw, pwlen, ctl->password, strlen(ctl->password));
	}
	explicit_bzero(raw, sizeof(raw));
	return ok;
}

/* ---- failed logins, per TCP address: a token bucket each ---------------------- */

static struct login_bucket *login_find(struct control *ctl, const char *peer, bool create)
{
	struct login_bucket *b = NULL, *oldest = &ctl->logins[0];
	int64_t now = mono_ns();

	for (size_t i = 0; i < ARRAY_SIZE(ctl->logins) && !b; i++) {
		if (ctl->logins[i].peer[0] && strcmp(ctl->logins[i].peer, peer) == 0)
			b = &ctl->logins[i];
		else if (ctl->logins[i].at < oldest->at)
			oldest = &ctl->logins[i];
	}
	if (!b && !create)
		return NULL;
	if (!b) {
		b = oldest; /* the least recently seen address forgets its failures */
		snprintf(b->peer, sizeof(b->peer), "%s", peer);
		b->tokens = CONTROL_LOGIN_BURST;
		b->at = now;
	}
	b->tokens += (double)(now - b->at) / (double)CONTROL_LOGIN_REFILL_NS;
	if (b->tokens > CONTROL_LOGIN_BURST)
		b->tokens = CONTROL_LOGIN_BURST;
	b->at = now;
	return b;
}

/* Has peer used up its failed logins?  Then no login is tried until one more is allowed. */
static bool login_blocked(struct control *ctl, const char *peer)
{
	struct login_bucket *b = login_find(ctl, peer, false);

	return b && b->tokens < 1;
}

static void login_failed(struct control *ctl, const char *peer)
{
	struct login_bucket *b = login_find(ctl, peer, true);

	b->tokens -= 1;
	if (b->tokens < 1)
		log_warn("control: %s made %d failed logins in a row: its logins are refused for %d s",
			 peer, CONTROL_LOGIN_BURST, (int)(CONTROL_LOGIN_REFILL_NS / NSEC_PER_SEC));
}

bool control_host_ok(const char *host, const char *bound_host, int port, const char *hostname)
{
	char name[256], buf[sizeof(struct in6_addr)];
	const char *hport = NULL, *end;
	size_t n, hn = hostname ? strcspn(hostname, ".") : 0;

	if (!host)
		return true;
	if (host[0] == '[') {
		end = strchr(host, ']');
		if (!end || (end[1] && end[1] != ':'))
			return false;
		n = (size_t)(end - host - 1);
		hport = end[1] ? end + 2 : NULL;
		if (n >= sizeof(name))
			return false;
		memcpy(name, host + 1, n);
		name[n] = '\0';
		if (inet_pton(AF_INET6, name, buf) != 1)
			return false;
	} else {
		end = strrchr(host, ':');
		n = end ? (size_t)(end - host) : strlen(host);
		hport = end ? end + 1 : NULL;
		if (n == 0 || n >= sizeof(name))
			return false;
		memcpy(name, host, n);
		name[n] = '\0';
	}
	if (hport) {
		char *e;
		long p;

		if (*hport < '0' || *hport > '9')
			return false;
		errno = 0;
		p = strtol(hport, &e, 10);
		if (*e || errno || p != port)
			return false;
	}
	return host[0] == '[' || inet_pton(AF_INET, name, buf) == 1 || strcasecmp(name, "localhost") == 0 ||
	       (bound_host && strcasecmp(name, bound_host) == 0) ||
	       (hostname && hostname[0] && strcasecmp(name, hostname) == 0) ||
	       (hn && strlen(name) == hn && strncasecmp(name, hostname, hn) == 0);
}

void control_set_anonymous_read(struct control *ctl, bool on)
{
	ctl->anonymous_read = on;
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
	if (!c->tcp) {
		req.may_write = c->uid == 0 || c->uid == geteuid() ||
				(c->ctl->chowned && (c->uid == c->ctl->owner_uid || peer_in_group(c, c->ctl->sock_gid)));
		req.may_read = req.may_write || c->gid == c->ctl->sock_gid;
		req.may_status = req.may_read;
	} else {
		req.wrong_host = !control_host_ok(req.host, c->ctl->tcp_host, c->ctl->tcp_port, c->ctl->hostname);
		if (c->ctl->user) {
			/* credentials configured: they give every right, their absence none */
			if (req.authorization && login_blocked(c->ctl, c->peer)) {
				req.login_blocked = true;
			} else {
				req.may_read = req.may_write = basic_auth_ok(c->ctl, req.authorization);
				if (!req.may_read && req.authorization)
					login_failed(c->ctl, c->peer);
			}
			req.may_status = req.may_read;
			req.need_auth = !req.may_read;
		} else {
			/* no credentials configured: status over TCP, logs only if the config says so */
			req.may_status = true;
			req.may_read = c->ctl->anonymous_read;
		}
	}
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

static void conn_close(struct conn *c)
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

static bool conn_idle(const struct conn *c)
{
	return !c->in_flight && !c->complete && c->in.len == 0 && c->parser.nread == 0 &&
	       c->out.len == 0;
}

/*
 * Room for one more connection from a client (a TCP address, or a uid on
 * the unix socket)?  1: a normal slot; 0: a slot of the reserve (public
 * routes only); -1: none.  A client other than tend's owner and root may
 * hold CONTROL_MAX_PER_CLIENT connections.  At the limit, the oldest idle
 * connection (nothing sent yet, nothing owed) of that client (any, for the
 * owner and root) makes way, so idle sockets can never lock the CLI out.
 * Beyond it the reserve takes the connection, so a health check never
 * starves: when the reserve is full its oldest connection goes.
 */
static int admit(struct control *ctl, bool tcp, uid_t uid, const char *peer)
{
	struct conn *oldest = NULL, *oldest_reserve = NULL;
	size_t mine = 0, nreserve = 0;
	bool priv = privileged(tcp, uid);

	for (struct conn *c = ctl->conns; c; c = c->next) {
		if (c->reserve) {
			nreserve++;
			oldest_reserve = c; /* the list is newest first: the last match is the oldest */
			continue;
		}
		mine += same_client(c, tcp, uid, peer);
	}
	if (priv || mine < CONTROL_MAX_PER_CLIENT) {
		if (ctl->nconns - nreserve < CONTROL_MAX_CONNS)
			return 1;
		for (struct conn *c = ctl->conns; c; c = c->next)
			if (!c->reserve && conn_idle(c) && (priv || same_client(c, tcp, uid, peer)))
				oldest = c;
		if (oldest) {
			conn_close(oldest);
			return 1;
		}
	} else {
		/* at its quota: its own oldest idle connection makes way */
		for (struct conn *c = ctl->conns; c; c = c->next)
			if (!c->reserve && conn_idle(c) && same_client(c, tcp, uid, peer))
				oldest = c;
		if (oldest) {
			conn_close(oldest);
			return 1;
		}
	}
	if (nreserve < CONTROL_RESERVE)
		return 0;
	if (!oldest_reserve)
		return -1;
	conn_close(oldest_reserve);
	return 0;
}

static void accept_on(struct loop *l, struct control *ctl, int lfd, bool tcp)
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
		    (slot = admit(ctl, tcp, cred.uid, peer)) < 0) {
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
	free(ctl->tcp_host);
	ctl->tcp_host = xstrdup(host);
	ctl->tcp_port = port;
	if (gethostname(ctl->hostname, sizeof(ctl->hostname) - 1) < 0)
		ctl->hostname[0] = '\0';
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

/*
 * The lock file next to the socket (one daemon per socket): created
 * O_EXCL 0600; an existing one is used if it is tend's (a regular file of
 * tend's user with one link and no other writer).  One that is not (another
 * user planted it, perhaps to hold a lock on it and keep tend from
 * starting) never belongs to a tend of ours: unless a daemon answers on the
 * socket, it is removed and made again.  Returns the fd or -errno.
 */
static int open_lock(const char *lockpath, const char *sockpath)
{
	for (int tries = 0; tries < 3; tries++) {
		int fd = open(lockpath, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
		struct stat st;

		if (fd >= 0 || errno != EEXIST)
			return fd >= 0 ? fd : -errno;
		fd = open(lockpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0 && errno == ENOENT)
			continue;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
		    st.st_nlink == 1 && !(st.st_mode & 0022))
			return fd; /* ours, from an earlier run: flock works on it read-only */
		if (fd >= 0)
			close(fd);
		if (socket_alive(sockpath))
			return -EADDRINUSE;
		log_warn("control: %s is not tend's (another user's, a link, or writable by others): replacing it",
			 lockpath);
		if (unlink(lockpath) < 0) {
			int e = errno;

			log_crit("control: cannot remove %s, which is not tend's: %s", lockpath, strerror(e));
			return -EPERM;
		}
	}
	return -EEXIST;
}

static void control_free(struct control *ctl)
{
	free(ctl->path);
	free(ctl->lockpath);
	free(ctl->user);
	free(ctl->password);
	free(ctl->tcp_host);
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
	ctl->heavy_later = (struct deferred)DEFERRED_INIT;
	ctl->trim_later = (struct deferred)DEFERRED_INIT;
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
	ctl->lockfd = open_lock(ctl->lockpath, path);
	if (ctl->lockfd < 0) {
		r = ctl->lockfd;
		goto out_free;
	}
	if (flock(ctl->lockfd, LOCK_EX | LOCK_NB) < 0 || socket_alive(path)) {
		if (lstat(path, &st) == 0 && st.st_uid != geteuid())
			log_crit("control: a socket of uid %u answers at %s: not tend's", (unsigned)st.st_uid, path);
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
	loop_undefer(ctl->loop, &ctl->heavy_later);
	loop_undefer(ctl->loop, &ctl->trim_later);
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

struct loop *conn_loop(const struct conn *c)
{
	return c->ctl->loop;
}

size_t control_nconns(const struct control *ctl)
{
	return ctl->nconns;
}
