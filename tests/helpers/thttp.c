/*
 * thttp: a tiny prefork-style HTTP worker for the pool tests.  It accepts on
 * fd 3, the socket tend passes (LISTEN_FDS=1, LISTEN_PID = its own pid,
 * LISTEN_FDNAMES), and answers every request with its pid.
 *
 *   thttp [ready-after SECONDS] [notify] [TAG]
 *     ready-after S   GET /health answers 503 for the first S seconds, then 200
 *                     (every other path answers 200 at once)
 *     notify          send READY=1 to $NOTIFY_SOCKET once ready
 *   SIGTERM: stop accepting, finish the request in hand, exit 0 (a graceful worker).
 * Exits 3 when the socket-activation variables are missing or wrong.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;

static void on_term(int sig)
{
	(void)sig;
	stopping = 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, strlen(path));
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0) {
		sendto(fd, "STATUS=serving\nREADY=1\n", 23, 0, (struct sockaddr *)&sa, len);
		close(fd);
	}
}

int main(int argc, char **argv)
{
	const char *fds = getenv("LISTEN_FDS"), *lpid = getenv("LISTEN_PID"), *names = getenv("LISTEN_FDNAMES");
	double ready_after = 0, t0 = now();
	int notify = 0, notified = 0;
	struct sigaction sa = { .sa_handler = on_term };

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "ready-after") == 0 && i + 1 < argc)
			ready_after = atof(argv[++i]);
		else if (strcmp(argv[i], "notify") == 0)
			notify = 1;
	}
	if (!fds || strcmp(fds, "1") != 0 || !lpid || atoi(lpid) != (int)getpid() || !names || !*names) {
		fprintf(stderr, "thttp: LISTEN_FDS=%s LISTEN_PID=%s (pid %d) LISTEN_FDNAMES=%s\n", fds ? fds : "-",
			lpid ? lpid : "-", (int)getpid(), names ? names : "-");
		return 3;
	}
	sigaction(SIGTERM, &sa, NULL); /* no SA_RESTART: accept() returns EINTR */
	printf("thttp %d listening on fd 3 (%s)\n", (int)getpid(), names);
	fflush(stdout);
	if (notify && ready_after <= 0) {
		notify_ready();
		notified = 1;
	}
	while (!stopping) {
		char req[2048], body[64], resp[256];
		int c, n, code;
		ssize_t r;
		int ready = now() - t0 >= ready_after;

		if (notify && ready && !notified) {
			notify_ready();
			notified = 1;
		}
		if (notify && !notified) {
			/* poll for readiness without blocking in accept() */
			struct timespec d = { 0, 20 * 1000 * 1000 };

			nanosleep(&d, NULL);
			continue;
		}
		c = accept(3, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("thttp: accept");
			return 1;
		}
		r = read(c, req, sizeof(req) - 1);
		if (r < 0)
			r = 0;
		req[r] = '\0';
		code = strncmp(req, "GET /health", 11) == 0 && now() - t0 < ready_after ? 503 : 200;
		n = snprintf(body, sizeof(body), "%d\n", (int)getpid());
		n = snprintf(resp, sizeof(resp), "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
			     code, code == 200 ? "OK" : "Service Unavailable", n, body);
		if (write(c, resp, (size_t)n) < 0)
			perror("thttp: write");
		close(c);
	}
	printf("thttp %d: SIGTERM, exiting\n", (int)getpid());
	return 0;
}
