/*
 * The command layer (see cmd.h): the use cases both APIs share, in plain C.
 */
#include "daemon/cmd.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "daemon/log.h"

/* ---- names ------------------------------------------------------------------ */

/*
 * Append in unless v[0..old) has it already: one pass over the instances
 * lists each once, so only what earlier names put in the list is searched
 * (`tend status` of "all" with 10,000 programs is linear).
 */
static void targets_add(struct targets *t, struct inst *in, size_t old)
{
	for (size_t j = 0; j < old; j++)
		if (t->v[j] == in)
			return; /* the same instance named twice is listed once */
	if (t->n + 2 > t->cap) {
		t->cap = MAX(t->cap * 2, (size_t)16);
		t->v = xrealloc(t->v, t->cap * sizeof(*t->v));
	}
	t->v[t->n++] = in;
	t->v[t->n] = NULL;
}

void targets_done(struct targets *t)
{
	free(t->v);
	free(t->group);
	memset(t, 0, sizeof(*t));
}

/* Does spec name pc, by tend's rules? */
static bool tend_match(const char *spec, const struct prog_config *pc)
{
	const char *colon = strchr(spec, ':');
	size_t glen = colon ? (size_t)(colon - spec) : 0;
	bool in_group = colon && strncmp(spec, pc->group, glen) == 0 && pc->group[glen] == '\0';

	if (strcmp(spec, "all") == 0)
		return true;
	if (colon && strcmp(colon + 1, "*") == 0)
		return in_group;
	if (colon)
		return strcmp(spec, pc->fullname) == 0 || (in_group && strcmp(colon + 1, pc->name) == 0);
	return strcmp(spec, pc->fullname) == 0 || strcmp(spec, pc->name) == 0 || strcmp(spec, pc->program) == 0 ||
	       strcmp(spec, pc->group) == 0;
}

void cmd_group_members(struct supervisor *s, const char *g, struct targets *ret)
{
	size_t old = ret->n;

	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->by_start[i];

		if (sv_visible(in) && (!g || strcmp(in->cfg->group, g) == 0))
			targets_add(ret, in, old);
	}
}

bool cmd_group_in_use(const struct supervisor *s, const char *g)
{
	for (size_t i = 0; i < s->ninst; i++)
		if (sv_visible(s->insts[i]) && strcmp(s->insts[i]->cfg->group, g) == 0)
			return true;
	return false;
}

/* supervisord's namespec: a process ("group:name", "name" = "name:name") or a group. */
static int supervisord_lookup(struct supervisor *s, const char *spec, struct targets *ret)
{
	const char *colon = strchr(spec, ':');
	const char *name = colon ? colon + 1 : spec;
	size_t glen = colon ? (size_t)(colon - spec) : strlen(spec);
	bool group = colon && (!*name || strcmp(name, "*") == 0);

	for (size_t i = 0; i < s->ninst; i++) {
		struct inst *in = s->insts[i];

		if (!sv_visible(in) || strncmp(in->cfg->group, spec, glen) != 0 || in->cfg->group[glen] != '\0')
			continue;
		if (group) {
			ret->group = xstrndup(spec, glen);
			cmd_group_members(s, ret->group, ret);
			return (int)ret->n;
		}
		if (strcmp(in->cfg->name, name) == 0) {
			targets_add(ret, in, ret->n);
			return 1;
		}
	}
	return -ENOENT;
}

int cmd_resolve(struct supervisor *s, const char *spec, enum name_style style, struct targets *ret)
{
	size_t before = ret->n;
	bool named = false;

	if (!spec)
		return -ENOENT;
	if (style == NAMES_SUPERVISORD)
		return supervisord_lookup(s, spec, ret);
	for (size_t i = 0; i < s->ninst; i++) {
		if (!sv_visible(s->insts[i]) || !tend_match(spec, s->insts[i]->cfg))
			continue;
		named = true;
		targets_add(ret, s->insts[i], before);
	}
	return named ? (int)(ret->n - before) : -ENOENT;
}

/* ---- start, stop, restart ------------------------------------------------------- */

int cmd_check_exec(const struct prog_config *pc)
{
	const char *cmd = pc->argv && pc->argv[0] ? pc->argv[0] : "";
	const char *path = NULL;
	char buf[PATH_MAX];
	struct stat st;

	if (strchr(cmd, '/')) {
		if (cmd[0] != '/' && pc->directory) {
			snprintf(buf, sizeof(buf), "%s/%s", pc->directory, cmd);
			cmd = buf;
		}
		if (stat(cmd, &st) < 0)
			return -ENOENT;
		return S_ISREG(st.st_mode) && access(cmd, X_OK) == 0 ? 0 : -EACCES;
	}
	for (char **e = pc->env; e && *e; e++)
		if (strncmp(*e, "PATH=", 5) == 0)
			path = *e + 5;
	if (!path)
		path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path; *p;) {
		const char *colon = strchrnul(p, ':');

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(colon - p), p, cmd);
		if (stat(buf, &st) == 0 && S_ISREG(st.st_mode))
			return access(buf, X_OK) == 0 ? 0 : -EACCES;
		p = *colon ? colon + 1 : colon;
	}
	return -ENOENT;
}

struct cmd_op {
	struct supervisor *sv;
	enum cmd_kind kind;
	bool wait;
	struct cmd_outcome *out;  /* one per target; result preset for what was decided at once */
	char **why;               /* per target: a reason made here (freed with the op) */
	size_t n;
	struct waiter *w;
	struct deferred later;    /* no wait: answer in the deferred phase */
	cmd_done_cb *cb;
	void *ctx;
};

const char *cmd_result_text(enum cmd_kind kind, enum cmd_result r)
{
	switch (r) {
	case CMD_OK:
		return kind == CMD_STOP ? "stopped" : "started";
	case CMD_ALREADY:
		return kind == CMD_STOP ? "not running" : "already started";
	case CMD_NO_FILE:
		return "no such file";
	case CMD_NOT_EXECUTABLE:
		return "not executable";
	case CMD_RETRYING:
		return "exited too quickly; retrying";
	case CMD_FATAL:
		return "gave up (FATAL)";
	case CMD_STARTING:
		return "still starting";
	case CMD_WAITING_DEPS:
		return "waiting for dependencies";
	case CMD_STOPPING:
		return "still stopping";
	case CMD_NOT_RUNNING:
	default:
		return "not running";
	}
}

/* What a target's state says once the wait is over. */
static enum cmd_result settled_result(enum cmd_kind kind, const struct inst *in)
{
	if (kind == CMD_STOP)
		return pstate_is_stopped(in->state) ? CMD_OK : CMD_STOPPING;
	switch (in->state) {
	case PS_RUNNING:
		return CMD_OK;
	case PS_FATAL:
		return CMD_FATAL;
	case PS_BACKOFF:
		return CMD_RETRYING;
	case PS_STARTING:
		return CMD_STARTING;
	default:
		return in->pending_start ? CMD_WAITING_DEPS : CMD_NOT_RUNNING;
	}
}

static void cmd_op_free(struct cmd_op *op)
{
	for (size_t i = 0; i < op->n; i++)
		free(op->why[i]);
	free(op->why);
	free(op->out);
	free(op);
}

static void cmd_op_answer(struct cmd_op *op)
{
	for (size_t i = 0; i < op->n; i++) {
		struct cmd_outcome *o = &op->out[i];
		const struct inst *in = o->in;

		if (op->why[i]) {
			o->reason = op->why[i];
			continue; /* decided before anything was done */
		}
		if (o->result != CMD_ALREADY)
			o->result = op->wait ? settled_result(op->kind, in) : CMD_OK;
		o->ok = o->result == CMD_OK || o->result == CMD_ALREADY;
		o->spawn_error = in->last_kind == EXIT_EXEC;
		o->reason = !o->ok && in->last_reason ? in->last_reason : NULL;
	}
	op->cb(op->ctx, op->out, op->n);
	cmd_op_free(op);
}

static void on_settled(struct waiter *w, void *ctx)
{
	struct cmd_op *op = ctx;

	(void)w;
	op->w = NULL;
	cmd_op_answer(op);
}

static void on_later(struct loop *l, struct deferred *d)
{
	(void)l;
	cmd_op_answer(container_of(d, struct cmd_op, later));
}

/* A start of in, unless its command cannot run: then why, and nothing done. */
static bool exec_refused(struct cmd_op *op, size_t i)
{
	const struct prog_config *pc = op->out[i].in->cfg;
	int r = cmd_check_exec(pc);

	if (r == 0)
		return false;
	op->out[i].result = r == -ENOENT ? CMD_NO_FILE : CMD_NOT_EXECUTABLE;
	op->why[i] = r == -ENOENT ? xasprintf("can't find command '%s'", pc->argv[0])
				  : xasprintf("command at '%s' is not executable", pc->argv[0]);
	return true;
}

struct cmd_op *cmd_run(struct supervisor *s, enum cmd_kind kind, struct inst **targets, size_t n, bool wait,
		       int64_t timeout_ns, cmd_done_cb *cb, void *ctx)
{
	struct cmd_op *op = xcalloc(1, sizeof(*op));
	struct inst **waitv = xcalloc(n + 1, sizeof(*waitv));
	size_t nwait = 0;

	op->sv = s;
	op->kind = kind;
	op->wait = wait;
	op->n = n;
	op->cb = cb;
	op->ctx = ctx;
	op->later = (struct deferred)DEFERRED_INIT;
	op->out = xcalloc(n + 1, sizeof(*op->out));
	op->why = xcalloc(n + 1, sizeof(*op->why));
	for (size_t i = 0; i < n; i++) {
		struct inst *in = targets[i];

		op->out[i].in = in;
		op->out[i].result = CMD_OK;
		/* every target is waited for, a refused one too (it is settled
		 * already): a waiter is told before its instance is freed */
		waitv[nwait++] = in;
		if (kind != CMD_STOP && exec_refused(op, i))
			continue;
		switch (kind) {
		case CMD_START:
			if (in->state == PS_RUNNING || in->state == PS_STARTING)
				op->out[i].result = CMD_ALREADY;
			sv_start(s, in);
			break;
		case CMD_STOP:
			if (pstate_is_stopped(in->state) && !in->pending_start)
				op->out[i].result = CMD_ALREADY;
			sv_stop(s, in);
			break;
		case CMD_RESTART:
			sv_restart(s, in);
			break;
		}
	}
	if (wait && nwait)
		op->w = sv_wait(s, kind == CMD_STOP ? WAIT_STOP : WAIT_START, waitv, nwait, timeout_ns, on_settled,
				op);
	else
		loop_defer(&s->loop, &op->later, on_later);
	free(waitv);
	return op;
}

void cmd_cancel(struct cmd_op *op)
{
	if (op->w)
		sv_wait_cancel(op->sv, op->w);
	loop_undefer(&op->sv->loop, &op->later);
	cmd_op_free(op);
}

int cmd_send_stdin(struct supervisor *s, struct inst *in, const char *data, size_t len)
{
	(void)s;
	if (!in->pid || in->state == PS_STOPPING)
		return -ESRCH;
	return sv_send_stdin(in, data, len);
}

void cmd_remote_event(struct supervisor *s, const char *type, const char *data, size_t len)
{
	sv_remote_event(s, type, data, len);
}

/* ---- config ---------------------------------------------------------------------- */

void cmd_reload_done(struct cmd_reload *r)
{
	reload_plan_done(&r->plan);
	for (size_t i = 0; i < r->nerrors; i++)
		free(r->errors[i]);
	free(r->errors);
	memset(r, 0, sizeof(*r));
}

/* Load the running config's file again: 0, or -EINVAL / -errno with diag filled. */
static int load_again(struct supervisor *s, struct config **ret, struct config_diag *diag)
{
	return config_load(s->cfg->path, ret, diag);
}

int cmd_reload_file(struct supervisor *s, bool apply, struct cmd_reload *ret)
{
	struct config *nc = NULL;
	struct config_diag diag;
	int r;

	memset(ret, 0, sizeof(*ret));
	r = load_again(s, &nc, &diag);
	if (r < 0) {
		log_error("reload of %s refused; the running config stays:", s->cfg->path);
		ret->errors = xcalloc(diag.nerrors + 1, sizeof(*ret->errors));
		for (size_t i = 0; i < diag.nerrors; i++) {
			log_error("%s", diag.errors[i]);
			ret->errors[ret->nerrors++] = xstrdup(diag.errors[i]);
		}
		config_diag_done(&diag);
		return -EINVAL;
	}
	for (size_t i = 0; i < diag.nwarnings && apply; i++)
		log_warn("%s", diag.warnings[i]);
	config_diag_done(&diag);
	if (s->shutting_down) {
		config_free(nc);
		return -ESHUTDOWN;
	}
	if (apply) {
		const char *key = config_restart_key(s->cfg, nc);

		if (key)
			log_warn("reload: '%s' changed; tend reads it when it starts, so it takes effect "
				 "when tend restarts", key);
		if ((!nc->logfile || !s->cfg->logfile || strcmp(nc->logfile, s->cfg->logfile) != 0 ||
		     nc->silent != s->cfg->silent) &&
		    log_open(nc->logfile, s->foreground && !nc->silent, nc->loglevel) < 0)
			log_error("reload: logfile '%s' %s; the log goes on where it was", nc->logfile, log_open_why());
		log_set_level(nc->loglevel);
		log_set_rotation(nc->logfile_maxbytes, nc->logfile_backups);
	}
	r = sv_reload(s, nc, apply, &ret->plan);
	if (r == 0 && apply) {
		s->file_loads++; /* the whole file is in force now */
		ret->applied = true;
	}
	if (!ret->applied)
		config_free(nc);
	return r;
}

static void strv_add(char ***v, const char *s)
{
	size_t n = strv_len(*v);

	for (size_t i = 0; i < n; i++)
		if (strcmp((*v)[i], s) == 0)
			return;
	*v = xrealloc(*v, (n + 2) * sizeof(**v));
	(*v)[n] = xstrdup(s);
	(*v)[n + 1] = NULL;
}

void group_changes_done(struct group_changes *g)
{
	strv_free(g->added);
	strv_free(g->changed);
	strv_free(g->removed);
	memset(g, 0, sizeof(*g));
}

static bool listed(char **v, const char *s)
{
	for (; v && *v; v++)
		if (strcmp(*v, s) == 0)
			return true;
	return false;
}

/*
 * supervisord's groups from the instance plan: a group not in use is added;
 * one in use changes when an instance in it (before or after) is added,
 * changed, updated or removed, or its priority changed; a group no longer
 * in the config but in use is removed.
 */
static void group_view(struct supervisor *s, const struct config *nc, const struct reload_plan *p,
		       struct group_changes *ret)
{
	char **touched = NULL;

	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].action == PLAN_KEEP)
			continue;
		strv_add(&touched, p->v[i].group);
		if (p->v[i].old_group)
			strv_add(&touched, p->v[i].old_group);
	}
	for (size_t i = 0; i < nc->ngroups; i++) {
		const char *g = nc->groups[i]->name;
		const struct group_config *old = config_group(s->cfg, g);

		if (!cmd_group_in_use(s, g))
			strv_add(&ret->added, g);
		else if (listed(touched, g) || !old || old->priority != nc->groups[i]->priority)
			strv_add(&ret->changed, g);
	}
	for (size_t i = 0; i < s->cfg->ngroups; i++) {
		const char *g = s->cfg->groups[i]->name;

		if (!config_group(nc, g) && cmd_group_in_use(s, g))
			strv_add(&ret->removed, g);
	}
	strv_free(touched);
}

static char *join_errors(const struct config_diag *d)
{
	struct sbuf b = SBUF_INIT;

	for (size_t i = 0; i < d->nerrors; i++)
		sbuf_printf(&b, "%s%s", i ? "; " : "", d->errors[i]);
	return b.s ? sbuf_take(&b) : xstrdup("cannot read the config");
}

int cmd_reread(struct supervisor *s, struct config **ret_cfg, struct group_changes *ret, char **ret_error)
{
	struct config *nc = NULL;
	struct config_diag diag;
	struct reload_plan plan;

	memset(ret, 0, sizeof(*ret));
	*ret_cfg = NULL;
	if (load_again(s, &nc, &diag) < 0) {
		*ret_error = join_errors(&diag);
		config_diag_done(&diag);
		return -EINVAL;
	}
	config_diag_done(&diag);
	if (sv_reload(s, nc, false, &plan) < 0) {
		config_free(nc);
		*ret_error = xstrdup("tend is shutting down");
		return -ESHUTDOWN;
	}
	group_view(s, nc, &plan, ret);
	reload_plan_done(&plan);
	*ret_cfg = nc;
	return 0;
}

int cmd_add_group(struct supervisor *s, const struct config *from, const char *g)
{
	struct config *nc;
	int r;

	if (cmd_group_in_use(s, g))
		return -EEXIST;
	if (!config_group(from, g))
		return -ENOENT;
	nc = config_compose(s->cfg, from, g);
	r = sv_reload(s, nc, true, NULL);
	if (r < 0)
		config_free(nc); /* else the supervisor has it */
	return r;
}

int cmd_remove_group(struct supervisor *s, const char *g)
{
	struct targets t = { 0 };
	struct config *nc;
	int r;

	cmd_group_members(s, g, &t);
	if (t.n == 0) {
		targets_done(&t);
		return -ENOENT;
	}
	for (size_t i = 0; i < t.n; i++) {
		if (!pstate_is_stopped(t.v[i]->state) || t.v[i]->pending_start) {
			targets_done(&t);
			return -EBUSY;
		}
	}
	targets_done(&t);
	nc = config_compose(s->cfg, NULL, g);
	r = sv_reload(s, nc, true, NULL);
	if (r < 0)
		config_free(nc);
	return r;
}

/* supervisorctl reload, once everything stopped: the new config, then every autostart. */
static void restart_stopped(struct waiter *w, void *ctx)
{
	struct supervisor *s = w->sv;
	struct config *nc = ctx;

	if (s->shutting_down || sv_reload(s, nc, true, NULL) < 0) {
		config_free(nc);
		return;
	}
	s->file_loads++;
	sv_autostart(s);
}

int cmd_restart_all(struct supervisor *s, char **ret_error)
{
	struct config *nc = NULL;
	struct config_diag diag;
	struct targets t = { 0 };

	if (load_again(s, &nc, &diag) < 0) {
		*ret_error = xstrdup(diag.nerrors ? diag.errors[0] : "cannot read the config");
		config_diag_done(&diag);
		return -EINVAL;
	}
	config_diag_done(&diag);
	log_info("restart requested: stopping every program, then starting from %s", s->cfg->path);
	cmd_group_members(s, NULL, &t);
	for (size_t i = 0; i < t.n; i++)
		sv_stop(s, t.v[i]);
	sv_wait(s, WAIT_STOP, t.v, t.n, 300 * NSEC_PER_SEC, restart_stopped, nc);
	targets_done(&t);
	return 0;
}

/* ---- state ------------------------------------------------------------------------ */

struct event_bus *cmd_event_bus(struct supervisor *s)
{
	return s->bus;
}

void cmd_info(const struct supervisor *s, struct cmd_info *ret)
{
	ret->pid = getpid();
	ret->shutting_down = s->shutting_down;
	ret->uptime = (double)(mono_ns() - s->start_ns) / 1e9;
	ret->ninst = s->ninst;
	ret->file_loads = s->file_loads;
	ret->cfg = s->cfg;
}

static bool inst_ready(const struct inst *in)
{
	return in->state == PS_RUNNING && !in->draining;
}

static void ready_add(struct cmd_ready *r, const char *name, size_t have, size_t need, const char *state)
{
	r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
	r->v[r->n++] = (struct ready_line){ name, have, need, state };
}

void cmd_ready_done(struct cmd_ready *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int cmd_ready(struct supervisor *s, const char *name, struct cmd_ready *ret)
{
	const struct config *cfg = s->cfg;
	size_t nready = 0;

	memset(ret, 0, sizeof(*ret));
	ret->shutting_down = s->shutting_down;
	if (name) {
		struct targets t = { 0 };

		if (cmd_resolve(s, name, NAMES_TEND, &t) < 0) {
			targets_done(&t);
			return -ENOENT;
		}
		for (size_t i = 0; i < t.n; i++) {
			bool ok = inst_ready(t.v[i]);

			nready += ok;
			ready_add(ret, t.v[i]->cfg->fullname, ok, 1,
				  t.v[i]->draining ? "DRAINING" : pstate_name(t.v[i]->state));
		}
		targets_done(&t);
		ret->ready = !s->shutting_down && nready > 0;
		return 0;
	}
	ret->ready = !s->shutting_down;
	for (size_t i = 0; i < cfg->nprocs; i++) {
		const struct prog_config *pc = cfg->procs[i];
		size_t need = 0, have = 0;

		if (i > 0 && strcmp(cfg->procs[i - 1]->program, pc->program) == 0)
			continue; /* one line per program */
		for (size_t k = i; k < cfg->nprocs && strcmp(cfg->procs[k]->program, pc->program) == 0; k++)
			need += cfg->procs[k]->autostart;
		if (pc->pool_max) /* a pool the autoscaler may shrink: its minimum */
			need = (size_t)pc->pool_min;
		for (size_t k = 0; k < s->ninst; k++)
			have += strcmp(s->insts[k]->cfg->program, pc->program) == 0 && inst_ready(s->insts[k]);
		if (have < need) {
			ret->ready = false;
			ready_add(ret, pc->program, have, need, NULL);
		}
	}
	return 0;
}
