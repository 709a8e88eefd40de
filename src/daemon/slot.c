/*
 * One instance's process, for real: the backend behind its inst_ops (spawn
 * with its environment, log pipes, user, cgroup leaf, shared socket and
 * readiness probe; signals to it, its group or its cgroup), and the timers
 * that belong to an instance rather than to its state table (drain_secs,
 * max_lifetime).
 */
#include "daemon/supervisor-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/maps.h"
#include "daemon/logstream.h"
#include "daemon/pidrec.h"
#include "daemon/ready.h"
#include "daemon/spawn.h"

extern char **environ;

/* ---- log pipes ------------------------------------------------------------- */

/*
 * The name of an AUTO log, chosen the first time an instance starts
 * (supervisord's naming, mkstemp's six characters from getrandom).  The file
 * is made by its stream at the program's first output (logstream's lazy
 * open: O_EXCL, and a name something else took meanwhile is left alone for
 * a new one, auto_renamed): a program that never writes costs no file, and
 * starting 1,000 programs no 2,000 creates.
 */
static const char *auto_log(struct slot *sl, char **path, const char *stream)
{
	const struct config *cfg = sl->sv->cfg;
	char *tmpl;

	if (*path)
		return *path;
	tmpl = xasprintf("%s/%s-%s---%s-XXXXXX.log", cfg->childlogdir, sl->in.cfg->fullname, stream,
			 cfg->identifier);
	for (char *p = tmpl + strlen(cfg->childlogdir) + 1; *p; p++)
		if (*p == '/')
			*p = '_';
	random_name_chars(tmpl + strlen(tmpl) - strlen("XXXXXX.log"), 6);
	*path = tmpl;
	return tmpl;
}

/* The stream took another name (the one chosen was taken): what status reports follows. */
static void auto_renamed(void *ctx, const char *path)
{
	char **p = ctx;

	free(*p);
	*p = xstrdup(path);
}

/*
 * The log pipe of one stream, made the first time the program starts.  A
 * destination that cannot be opened is logged; the program still runs.
 * Returns 0, or -1 (errno set) when no pipe could be made.
 */
static int open_stream(struct slot *sl, bool err_stream)
{
	struct inst *in = &sl->in;
	const struct log_dest *d = err_stream ? &in->cfg->err : &in->cfg->out;
	struct logstream **ls = err_stream ? &sl->err : &sl->out;
	const char *stream = err_stream ? "stderr" : "stdout";
	struct logstream_cfg cfg = {
		.name = in->cfg->fullname,
		.maxbytes = d->maxbytes,
		.backups = d->backups,
		.period = (enum log_period)d->rotate,
		.mode = log_file_mode(sl->sv->cfg->socket_mode),
		.strip_ansi = sl->sv->cfg->strip_ansi,
	};
	char *err = NULL;

	if (*ls)
		return 0;
	switch (d->kind) {
	case LOGDEST_FILE:
		cfg.path = d->path;
		break;
	case LOGDEST_AUTO:
		cfg.path = auto_log(sl, err_stream ? &in->auto_err : &in->auto_out, stream);
		cfg.lazy = true;
		cfg.rename_at = strlen(cfg.path) - strlen("XXXXXX.log");
		cfg.renamed = auto_renamed;
		cfg.renamed_ctx = err_stream ? &in->auto_err : &in->auto_out;
		break;
	case LOGDEST_PREFIX:
		cfg.path = NULL;
		break;
	case LOGDEST_NONE:
	case LOGDEST_STDOUT:
	case LOGDEST_STDERR:
		if (tap_wants_output(in->cfg, err_stream)) {
			/* events need the bytes: through tend, to where they go anyway */
			cfg.path = NULL;
			cfg.sink = d->kind == LOGDEST_NONE ? LOGSINK_NULL
				   : d->kind == LOGDEST_STDOUT ? LOGSINK_STDOUT : LOGSINK_STDERR;
			break;
		}
		return 0; /* no pipe: /dev/null, or tend's own stream given to the child */
	default:
		return 0;
	}
	*ls = logstream_new(&sl->sv->loop, &cfg, &err);
	if (!*ls) {
		log_warn("%s: cannot make a %s pipe: %s", in->cfg->fullname, stream, strerror(errno));
		return -1;
	}
	tap_output_open(sl, *ls, err_stream);
	if (err) {
		log_warn("%s: %s_logfile %s; the program runs, its %s is dropped", in->cfg->fullname, stream,
			 err, stream);
		free(err);
	}
	return 0;
}

struct logstream *sv_logstream(struct inst *in, bool stderr_stream)
{
	return stderr_stream ? slot_of(in)->err : slot_of(in)->out;
}

/* One stream's end: its last output drained (which may make a lazy file), then removed if it made one. */
static void stream_free(struct slot *sl, struct logstream **ls, char **auto_path)
{
	if (*ls) {
		logstream_drain(*ls);
		if (*auto_path && !sl->sv->cfg->nocleanup && !logstream_unopened(*ls))
			unlink(*auto_path);
		logstream_free(*ls);
		*ls = NULL;
	}
	free(*auto_path);
	*auto_path = NULL;
}

void slot_logs_free(struct slot *sl)
{
	stream_free(sl, &sl->out, &sl->in.auto_out);
	stream_free(sl, &sl->err, &sl->in.auto_err);
}

void sv_reopen_logs(struct supervisor *s)
{
	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *sl = slot_of(s->insts[i]);

		if (sl->out)
			logstream_reopen(sl->out);
		if (sl->err)
			logstream_reopen(sl->err);
	}
}

/* ---- the child's environment ----------------------------------------------- */

static bool env_has(char **env, size_t n, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < n; i++)
		if (strncmp(env[i], kv, klen + 1) == 0)
			return true;
	return false;
}

/*
 * The child's environment: tend's own (minus variables that describe tend's
 * own socket activation), then HOME/USER/LOGNAME for user=, supervisord's
 * SUPERVISOR_* and tend's TEND_* names, then [supervisord] and program
 * environment= (which win), except LISTEN_*, NOTIFY_SOCKET and the maps'
 * TEND_MAP_* (maps, NULL: none), which are always tend's.
 */
static char **build_env(const struct prog_config *pc, const char *home, const char *notify, const char *url,
			 char **maps)
{
	static const char *const drop[] = { "NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_PID=",
					    "LISTEN_FDNAMES=" };
	size_t n = 0, cap = strv_len(environ) + strv_len(pc->env) + strv_len(maps) + 16;
	char **env = xcalloc(cap, sizeof(*env));
	char *own[12];
	size_t nown = 0;

	own[nown++] = xasprintf("SUPERVISOR_ENABLED=1");
	if (url) /* what supervisor.childutils.getRPCInterface connects to */
		own[nown++] = xasprintf("SUPERVISOR_SERVER_URL=%s", url);
	own[nown++] = xasprintf("SUPERVISOR_PROCESS_NAME=%s", pc->name);
	own[nown++] = xasprintf("SUPERVISOR_GROUP_NAME=%s", pc->group);
	own[nown++] = xasprintf("TEND_PROCESS_NAME=%s", pc->fullname);
	own[nown++] = xasprintf("TEND_PROCESS_NUM=%d", pc->num);
	if (pc->listen && pc->kind != PROC_FCGI) {
		/* systemd's socket activation, ahead of everything (no environment= can
		 * override it); the child writes its pid over the blanks */
		env[n++] = xasprintf("LISTEN_FDS=1");
		env[n++] = xasprintf("LISTEN_PID=%-10s", "");
		env[n++] = xasprintf("LISTEN_FDNAMES=%s", pc->program);
	}
	if (notify) /* like LISTEN_*: tend's, whatever environment= says */
		env[n++] = xasprintf("NOTIFY_SOCKET=%s", notify);
	for (size_t i = 0; maps && maps[i]; i++)
		env[n++] = xstrdup(maps[i]);
	if (pc->user) {
		own[nown++] = xasprintf("HOME=%s", home ? home : "/");
		own[nown++] = xasprintf("USER=%s", pc->user);
		own[nown++] = xasprintf("LOGNAME=%s", pc->user);
	}
	/* later entries override earlier ones: walk from the most specific */
	for (size_t i = strv_len(pc->env); i-- > 0;)
		if (!env_has(env, n, pc->env[i]))
			env[n++] = xstrdup(pc->env[i]);
	for (size_t i = 0; i < nown; i++) {
		if (!env_has(env, n, own[i]))
			env[n++] = own[i];
		else
			free(own[i]);
	}
	for (char **e = environ; *e; e++) {
		bool skip = env_has(env, n, *e);

		for (size_t i = 0; i < ARRAY_SIZE(drop) && !skip; i++)
			skip = strncmp(*e, drop[i], strlen(drop[i])) == 0;
		if (!skip)
			env[n++] = xstrdup(*e);
	}
	env[n] = NULL;
	return env;
}

/*
 * Keys already in an environment being built: open addressing over the
 * text before '=', so building is linear in its size (env_has is
 * quadratic, which tend's own environment of 50+ variables made most of a
 * restart).
 */
struct keyset {
	const char **v;
	size_t cap;
};

static size_t key_len(const char *kv)
{
	return strcspn(kv, "=");
}

static size_t key_hash(const char *kv, size_t len)
{
	size_t h = 14695981039346656037ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)kv[i]) * 1099511628211ULL;
	return h;
}

/* Add kv's key; false when it was there already. */
static bool keyset_add(struct keyset *k, const char *kv)
{
	size_t len = key_len(kv), i = key_hash(kv, len) & (k->cap - 1);

	for (; k->v[i]; i = (i + 1) & (k->cap - 1))
		if (key_len(k->v[i]) == len && strncmp(k->v[i], kv, len) == 0)
			return false;
	k->v[i] = kv;
	return true;
}

/*
 * tend's own environment as every child gets it before a slot's entries
 * override some: environ without what tend sets per child (drop) and
 * without later duplicates of a key.  environ does not change after
 * start-up, so this is built once and shared by every slot.
 */
static char *const *base_env(size_t *ret_n)
{
	static const char *const drop[] = { "NOTIFY_SOCKET=", "LISTEN_FDS=", "LISTEN_PID=",
					    "LISTEN_FDNAMES=" };
	static char **base;
	static size_t nbase;

	if (!base) {
		size_t nenv = strv_len(environ);
		struct keyset keys = { NULL, 16 };

		while (keys.cap < 2 * (nenv + 1))
			keys.cap *= 2;
		keys.v = xcalloc(keys.cap, sizeof(*keys.v));
		base = xcalloc(nenv + 1, sizeof(*base));
		for (char **e = environ; *e; e++) {
			bool skip = false;

			for (size_t i = 0; i < ARRAY_SIZE(drop) && !skip; i++)
				skip = strncmp(*e, drop[i], strlen(drop[i])) == 0;
			if (!skip && keyset_add(&keys, *e))
				base[nbase++] = *e;
		}
		free(keys.v);
	}
	*ret_n = nbase;
	return base;
}

/* supervisord's SUPERVISOR_SERVER_URL: tend's own socket.  Caller frees. */
static char *server_url(const struct supervisor *s)
{
	char *path = s->socket_path ? xstrdup(s->socket_path) : config_socket_path(s->cfg);
	char *url = xasprintf("unix://%s", path);

	free(path);
	return url;
}

/*
 * Build sl's kept environment (the same entries as build_env, in the same
 * order): the strings that are the slot's (tend's variables, environment=,
 * LISTEN_*) are copied into sl->env_own, and of tend's own environment
 * (base_env) only the indexes of the entries those override are kept
 * (sl->env_skip, usually none): an instance keeps its own strings, not a
 * pointer per variable of tend's environment (env_join puts the two
 * together for each spawn).  SUPERVISOR_ENABLED and the default
 * SUPERVISOR_SERVER_URL are not copied either: sv->env_common holds them
 * once, sl->env_common says which the slot has.
 */
static void build_kept_env(struct slot *sl, const char *home, const char *url, char **maps)
{
	const struct prog_config *pc = sl->in.cfg;
	size_t nbase, nprog = strv_len(pc->env), nmaps = strv_len(maps), nown = 0, nmine = 0, nskip = 0;
	char *const *base = base_env(&nbase);
	char **own = xcalloc(nprog + nmaps + 16, sizeof(*own)), *mine[16], **common = sl->sv->env_common;
	struct keyset keys = { NULL, 16 };
	bool url_common;

	while (keys.cap < 2 * (nbase + nprog + nmaps + 16))
		keys.cap *= 2;
	keys.v = xcalloc(keys.cap, sizeof(*keys.v));
	/* the entries every instance has alike: one copy in the supervisor
	 * (10,000 instances: 0.7 MB), the slot's bits say which it has */
	if (!common[0]) {
		char *def = server_url(sl->sv);

		common[0] = xstrdup("SUPERVISOR_ENABLED=1");
		common[1] = xasprintf("SUPERVISOR_SERVER_URL=%s", def);
		free(def);
	}
	/* what supervisor.childutils.getRPCInterface connects to: a program's
	 * own serverurl= is its own entry */
	url_common = url && strcmp(common[1] + strlen("SUPERVISOR_SERVER_URL="), url) == 0;
	if (url && !url_common)
		mine[nmine++] = xasprintf("SUPERVISOR_SERVER_URL=%s", url);
	mine[nmine++] = xasprintf("SUPERVISOR_PROCESS_NAME=%s", pc->name);
	mine[nmine++] = xasprintf("SUPERVISOR_GROUP_NAME=%s", pc->group);
	mine[nmine++] = xasprintf("TEND_PROCESS_NAME=%s", pc->fullname);
	mine[nmine++] = xasprintf("TEND_PROCESS_NUM=%d", pc->num);
	if (pc->user) {
		mine[nmine++] = xasprintf("HOME=%s", home ? home : "/");
		mine[nmine++] = xasprintf("USER=%s", pc->user);
		mine[nmine++] = xasprintf("LOGNAME=%s", pc->user);
	}
	if (pc->listen && pc->kind != PROC_FCGI) {
		/* socket activation, ahead of everything (no environment= can override
		 * it); each child writes its pid over the blanks */
		own[nown++] = xasprintf("LISTEN_FDS=1");
		own[nown++] = xasprintf("LISTEN_PID=%-10s", "");
		own[nown++] = xasprintf("LISTEN_FDNAMES=%s", pc->program);
	}
	for (size_t i = 0; maps && maps[i]; i++) /* like LISTEN_*: tend's */
		own[nown++] = xstrdup(maps[i]);
	for (size_t i = 0; i < nown; i++)
		keyset_add(&keys, own[i]);
	/* later entries override earlier ones: walk from the most specific */
	for (size_t i = nprog; i-- > 0;)
		if (keyset_add(&keys, pc->env[i]))
			own[nown++] = xstrdup(pc->env[i]);
	sl->env_common = 0;
	if (keyset_add(&keys, common[0]))
		sl->env_common |= 1u << 0;
	if (url_common && keyset_add(&keys, common[1]))
		sl->env_common |= 1u << 1;
	for (size_t i = 0; i < nmine; i++) {
		if (keyset_add(&keys, mine[i]))
			own[nown++] = mine[i];
		else
			free(mine[i]);
	}
	/* the keys point into own's strings: compare before they are packed and freed */
	for (size_t i = 0; i < nbase; i++) {
		if (keyset_add(&keys, base[i]))
			continue;
		sl->env_skip = xrealloc(sl->env_skip, (nskip + 1) * sizeof(*sl->env_skip));
		sl->env_skip[nskip++] = i;
	}
	sl->env_nskip = nskip;
	free(keys.v);
	own[nown] = NULL;
	sl->env_own = strv_pack(own);
	strv_free(own);
}

/* sl's environment for one spawn: its own entries, then tend's less what they override.  Caller frees the array. */
static char **env_join(const struct slot *sl)
{
	size_t nbase, nown = strv_len(sl->env_own), n = 0, k = 0, ncommon = ARRAY_SIZE(sl->sv->env_common);
	char *const *base = base_env(&nbase);
	char **env = xmalloc((nown + ncommon + nbase + 1) * sizeof(*env));

	memcpy(env, sl->env_own, nown * sizeof(*env));
	n = nown;
	for (size_t i = 0; i < ncommon; i++)
		if (sl->env_common & (1u << i))
			env[n++] = sl->sv->env_common[i];
	for (size_t i = 0; i < nbase; i++) {
		if (k < sl->env_nskip && sl->env_skip[k] == i) {
			k++;
			continue;
		}
		env[n++] = base[i];
	}
	env[n] = NULL;
	return env;
}

/* ---- what every process of an instance gets ---------------------------------- */

/*
 * The part of a spawn request that every process of an instance gets,
 * whatever it runs (the program itself, its ready=exec probe): user, groups,
 * HOME/USER/LOGNAME and the rest of its environment, directory, umask,
 * rlimits, nice, oom_score_adj, no_new_privs and its cgroup leaf.  The
 * caller adds argv and stdio.
 */
_Static_assert(CG_MAX_PROCS_FDS <= SPAWN_MAX_CGROUP_FDS, "a child joins more cgroups than spawn has slots for");

struct inst_req {
	struct spawn_req req;
	gid_t groups[256];
	struct rlimit nofile;
	int cg_fds[CG_MAX_PROCS_FDS];
	char **env_built;  /* an environment for this spawn only (with NOTIFY_SOCKET) */
	char **env_probe;  /* a probe's: the slot's without LISTEN_* (the array only) */
	char **env_joined; /* the kept environment put together for this spawn (the array only) */
};

/*
 * Fill r for sl.  notify: NOTIFY_SOCKET's value, or NULL; probe: for a
 * ready=exec probe (no shared socket, so no LISTEN_*).  The environment is
 * built once and kept in the slot across restarts (sl->env_own), except one
 * with a notify socket, new each time.  0, or -EPERM (user= needs root).
 */
static int inst_req_init(struct slot *sl, const char *notify, bool probe, struct inst_req *r)
{
	const struct prog_config *pc = sl->in.cfg;
	struct supervisor *s = sl->sv;
	int ngroups = ARRAY_SIZE(r->groups);
	char **env, **maps, *listen_pid, *url;
	size_t listen_pid_len;

	*r = (struct inst_req){ .req = {
		.directory = pc->directory,
		.umask = pc->umask >= 0 ? pc->umask : s->cfg->umask,
		.nofile = s->nofile_raised ? &s->child_nofile : NULL,
		.core = pc->core,
		.nice = pc->nice,
		.oom_score_adj = pc->oom_score_adj,
		.no_new_privs = pc->no_new_privs,
		.out = { .fd = -1, .kind = LOGDEST_NONE },
		.err = { .fd = -1, .kind = LOGDEST_NONE },
		.listen_fd = -1,
		.in_fd = -1,
		.cgroup_into_fd = -1,
	} };
	if (pc->user) {
		if (geteuid() != 0 && geteuid() != pc->uid)
			return -EPERM;
		if (geteuid() == 0) {
			if (getgrouplist(pc->user, pc->gid, r->groups, &ngroups) < 0)
				ngroups = 1, r->groups[0] = pc->gid;
			r->req.switch_user = true;
			r->req.uid = pc->uid;
			r->req.gid = pc->gid;
			r->req.groups = r->groups;
			r->req.ngroups = ngroups;
		}
	}
	if (pc->nofile > 0) {
		r->nofile.rlim_cur = r->nofile.rlim_max = (rlim_t)pc->nofile;
		r->req.nofile = &r->nofile;
	}
	if (slot_ensure_leaf(sl) == 0 && sl->cg_made) {
		r->req.cgroup_fds = r->cg_fds;
		r->req.ncgroup_fds = cg_leaf_procs_fds(&sl->cg, r->cg_fds, &r->req.cgroup_into_fd);
	}
	if (notify || !sl->env_own) {
		const char *home = NULL;

		if (pc->user) {
			struct passwd *pw = getpwuid(pc->uid);

			home = pw ? pw->pw_dir : NULL;
		}
		url = pc->serverurl ? xstrdup(pc->serverurl) : server_url(s);
		maps = maps_env(s, pc);
		if (notify)
			env = build_env(pc, home, notify, url, maps);
		else
			build_kept_env(sl, home, url, maps), env = sl->env_own;
		free(url);
		strv_free(maps);
		listen_pid = NULL;
		listen_pid_len = 0;
		/* LISTEN_* are tend's, among the slot's own strings */
		for (char **e = env; pc->listen && *e; e++) {
			if (strncmp(*e, "LISTEN_PID=", 11) == 0) {
				listen_pid = *e + 11;
				listen_pid_len = strlen(*e + 11);
			}
		}
		if (notify) {
			r->env_built = env;
		} else {
			sl->listen_pid = listen_pid;
			sl->listen_pid_len = listen_pid_len;
		}
	} else {
		listen_pid = sl->listen_pid;
		listen_pid_len = sl->listen_pid_len;
	}
	if (!notify)
		env = r->env_joined = env_join(sl);
	if (probe) {
		size_t n = 0;

		r->env_probe = xcalloc(strv_len(env) + 1, sizeof(*r->env_probe));
		for (char **e = env; *e; e++)
			if (strncmp(*e, "LISTEN_", 7) != 0)
				r->env_probe[n++] = *e;
		r->req.envp = r->env_probe;
	} else {
		r->req.envp = env;
		/* the child writes its pid over these (digits, then NULs to the end) */
		r->req.listen_pid = listen_pid;
		r->req.listen_pid_len = listen_pid_len;
	}
	return 0;
}

static void inst_req_done(struct inst_req *r)
{
	strv_free(r->env_built);
	r->env_built = NULL;
	free(r->env_probe);
	r->env_probe = NULL;
	free(r->env_joined);
	r->env_joined = NULL;
	for (int i = 0; i < r->req.ncgroup_fds; i++)
		close(r->cg_fds[i]);
	r->req.ncgroup_fds = 0;
	if (r->req.cgroup_into_fd >= 0)
		close(r->req.cgroup_into_fd);
	r->req.cgroup_into_fd = -1;
}

/*
 * The ready=exec probe of in (probe_spawn_fn): argv run as the instance's
 * processes run (inst_req), with /dev/null as stdio.  The child is reaped as
 * a stranger and handed to probe_reaped().
 */
static int slot_spawn_probe(struct inst *in, char *const *argv, pid_t *ret_pid, int *ret_exec_err)
{
	struct inst_req r;
	struct spawn_report rep;
	pid_t pid;
	int ret;

	ret = inst_req_init(slot_of(in), NULL, true, &r);
	if (ret < 0)
		return ret;
	r.req.argv = argv;
	ret = spawn_process(&r.req, &pid, &rep);
	inst_req_done(&r);
	if (ret < 0)
		return ret;
	*ret_pid = pid;
	*ret_exec_err = rep.err;
	return 0;
}

/* ---- the backend ------------------------------------------------------------ */

static int slot_spawn(struct inst *in)
{
	const struct prog_config *pc = in->cfg;
	struct slot *sl = slot_of(in);
	struct supervisor *s = sl->sv;
	struct inst_req r;
	struct spawn_report rep;
	pid_t pid;
	int listen_fd = -1, child_in = -1, child_out = -1, ret;

	/* an event listener's stdout is the protocol (listener.c), not a log */
	if ((pc->kind != PROC_LISTENER && open_stream(sl, false) < 0) ||
	    (!pc->redirect_stderr && open_stream(sl, true) < 0))
		return -errno;
	if (pc->listen) {
		listen_fd = listener_get(pc);
		if (listen_fd < 0) {
			log_warn("spawnerr: %s: cannot listen on %s: %s", pc->fullname, pc->listen,
				 strerror(-listen_fd));
			return listen_fd;
		}
	}
	/* the maps exist before the program runs (kept across its restarts) */
	ret = maps_prepare(s, pc, in->exec_what, sizeof(in->exec_what));
	if (ret < 0)
		return ret;
	probe_free(sl->probe);
	sl->probe = pc->ready_kind != READY_NONE ? probe_new(&s->loop, in, slot_spawn_probe) : NULL;
	ret = inst_req_init(sl, probe_notify_path(sl->probe), false, &r);
	if (ret < 0)
		return ret;
	r.req.argv = pc->argv;
	r.req.redirect_stderr = pc->redirect_stderr;
	r.req.out.kind = pc->out.kind;
	r.req.out.fd = sl->out ? logstream_child_fd(sl->out) : -1;
	r.req.err.kind = pc->err.kind;
	r.req.err.fd = sl->err ? logstream_child_fd(sl->err) : -1;
	/* [fcgi-program:x]: the socket is stdin; listen=: fd 3 with LISTEN_FDS */
	if (pc->kind == PROC_FCGI)
		r.req.in_fd = listen_fd;
	else
		r.req.listen_fd = listen_fd;
	if (pc->kind == PROC_LISTENER) {
		ret = lproc_stdout_pipe(sl, &child_out);
		if (ret < 0)
			goto out_req;
		r.req.out.fd = child_out;
	}
	if (r.req.in_fd < 0) {
		/* supervisord's stdin: a pipe tend writes to (sendProcessStdin, a listener's events) */
		ret = tap_stdin_pipe(sl, &child_in);
		if (ret < 0)
			goto out_pipes;
		r.req.in_fd = child_in;
	}
	ret = spawn_process(&r.req, &pid, &rep);
	if (ret < 0)
		tap_exited(sl);
out_pipes:
	if (child_in >= 0)
		close(child_in);
	if (child_out >= 0)
		close(child_out);
out_req:
	inst_req_done(&r);
	if (ret < 0) {
		log_warn("spawnerr: %s: %s", pc->fullname, strerror(-ret));
		return ret;
	}
	in->pid = pid;
	in->reaped = false;
	pidrec_started(s->pidrec, pid);
	log_info("spawned: %s with pid %d", pc->fullname, (int)pid);
	if (sl->probe && !rep.err)
		probe_arm(sl->probe, pid);
	if (pc->memory_limit)
		sv_rss_watch(s);
	if (rep.err) {
		/* the child exits 127; its exit carries this reason */
		in->exec_errno = rep.err;
		snprintf(in->exec_what, sizeof(in->exec_what), "%s", rep.what);
		log_warn("spawnerr: %s: %s failed: %s", pc->fullname,
			 strcmp(rep.what, "exec") == 0 ? pc->argv[0] : rep.what, strerror(rep.err));
	}
	return 0;
}

static int slot_kill(struct inst *in, int sig, bool group)
{
	struct slot *sl = slot_of(in);

	/*
	 * A child's pid (and group id) cannot be reused before its parent reaps
	 * it, and tend reaps only in sv_reap, which marks the instance: so kill()
	 * on the pid is as exact as a pidfd would be, without a descriptor per
	 * instance (10,000 programs fit in 20,000 fds).
	 */
	if (!in->pid || in->reaped)
		return -ESRCH;
	if (group && sl->cg_made) {
		/* its cgroup holds every process it made, escapees included */
		kill(-in->pid, sig);
		if (sig == SIGKILL)
			cg_leaf_kill(&sl->cg, 0);
		else
			cg_leaf_signal(&sl->cg, sig);
		return 0;
	}
	if (group && kill(-in->pid, sig) == 0)
		return 0;
	return kill(in->pid, sig) < 0 ? -errno : 0;
}

const struct sv_backend slot_backend = {
	.spawn = slot_spawn,
	.kill = slot_kill,
};

void slot_env_reset(struct slot *sl)
{
	free(sl->env_own); /* one block (strv_pack) */
	free(sl->env_skip);
	sl->env_own = NULL;
	sl->env_skip = NULL;
	sl->env_nskip = 0;
	sl->listen_pid = NULL;
	sl->listen_pid_len = 0;
}

/* ---- the child reached execve() -------------------------------------------- */

static void on_exec_ok(struct loop *l, struct deferred *d)
{
	struct inst *in = container_of(d, struct inst, exec_ok_later);

	(void)l;
	if (in->pid && in->state == PS_STARTING)
		inst_event(in, EV_EXEC_OK, NULL);
}

void slot_exec_ok_later(struct slot *sl)
{
	loop_defer(&sl->sv->loop, &sl->in.exec_ok_later, on_exec_ok);
}

/* ---- drain_secs --------------------------------------------------------------- */

static void on_drained(struct loop *l, struct timer *t)
{
	struct slot *sl = container_of(t, struct slot, drain);

	(void)l;
	sl->drained = true;
	sv_kick(sl->sv);
}

void slot_drain(struct slot *sl)
{
	struct inst *in = &sl->in;

	if (in->draining)
		return;
	in->draining = true;
	in->drain_end = mono_ns() + in->cfg->drain_ns;
	log_info("draining: %s for %.1fs before it stops", in->cfg->fullname, (double)in->cfg->drain_ns / 1e9);
	loop_timer_start(&sl->sv->loop, &sl->drain, in->cfg->drain_ns, on_drained);
	sv_notify_change(sl->sv, in, in->state);
}

bool slot_undrain(struct slot *sl)
{
	bool was = sl->in.draining;

	loop_timer_stop(&sl->sv->loop, &sl->drain);
	sl->in.draining = false;
	sl->drained = false;
	return was;
}

/* ---- max_lifetime -------------------------------------------------------------- */

/*
 * Restart the instance (against slow leaks).  Instances of one program take
 * turns: while another one is being recycled, wait a second.
 */
static void on_lifetime(struct loop *l, struct timer *t)
{
	struct slot *sl = container_of(t, struct slot, life);
	struct supervisor *s = sl->sv;

	for (size_t i = 0; i < s->ninst; i++) {
		struct slot *o = slot_of(s->insts[i]);

		if (o != sl && strcmp(o->in.cfg->program, sl->in.cfg->program) == 0 &&
		    (o->recycling || o->in.state == PS_STARTING || o->in.state == PS_STOPPING)) {
			loop_timer_start(l, t, 1 * NSEC_PER_SEC, on_lifetime);
			return;
		}
	}
	if (sl->in.state != PS_RUNNING || s->shutting_down)
		return;
	log_info("recycling %s: it ran for max_lifetime", sl->in.cfg->fullname);
	sl->recycling = true;
	sv_restart(s, &sl->in);
}

void slot_lifetime_update(struct slot *sl)
{
	struct inst *in = &sl->in;

	if (in->state == PS_RUNNING && in->cfg->max_lifetime_ns > 0)
		loop_timer_start(&sl->sv->loop, &sl->life, in->cfg->max_lifetime_ns - (mono_ns() - in->start_ns),
				 on_lifetime);
	else if (in->state != PS_RUNNING)
		loop_timer_stop(&sl->sv->loop, &sl->life);
}
