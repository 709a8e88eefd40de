#include "cli/client.h"

#include <errno.h>
#include <limits.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

/*
 * One connection per request: connect, write the request, read until
 * http_parser says the response is complete (or the daemon closes), close.
 * The daemon is local and answers at once, so every call blocks.
 */
struct client {
	char *sock;
	struct sbuf resp;	/* the body of the last answer */
	http_parser parser;
	long status;
	bool complete;
	client_sink *sink;	/* where a 200 answer's body goes, or NULL: to resp */
	void *sink_ctx;
	bool sink_stopped;	/* the sink said stop (stdout closed): stop reading */
};

struct client *client_new(const char *socket_path)
{
	struct client *c = xcalloc(1, sizeof(*c));

	c->sock = xstrdup(socket_path);
	return c;
}

struct client *client_free(struct client *c)
{
	if (!c)
		return NULL;
	sbuf_done(&c->resp);
	free(c->sock);
	free(c);
	return NULL;
}

const char *client_socket(const struct client *c)
{
	return c->sock;
}

static int on_headers_complete(http_parser *p)
{
	struct client *c = p->data;

	c->status = p->status_code;
	/* room for the whole body at once (500 KB for status --json of 1000 programs) */
	if (!c->sink && p->content_length != ULLONG_MAX && p->content_length < (64ULL << 20)) {
		sbuf_grow(&c->resp, (size_t)p->content_length);
		mem_populate(c->resp.s, c->resp.cap);
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct client *c = p->data;

	if (c->sink && c->status == 200) {
		if (c->sink(c->sink_ctx, at, len) < 0) {
			c->sink_stopped = true;
			return 1;
		}
		return 0;
	}
	sbuf_add(&c->resp, at, len);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct client *c = p->data;

	c->complete = true;
	return 0;
}

static const http_parser_settings settings = {
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* A connected stream socket to the daemon, or -errno. */
static int dial(const struct client *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(c->sock) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, c->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	do
		r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Send one request and read its answer through the parser.  Returns 0 once
 * an answer has a status (its body in c->resp, or given to the sink),
 * -errno when the daemon cannot be reached or the connection breaks first.
 */
static int transfer(struct client *c, const char *method, const char *path, const char *body)
{
	struct sbuf req = SBUF_INIT;
	char buf[65536];
	int fd, r;

	sbuf_reset(&c->resp);
	c->status = 0;
	c->complete = false;
	c->sink_stopped = false;
	fd = dial(c);
	if (fd < 0)
		return fd;
	sbuf_printf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n", method, path);
	if (body || strcmp(method, "POST") == 0)
		sbuf_printf(&req, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
			    body ? strlen(body) : 0);
	sbuf_add(&req, "\r\n", 2);
	if (body)
		sbuf_add(&req, body, strlen(body));
	r = send_all(fd, req.s, req.len);
	sbuf_done(&req);
	if (r < 0)
		goto out;
	http_parser_init(&c->parser, HTTP_RESPONSE);
	c->parser.data = c;
	while (!c->complete && !c->sink_stopped) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		/* n == 0 tells the parser the connection ended (a body up to EOF) */
		http_parser_execute(&c->parser, &settings, buf, (size_t)n);
		if (n == 0 || HTTP_PARSER_ERRNO(&c->parser) != HPE_OK)
			break; /* the end, a broken answer, or stdout closed */
	}
	r = c->status ? 0 : -ECONNRESET;
out:
	close(fd);
	return r;
}

int client_call(struct client *c, const char *method, const char *path, const char *body,
		long *ret_status, json_t **ret_json)
{
	const char *text;
	size_t len;
	int r = client_call_raw(c, method, path, body, ret_status, &text, &len);

	if (r < 0)
		return r;
	*ret_json = len ? json_loadb(text, len, 0, NULL) : NULL;
	return 0;
}

int client_call_raw(struct client *c, const char *method, const char *path, const char *body,
		    long *ret_status, const char **ret_body, size_t *ret_len)
{
	int r;

	c->sink = NULL;
	r = transfer(c, method, path, body);
	if (r < 0)
		return r;
	*ret_status = c->status;
	*ret_body = c->resp.s ? c->resp.s : "";
	*ret_len = c->resp.len;
	return 0;
}

int client_get_sink(struct client *c, const char *path, client_sink *sink, void *ctx, long *ret_status,
		    json_t **ret_json)
{
	int r;

	c->sink = sink;
	c->sink_ctx = ctx;
	r = transfer(c, "GET", path, NULL);
	c->sink = NULL;
	*ret_json = NULL;
	if (r < 0)
		return r;
	*ret_status = c->status;
	if (c->status != 200 && c->resp.len)
		*ret_json = json_loadb(c->resp.s, c->resp.len, 0, NULL);
	return 0;
}

static int to_stdout(void *ctx, const char *at, size_t len)
{
	(void)ctx;
	/* tail -f | head: a failed write stops the command */
	return fwrite(at, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
}

int client_stream(struct client *c, const char *path, long *ret_status, json_t **ret_json)
{
	return client_get_sink(c, path, to_stdout, NULL, ret_status, ret_json);
}

int client_report_unreachable(const struct client *c, int err)
{
	if (err == -EACCES || err == -EPERM) {
		fprintf(stderr, "tend: permission denied on %s\n", c->sock);
		return EXIT_REFUSED;
	}
	if (err == -ENOENT || err == -ECONNREFUSED)
		fprintf(stderr, "tend: no tend daemon is running on %s (start one with 'tend up')\n",
			c->sock);
	else
		fprintf(stderr, "tend: cannot reach tend on %s: %s\n", c->sock, strerror(-err));
	return EXIT_UNREACHABLE;
}

char *client_escape(const char *s)
{
	struct sbuf b = SBUF_INIT;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-_.~:*@", *p))
			sbuf_addc(&b, (char)*p);
		else
			sbuf_printf(&b, "%%%02X", *p);
	}
	return sbuf_take(&b);
}
