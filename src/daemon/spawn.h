/*
 * Start one child process without blocking the loop.
 *
 * The parent prepares everything (argv, envp, groups) before fork(); the
 * child resets signal dispositions and mask, starts its own session and
 * process group, restores the original RLIMIT_NOFILE, opens its stdio,
 * switches user (setgroups -> setresgid -> setresuid, each checked), enters
 * its directory, sets its umask, marks every inherited fd close-on-exec
 * (close_range) and execs.  A failure on the way is written to a CLOEXEC
 * pipe as (errno, what) and the child exits 127; a successful exec closes the
 * pipe, which the daemon reads as EV_EXEC_OK.
 */
#ifndef TEND_SPAWN_H
#define TEND_SPAWN_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

struct spawn_stdio {
	int kind;          /* LOGDEST_AUTO/FILE: append to path; LOGDEST_NONE: /dev/null;
			    * LOGDEST_STDOUT/STDERR: tend's own fd 1 / 2 */
	const char *path;
};

struct spawn_req {
	char *const *argv;
	char *const *envp;
	const char *directory;   /* NULL: stay */
	int umask;               /* -1: inherit */
	struct spawn_stdio out;
	struct spawn_stdio err;
	bool redirect_stderr;
	bool switch_user;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
	const struct rlimit *nofile; /* restored in the child, NULL: leave */
};

/* What a failed child reports through the pipe. */
struct spawn_report {
	int err;
	char what[28];
};

/*
 * Fork and exec.  On success returns 0 with the child's pid, a pidfd for it
 * and the read end of the report pipe (O_NONBLOCK|O_CLOEXEC); on failure
 * (fork, pipe or pidfd_open) returns -errno and no child exists.
 */
int spawn_process(const struct spawn_req *req, pid_t *ret_pid, int *ret_pidfd, int *ret_report_fd);

/*
 * Read the report pipe after it became readable.  Returns 1 with *ret filled
 * when the child reported a failure, 0 on end-of-file (exec succeeded),
 * -EAGAIN when nothing is there yet.
 */
int spawn_read_report(int fd, struct spawn_report *ret);

/* pidfd_send_signal(2), the only way tend signals a child it knows. */
int pidfd_kill(int pidfd, int sig);

#endif
