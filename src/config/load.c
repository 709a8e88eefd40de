/*
 * The public entry points of config.h: loading (lex.c, then build.c),
 * composing, freeing and comparing configs, and the socket's path.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "common/util.h"
#include "config/config-internal.h"

static struct config *config_new(const char *path)
{
	struct config *c = xcalloc(1, sizeof(*c));
	const char *tmp = getenv("TMPDIR");

	c->path = xstrdup(path);
	c->here = cfg_dir_of(path);
	c->socket_mode = 0600;
	c->childlogdir = xstrdup(tmp && *tmp == '/' ? tmp : "/tmp");
	c->identifier = xstrdup("tend");
	c->loglevel = LOG_INFO;
	c->umask = -1;
	return c;
}

static int cmp_diag(const void *a, const void *b)
{
	/* "file:12: ..." sorts before "file:100: ..." */
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

static int finish(struct loader *L, struct config *c, struct config **ret)
{
	cfg_build(L, c);
	cfg_loader_done(L);
	if (L->diag->nerrors > 1)
		qsort(L->diag->errors, L->diag->nerrors, sizeof(char *), cmp_diag);
	if (L->diag->nwarnings > 1)
		qsort(L->diag->warnings, L->diag->nwarnings, sizeof(char *), cmp_diag);
	if (L->diag->nerrors > 0) {
		config_free(c);
		return -EINVAL;
	}
	*ret = c;
	return 0;
}

int config_load(const char *path, struct config **ret_config, struct config_diag *diag)
{
	struct loader L = { .diag = diag };
	char real[PATH_MAX];
	struct config *c;
	int r;

	memset(diag, 0, sizeof(*diag));
	if (!realpath(path, real)) {
		r = -errno;
		cfg_diag_add(diag, false, path, 0, "cannot read the config: %s", strerror(-r));
		return r;
	}
	c = config_new(real);
	r = cfg_load_file(&L, real, NULL, 0);
	if (r < 0) {
		cfg_loader_done(&L);
		config_free(c);
		return r;
	}
	return finish(&L, c, ret_config);
}

int config_load_socket(const char *path, char **ret_socket)
{
	struct config_diag diag = { 0 };
	struct loader L = { .diag = &diag, .socket_only = true };
	struct xvars base = { .host_node_name = "" };
	char real[PATH_MAX];
	struct config *c;
	int r;

	if (!realpath(path, real))
		return -errno;
	c = config_new(real);
	base.here = c->here;
	r = cfg_load_file(&L, real, NULL, 0);
	if (r == 0) {
		for (size_t i = 0; i < L.nsecs; i++) {
			if (strcmp(L.secs[i].name, "unix_http_server") == 0)
				cfg_build_unix_http(&L, c, &L.secs[i], &base);
			else if (strcmp(L.secs[i].name, "supervisorctl") == 0)
				cfg_build_ctl(&L, c, &L.secs[i], &base);
		}
		*ret_socket = config_socket_path(c);
	}
	cfg_loader_done(&L);
	config_free(c);
	config_diag_done(&diag);
	return r;
}

int config_load_string(const char *name, const char *text, struct config **ret_config,
		       struct config_diag *diag)
{
	struct loader L = { .diag = diag };
	struct config *c;
	char *file;

	memset(diag, 0, sizeof(*diag));
	c = config_new(name);
	file = cfg_remember_file(&L, name);
	cfg_parse_text(&L, file, text);
	return finish(&L, c, ret_config);
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->nprocs; i++)
		cfg_proc_free(c->procs[i]);
	free(c->procs);
	for (size_t i = 0; i < c->ngroups; i++) {
		struct group_config *g = c->groups[i];

		if (g->refs) {
			g->refs--;
			continue;
		}
		free(g->name);
		strv_free(g->programs);
		free(g->file);
		free(g);
	}
	free(c->groups);
	free(c->path);
	free(c->here);
	free(c->socket_path);
	free(c->logfile);
	free(c->pidfile);
	free(c->childlogdir);
	free(c->identifier);
	strv_free(c->env);
	free(c->ctl_serverurl);
	free(c->exit_with);
	free(c->cgroups);
	free(c->cgroup_root);
	free(c->inet_host);
	free(c->inet_username);
	free(c->inet_password);
	free(c);
	return NULL;
}

const struct group_config *config_group(const struct config *c, const char *name)
{
	for (size_t i = 0; c && i < c->ngroups; i++)
		if (strcmp(c->groups[i]->name, name) == 0)
			return c->groups[i];
	return NULL;
}

static char *strdup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct config *config_compose(const struct config *base, const struct config *from, const char *group)
{
	struct config *c = xmalloc(sizeof(*c));
	size_t np = base->nprocs + (from ? from->nprocs : 0);
	size_t ng = base->ngroups + (from ? from->ngroups : 0);

	*c = *base;
	c->path = strdup_or_null(base->path);
	c->here = strdup_or_null(base->here);
	c->socket_path = strdup_or_null(base->socket_path);
	c->logfile = strdup_or_null(base->logfile);
	c->pidfile = strdup_or_null(base->pidfile);
	c->childlogdir = strdup_or_null(base->childlogdir);
	c->identifier = strdup_or_null(base->identifier);
	c->env = strv_dup(base->env);
	c->exit_with = strdup_or_null(base->exit_with);
	c->exit_with_file = NULL;
	c->cgroups = strdup_or_null(base->cgroups);
	c->cgroup_root = strdup_or_null(base->cgroup_root);
	c->inet_host = strdup_or_null(base->inet_host);
	c->inet_username = strdup_or_null(base->inet_username);
	c->inet_password = strdup_or_null(base->inet_password);
	c->ctl_serverurl = strdup_or_null(base->ctl_serverurl);
	c->refs = 0;
	c->procs = xcalloc(np + 1, sizeof(*c->procs));
	c->groups = xcalloc(ng + 1, sizeof(*c->groups));
	c->nprocs = c->ngroups = 0;
	for (size_t i = 0; i < base->nprocs; i++) {
		if (strcmp(base->procs[i]->group, group) == 0)
			continue;
		base->procs[i]->refs++;
		c->procs[c->nprocs++] = base->procs[i];
	}
	for (size_t i = 0; i < base->ngroups; i++) {
		if (strcmp(base->groups[i]->name, group) == 0)
			continue;
		base->groups[i]->refs++;
		c->groups[c->ngroups++] = base->groups[i];
	}
	for (size_t i = 0; from && i < from->nprocs; i++) {
		if (strcmp(from->procs[i]->group, group) != 0)
			continue;
		from->procs[i]->refs++;
		c->procs[c->nprocs++] = from->procs[i];
	}
	for (size_t i = 0; from && i < from->ngroups; i++) {
		if (strcmp(from->groups[i]->name, group) != 0)
			continue;
		from->groups[i]->refs++;
		c->groups[c->ngroups++] = from->groups[i];
	}
	return c;
}

void config_diag_done(struct config_diag *d)
{
	strv_free(d->errors);
	strv_free(d->warnings);
	memset(d, 0, sizeof(*d));
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool log_dest_eq(const struct log_dest *a, const struct log_dest *b)
{
	return a->kind == b->kind && str_eq(a->path, b->path) && a->maxbytes == b->maxbytes &&
	       a->backups == b->backups && a->rotate == b->rotate;
}

bool proc_config_same_process(const struct proc_config *a, const struct proc_config *b)
{
	return strv_equal(a->argv, b->argv) && strv_equal(a->env, b->env) &&
	       str_eq(a->directory, b->directory) && a->umask == b->umask && str_eq(a->user, b->user) &&
	       a->uid == b->uid && a->gid == b->gid && a->redirect_stderr == b->redirect_stderr &&
	       log_dest_eq(&a->out, &b->out) && log_dest_eq(&a->err, &b->err) &&
	       a->memory_limit == b->memory_limit && a->cpu_quota == b->cpu_quota &&
	       a->tasks_max == b->tasks_max && a->nofile == b->nofile && a->core == b->core &&
	       a->nice == b->nice && a->oom_score_adj == b->oom_score_adj &&
	       a->no_new_privs == b->no_new_privs && str_eq(a->listen, b->listen) &&
	       /* how readiness is told is part of the start (NOTIFY_SOCKET, and a
		* probe in flight follows the config it was made from) */
	       str_eq(a->ready, b->ready);
}

bool proc_config_equal(const struct proc_config *a, const struct proc_config *b)
{
	return proc_config_same_process(a, b) && str_eq(a->fullname, b->fullname) &&
	       a->priority == b->priority && a->autostart == b->autostart &&
	       a->autorestart == b->autorestart && a->startsecs_ns == b->startsecs_ns &&
	       a->startretries == b->startretries &&
	       memcmp(a->exitcodes, b->exitcodes, sizeof(a->exitcodes)) == 0 &&
	       a->stopsignal == b->stopsignal && a->stopwait_ns == b->stopwait_ns &&
	       a->stopasgroup == b->stopasgroup && a->killasgroup == b->killasgroup &&
	       a->restart_delay_ns == b->restart_delay_ns && a->backoff_factor == b->backoff_factor &&
	       a->max_backoff_ns == b->max_backoff_ns &&
	       a->backoff_reset_after_ns == b->backoff_reset_after_ns &&
	       strv_equal(a->depends_on, b->depends_on) && a->max_lifetime_ns == b->max_lifetime_ns &&
	       str_eq(a->ready, b->ready) && a->ready_timeout_ns == b->ready_timeout_ns &&
	       a->drain_ns == b->drain_ns && a->pool_min == b->pool_min && a->pool_max == b->pool_max &&
	       a->scale_target == b->scale_target && a->scale_interval_ns == b->scale_interval_ns &&
	       a->scale_cooldown_ns == b->scale_cooldown_ns && a->pool_spare == b->pool_spare;
}

bool proc_config_expected_exit(const struct proc_config *pc, int code)
{
	if (code < 0 || code > 255)
		return false;
	return pc->exitcodes[code / 64] & (1ULL << (code % 64));
}

char *config_default_socket(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		return xstrdup("/run/tend/tend.sock");
	if (xdg && xdg[0] == '/')
		return xasprintf("%s/tend/tend.sock", xdg);
	return xasprintf("/tmp/tend-%u/tend.sock", (unsigned)geteuid());
}

char *config_socket_path(const struct config *c)
{
	if (c->socket_path)
		return xstrdup(c->socket_path);
	if (c->ctl_serverurl && strncmp(c->ctl_serverurl, "unix://", 7) == 0)
		return xstrdup(c->ctl_serverurl + 7);
	return config_default_socket();
}
