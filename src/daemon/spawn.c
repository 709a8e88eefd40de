#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "daemon/config.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int pidfd_kill(int pidfd, int sig)
{
	if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0)
		return -errno;
	return 0;
}

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* ---- in the child: only what is safe between fork and exec ---------------- */

static void child_fail(int fd, int err, const char *what)
{
	struct spawn_report rep = { .err = err };

	strncpy(rep.what, what, sizeof(rep.what) - 1);
	(void)!write(fd, &rep, sizeof(rep));
	_exit(127);
}

/* tend's own stdout and stderr, saved before the child's stdio replaces them. */
static int tend_stdout = -1, tend_stderr = -1;

/* Open a log destination for appending: regular files only, never through a symlink. */
static int child_open_log(const struct spawn_stdio *s)
{
	struct stat st;
	int fd;

	if (s->kind == LOGDEST_STDOUT || s->kind == LOGDEST_STDERR) {
		fd = s->kind == LOGDEST_STDOUT ? tend_stdout : tend_stderr;
		fd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1;
		return fd >= 0 ? fd : open("/dev/null", O_WRONLY | O_CLOEXEC);
	}
	if (s->kind == LOGDEST_NONE || !s->path)
		return open("/dev/null", O_WRONLY | O_CLOEXEC);
	fd = open(s->path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	fcntl(fd, F_SETFL, O_APPEND);
	return fd;
}

static void child_dup(int fd, int to, int rep, const char *what)
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

static const char *env_get(char *const *envp, const char *key)
{
	size_t n = strlen(key);

	for (; envp && *envp; envp++)
		if (strncmp(*envp, key, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* execve with a PATH search taken from the program's own environment. */
static void child_exec(const struct spawn_req *r, int rep)
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

static void __attribute__((noreturn)) child(const struct spawn_req *r, int rep)
{
	struct kernel_sigaction dfl = { 0 };
	sigset_t none;

	/* the raw call also reaches the signals glibc reserves (32, 33), which an
	 * ignoring ancestor may have left ignored */
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			syscall(SYS_rt_sigaction, s, &dfl, NULL, sizeof(dfl.mask));
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (setsid() < 0)
		child_fail(rep, errno, "setsid");
	if (r->nofile)
		setrlimit(RLIMIT_NOFILE, r->nofile);

	tend_stdout = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	tend_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	child_dup(open("/dev/null", O_RDONLY | O_CLOEXEC), STDIN_FILENO, rep, "stdin");
	child_dup(child_open_log(&r->out), STDOUT_FILENO, rep, "stdout_logfile");
	if (r->redirect_stderr) {
		if (dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
			child_fail(rep, errno, "redirect_stderr");
	} else {
		child_dup(child_open_log(&r->err), STDERR_FILENO, rep, "stderr_logfile");
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
	child_exec(r, rep);
	_exit(127);
}

/* ---- in the parent ------------------------------------------------------- */

int spawn_process(const struct spawn_req *req, pid_t *ret_pid, int *ret_pidfd, int *ret_report_fd)
{
	int pipefd[2], pidfd, r;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out_close_pipe;
	}
	if (pid == 0) {
		close(pipefd[0]);
		child(req, pipefd[1]);
	}
	close(pipefd[1]);
	/* the child is ours and not reaped yet, so its pid cannot have been reused */
	pidfd = pidfd_open_(pid);
	if (pidfd < 0) {
		/* without a pidfd tend could not signal it safely: kill it now; the
		 * reaper collects it as an unknown child */
		r = -errno;
		kill(pid, SIGKILL);
		close(pipefd[0]);
		return r;
	}
	fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
	*ret_pid = pid;
	*ret_pidfd = pidfd;
	*ret_report_fd = pipefd[0];
	return 0;

out_close_pipe:
	close(pipefd[0]);
	close(pipefd[1]);
	return r;
}

int spawn_read_report(int fd, struct spawn_report *ret)
{
	ssize_t n;

	do {
		n = read(fd, ret, sizeof(*ret));
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN ? -EAGAIN : -errno;
	if (n == 0)
		return 0;
	if ((size_t)n < sizeof(*ret)) {
		/* the report is written in one write() of a few bytes: atomic on a pipe */
		ret->err = EIO;
		strcpy(ret->what, "spawn");
	}
	ret->what[sizeof(ret->what) - 1] = '\0';
	return 1;
}
