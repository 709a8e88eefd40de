/*
 * Start one child process.
 *
 * clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD), as posix_spawn does: no page
 * tables are copied and the parent waits only until the child has either
 * reached execve() or failed, so the exec result is known when the call
 * returns and the child runs at once on the parent's CPU (tend restarts a
 * crashed program in about the time the kernel takes to exec it).  The child
 * runs on a private stack, calls no allocator and no handler, and touches
 * nothing of the parent's memory but that stack (and LISTEN_PID's digits,
 * and the errno of a failed unshare, below).  Before execve it joins its
 * cgroups, resets the signal dispositions tend found non-default and the
 * mask, sets its rlimits, nice value and oom_score_adj, starts its own
 * session and process group, restores the original RLIMIT_NOFILE, sets up
 * its stdio (a log pipe, tend's own stream or /dev/null: nothing in here can
 * block), switches user (setgroups -> setresgid -> setresuid,
 * each checked, then PR_SET_NO_NEW_PRIVS if asked), enters its directory,
 * sets its umask and marks every
 * inherited fd close-on-exec (close_range).  A failure on the way is written
 * as (errno, what) into the memory the child shares with tend (CLONE_VM;
 * CLONE_VFORK holds tend until the exec or the exit, as glibc's posix_spawn
 * does) and the child exits 127.
 *
 * The fd table is not copied at clone time either (CLONE_FILES), so a spawn
 * costs the same whether tend holds ten fds or 20,000: at start-up tend
 * reserves a few low fds, the slots, held on /dev/null.  Before a clone the
 * parent points them (dup3) at the fds this child needs (stdin, stdout,
 * stderr, the listening socket, the cgroup.procs files) and
 * the child's first act, on the still shared table, is
 * close_range(end of the slots, ~0U, CLOSE_RANGE_UNSHARE): the kernel gives
 * it a table of its own holding only fds [0, end of the slots) (stdio and the
 * slots) and drops the rest.  Nothing before that may touch the table; after
 * it the child goes on as described above.  Back in the parent the slots
 * point at /dev/null again (a slot holding a pipe's write end would keep its
 * reader from seeing EOF).  Without close_range's CLOSE_RANGE_UNSHARE (Linux
 * before 5.9, a seccomp filter refusing it; found at start-up, or by a child
 * that failed to unshare, after which every spawn copies) and under valgrind
 * (which exits on CLONE_FILES with CLONE_VFORK), the child gets a copy of
 * the table at clone time, which its exec closes again.
 *
 * What can still hold the parent: an execve() or chdir() on a hung network
 * file system.  The same holds for posix_spawn users (Go, Rust, skalibs).
 */
#ifndef TEND_SPAWN_H
#define TEND_SPAWN_H

#include <stdbool.h>
#include <sys/resource.h>
#include <sys/types.h>

struct spawn_stdio {
	int fd;            /* >= 0: this fd (a log pipe); else by kind: */
	int kind;          /* LOGDEST_STDOUT/STDERR: tend's own fd 1 / 2; anything else: /dev/null */
};

struct spawn_req {
	char *const *argv;
	char *const *envp;
	const char *directory;   /* NULL: stay */
	int umask;               /* -1: inherit */
	int in_fd;               /* >= 0: the child's stdin (a pipe, an fcgi socket); -1: /dev/null */
	struct spawn_stdio out;
	struct spawn_stdio err;
	bool redirect_stderr;
	bool switch_user;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
	const struct rlimit *nofile; /* set in the child, NULL: leave */
	long long core;          /* RLIMIT_CORE: -1 leave, -2 unlimited, else bytes */
	int nice;                /* NICE_UNSET: leave */
	int oom_score_adj;       /* written to /proc/self/oom_score_adj (0 resets tend's own) */
	bool no_new_privs;       /* PR_SET_NO_NEW_PRIVS after the user switch */
	const int *cgroup_fds;   /* cgroup.procs files the child joins by writing "0" */
	int ncgroup_fds;
	int cgroup_into_fd;      /* >= 0: a cgroup2 directory the child is made in (clone3
				  * CLONE_INTO_CGROUP: no migration); where clone3 cannot,
				  * the child joins its cgroup.procs like the others; -1 none */
	int listen_fd;           /* >= 0: becomes the child's fd 3 (socket activation); -1 none */
	char *listen_pid;        /* the digits of the "LISTEN_PID=" entry of envp: the child
				  * writes its own pid there (the one store to parent memory) */
	size_t listen_pid_len;
};

/* cgroup.procs files one child joins at most (slot.c's CG_MAX_PROCS_FDS fits). */
#define SPAWN_MAX_CGROUP_FDS 5

/* What a failed child reports. */
struct spawn_report {
	int err;          /* 0: the child reached execve() */
	char what[28];    /* "exec", "chdir", "stdout_logfile", ... */
};

/*
 * Reserve the slots: fds from 3 up, held on /dev/null.  Call once at
 * start-up, before tend opens any fd it keeps, so that they are low and every
 * child's table is that small.  0, or -errno: spawns then copy the table at
 * clone time (valgrind, a kernel or a seccomp filter without
 * close_range(CLOSE_RANGE_UNSHARE)).
 */
int spawn_reserve_fds(void);

/*
 * Remember which signal dispositions are not the default in tend, so that
 * children reset only those (a syscall each).  Call once at start-up, after
 * tend set its own dispositions.
 */
void spawn_init(void);

/*
 * Clone and exec.  Returns 0 with the child's pid and *ret_report (err 0
 * when the child reached execve, else why it failed; it then exits 127 and
 * must still be reaped); or -errno when no child was made.  No pidfd is
 * kept: a child's pid cannot be reused before tend reaps it, and tend never
 * signals a pid it reaped (inst.reaped, reap.c).
 */
int spawn_process(const struct spawn_req *req, pid_t *ret_pid, struct spawn_report *ret_report);

/*
 * pidfd_send_signal(2): how tend signals a process that is not its child
 * (pidrec.c: what a previous tendd left, checked through a pidfd first).
 * 0 or -errno.
 */
int pidfd_kill(int pidfd, int sig);

#endif
