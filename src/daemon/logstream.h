/*
 * Program output: one pipe per stream (stdout, stderr) and instance, read in
 * the daemon's loop and written to its destination.
 *
 *  - a file: appended, rotated by size (maxbytes, backups) or by time
 *    (hourly, daily), reopened on SIGUSR2, re-created when it was deleted or
 *    renamed under tend; moved with splice(2) (no copy through user space)
 *    unless somebody follows it with `tend tail -f`;
 *  - tend's own stdout with a "name | " prefix per line ("-", the container
 *    case): lines longer than LOG_LINE_MAX are cut, and each later piece is
 *    marked "name |+ "; the last partial line is flushed when the program
 *    exits; bytes are never decoded.
 *
 * The pipe is made once per stream and kept across restarts (tend holds its
 * write end), so output of a restarted program, or of a grandchild that still
 * holds the pipe, keeps flowing.  Each readiness event moves at most
 * LOG_READ_BUDGET bytes, so one flooding program cannot starve the others or
 * the control socket; nothing is buffered beyond a line, so memory stays
 * bounded.  A destination that fails (disk full, directory deleted, a symlink
 * or FIFO at the path) never stops the program: its output is dropped and
 * counted, and the file is retried at most once a second.
 *
 * The last LOG_RING_SIZE bytes of every stream that is not spliced are kept
 * in memory for `tend tail`; a file stream is tailed from its file.
 */
#ifndef TEND_LOGSTREAM_H
#define TEND_LOGSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "common/util.h"
#include "daemon/loop.h"

#define LOG_LINE_MAX (16 * 1024)
#define LOG_RING_SIZE (64 * 1024)
#define LOG_READ_BUDGET (1024 * 1024)

enum log_period {
	LOG_ROTATE_NONE,
	LOG_ROTATE_HOURLY,
	LOG_ROTATE_DAILY,
};

/* Where a stream without a file goes. */
enum log_sink {
	LOGSINK_PREFIX, /* tend's stdout, each line prefixed "name | " */
	LOGSINK_STDOUT, /* tend's stdout as is (the output is read for events) */
	LOGSINK_STDERR, /* tend's stderr as is */
	LOGSINK_NULL,   /* nowhere (NONE, read for events only) */
};

struct logstream_cfg {
	const char *name;      /* instance name, for the prefix and messages */
	const char *path;      /* file, or NULL: see sink */
	enum log_sink sink;    /* without a path */
	bool strip_ansi;       /* remove ANSI escapes ([supervisord] strip_ansi): read, never spliced */
	uint64_t maxbytes;     /* rotate at this size; 0: never */
	int backups;           /* rotated files kept: path.1 ... path.N */
	enum log_period period;
	mode_t mode;           /* of a log file tend creates; 0: 0600 */
	bool lazy;             /* open (create) the file at the first output, not now */
	/* lazy and rename_at > 0: the file must be new (O_EXCL); when the name is
	 * taken, the 6 characters at path + rename_at are drawn again and
	 * renamed(renamed_ctx, new path) is told */
	size_t rename_at;
	void (*renamed)(void *ctx, const char *path);
	void *renamed_ctx;
};

struct logstream;
struct log_follower;

/*
 * Remove ANSI escape sequences from data[0..n) into out (room for n + 1
 * bytes), as supervisord's stripEscapes: from "ESC [" up to and including
 * one of HfABCDRsuJKhlpm.  *state carries a sequence cut between calls
 * (start at 0).  Returns the bytes written to out.
 */
size_t log_strip_ansi(int *state, const char *data, size_t n, char *out);

/* Nanoseconds from `now` (wall clock, local time) to the next hour or midnight. */
int64_t log_period_delay_ns(enum log_period p, time_t now);

/* Called with every chunk of output while following; with (NULL, 0) when the stream ends. */
typedef void log_follow_cb(void *ctx, const char *data, size_t len);

/*
 * Make the pipe and open the destination (with cfg->lazy, at the first
 * output: a program that never writes gets no file).  A destination that cannot be
 * opened is reported in *ret_error (caller frees; NULL when fine) and the
 * stream still exists (output is dropped and counted until it can be
 * opened).  Returns NULL only when no pipe could be made (errno set).
 */
struct logstream *logstream_new(struct loop *l, const struct logstream_cfg *cfg, char **ret_error);

/* The instance was renamed (a reload moved it into a group): new prefix. */
void logstream_set_name(struct logstream *s, const char *name);

/* The pipe's write end, for the child's fd 1 or 2. */
int logstream_child_fd(const struct logstream *s);

/*
 * Whether the stream's file is not made yet (lazy, nothing written): its
 * path is then not tend's file, and nothing may read or remove it.
 */
bool logstream_unopened(const struct logstream *s);

/* Read what the pipe holds now and flush a partial line (the program exited). */
void logstream_drain(struct logstream *s);

/* Drain, close everything and free; followers are told nothing more comes.  Accepts NULL. */
void logstream_free(struct logstream *s);

/* Rotate the file now (tend rotate).  0, -ENOENT when there is no file, or -errno. */
int logstream_rotate(struct logstream *s);
/* Empty the file (truncated in place) and the in-memory ring (clearProcessLogs).  0 or -errno. */
int logstream_clear(struct logstream *s);
/* Close and reopen the file at its path (SIGUSR2, after an external logrotate). */
int logstream_reopen(struct logstream *s);

/*
 * Append the last `lines` lines (0: everything available) to out: from the
 * file when there is one, else from the in-memory ring.  Returns 0 or -errno.
 */
int logstream_tail(struct logstream *s, size_t lines, struct sbuf *out);

/* Follow new output; the callback runs in the loop. */
struct log_follower *logstream_follow(struct logstream *s, log_follow_cb *cb, void *ctx);
void logstream_unfollow(struct logstream *s, struct log_follower *f);

struct logstream_stats {
	uint64_t bytes;    /* read from the program */
	uint64_t dropped;  /* could not be written */
	uint64_t rotations;
	const char *path;  /* NULL: tend's stdout */
	const char *error; /* the destination's current problem, or NULL */
};
void logstream_stats(const struct logstream *s, struct logstream_stats *ret);

#endif
