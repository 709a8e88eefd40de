/*
 * Fuzz the control socket's request handling end to end: the real
 * control.c on a real unix socket and loop, the input written by a client in
 * pieces of at most 143 bytes (systemd's fuzz-varlink trick: broken-up reads
 * on the other side), then a half-close.  The server must answer or close,
 * never crash, hang or leak.  The Host header also goes through the TCP
 * listener's check (control_host_ok).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/control.h"
#include "daemon/loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct loop loop;
static struct control *ctl;
static char sock_path[108];

static void handler(void *ctx, struct conn *c, const struct request *req)
{
	/* echo what was parsed, so every field is read */
	struct sbuf b = SBUF_INIT;

	(void)ctx;
	sbuf_printf(&b, "%s %s ? %s body %zu uid %u host %d", req->method, req->path, req->query, req->body_len,
		    (unsigned)req->uid, (int)control_host_ok(req->host, "tend.internal", 9001, "box.example.org"));
	conn_reply(c, strcmp(req->path, "/err") == 0 ? 404 : 200, "text/plain", b.s, b.len);
	sbuf_done(&b);
}

static void cleanup(void)
{
	control_close(ctl);
	loop_done(&loop);
}

static int init(void)
{
	sigset_t none;

	sigemptyset(&none);
	if (loop_init(&loop, &none, NULL, NULL) < 0)
		return -1;
	snprintf(sock_path, sizeof(sock_path), "/tmp/tend-fuzz-http-%d.sock", (int)getpid());
	if (control_open(&ctl, &loop, sock_path, 0600, handler, NULL) < 0)
		return -1;
	atexit(cleanup);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t off = 0;
	int fd, idle = 0;
	bool eof = false;
	char buf[4096];

	if (!ready) {
		if (init() < 0)
			abort();
		ready = 1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		abort();
	while (!eof && idle < 200) {
		bool progress = false;
		ssize_t n;

		if (off < size) {
			size_t piece = MIN(size - off, (size_t)143);

			n = send(fd, data + off, piece, MSG_NOSIGNAL);
			if (n > 0) {
				off += (size_t)n;
				progress = true;
				if (off == size)
					shutdown(fd, SHUT_WR);
			} else if (n < 0 && errno != EAGAIN) {
				off = size; /* the server closed on us */
			}
		} else if (size == 0 && off == 0) {
			shutdown(fd, SHUT_WR);
			off = 1;
		}
		loop_run_once(&loop, false);
		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			progress = true;
		if (n == 0 || (n < 0 && errno != EAGAIN))
			eof = true;
		idle = progress ? 0 : idle + 1;
	}
	close(fd);
	/* let the server notice the close and free the connection */
	for (int i = 0; i < 4; i++)
		loop_run_once(&loop, false);
	return 0;
}
