/*
 * The daemon's own log: one line per event, supervisord's format
 * ("2026-11-24 06:31:12,345 INFO spawned: 'web' with pid 123"), to stderr
 * when running in the foreground and to [supervisord] logfile= when set.
 * Only the daemon logs; library code returns errors instead.
 */
#ifndef TEND_LOG_H
#define TEND_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <syslog.h>

/*
 * Where to write: to_stderr, and/or path (appended; created with the mode
 * of log_set_file_mode, an existing file used only if it is tend's:
 * open_owned).  0, or -errno with the reason in log_open_why().
 */
int log_open(const char *path, bool to_stderr, int level);
/* Why the last log_open() failed ("is owned by uid 1001, ..."). */
const char *log_open_why(void);
/* The mode of a log file tend creates (its own and its programs'): 0600 by default. */
void log_set_file_mode(mode_t mode);

/*
 * 0600, or 0640 when the control socket lets its group in (chmod = 0660):
 * that group may read the logs through the socket anyway.
 */
static inline mode_t log_file_mode(mode_t socket_mode)
{
	return socket_mode & 0040 ? 0640 : 0600;
}
void log_close(void);
/* Rotate the log file at maxbytes (0: never), keeping backups files (0: truncate). */
void log_set_rotation(unsigned long long maxbytes, int backups);
/* Echo to stderr or not from now on. */
void log_set_stderr(bool on);
/*
 * Send one line to syslog (the local socket /dev/log, or $TEND_SYSLOG_SOCKET)
 * as "tend[PID]: line", facility user, severity info, without blocking:
 * when the socket is missing or full the line is dropped (and counted).
 * Returns 0 or -errno.  For stdout_syslog / stderr_syslog.
 */
int log_syslog(const char *line, size_t len);

/* Reopen the log file at its path (SIGUSR2). */
void log_reopen(void);
void log_set_level(int level);

/* Also hand every line to tap(ctx, ...) (supervisorctl maintail -f); NULL: stop. */
void log_set_tap(void (*tap)(void *ctx, const char *line, size_t len), void *ctx);

void log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_crit(...) log_msg(LOG_CRIT, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
