#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdint.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "config/config.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int pidfd_kill(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

/* ---- in the child: only what is safe between clone and exec ---------------- */

/*
 * The child runs on a private stack in tend's memory (CLONE_VM): AddressSanitizer
 * cannot follow that stack switch, so the child's own code is not instrumented.
 */
#define CHILD_CODE __attribute__((no_sanitize_address))

CHILD_CODE static void child_fail(int fd, int err, const char *what)
{
	struct spawn_report rep = { .err = err };

	strncpy(rep.what, what, sizeof(rep.what) - 1);
	(void)!write(fd, &rep, sizeof(rep));
	_exit(127);
}

/* tend's own stdout and stderr, saved in the child before its stdio replaces them. */
struct saved_stdio {
	int out;
	int err;
};

/* The child's end of one stdio stream. */
CHILD_CODE static int child_stdio(const struct spawn_stdio *s, const struct saved_stdio *saved)
{
	int fd;

	if (s->fd >= 0) {
		fd = fcntl(s->fd, F_DUPFD_CLOEXEC, 3);
		return fd >= 0 ? fd : -errno;
	}
	if (s->kind == LOGDEST_STDOUT || s->kind == LOGDEST_STDERR) {
		fd = s->kind == LOGDEST_STDOUT ? saved->out : saved->err;
		fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
		if (fd >= 0)
			return fd;
	}
	fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

CHILD_CODE static void child_dup(int fd, int to, int rep, const char *what)
{
	if (fd < 0)
		child_fail(rep, -fd, what);
	if (fd != to) {
		if (dup2(fd, to) < 0)
			child_fail(rep, errno, what);
		close(fd);
	} else {
		fcntl(fd, F_SETFD, 0);
	}
}

CHILD_CODE static const char *env_get(char *const *envp, const char *key)
{
	size_t n = strlen(key);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* execve with a PATH search taken from the program's own environment. */
CHILD_CODE static void child_exec(const struct spawn_req *r, int rep)
{
	const char *file = r->argv[0], *path, *p;
	char buf[PATH_MAX];
	int err = ENOENT;

	if (strchr(file, '/')) {
		execve(file, r->argv, r->envp);
		child_fail(rep, errno, "exec");
	}
	path = env_get(r->envp, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	for (p = path;; p++) {
		const char *end = strchrnul(p, ':');
		size_t dlen = (size_t)(end - p);

		if (dlen + 1 + strlen(file) + 1 <= sizeof(buf)) {
			if (dlen) {
				memcpy(buf, p, dlen);
				buf[dlen] = '/';
				strcpy(buf + dlen + 1, file);
			} else {
				strcpy(buf, file);
			}
			execve(buf, r->argv, r->envp);
			/* keep the most telling error: EACCES beats ENOENT */
			if (errno == EACCES)
				err = EACCES;
			else if (errno != ENOENT && errno != ENOTDIR)
				err = errno;
		}
		if (!*end)
			break;
		p = end;
	}
	child_fail(rep, err, "exec");
}

/* The kernel's struct sigaction; all zero is SIG_DFL with no flags and an empty mask. */
struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	unsigned long mask;
};

/* Signals whose disposition in tend is not SIG_DFL (bit s-1 for signal s). */
static uint64_t non_default;

void spawn_init(void)
{
	non_default = 0;
	for (int s = 1; s < NSIG && s <= 64; s++) {
		struct kernel_sigaction old;

		if (s == SIGKILL || s == SIGSTOP)
			continue;
		/* the raw call also sees the signals glibc reserves (32, 33) */
		if (syscall(SYS_rt_sigaction, s, NULL, &old, sizeof(old.mask)) == 0 &&
		    old.handler != SIG_DFL)
			non_default |= 1ULL << (s - 1);
	}
}

CHILD_CODE static void __attribute__((noreturn)) child(const struct spawn_req *r, int rep)
{
	struct kernel_sigaction dfl = { 0 };
	struct saved_stdio saved;
	sigset_t none;

	/* first the cgroups, so that nothing the child does escapes its limits */
	for (int i = 0; i < r->ncgroup_fds; i++)
		if (write(r->cgroup_fds[i], "0", 1) < 0)
			child_fail(rep, errno, "cgroup");

	for (int s = 1; s <= 64; s++)
		if (non_default & (1ULL << (s - 1)))
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(dfl.mask));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		child_fail(rep, errno, "setsid");
	if (r->core != -1) {
		struct rlimit rl = { .rlim_cur = r->core == -2 ? RLIM_INFINITY : (rlim_t)r->core };

		rl.rlim_max = rl.rlim_cur;
		if (setrlimit(RLIMIT_CORE, &rl) < 0)
			child_fail(rep, errno, "core");
	}
	if (r->nice != NICE_UNSET && setpriority(PRIO_PROCESS, 0, r->nice) < 0)
		child_fail(rep, errno, "nice");
	{
		/* tend may protect itself from the OOM killer; its programs must not inherit that */
		char adj[16];
		int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), n;

		n = snprintf(adj, sizeof(adj), "%d", r->oom_score_adj);
		if (fd >= 0) {
			if (write(fd, adj, (size_t)n) < 0 && r->oom_score_adj != 0)
				child_fail(rep, errno, "oom_score_adj");
			close(fd);
		}
	}

	saved.out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	saved.err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	child_dup(r->in_fd >= 0 ? fcntl(r->in_fd, F_DUPFD_CLOEXEC, 3) : open("/dev/null", O_RDONLY | O_CLOEXEC),
		  STDIN_FILENO, rep, "stdin");
	child_dup(child_stdio(&r->out, &saved), STDOUT_FILENO, rep, "stdout");
	if (r->redirect_stderr) {
		if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
			child_fail(rep, errno, "redirect_stderr");
	} else {
		child_dup(child_stdio(&r->err, &saved), STDERR_FILENO, rep, "stderr");
	}

	if (r->listen_fd >= 0) {
		/* socket activation: the shared listening socket is fd 3 (see close_range below) */
		if (rep == 3 && (rep = fcntl(rep, F_DUPFD_CLOEXEC, 4)) < 0)
			_exit(127);
		if (r->listen_fd != 3 && dup2(r->listen_fd, 3) < 0)
			child_fail(rep, errno, "listen");
		if (r->listen_pid) {
			/* LISTEN_PID is our own pid: written by hand, no stdio in here */
			char digits[16];
			int nd = 0;

			for (unsigned v = (unsigned)getpid(); v || nd == 0; v /= 10)
				digits[nd++] = (char)('0' + v % 10);
			for (size_t i = 0; i < r->listen_pid_len; i++)
				r->listen_pid[i] = i < (size_t)nd ? digits[nd - 1 - i] : '\0';
		}
	}

	if (r->switch_user) {
		if (setgroups((size_t)r->ngroups, r->groups) < 0)
			child_fail(rep, errno, "setgroups");
		if (setresgid(r->gid, r->gid, r->gid) < 0)
			child_fail(rep, errno, "setresgid");
		if (setresuid(r->uid, r->uid, r->uid) < 0)
			child_fail(rep, errno, "setresuid");
		if (getuid() != r->uid || geteuid() != r->uid || getgid() != r->gid)
			child_fail(rep, EPERM, "setresuid");
	}
	if (r->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(rep, errno, "no_new_privs");
	if (r->directory && chdir(r->directory) < 0)
		child_fail(rep, errno, "chdir");
	if (r->umask >= 0)
		umask((mode_t)r->umask);

	/* everything tend holds (sockets, pidfds, other children's pipes) closes at exec */
	if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
		for (int fd = 3; fd < 65536; fd++)
			if (fd != rep)
				fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if (r->listen_fd >= 0 && fcntl(3, F_SETFD, 0) < 0)
		child_fail(rep, errno, "listen");
	/* last: tend's own limit is raised, and with many programs the fds this
	 * child opens or duplicates above may lie beyond the program's limit */
	if (r->nofile && setrlimit(RLIMIT_NOFILE, r->nofile) < 0)
		child_fail(rep, errno, "nofile");
	child_exec(r, rep);
	_exit(127);
}

struct child_args {
	const struct spawn_req *req;
	int rep;   /* write end of the report pipe */
	int other; /* its read end, closed in the child */
};

CHILD_CODE static int child_entry(void *arg)
{
	struct child_args *a = arg;

	close(a->other);
	child(a->req, a->rep);
}

/* ---- in the parent ------------------------------------------------------- */

int spawn_process(const struct spawn_req *req, pid_t *ret_pid, int *ret_pidfd,
		  struct spawn_report *ret_report)
{
	/* one child at a time runs on it: CLONE_VFORK holds tend until exec */
	static char stack[64 * 1024] __attribute__((aligned(64)));
	struct child_args a = { .req = req };
	int pipefd[2], pidfd = -1, r;
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	a.rep = pipefd[1];
	a.other = pipefd[0];
	pid = clone(child_entry, stack + sizeof(stack), CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
		    &a, &pidfd);
	r = pid < 0 ? -errno : 0;
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		return r;
	}
	/*
	 * The child has exec'd or exited by now: a report is already in the pipe
	 * if it failed; nothing (EAGAIN, or EOF once exec closed it) if not.
	 */
	memset(ret_report, 0, sizeof(*ret_report));
	do {
		n = read(pipefd[0], ret_report, sizeof(*ret_report));
	} while (n < 0 && errno == EINTR);
	close(pipefd[0]);
	if (n > 0 && (size_t)n < sizeof(*ret_report)) {
		ret_report->err = EIO;
		strcpy(ret_report->what, "spawn");
	} else if (n <= 0) {
		memset(ret_report, 0, sizeof(*ret_report));
	}
	ret_report->what[sizeof(ret_report->what) - 1] = '\0';
	*ret_pid = pid;
	*ret_pidfd = pidfd;
	return 0;
}
