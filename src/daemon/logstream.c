#include "daemon/logstream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "daemon/log.h"

/* How often a file's path is checked against the open file (deleted, renamed). */
#define CHECK_INTERVAL_NS (1 * NSEC_PER_SEC)
/* How long a failed destination waits before the next attempt. */
#define RETRY_INTERVAL_NS (1 * NSEC_PER_SEC)
/*
 * A stream that fills its pipe grows it to this (bigger moves, fewer
 * wake-ups: a flooding program's relay rate rises by half); quiet streams
 * keep the kernel's 64 KiB, since unprivileged users have a budget of pipe
 * memory shared with their programs' own pipes.  The default stays if refused.
 */
#define PIPE_BIG (1024 * 1024)
#define SPLICE_MAX PIPE_BIG
/* Most tail reads from a file. */
#define TAIL_MAX (1024 * 1024)

struct log_follower {
	struct log_follower *next;
	log_follow_cb *cb;
	void *ctx;
};

struct logstream {
	struct loop *loop;
	char *name;
	char *prefix;          /* "name | " */
	char *prefix_cont;     /* "name |+ " */
	struct io_watch w;
	int rfd;
	int wfd;

	/* the file, when there is one */
	char *path;
	int fd;                /* -1: not open (error, no file, or not yet: unopened) */
	bool unopened;         /* lazy, and nothing written yet: no file made */
	size_t rename_at;      /* > 0: a new file at its first open, another name if taken */
	void (*renamed)(void *ctx, const char *path);
	void *renamed_ctx;
	uint64_t size;
	dev_t dev;
	ino_t ino;
	int64_t next_check;
	int64_t retry_at;
	char *error;
	uint64_t maxbytes;
	int backups;
	mode_t mode;           /* of a file tend creates */
	enum log_period period;
	struct timer rotate_timer;

	enum log_sink sink;    /* without a file */
	bool strip;            /* strip_ansi: the state, and where the stripped bytes go */
	int ansi;
	char *stripped;
	/* tend's stdout with a prefix */
	struct sbuf partial;   /* the line being assembled */
	bool continued;        /* the previous piece was cut: mark the next one */
	struct sbuf out;       /* reused output buffer */

	char *ring;            /* LOG_RING_SIZE bytes, allocated on first use */
	size_t ring_pos;       /* next write position */
	size_t ring_len;

	struct log_follower *followers;
	uint64_t bytes;
	uint64_t dropped;
	uint64_t rotations;
	bool grown;            /* the pipe was made PIPE_BIG */
};

static void set_error(struct logstream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_error(struct logstream *s, const char *fmt, ...)
{
	struct sbuf b = SBUF_INIT;
	va_list ap;
	bool first = !s->error;

	va_start(ap, fmt);
	sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* one message per episode, not one per write */
	if (first || strcmp(s->error, b.s) != 0)
		log_warn("%s: log %s: %s; output is dropped until it works again", s->name, s->path,
			 b.s);
	free(s->error);
	s->error = sbuf_take(&b);
	s->retry_at = mono_ns() + RETRY_INTERVAL_NS;
}

static void clear_error(struct logstream *s)
{
	if (s->error)
		log_info("%s: log %s works again (%llu bytes were dropped)", s->name, s->path,
			 (unsigned long long)s->dropped);
	free(s->error);
	s->error = NULL;
}

/*
 * The first open of an AUTO file: a new file or nothing.  Whatever is at the
 * name (planted by somebody who learned it before the program's first
 * output: a symlink, a file) is left alone and another name is drawn.
 */
static int create_new(struct logstream *s, char *why, size_t whylen)
{
	for (int tries = 0; tries < 8; tries++) {
		int fd = open(s->path, O_WRONLY | O_NONBLOCK | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, s->mode);

		if (fd >= 0)
			return fd;
		if (errno != EEXIST) {
			int e = errno;

			snprintf(why, whylen, "%s", strerror(e));
			return -e;
		}
		log_warn("%s: log %s: the name is taken by a file tend did not make; left alone, drawing another",
			 s->name, s->path);
		random_name_chars(s->path + s->rename_at, 6);
		if (s->renamed)
			s->renamed(s->renamed_ctx, s->path);
	}
	snprintf(why, whylen, "no free name after 8 tries");
	return -EEXIST;
}

/*
 * Open the file: appended, never through a symlink, regular files (or
 * /dev/null) only, never one another user planted (open_owned).
 */
static int open_file(struct logstream *s, bool truncate)
{
	struct stat st;
	int fd;

	/*
	 * Not O_APPEND: splice(2) refuses append-mode files.  tend is the file's
	 * only writer and moves to its end before every batch, which also follows
	 * a truncation from outside.
	 */
	char why[160];

	/* created 0600 (0640 with a group), an existing file only if it is ours (open_owned) */
	if (s->unopened && s->rename_at)
		fd = create_new(s, why, sizeof(why));
	else
		fd = open_owned(s->path, O_WRONLY | O_NONBLOCK | (truncate ? O_TRUNC : 0), s->mode, why, sizeof(why));
	if (fd < 0) {
		set_error(s, "%s", why);
		return fd;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		set_error(s, "%s", strerror(e));
		return -e;
	}
	fcntl(fd, F_SETFL, O_WRONLY);
	lseek(fd, 0, SEEK_END);
	s->fd = fd;
	s->unopened = false;
	s->size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->next_check = mono_ns() + CHECK_INTERVAL_NS;
	clear_error(s);
	return 0;
}

static void close_file(struct logstream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
}

/* Renames relative to the directory, opened without following a symlink. */
static int rename_in(int dirfd, const char *from, const char *to)
{
	if (renameat(dirfd, from, dirfd, to) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

static int do_rotate(struct logstream *s)
{
	char *dir, *base, *from, *to;
	const char *slash = strrchr(s->path, '/');
	int dirfd, r = 0;

	if (!s->path)
		return -ENOENT;
	if (s->unopened)
		return 0; /* no file yet: nothing to rotate */
	if (s->fd >= 0) {
		struct stat st;

		if (fstat(s->fd, &st) == 0 && !S_ISREG(st.st_mode))
			return 0; /* /dev/null */
	}
	dir = slash ? xstrndup(s->path, (size_t)(slash - s->path)) : xstrdup(".");
	base = xstrdup(slash ? slash + 1 : s->path);
	if (!*dir) {
		free(dir);
		dir = xstrdup("/");
	}
	close_file(s);
	if (s->backups <= 0) {
		/* no backups: start the file again (supervisord truncates) */
		r = open_file(s, true);
		goto out;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		set_error(s, "cannot rotate: %s: %s", dir, strerror(-r));
		goto out;
	}
	for (int i = s->backups - 1; i >= 1 && r == 0; i--) {
		from = xasprintf("%s.%d", base, i);
		to = xasprintf("%s.%d", base, i + 1);
		r = rename_in(dirfd, from, to);
		free(from);
		free(to);
	}
	to = xasprintf("%s.1", base);
	if (r == 0)
		r = rename_in(dirfd, base, to);
	free(to);
	close(dirfd);
	if (r < 0)
		set_error(s, "cannot rotate: %s", strerror(-r));
	r = open_file(s, false);
out:
	if (r == 0)
		s->rotations++;
	free(dir);
	free(base);
	return r;
}

/*
 * Once a second: is the path still our file?  A deleted or renamed file (an
 * external logrotate, a removed directory) is reopened, or retried later.
 */
static void check_file(struct logstream *s, int64_t now)
{
	struct stat st;

	if (s->fd < 0) {
		if (now >= s->retry_at)
			open_file(s, false);
		return;
	}
	if (now < s->next_check)
		return;
	s->next_check = now + CHECK_INTERVAL_NS;
	if (stat(s->path, &st) < 0 || st.st_dev != s->dev || st.st_ino != s->ino) {
		close_file(s);
		open_file(s, false);
	}
}

static void ring_add(struct logstream *s, const char *data, size_t n)
{
	if (!s->ring)
		s->ring = xmalloc(LOG_RING_SIZE);
	if (n >= LOG_RING_SIZE) {
		memcpy(s->ring, data + n - LOG_RING_SIZE, LOG_RING_SIZE);
		s->ring_pos = 0;
		s->ring_len = LOG_RING_SIZE;
		return;
	}
	while (n > 0) {
		size_t part = MIN(n, LOG_RING_SIZE - s->ring_pos);

		memcpy(s->ring + s->ring_pos, data, part);
		s->ring_pos = (s->ring_pos + part) % LOG_RING_SIZE;
		s->ring_len = MIN(s->ring_len + part, (size_t)LOG_RING_SIZE);
		data += part;
		n -= part;
	}
}

/* Write to the file, rotating at maxbytes; what cannot be written is counted. */
static void file_write(struct logstream *s, const char *data, size_t n)
{
	int64_t now = mono_ns();

	check_file(s, now);
	if (s->fd >= 0)
		s->size = (uint64_t)MAX(lseek(s->fd, 0, SEEK_END), (off_t)0);
	while (n > 0) {
		size_t part = n;
		ssize_t w;

		if (s->fd < 0) {
			s->dropped += n;
			return;
		}
		if (s->maxbytes && s->size + part > s->maxbytes && s->size < s->maxbytes)
			part = (size_t)(s->maxbytes - s->size);
		w = write(s->fd, data, part);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			set_error(s, "%s", strerror(errno));
			close_file(s);
			s->dropped += n;
			return;
		}
		s->size += (uint64_t)w;
		data += w;
		n -= (size_t)w;
		if (s->maxbytes && s->size >= s->maxbytes)
			do_rotate(s);
	}
}

/* tend's stdout: "name | line\n", long lines cut, later pieces "name |+ ". */
static void emit_piece(struct logstream *s, const char *a, size_t alen, const char *b, size_t blen)
{
	sbuf_adds(&s->out, s->continued ? s->prefix_cont : s->prefix);
	sbuf_add(&s->out, a, alen);
	sbuf_add(&s->out, b, blen);
	if (s->out.s[s->out.len - 1] != '\n')
		sbuf_addc(&s->out, '\n');
}

static void flush_out(struct logstream *s)
{
	if (s->out.len == 0)
		return;
	if (write_all(STDOUT_FILENO, s->out.s, s->out.len) < 0)
		s->dropped += s->out.len;
	sbuf_reset(&s->out);
}

static void prefix_write(struct logstream *s, const char *data, size_t n)
{
	const char *p = data, *end = data + n;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		if (!nl || s->partial.len + len > LOG_LINE_MAX) {
			size_t room = LOG_LINE_MAX - s->partial.len;

			if (len <= room && !nl) {
				sbuf_add(&s->partial, p, len);
				break;
			}
			/* too long: emit what fits as a cut piece */
			sbuf_add(&s->partial, p, MIN(len, room));
			emit_piece(s, s->partial.s, s->partial.len, "", 0);
			sbuf_reset(&s->partial);
			s->continued = true;
			p += MIN(len, room);
			continue;
		}
		emit_piece(s, s->partial.s ? s->partial.s : "", s->partial.len, p, len);
		sbuf_reset(&s->partial);
		s->continued = false;
		p += len;
		if (s->out.len >= 64 * 1024)
			flush_out(s);
	}
	flush_out(s);
}

static void deliver(struct logstream *s, const char *data, size_t n)
{
	s->bytes += n;
	ring_add(s, data, n);
	for (struct log_follower *f = s->followers; f; f = f->next)
		f->cb(f->ctx, data, n);
	if (s->path)
		file_write(s, data, n);
	else if (s->sink == LOGSINK_PREFIX)
		prefix_write(s, data, n);
	else if (s->sink != LOGSINK_NULL &&
		 write_all(s->sink == LOGSINK_STDOUT ? STDOUT_FILENO : STDERR_FILENO, data, n) < 0)
		s->dropped += n;
}

/* Move up to budget bytes; returns true when the pipe is empty. */
static bool pump(struct logstream *s, size_t budget)
{
	char buf[64 * 1024];
	size_t start_budget = budget;
	bool empty = false;

	if (s->fd >= 0)
		s->size = (uint64_t)MAX(lseek(s->fd, 0, SEEK_END), (off_t)0);
	while (budget > 0) {
		ssize_t n;

		/* the fast path: file to file in the kernel, when nobody reads along */
		if (s->path && s->fd >= 0 && !s->followers && !s->strip) {
			size_t chunk = MIN(budget, (size_t)SPLICE_MAX);
			int64_t now = mono_ns();

			if (now >= s->next_check) {
				check_file(s, now);
				if (s->fd < 0)
					continue;
			}
			if (s->maxbytes && s->size < s->maxbytes)
				chunk = (size_t)MIN((uint64_t)chunk, s->maxbytes - s->size);
			n = splice(s->rfd, NULL, s->fd, NULL, chunk, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n > 0) {
				s->bytes += (uint64_t)n;
				s->size += (uint64_t)n;
				budget -= MIN(budget, (size_t)n);
				if (s->maxbytes && s->size >= s->maxbytes)
					do_rotate(s);
				continue;
			}
			if (n == 0) {
				empty = true;
				break;
			}
			if (errno == EAGAIN) {
				/* EAGAIN is the pipe being empty, or the file refusing: check which */
				int avail = 0;

				if (ioctl(s->rfd, FIONREAD, &avail) == 0 && avail == 0) {
					empty = true;
					break;
				}
			}
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN) {
				set_error(s, "%s", strerror(errno));
				close_file(s);
			}
			/* fall through to reading, so the program is never blocked */
		}
		n = read(s->rfd, buf, MIN(sizeof(buf), budget));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			empty = true;
			break;
		}
		budget -= (size_t)n;
		if (s->strip) {
			size_t m = log_strip_ansi(&s->ansi, buf, (size_t)n, s->stripped);

			if (m)
				deliver(s, s->stripped, m);
			continue;
		}
		deliver(s, buf, (size_t)n);
	}
	/* a wake-up that found more than a default pipe's worth: this one floods */
	if (!s->grown && start_budget - budget >= 64 * 1024) {
		s->grown = true;
		fcntl(s->rfd, F_SETPIPE_SZ, PIPE_BIG);
	}
	return empty;
}

size_t log_strip_ansi(int *state, const char *data, size_t n, char *out)
{
	static const char terminators[] = "HfABCDRsuJKhlpm";
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = data[i];

		switch (*state) {
		case 0: /* text */
			if (c == '\x1b')
				*state = 1;
			else
				out[o++] = c;
			break;
		case 1: /* after ESC */
			if (c == '[') {
				*state = 2;
				break;
			}
			out[o++] = '\x1b';
			if (c != '\x1b') {
				out[o++] = c;
				*state = 0;
			}
			break;
		default: /* in a sequence: dropped up to its terminator */
			if (c && strchr(terminators, c))
				*state = 0;
			break;
		}
	}
	return o;
}

static void on_readable(struct loop *l, struct io_watch *w, uint32_t revents)
{
	struct logstream *s = container_of(w, struct logstream, w);

	(void)l;
	(void)revents;
	pump(s, LOG_READ_BUDGET);
}

/* ---- time rotation ------------------------------------------------------- */

int64_t log_period_delay_ns(enum log_period p, time_t now)
{
	struct tm tm;
	time_t next;

	localtime_r(&now, &tm);
	tm.tm_sec = 0;
	tm.tm_min = 0;
	if (p == LOG_ROTATE_DAILY) {
		tm.tm_hour = 0;
		tm.tm_mday += 1;
	} else {
		tm.tm_hour += 1;
	}
	tm.tm_isdst = -1;
	next = mktime(&tm);
	return (int64_t)(next - now) * NSEC_PER_SEC;
}

static void on_rotate_timer(struct loop *l, struct timer *t)
{
	struct logstream *s = container_of(t, struct logstream, rotate_timer);

	pump(s, 4 * LOG_READ_BUDGET);
	if (s->size > 0)
		do_rotate(s);
	loop_timer_start(l, t, log_period_delay_ns(s->period, time(NULL)), on_rotate_timer);
}

/* ---- public -------------------------------------------------------------- */

struct logstream *logstream_new(struct loop *l, const struct logstream_cfg *cfg, char **ret_error)
{
	struct logstream *s;
	int p[2];

	*ret_error = NULL;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return NULL;
	/* the child writes blocking: a full pipe slows the program, never loses output */
	fcntl(p[1], F_SETFL, 0);
	s = xcalloc(1, sizeof(*s));
	s->loop = l;
	s->name = xstrdup(cfg->name);
	s->prefix = xasprintf("%s | ", cfg->name);
	s->prefix_cont = xasprintf("%s |+ ", cfg->name);
	s->rfd = p[0];
	s->wfd = p[1];
	s->fd = -1;
	s->sink = cfg->sink;
	if (cfg->strip_ansi) {
		s->strip = true;
		s->stripped = xmalloc(64 * 1024 + 1);
	}
	s->rotate_timer = (struct timer)TIMER_INIT;
	s->w = (struct io_watch)IO_WATCH_INIT;
	if (cfg->path) {
		s->path = xstrdup(cfg->path);
		s->maxbytes = cfg->maxbytes;
		s->backups = cfg->backups;
		s->mode = cfg->mode ? cfg->mode : 0600;
		s->period = cfg->period;
		if (cfg->lazy) {
			s->unopened = true; /* check_file opens it when output comes */
			if (cfg->rename_at + 6 <= strlen(s->path)) {
				s->rename_at = cfg->rename_at;
				s->renamed = cfg->renamed;
				s->renamed_ctx = cfg->renamed_ctx;
			}
		} else if (open_file(s, false) < 0) {
			*ret_error = xasprintf("%s: %s", s->path, s->error);
		}
		if (s->period != LOG_ROTATE_NONE)
			loop_timer_start(l, &s->rotate_timer, log_period_delay_ns(s->period, time(NULL)), on_rotate_timer);
	}
	if (loop_io_add(l, &s->w, s->rfd, EPOLLIN, on_readable) < 0) {
		int e = errno;

		logstream_free(s);
		errno = e;
		return NULL;
	}
	return s;
}

void logstream_set_name(struct logstream *s, const char *name)
{
	free(s->name);
	free(s->prefix);
	free(s->prefix_cont);
	s->name = xstrdup(name);
	s->prefix = xasprintf("%s | ", name);
	s->prefix_cont = xasprintf("%s |+ ", name);
}

bool logstream_unopened(const struct logstream *s)
{
	return s->unopened;
}

int logstream_child_fd(const struct logstream *s)
{
	return s->wfd;
}

void logstream_drain(struct logstream *s)
{
	/* bounded: a grandchild may still be writing */
	pump(s, 4 * LOG_READ_BUDGET);
	if (!s->path && s->sink == LOGSINK_PREFIX && s->partial.len > 0) {
		emit_piece(s, s->partial.s, s->partial.len, "", 0);
		sbuf_reset(&s->partial);
		s->continued = false;
		flush_out(s);
	}
}

void logstream_free(struct logstream *s)
{
	if (!s)
		return;
	if (s->w.fd >= 0)
		logstream_drain(s);
	loop_io_del(s->loop, &s->w);
	loop_timer_stop(s->loop, &s->rotate_timer);
	close(s->rfd);
	close(s->wfd);
	close_file(s);
	while (s->followers) {
		struct log_follower *f = s->followers;

		s->followers = f->next;
		f->cb(f->ctx, NULL, 0); /* nothing more comes */
		free(f);
	}
	sbuf_done(&s->partial);
	sbuf_done(&s->out);
	free(s->ring);
	free(s->stripped);
	free(s->error);
	free(s->path);
	free(s->name);
	free(s->prefix);
	free(s->prefix_cont);
	free(s);
}

int logstream_rotate(struct logstream *s)
{
	if (!s->path)
		return -ENOENT;
	pump(s, 4 * LOG_READ_BUDGET);
	return do_rotate(s);
}

int logstream_clear(struct logstream *s)
{
	int r = 0;

	pump(s, 4 * LOG_READ_BUDGET);
	s->ring_pos = s->ring_len = 0;
	if (s->path && s->fd >= 0 && ftruncate(s->fd, 0) < 0)
		r = -errno;
	else if (s->path)
		s->size = 0;
	return r;
}

int logstream_reopen(struct logstream *s)
{
	if (!s->path || s->unopened)
		return 0;
	pump(s, 4 * LOG_READ_BUDGET);
	close_file(s);
	return open_file(s, false);
}

/* Keep the last `lines` lines of buf (0: all). */
static void last_lines(const char *buf, size_t len, size_t lines, struct sbuf *out)
{
	size_t start = 0, seen = 0;

	if (lines > 0) {
		size_t i = len;

		if (i > 0 && buf[i - 1] == '\n')
			i--;
		while (i > 0) {
			if (buf[i - 1] == '\n' && ++seen == lines) {
				start = i;
				break;
			}
			i--;
		}
	}
	sbuf_add(out, buf + start, len - start);
}

int logstream_tail(struct logstream *s, size_t lines, struct sbuf *out)
{
	if (s->path) {
		struct stat st;
		char *buf;
		size_t want;
		ssize_t n;
		int fd;

		pump(s, 4 * LOG_READ_BUDGET);
		if (s->unopened)
			return 0; /* nothing written yet: whatever is at the path is not ours */
		fd = open(s->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			return 0;
		}
		want = (size_t)MIN((off_t)(lines ? TAIL_MAX : LOG_RING_SIZE), st.st_size);
		buf = xmalloc(want + 1);
		n = pread(fd, buf, want, st.st_size - (off_t)want);
		close(fd);
		if (n > 0)
			last_lines(buf, (size_t)n, lines, out);
		free(buf);
		return n < 0 ? -errno : 0;
	}
	if (s->ring_len) {
		char *lin = xmalloc(s->ring_len);
		size_t first = (s->ring_pos + LOG_RING_SIZE - s->ring_len) % LOG_RING_SIZE;
		size_t part = MIN(s->ring_len, (size_t)LOG_RING_SIZE - first);

		memcpy(lin, s->ring + first, part);
		memcpy(lin + part, s->ring, s->ring_len - part);
		last_lines(lin, s->ring_len, lines, out);
		free(lin);
	}
	return 0;
}

struct log_follower *logstream_follow(struct logstream *s, log_follow_cb *cb, void *ctx)
{
	struct log_follower *f = xcalloc(1, sizeof(*f));

	f->cb = cb;
	f->ctx = ctx;
	f->next = s->followers;
	s->followers = f;
	return f;
}

void logstream_unfollow(struct logstream *s, struct log_follower *f)
{
	for (struct log_follower **p = &s->followers; *p; p = &(*p)->next) {
		if (*p == f) {
			*p = f->next;
			free(f);
			return;
		}
	}
}

void logstream_stats(const struct logstream *s, struct logstream_stats *ret)
{
	ret->bytes = s->bytes;
	ret->dropped = s->dropped;
	ret->rotations = s->rotations;
	ret->path = s->path;
	ret->error = s->error;
}
