#include "daemon/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static int log_fd = -1;
static unsigned long long log_size, log_maxbytes;
static int log_backups;
static bool log_stderr = true;
static int log_level = LOG_INFO;
static char *log_path;
static void (*log_tap)(void *ctx, const char *line, size_t len);
static void *log_tap_ctx;
static bool in_tap;
static mode_t file_mode = 0600;
static char open_why[160];

const char *log_open_why(void)
{
	return open_why;
}

void log_set_file_mode(mode_t mode)
{
	file_mode = mode;
}

int log_open(const char *path, bool to_stderr, int level)
{
	struct stat st;
	int fd;

	log_stderr = to_stderr;
	log_level = level;
	/* container configs log to the standard streams or nowhere (supervisord accepts these) */
	if (!path || strcmp(path, "/dev/null") == 0)
		return 0;
	if (strcmp(path, "/dev/stdout") == 0 || strcmp(path, "/dev/fd/1") == 0 ||
	    strcmp(path, "/dev/stderr") == 0 || strcmp(path, "/dev/fd/2") == 0) {
		bool out = strstr(path, "out") || path[strlen(path) - 1] == '1';

		if (!out && to_stderr)
			return 0;
		/* the log is on a standard stream already: never twice (a container's stdout) */
		log_stderr = false;
		fd = fcntl(out ? STDOUT_FILENO : STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
		if (log_fd >= 0)
			close(log_fd);
		log_fd = fd;
		return 0;
	}
	fd = open_owned(path, O_WRONLY | O_APPEND | O_NONBLOCK, file_mode, open_why, sizeof(open_why));
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(open_why, sizeof(open_why), "is not a regular file (refused)");
		return -EINVAL;
	}
	fd_set_nonblock(fd, false);
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	log_size = (unsigned long long)st.st_size;
	if (path != log_path) {
		free(log_path);
		log_path = xstrdup(path);
	}
	return 0;
}

static int syslog_fd = -1;

static int syslog_connect(void)
{
	const char *path = getenv("TEND_SYSLOG_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (!path || !*path)
		path = "/dev/log";
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	syslog_fd = fd;
	return 0;
}

int log_syslog(const char *line, size_t len)
{
	char head[64];
	struct iovec iov[2];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	time_t now = time(NULL);
	struct tm tm;
	size_t n;
	int r;

	localtime_r(&now, &tm);
	n = strftime(head, sizeof(head), "<14>%b %e %H:%M:%S ", &tm);
	n += (size_t)snprintf(head + n, sizeof(head) - n, "tend[%d]: ", (int)getpid());
	iov[0] = (struct iovec){ head, n };
	iov[1] = (struct iovec){ (void *)line, len };
	for (int attempt = 0; attempt < 2; attempt++) {
		if (syslog_fd < 0 && (r = syslog_connect()) < 0)
			return r;
		if (sendmsg(syslog_fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) >= 0)
			return 0;
		r = -errno;
		if (r == -EAGAIN)
			return r; /* full: dropped, never blocking the daemon */
		/* the syslog daemon restarted: connect again once */
		close(syslog_fd);
		syslog_fd = -1;
	}
	return r;
}

void log_reopen(void)
{
	if (log_path)
		log_open(log_path, log_stderr, log_level);
}

void log_close(void)
{
	if (syslog_fd >= 0)
		close(syslog_fd);
	syslog_fd = -1;
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	free(log_path);
	log_path = NULL;
}

void log_set_rotation(unsigned long long maxbytes, int backups)
{
	log_maxbytes = maxbytes;
	log_backups = backups;
}

/* logfile_maxbytes reached: FILE -> FILE.1 -> ... FILE.N (or truncate when no backups), a new FILE. */
static void rotate(void)
{
	char *from, *to;

	if (!log_path)
		return;
	if (log_backups == 0) {
		if (ftruncate(log_fd, 0) == 0)
			log_size = 0;
		return;
	}
	for (int i = log_backups - 1; i >= 1; i--) {
		from = xasprintf("%s.%d", log_path, i);
		to = xasprintf("%s.%d", log_path, i + 1);
		rename(from, to);
		free(from);
		free(to);
	}
	to = xasprintf("%s.1", log_path);
	rename(log_path, to);
	free(to);
	log_open(log_path, log_stderr, log_level);
}

void log_set_stderr(bool on)
{
	log_stderr = on;
}

void log_set_level(int level)
{
	log_level = level;
}

static const char *level_name(int level)
{
	switch (level) {
	case LOG_CRIT:
		return "CRIT";
	case LOG_ERR:
		return "ERRO";
	case LOG_WARNING:
		return "WARN";
	case LOG_INFO:
		return "INFO";
	default:
		return "DEBG";
	}
}

void log_msg(int level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	n = (int)strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ",%03ld %s ", ts.tv_nsec / 1000000,
		      level_name(level));
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		return;
	n += m;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	/* a log write that fails (disk full, closed stderr) must not stop the daemon */
	if (log_stderr)
		(void)!write(STDERR_FILENO, line, (size_t)n);
	if (log_fd >= 0 && write(log_fd, line, (size_t)n) > 0 && log_path) {
		log_size += (unsigned long long)n;
		if (log_maxbytes && log_size >= log_maxbytes)
			rotate();
	}
	if (log_tap && !in_tap) {
		in_tap = true; /* a tap that logs must not recurse */
		log_tap(log_tap_ctx, line, (size_t)n);
		in_tap = false;
	}
}

void log_set_tap(void (*tap)(void *ctx, const char *line, size_t len), void *ctx)
{
	log_tap = tap;
	log_tap_ctx = ctx;
}
