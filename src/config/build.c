/*
 * Pass 2 of loading: raw sections -> struct config.  Each section is checked
 * against its table (keys.c) and its keys parsed by the rows: for a program,
 * once per instance, with that instance's %(...)s.  What no single row
 * decides is here: the instances a [program:x] makes (numprocs, pools),
 * the few fields derived from several keys, and the rules across sections
 * (groups, depends_on, unique names, exit_with).  Every problem is recorded;
 * nothing stops at the first.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "common/util.h"
#include "config/config-internal.h"

struct config *cfg_config_new(struct loader *L, const char *path)
{
	struct config *c = xcalloc(1, sizeof(*c));
	struct raw_section none = { .name = "", .file = (char *)path };
	struct xvars v = { .here = NULL };
	struct key_ctx x = { .L = L, .s = &none, .v = &v, .c = c };

	c->path = xstrdup(path);
	c->here = cfg_dir_of(path);
	v.here = x.here = c->here;
	for (const struct section_def *d = cfg_sections; d->name; d++)
		if (d->target == TARGET_CONFIG)
			cfg_keys_defaults(d->keys, ROWS_ALL, &x, c);
	return c;
}

/* What the rows of one section parse in: its %(...)s variables, its directory. */
struct section_build {
	struct xvars v;
	struct key_ctx x;
	char *here;
};

static void section_begin(struct section_build *b, struct loader *L, struct config *c,
			  const struct raw_section *s, const struct xvars *base)
{
	b->here = cfg_dir_of(s->file);
	b->v = *base;
	b->v.here = b->here;
	b->x = (struct key_ctx){ .L = L, .s = s, .here = b->here, .v = &b->v, .c = c };
}

/* [supervisord], [tend], [unix_http_server], [inet_http_server], [supervisorctl] */
static void build_config_section(struct loader *L, struct config *c, const struct raw_section *s,
				 const struct key_def *keys, const struct xvars *base)
{
	struct section_build b;

	cfg_keys_check(L, s, keys);
	section_begin(&b, L, c, s, base);
	cfg_keys_apply(keys, ROWS_ALL, &b.x, c);
	free(b.here);
}

/* Drop a reference of a shared struct (config_compose); true when none was left: free it. */
static bool last_ref(unsigned *refs)
{
	if (*refs == 0)
		return true;
	(*refs)--;
	return false;
}

void cfg_prog_free(struct prog_config *pc)
{
	if (!pc || !last_ref(&pc->refs))
		return;
	free(pc->program);
	free(pc->group);
	free(pc->fullname);
	free(pc->file);
	cfg_keys_done(cfg_program_keys, pc);
	free(pc);
}

void cfg_group_free(struct group_config *g)
{
	if (!g || !last_ref(&g->refs))
		return;
	free(g->name);
	free(g->file);
	cfg_keys_done(cfg_group_keys, g);
	free(g);
}

static struct group_config *group_new(const char *name, const char *file, int line)
{
	struct group_config *g = xcalloc(1, sizeof(*g));

	g->name = xstrdup(name);
	g->file = xstrdup(file);
	g->line = line;
	return g;
}

static void group_add(struct config *c, struct group_config *g)
{
	c->groups = xrealloc(c->groups, (c->ngroups + 1) * sizeof(*c->groups));
	c->groups[c->ngroups++] = g;
}

/* The explicit group a program belongs to, if any; reports double membership. */
static const char *group_of(struct loader *L, struct config *c, const char *program,
			    const struct raw_section *s)
{
	const char *found = NULL;

	for (size_t i = 0; i < c->ngroups; i++) {
		struct group_config *g = c->groups[i];

		for (char **p = g->programs; *p; p++) {
			if (strcmp(*p, program) != 0)
				continue;
			if (found && strcmp(found, g->name) != 0)
				ERR(L, s->file, s->line, "program '%s' is in two groups, '%s' and '%s'",
				    program, found, g->name);
			else
				found = g->name;
		}
	}
	return found;
}


/* The NAME of [KIND:NAME] once its keys are checked, or NULL (reported) when it is no valid name. */
static const char *section_name(struct loader *L, const struct raw_section *s, const struct key_def *keys,
				const char *kind)
{
	const char *name = s->name + strlen(kind) + 1;

	cfg_keys_check(L, s, keys);
	if (cfg_valid_name(name))
		return name;
	ERR(L, s->file, s->line, "invalid %s name '%s' (no ':', '/', ',' or spaces)", kind, name);
	return NULL;
}

static void build_group(struct loader *L, struct config *c, const struct raw_section *s,
			const struct xvars *base)
{
	const char *name = section_name(L, s, cfg_group_keys, "group");
	struct section_build b;
	struct group_config *g;

	if (!name)
		return;
	section_begin(&b, L, c, s, base);
	g = group_new(name, s->file, s->line);
	g->explicit_group = true;
	cfg_keys_defaults(cfg_group_keys, ROWS_ALL, &b.x, g);
	cfg_keys_apply(cfg_group_keys, ROWS_ALL, &b.x, g);
	group_add(c, g);
	free(b.here);
}


/* Instance v->process_num of program s: defaults, the section's keys, then what derives from them. */
static struct prog_config *build_instance(struct loader *L, struct config *c, const struct raw_section *s,
					  const char *group, const struct xvars *v, const char *here,
					  const struct proc_shape *shape)
{
	const struct section_def *d = s->kind;
	struct prog_config *pc = xcalloc(1, sizeof(*pc));
	struct key_ctx x = { .L = L, .s = s, .here = here, .v = v, .c = c };

	pc->kind = d->bit == SEC_LISTENER ? PROC_LISTENER : d->bit == SEC_FCGI ? PROC_FCGI : PROC_PROGRAM;
	pc->socket_uid = pc->socket_gid = pc->socket_mode = -1;
	pc->program = xstrdup(v->program_name);
	pc->group = xstrdup(group);
	pc->num = (int)v->process_num;
	pc->file = xstrdup(s->file);
	pc->line = s->line;
	pc->shape = *shape;
	/* [supervisord] environment first; env_file, then environment= go over it */
	pc->env = strv_dup(c->env);
	cfg_keys_defaults(cfg_program_keys, ROWS_EACH, &x, pc);
	cfg_keys_apply(cfg_program_keys, ROWS_EACH, &x, pc);

	pc->fullname = strcmp(pc->group, pc->name) == 0 ? xstrdup(pc->name)
							 : xasprintf("%s:%s", pc->group, pc->name);
	if (cfg_section_kv(s, "stopasgroup") && pc->stopasgroup)
		pc->killasgroup = true; /* supervisord: stopasgroup implies killasgroup */
	if (pc->umask < 0)
		pc->umask = c->umask;
	if (pc->kind == PROC_LISTENER && !cfg_section_kv(s, "priority"))
		pc->priority = -1; /* supervisord: listeners start first and stop last */
	return pc;
}

/* The rules of [eventlistener:x] and [fcgi-program:x] across their keys (checked once per section). */
static void check_kind(struct loader *L, const struct raw_section *s, const struct prog_config *pc)
{
	struct raw_kv *kv;

	if (pc->kind == PROC_LISTENER && pc->redirect_stderr) {
		kv = cfg_section_kv(s, "redirect_stderr");
		ERR(L, kv->file, kv->line, "redirect_stderr = true is not allowed in [%s]: its stdout "
					   "carries the event protocol", s->name);
	}
	if (pc->kind == PROC_FCGI && pc->listen_kind == LISTEN_TCP) {
		const char *bad = cfg_section_kv(s, "socket_owner") ? "socket_owner"
				  : cfg_section_kv(s, "socket_mode") ? "socket_mode" : NULL;

		if (bad) {
			kv = cfg_section_kv(s, bad);
			ERR(L, kv->file, kv->line, "%s is only for a unix:// socket", bad);
		}
	}
}

/* A pool's bounds and spares; outside a pool the scaler's settings are cleared. */
static void derive_pool(struct prog_config *pc, long index, long initial)
{
	if (initial == 0) {
		pc->scale_target = 0;
		pc->scale_interval_ns = 0;
		pc->scale_cooldown_ns = 0;
		return;
	}
	pc->pool_min = pc->shape.numprocs_min;
	pc->pool_max = pc->shape.numprocs_max;
	if (pc->scale_cooldown_ns < 0)
		pc->scale_cooldown_ns = 3 * pc->scale_interval_ns;
	if (index >= initial) {
		pc->pool_spare = true;
		pc->autostart = false; /* started by the scaler or tend scale */
	}
}

static void build_program(struct loader *L, struct config *c, const struct raw_section *s,
			  const struct section_def *d, const struct xvars *base)
{
	const char *program = section_name(L, s, cfg_program_keys, d->kind), *group;
	struct prog_config shape = { .refs = 0 };
	long numprocs, initial = 0;
	struct section_build b;
	struct raw_kv *pn;

	if (!program)
		return;
	section_begin(&b, L, c, s, base);
	group = group_of(L, c, program, s);
	if (group && d->bit == SEC_LISTENER) {
		ERR(L, s->file, s->line, "[group:%s] lists '%s', an [eventlistener]: a pool of listeners is its "
					 "own group", group, program);
		group = NULL;
	}
	b.v.program_name = program;
	b.v.group_name = group ? group : program;
	/* which instances exist: read once, without %(process_num) */
	cfg_keys_defaults(cfg_program_keys, ROWS_ONCE, &b.x, &shape);
	cfg_keys_apply(cfg_program_keys, ROWS_ONCE, &b.x, &shape);
	numprocs = shape.shape.numprocs;
	if (shape.shape.numprocs_max) {
		/* a pool: numprocs_max instances exist, numprocs (or numprocs_min) run at first */
		long nmin = shape.shape.numprocs_min, nmax = shape.shape.numprocs_max;
		struct raw_kv *kv = cfg_section_kv(s, "numprocs_max");

		if (nmin > nmax) {
			ERR(L, kv->file, kv->line, "numprocs_min (%ld) is above numprocs_max (%ld)", nmin, nmax);
		} else {
			initial = cfg_section_kv(s, "numprocs") ? MIN(MAX(numprocs, nmin), nmax) : nmin;
			numprocs = nmax;
		}
	}
	pn = cfg_section_kv(s, "process_name");
	if (numprocs > 1 && (!pn || !strstr(pn->value, "%(process_num)"))) {
		ERR(L, pn ? pn->file : s->file, pn ? pn->line : s->line,
		    "numprocs = %ld needs %%(process_num) in process_name, e.g. "
		    "process_name = %%(program_name)s_%%(process_num)02d",
		    numprocs);
		numprocs = 1;
	}
	b.v.numprocs = numprocs;
	b.v.have_num = true;
	c->procs = xrealloc(c->procs, (c->nprocs + (size_t)numprocs + 1) * sizeof(*c->procs));
	for (long i = 0; i < numprocs; i++) {
		struct prog_config *pc;

		b.v.process_num = shape.shape.numprocs_start + i;
		pc = build_instance(L, c, s, group ? group : program, &b.v, b.here, &shape.shape);
		derive_pool(pc, i, initial);
		if (i == 0)
			check_kind(L, s, pc);
		c->procs[c->nprocs++] = pc;
	}
	free(b.here);
}

/* depends_on: no cycles (depth-first search over programs, from their first instances). */
static bool dep_visit(struct loader *L, struct config *c, const struct name_index *programs, size_t idx,
		      char *state, char ***path, size_t *plen)
{
	struct prog_config *p = c->procs[idx];

	if (state[idx] == 2)
		return true;
	if (state[idx] == 1) {
		struct sbuf b = SBUF_INIT;

		for (size_t i = 0; i < *plen; i++)
			sbuf_printf(&b, "%s -> ", (*path)[i]);
		sbuf_adds(&b, p->program);
		ERR(L, p->file, p->line, "depends_on cycle: %s", b.s);
		sbuf_done(&b);
		return false;
	}
	state[idx] = 1;
	cfg_strv_push(path, plen, xstrdup(p->program));
	for (char **d = p->depends_on; *d; d++) {
		size_t q;

		if (cfg_index_get(programs, *d, &q) && !dep_visit(L, c, programs, q, state, path, plen))
			return false;
	}
	free((*path)[--(*plen)]);
	(*path)[*plen] = NULL;
	state[idx] = 2;
	return true;
}

/* depends_on: names must be programs, not the program itself, and make no cycle. */
static void check_depends(struct loader *L, struct config *c, const struct name_index *programs)
{
	char *state = xcalloc(c->nprocs + 1, 1);
	char **path = xcalloc(1, sizeof(char *));
	size_t plen = 0, first;
	bool ok = true;

	for (size_t i = 0; i < c->nprocs; i++) {
		struct prog_config *p = c->procs[i];

		for (char **d = p->depends_on; *d; d++) {
			if (!cfg_index_get(programs, *d, &first)) {
				ok = false;
				ERR(L, p->file, p->line, "depends_on: '%s' (in [program:%s]) is not a program",
				    *d, p->program);
			} else if (strcmp(*d, p->program) == 0) {
				ok = false;
				ERR(L, p->file, p->line, "depends_on: program '%s' depends on itself",
				    p->program);
			}
		}
	}
	for (size_t i = 0; ok && i < c->nprocs; i++)
		if (cfg_index_get(programs, c->procs[i]->program, &first) && first == i)
			ok = dep_visit(L, c, programs, i, state, &path, &plen);
	strv_free(path);
	free(state);
}

static void check_unique_names(struct loader *L, struct config *c)
{
	struct name_index seen = { .slots = NULL };

	for (size_t i = 0; i < c->nprocs; i++) {
		size_t j;

		if (cfg_index_add(&seen, c->procs[i]->fullname, i))
			continue;
		cfg_index_get(&seen, c->procs[i]->fullname, &j);
		ERR(L, c->procs[i]->file, c->procs[i]->line, "process name '%s' is used twice (also at %s:%d)",
		    c->procs[i]->fullname, c->procs[j]->file, c->procs[j]->line);
	}
	cfg_index_done(&seen);
}

/* Every [group:x] lists programs; a program in no group is its own group. */
static void add_implicit_groups(struct loader *L, struct config *c, const struct name_index *programs)
{
	struct name_index groups = { .slots = NULL };
	size_t k;

	for (size_t i = 0; i < c->ngroups; i++) {
		struct group_config *g = c->groups[i];

		cfg_index_add(&groups, g->name, i);
		for (char **p = g->programs; *p; p++)
			if (!cfg_index_get(programs, *p, &k))
				ERR(L, g->file, g->line, "[group:%s] lists '%s', which is not a program",
				    g->name, *p);
	}
	for (size_t i = 0; i < c->nprocs; i++) {
		struct prog_config *p = c->procs[i];
		struct group_config *g;

		if (cfg_index_get(&groups, p->group, &k)) {
			bool member = false;

			g = c->groups[k];
			for (char **q = g->programs; *q; q++)
				member |= strcmp(*q, p->program) == 0;
			if (!member)
				ERR(L, p->file, p->line,
				    "program '%s' has the name of a group that does not list it", p->program);
			continue;
		}
		/* with its own priority */
		g = group_new(p->group, p->file, p->line);
		g->priority = p->priority;
		g->programs = xcalloc(2, sizeof(char *));
		g->programs[0] = xstrdup(p->program);
		group_add(c, g);
		cfg_index_add(&groups, g->name, c->ngroups - 1);
	}
	cfg_index_done(&groups);
}

void cfg_build(struct loader *L, struct config *c)
{
	struct name_index programs = { .slots = NULL };
	struct xvars base = { 0 };
	struct utsname u;
	size_t first;

	uname(&u);
	base.host_node_name = u.nodename;
	base.here = c->here;

	/* [supervisord] first (its environment and umask reach the programs), then
	 * the groups (programs are named after them), then the rest */
	for (int pass = 0; pass < 3; pass++) {
		for (size_t i = 0; i < L->nsecs; i++) {
			const struct raw_section *s = &L->secs[i];
			const struct section_def *d = s->kind;
			int order = !d ? 2 : d->keys == cfg_daemon_keys ? 0 : d->target == TARGET_GROUP ? 1 : 2;
			const char *n = s->name;

			if (order != pass)
				continue;
			if (d && d->target == TARGET_CONFIG)
				build_config_section(L, c, s, d->keys, &base);
			else if (d && d->target == TARGET_GROUP)
				build_group(L, c, s, &base);
			else if (d && d->target == TARGET_PROC)
				build_program(L, c, s, d, &base);
			else if (d)
				cfg_keys_check(L, s, d->keys);
			else if (strcmp(n, "rpcinterface:supervisor") == 0)
				; /* tend serves supervisord's XML-RPC interface itself (/RPC2) */
			else if (strncmp(n, "rpcinterface:", 13) == 0 || strncmp(n, "ctlplugin:", 10) == 0)
				WARN(L, s->file, s->line, "[%s] is not supported by this version of tend; ignored", n);
			else
				WARN(L, s->file, s->line, "unknown section [%s] ignored", cfg_shown_name(n));
		}
	}
	/* where each program's first instance is */
	for (size_t i = 0; i < c->nprocs; i++)
		cfg_index_add(&programs, c->procs[i]->program, i);
	add_implicit_groups(L, c, &programs);
	check_unique_names(L, c);
	check_depends(L, c, &programs);
	if (c->exit_with && !cfg_index_get(&programs, c->exit_with, &first))
		ERR(L, c->exit_with_file, c->exit_with_line, "exit_with: '%s' is not a program", c->exit_with);
	c->exit_with_file = NULL; /* points into the loader's file list */
	cfg_index_done(&programs);
}

void cfg_build_socket(struct loader *L, struct config *c)
{
	struct xvars base = { .host_node_name = "", .here = c->here };

	for (size_t i = 0; i < L->nsecs; i++) {
		const struct raw_section *s = &L->secs[i];

		if (strcmp(s->name, "unix_http_server") == 0)
			build_config_section(L, c, s, cfg_unix_http_keys, &base);
		else if (strcmp(s->name, "supervisorctl") == 0)
			build_config_section(L, c, s, cfg_ctl_keys, &base);
	}
}
