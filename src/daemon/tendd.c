/*
 * tendd: the supervisor process.  `tend up` execs it, so the daemon never
 * maps the CLI's libraries (ncurses for tend top).  Usage: tendd up [-c FILE] [-d] [--pidfile PATH]
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glob.h>
#include <grp.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/exitcodes.h"
#include "common/util.h"
#include "common/version.h"
#include "common/signames.h"
#include "config/config.h"
#include "daemon/api.h"
#include "daemon/cgroup.h"
#include "daemon/cmd.h"
#include "daemon/control.h"
#include "daemon/log.h"
#include "daemon/pidrec.h"
#include "daemon/maps.h"
#include "daemon/spawn.h"
#include "daemon/supervisor.h"

/* The daemon's signals are commands too: TERM/INT/QUIT shut down, HUP reloads, USR2 reopens logs. */
static void on_signal(struct loop *l, const struct signalfd_siginfo *si)
{
	struct supervisor *s = sv_of_loop(l);
	const char *name = sig_name((int)si->ssi_signo);
	char why[32];

	switch (si->ssi_signo) {
	case SIGTERM:
	case SIGINT:
	case SIGQUIT:
		snprintf(why, sizeof(why), "SIG%s", name ? name : "?");
		sv_shutdown(s, why);
		break;
	case SIGHUP: {
		struct cmd_reload rl;

		log_info("received SIGHUP: reloading %s", s->cfg->path);
		(void)cmd_reload_file(s, true, &rl); /* errors and the outcome are logged */
		cmd_reload_done(&rl);
		break;
	}
	case SIGUSR2:
		log_info("received SIGUSR2: reopening log files");
		log_reopen();
		sv_reopen_logs(s);
		break;
	default:
		log_info("received SIG%s; ignored", name ? name : "?");
		break;
	}
}

/* What tend holds for itself: the loop, the control socket and its
 * connections, its log, spares. */
#define FDS_BASE (CONTROL_MAX_CONNS + 64)

static bool relayed(const struct log_dest *d, bool tapped)
{
	return d->kind == LOGDEST_AUTO || d->kind == LOGDEST_FILE || d->kind == LOGDEST_PREFIX || tapped;
}

/*
 * The most descriptors tend holds for cfg: per instance its stdin pipe's
 * write end (an event listener: its stdout's read end too; no pidfd, see
 * slot_kill),
 * both ends of each relayed stream's pipe (kept across restarts; a stream
 * read for events or syslog is relayed), the OOM watch of a memory_limit,
 * a readiness probe's socket; per program with listen= its socket.
 */
static rlim_t fds_needed(const struct config *cfg)
{
	rlim_t need = FDS_BASE;

	for (size_t i = 0; i < cfg->nprocs; i++) {
		const struct prog_config *pc = cfg->procs[i];

		bool tap_out = pc->stdout_events || pc->stdout_capture || pc->stdout_syslog;
		bool tap_err = pc->stderr_events || pc->stderr_capture || pc->stderr_syslog;

		need += 1 + (pc->kind == PROC_LISTENER) + 2 * (pc->kind != PROC_LISTENER && relayed(&pc->out, tap_out)) +
			2 * (!pc->redirect_stderr && relayed(&pc->err, tap_err)) +
			2 * (pc->memory_limit > 0) + (pc->ready_kind != READY_NONE) +
			(pc->listen && (i == 0 || strcmp(cfg->procs[i - 1]->program, pc->program) != 0));
	}
	return need;
}

static int raise_nofile(const struct config *cfg, struct rlimit *rl)
{
	rlim_t need = fds_needed(cfg), nr_open = 1048576;
	char *data = NULL;

	if (cfg->minfds > 0 && (rlim_t)cfg->minfds > need)
		need = (rlim_t)cfg->minfds;
	if (read_file("/proc/sys/fs/nr_open", 64, &data, NULL) == 0)
		nr_open = strtoull(data, NULL, 10);
	free(data);
	if (need > rl->rlim_max && geteuid() == 0 && need <= nr_open) {
		struct rlimit more = { need, need };

		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			*rl = more;
	}
	if (need > rl->rlim_max) {
		log_crit("%zu program instances need %llu file descriptors%s; the hard limit is %llu: raise it "
			 "(ulimit -Hn, LimitNOFILE=) or run fewer",
			 cfg->nprocs, (unsigned long long)need,
			 cfg->minfds > 0 && (rlim_t)cfg->minfds == need ? " (minfds)" : "",
			 (unsigned long long)rl->rlim_max);
		return -EMFILE;
	}
	if (rl->rlim_cur < rl->rlim_max) {
		rl->rlim_cur = rl->rlim_max;
		setrlimit(RLIMIT_NOFILE, rl);
	}
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: tendd up [-c FILE] [-s SOCKET] [-d] [--pidfile PATH]\n");
}

/*
 * mkdir -p for the socket's directory; the last level is made 0700 (or 0755
 * if the socket is shared).  An existing one must be tend's user's or
 * root's, and if others may write in it, sticky (/tmp): in another user's
 * directory that user could swap the socket for theirs.  1 when it made the
 * directory, 0 when it was there, or -errno (-EPERM with the reason logged).
 */
static int make_socket_dir(const char *sock, mode_t sock_mode)
{
	char *dir = xstrdup(sock), *slash = strrchr(dir, '/');
	struct stat st;
	int r = 0;

	if (!slash || slash == dir) {
		free(dir);
		return 0;
	}
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, (sock_mode & 0077) ? 0755 : 0700) == 0) {
		r = 1;
	} else if (errno != EEXIST) {
		r = -errno;
	} else if (stat(dir, &st) == 0) {
		if (st.st_uid != 0 && st.st_uid != geteuid()) {
			log_crit("socket directory %s is owned by uid %u, not by tend's user or root: refusing to "
				 "put the socket there (its owner could replace it)", dir, (unsigned)st.st_uid);
			r = -EPERM;
		} else if ((st.st_mode & 0022) && !(st.st_mode & S_ISVTX)) {
			log_crit("socket directory %s is writable by other users and not sticky (mode %04o): "
				 "refusing to put the socket there", dir, (unsigned)(st.st_mode & 07777));
			r = -EPERM;
		}
	}
	free(dir);
	return r;
}

/* The directory of the socket path sock (caller frees). */
static char *socket_dir(const char *sock)
{
	const char *slash = strrchr(sock, '/');

	return slash && slash != sock ? xstrndup(sock, (size_t)(slash - sock)) : xstrdup("/");
}

/*
 * [supervisord] user=: tend becomes that user before it opens anything, as
 * supervisord does; the socket's directory, when tend makes it, is made
 * first and given to the user.  0, or -errno with the reason in why.
 */
static int drop_privileges(const struct config *cfg, const char *sock, char *why, size_t n)
{
	int made;

	if (!cfg->daemon_user || geteuid() == cfg->daemon_uid)
		return 0;
	if (geteuid() != 0) {
		snprintf(why, n, "user = %s: cannot switch to another user when not started as root",
			 cfg->daemon_user);
		return -EPERM;
	}
	made = make_socket_dir(sock, cfg->socket_mode);
	if (made == 1) {
		char *dir = socket_dir(sock);

		if (chown(dir, cfg->daemon_uid, cfg->daemon_gid) < 0) {
			snprintf(why, n, "cannot give %s to %s: %s", dir, cfg->daemon_user, strerror(errno));
			free(dir);
			return -errno;
		}
		free(dir);
	}
	if (initgroups(cfg->daemon_user, cfg->daemon_gid) < 0 ||
	    setresgid(cfg->daemon_gid, cfg->daemon_gid, cfg->daemon_gid) < 0 ||
	    setresuid(cfg->daemon_uid, cfg->daemon_uid, cfg->daemon_uid) < 0 || geteuid() != cfg->daemon_uid ||
	    getegid() != cfg->daemon_gid) {
		snprintf(why, n, "cannot become user %s: %s", cfg->daemon_user, strerror(errno));
		return -EPERM;
	}
	/* a dumpable process again: /proc/self stays readable for tend's own reads */
	prctl(PR_SET_DUMPABLE, 1);
	return 0;
}

/*
 * minfds / minprocs: raise the soft limit (and the hard one, as root) to
 * min, or refuse to start as supervisord does.  0 or -errno (why says it).
 */
static int raise_limit(int res, long min, const char *key, const char *what, char *why, size_t n)
{
	struct rlimit rl;

	if (min <= 0 || getrlimit(res, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (rlim_t)min)
		return 0;
	rl.rlim_cur = (rlim_t)min;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t)min)
		rl.rlim_max = (rlim_t)min; /* only root may */
	if (setrlimit(res, &rl) < 0) {
		int e = errno;

		getrlimit(res, &rl);
		snprintf(why, n, "%s = %ld: this environment allows only %llu %s; raise the limit or lower %s",
			 key, min, (unsigned long long)rl.rlim_max, what, key);
		return -e;
	}
	return 0;
}

/*
 * Write the pidfile atomically: a new file of a name nobody can guess
 * (mkostemp, O_EXCL), then rename over path, so that a file another user
 * planted at path or at a temporary name is replaced, never written to.
 * In a directory others may write, only a sticky one (/tmp) keeps them from
 * replacing it in turn: elsewhere the pidfile is refused.
 */
static int write_pidfile(const char *path)
{
	char *tmp = xasprintf("%s.XXXXXX", path), buf[32], *slash = strrchr(tmp, '/');
	char *dir = slash ? (slash == tmp ? xstrdup("/") : xstrndup(tmp, (size_t)(slash - tmp))) : xstrdup(".");
	struct stat st;
	int fd, n, r = 0;

	if (stat(dir, &st) == 0 && (st.st_mode & 0022) && !(st.st_mode & S_ISVTX)) {
		log_warn("pidfile %s: its directory is writable by other users and not sticky", path);
		r = -EPERM;
		goto out;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (fchmod(fd, 0644) < 0 || (r = write_all(fd, buf, (size_t)n)) < 0 || fsync(fd) < 0) {
		r = r < 0 ? r : -errno;
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
	}
out:
	free(dir);
	free(tmp);
	return r;
}

/* Fork into the background; the parent exits once the child is serving (or failed). */
static int detach(int *ret_ready_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		/* the child writes one byte once it listens; EOF means it failed */
		if (read(p[0], &c, 1) == 1)
			_exit(0);
		_exit(1);
	}
	close(p[0]);
	setsid();
	*ret_ready_fd = p[1];
	return 0;
}

static void redirect_stdio_to_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "detach", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct supervisor s;
	struct control *ctl = NULL;
	struct api *api = NULL;
	struct config *cfg = NULL;
	struct config_diag diag;
	const char *config_path = NULL, *pidfile_opt = NULL, *socket_opt = getenv("TEND_SOCKET");
	char *sock = NULL, *pidfile = NULL;
	struct rlimit rl, child_nofile;
	bool daemonize = false;
	int ready_fd = -1, opt, r, status, slots;

	if (argc < 2 || strcmp(argv[1], "up") != 0) {
		usage(stderr);
		return 2;
	}
	/*
	 * Large buffers (an answer of several MB) are mapped on their own and
	 * unmapped when freed; glibc's default would raise this threshold after
	 * the first such free and keep the next ones in the heap for good.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	/*
	 * and free() leaves up to this much at the heap's top: the answers
	 * below the threshold (`tend status` with 1000 programs: 60 KB) shrank
	 * the heap at each free; the control's trim gives it back once the
	 * answers stop (CONTROL_TRIM_AFTER_NS)
	 */
	mallopt(M_TRIM_THRESHOLD, 512 * 1024);
	optind = 2;
	while ((opt = getopt_long(argc, argv, "c:ds:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			socket_opt = optarg;
			break;
		case 'c':
			config_path = optarg;
			break;
		case 'd':
			daemonize = true;
			break;
		case 'p':
			pidfile_opt = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	/* first, while the lowest fds are free: spawns do not copy tend's fd table */
	slots = spawn_reserve_fds();
	if (!config_path) {
		config_path = config_find();
		if (!config_path) {
			fprintf(stderr, "tend: no config file: give -c FILE, or create ./tend.conf or "
					"/etc/tend/tend.conf\n");
			return EXIT_CONFIG;
		}
	}

	r = config_load(config_path, &cfg, &diag);
	for (size_t i = 0; i < diag.nerrors; i++)
		fprintf(stderr, "%s\n", diag.errors[i]);
	if (r < 0) {
		fprintf(stderr, "tend: %s: %zu error%s; nothing started\n", config_path, diag.nerrors,
			diag.nerrors == 1 ? "" : "s");
		config_diag_done(&diag);
		return EXIT_CONFIG;
	}

	/* the CLI's order: -s (tend passes its -s or $TEND_SOCKET), $TEND_SOCKET, the config's, the default */
	sock = socket_opt && *socket_opt ? xstrdup(socket_opt) : config_socket_path(cfg);
	if (cfg->umask >= 0)
		umask((mode_t)cfg->umask); /* tend's files, and what its programs inherit */
	{
		char why[256];

		/* minfds: the soft limit the programs inherit, as under supervisord; a
		 * hard limit too low is refused below with what the config needs */
		(void)raise_limit(RLIMIT_NOFILE, cfg->minfds, "minfds", "open files", why, sizeof(why));
		if (raise_limit(RLIMIT_NPROC, cfg->minprocs, "minprocs", "processes", why, sizeof(why)) < 0 ||
		    drop_privileges(cfg, sock, why, sizeof(why)) < 0) {
			fprintf(stderr, "tend: %s\n", why);
			config_diag_done(&diag);
			config_free(cfg);
			free(sock);
			return 1;
		}
	}
	/* with -d too, what goes wrong before tend serves (and the config's
	 * warnings) is said on stderr; the echo ends once it detached */
	log_set_file_mode(log_file_mode(cfg->socket_mode));
	r = log_open(cfg->logfile, !cfg->silent || daemonize, cfg->loglevel);
	if (r < 0) {
		fprintf(stderr, "tend: logfile '%s' %s\n", cfg->logfile, log_open_why());
		config_diag_done(&diag);
		config_free(cfg);
		free(sock);
		return 1;
	}
	log_set_rotation(cfg->logfile_maxbytes, cfg->logfile_backups);
	for (size_t i = 0; i < diag.nwarnings; i++)
		log_warn("%s", diag.warnings[i]);
	config_diag_done(&diag);
	if (slots < 0)
		log_info("spawns copy the fd table: %s", slots == -ENOTSUP ? "under valgrind" : strerror(-slots));
	if (cfg->directory && chdir(cfg->directory) < 0)
		log_warn("directory = %s: %s; tend stays in its directory", cfg->directory, strerror(errno));

	/* many programs, many fds: raise our limit (children get the original),
	 * or refuse now, before anything has started */
	getrlimit(RLIMIT_NOFILE, &rl);
	child_nofile = rl;
	if (raise_nofile(cfg, &rl) < 0) {
		free(sock);
		config_free(cfg);
		log_close();
		return EXIT_CONFIG;
	}

	if (daemonize) {
		r = detach(&ready_fd);
		if (r < 0) {
			log_crit("cannot detach: %s", strerror(-r));
			return 1;
		}
	}

	pidfile = pidfile_opt ? xstrdup(pidfile_opt)
		  : cfg->pidfile ? xstrdup(cfg->pidfile)
		  : daemonize ? xasprintf("%.*s/tend.pid", (int)(strrchr(sock, '/') - sock), sock)
			      : NULL;

	/* tend adopts orphans of its programs and reaps them (also when not PID 1) */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);

	sv_init(&s, cfg, NULL);
	s.foreground = !daemonize;
	s.socket_path = sock;
	s.child_nofile = child_nofile;
	s.nofile_raised = child_nofile.rlim_cur != rl.rlim_cur || child_nofile.rlim_max != rl.rlim_max;

	r = sv_loop_init(&s, on_signal);
	if (r < 0) {
		log_crit("cannot set up the event loop: %s", strerror(-r));
		return 1;
	}
	/* dispositions are final now: children reset the ones that are not default */
	spawn_init();
	if (make_socket_dir(sock, cfg->socket_mode) == -EPERM) {
		status = 1;
		goto out;
	}
	api = api_new(&s);
	r = control_open(&ctl, &s.loop, sock, cfg->socket_mode, api_handle, api);
	if (r < 0) {
		if (r == -EADDRINUSE)
			log_crit("another tend is already running on %s", sock);
		else
			log_crit("cannot listen on %s: %s", sock, strerror(-r));
		status = 1;
		goto out;
	}
	if (cfg->socket_uid >= 0) {
		/* [unix_http_server] chown: that user and group may do everything, as under supervisord */
		r = control_chown(ctl, (uid_t)cfg->socket_uid, (gid_t)cfg->socket_gid);
		if (r < 0)
			log_error("[unix_http_server] chown: %s: %s", sock, strerror(-r));
	}
	{
		/* after the socket lock: a second tend must never touch the first one's tree */
		unsigned killed = 0;
		char *err = NULL;

		const char *mode = cfg->cgroups ? cfg->cgroups : "auto";

		r = cg_root_init(&s.cg, mode, cfg->cgroup_root, sock, &killed, &err);
		if (r < 0 && cfg->daemon_user && strcmp(mode, "auto") == 0) {
			/* user= without a delegated cgroup tree: as supervisord, no cgroups */
			log_warn("%s; user = %s: going on without cgroups", err, cfg->daemon_user);
			free(err);
			err = NULL;
			r = cg_root_init(&s.cg, "off", NULL, sock, &killed, &err);
		}
		if (r < 0) {
			log_crit("%s", err);
			free(err);
			status = 1;
			control_close(ctl);
			ctl = NULL;
			goto out;
		}
		if (killed)
			log_warn("killed %u process%s left in the cgroups of a tend that did not exit cleanly",
				 killed, killed == 1 ? "" : "es");
		if (s.cg.kind == CG_OFF) {
			/* no cgroups to find them by: what tend starts is recorded next to the socket */
			char *rec = xasprintf("%s.pids", sock);

			killed = 0;
			r = pidrec_open(&s.pidrec, rec, &killed);
			if (r < 0)
				log_warn("cannot record the processes tend starts in %s: %s; a tend killed with "
					 "SIGKILL would leave them running", rec, strerror(-r));
			if (killed)
				log_warn("killed %u process%s that a tend that did not exit cleanly started",
					 killed, killed == 1 ? "" : "es");
			free(rec);
		}
	}
	maps_start(&s); /* after the socket lock too: the maps a SIGKILLed tend left on it */
	if (cfg->inet_host) {
		control_set_credentials(ctl, cfg->inet_username, cfg->inet_password);
		control_set_anonymous_read(ctl, cfg->inet_anonymous_read);
		r = control_listen_tcp(ctl, cfg->inet_host, cfg->inet_port);
		if (r < 0)
			log_error("[inet_http_server] cannot listen on %s:%d: %s", cfg->inet_host,
				  cfg->inet_port, strerror(-r));
		else
			log_info("listening on http://%s:%d/ (dashboard, XML-RPC, API: %s)", cfg->inet_host,
				 cfg->inet_port,
				 cfg->inet_username	      ? "with the configured credentials"
				 : cfg->inet_anonymous_read ? "read-only, no credentials set"
							     : "status only, no credentials set");
	}
	if (pidfile && (r = write_pidfile(pidfile)) < 0)
		log_warn("cannot write pidfile %s: %s", pidfile, strerror(-r));
	log_info("tend %s started with pid %d; config %s; %zu program instance%s; socket %s; cgroups %s",
		 TEND_VERSION, (int)getpid(), cfg->path, s.ninst, s.ninst == 1 ? "" : "s", sock,
		 cg_root_describe(&s.cg));
	if (s.cg.kind != CG_OFF) {
		struct sbuf trees = { 0 };

		cg_root_trees(&s.cg, &trees);
		log_info("cgroup tree:%s", trees.s ? trees.s : "");
		sbuf_done(&trees);
	}
	if (daemonize) {
		log_set_stderr(false);
		(void)!write(ready_fd, "r", 1);
		close(ready_fd);
		redirect_stdio_to_null();
	}

	sv_autostart(&s);
	status = sv_run(&s);

	control_close(ctl);
	ctl = NULL;
	if (pidfile)
		unlink(pidfile);
	/* a clean exit: every program and what it left behind have stopped */
	pidrec_close(s.pidrec, true);
	s.pidrec = NULL;
out:
	pidrec_close(s.pidrec, false);
	/* sv_done removes AUTO logs (unless nocleanup), cgroup leaves, and frees the config */
	api_free(api);
	sv_done(&s);
	cg_root_done(&s.cg);
	loop_done(&s.loop);
	free(sock);
	free(pidfile);
	log_close();
	return status;
}
