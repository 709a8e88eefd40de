/*
 * The public entry points of config.h: loading (lex.c, then build.c),
 * composing, freeing and comparing configs, and where the socket is.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "config/config-internal.h"

static int cmp_diag(const void *a, const void *b)
{
	/* "file:12: ..." sorts before "file:100: ..." */
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/* strict: every warning becomes an error, "file:line: strict: message" */
static void warnings_to_errors(struct config_diag *d)
{
	for (size_t i = 0; i < d->nwarnings; i++) {
		char *w = d->warnings[i], *at = strstr(w, "warning: ");
		size_t n = at ? (size_t)(at - w) : 0;

		d->errors = xrealloc(d->errors, (d->nerrors + 2) * sizeof(*d->errors));
		d->errors[d->nerrors++] = at ? xasprintf("%.*sstrict: %s", (int)n, w, at + 9) : xstrdup(w);
		d->errors[d->nerrors] = NULL;
	}
	strv_free(d->warnings);
	d->warnings = NULL;
	d->nwarnings = 0;
}

/* config_group's index: with a group per program, a lookup per instance was quadratic */
static void index_groups(struct config *c)
{
	c->group_index = xcalloc(1, sizeof(*c->group_index));
	for (size_t i = 0; i < c->ngroups; i++)
		cfg_index_add(c->group_index, c->groups[i]->name, i);
}

static int finish(struct loader *L, struct config *c, unsigned flags, struct config **ret)
{
	cfg_build(L, c);
	cfg_loader_done(L);
	if ((flags & CONFIG_STRICT) || c->strict)
		warnings_to_errors(L->diag);
	if (L->diag->nerrors > 1)
		qsort(L->diag->errors, L->diag->nerrors, sizeof(char *), cmp_diag);
	if (L->diag->nwarnings > 1)
		qsort(L->diag->warnings, L->diag->nwarnings, sizeof(char *), cmp_diag);
	if (L->diag->nerrors > 0) {
		config_free(c);
		return -EINVAL;
	}
	index_groups(c);
	*ret = c;
	return 0;
}

int config_load(const char *path, struct config **ret_config, struct config_diag *diag)
{
	return config_load_flags(path, 0, ret_config, diag);
}

int config_load_flags(const char *path, unsigned flags, struct config **ret_config,
		      struct config_diag *diag)
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
	c = cfg_config_new(&L, real);
	r = cfg_load_file(&L, real, NULL, 0);
	if (r < 0) {
		cfg_loader_done(&L);
		config_free(c);
		return r;
	}
	return finish(&L, c, flags, ret_config);
}

/* The socket-only load of real (a file's real path), or of text under that name. */
static int load_socket(const char *real, const char *text, char **ret_socket)
{
	struct config_diag diag = { 0 };
	struct loader L = { .diag = &diag, .socket_only = true };
	struct config *c;
	int r = 0;

	c = cfg_config_new(&L, real);
	if (text)
		cfg_parse_text(&L, cfg_remember_file(&L, real), text);
	else
		r = cfg_load_file(&L, real, NULL, 0);
	if (r == 0) {
		cfg_build_socket(&L, c);
		*ret_socket = config_socket_path(c);
	}
	cfg_loader_done(&L);
	config_free(c);
	config_diag_done(&diag);
	return r;
}

int config_load_socket(const char *path, char **ret_socket)
{
	char real[PATH_MAX];

	if (!realpath(path, real))
		return -errno;
	return load_socket(real, NULL, ret_socket);
}

int config_load_socket_string(const char *name, const char *text, char **ret_socket)
{
	return load_socket(name, text, ret_socket);
}

int config_load_string(const char *name, const char *text, struct config **ret_config,
		       struct config_diag *diag)
{
	struct loader L = { .diag = diag };
	struct config *c;
	char *file;

	memset(diag, 0, sizeof(*diag));
	c = cfg_config_new(&L, name);
	file = cfg_remember_file(&L, name);
	cfg_parse_text(&L, file, text);
	return finish(&L, c, 0, ret_config);
}

static void config_keys_done(struct config *c)
{
	for (const struct section_def *d = cfg_sections; d->name; d++)
		if (d->target == TARGET_CONFIG)
			cfg_keys_done(d->keys, c);
}

struct config *config_free(struct config *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->nprocs; i++)
		cfg_prog_free(c->procs[i]);
	free(c->procs);
	for (size_t i = 0; i < c->ngroups; i++)
		cfg_group_free(c->groups[i]);
	free(c->groups);
	if (c->group_index) {
		cfg_index_done(c->group_index);
		free(c->group_index);
	}
	free(c->path);
	free(c->here);
	config_keys_done(c);
	free(c);
	return NULL;
}

const struct group_config *config_group(const struct config *c, const char *name)
{
	size_t i;

	if (c && c->group_index)
		return cfg_index_get(c->group_index, name, &i) ? c->groups[i] : NULL;
	for (i = 0; c && i < c->ngroups; i++)
		if (strcmp(c->groups[i]->name, name) == 0)
			return c->groups[i];
	return NULL;
}

struct config *config_compose(const struct config *base, const struct config *from, const char *group)
{
	struct config *c = xmalloc(sizeof(*c));
	size_t np = base->nprocs + (from ? from->nprocs : 0);
	size_t ng = base->ngroups + (from ? from->ngroups : 0);

	*c = *base;
	c->path = base->path ? xstrdup(base->path) : NULL;
	c->here = base->here ? xstrdup(base->here) : NULL;
	for (const struct section_def *d = cfg_sections; d->name; d++)
		if (d->target == TARGET_CONFIG)
			cfg_keys_copy(d->keys, c, base);
	c->exit_with_file = NULL;
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
	index_groups(c);
	return c;
}

void config_diag_done(struct config_diag *d)
{
	strv_free(d->errors);
	strv_free(d->warnings);
	memset(d, 0, sizeof(*d));
}

bool prog_config_same_process(const struct prog_config *a, const struct prog_config *b)
{
	return cfg_keys_equal(cfg_program_keys, RELOAD_MASK(RELOAD_RESTART), a, b);
}

bool prog_config_equal(const struct prog_config *a, const struct prog_config *b)
{
	/* the rows, then the identity and what derives from several keys */
	return cfg_keys_equal(cfg_program_keys, RELOAD_MASK(RELOAD_RESTART) | RELOAD_MASK(RELOAD_IN_PLACE), a,
			      b) &&
	       strcmp(a->fullname, b->fullname) == 0 && a->pool_min == b->pool_min &&
	       a->pool_max == b->pool_max && a->pool_spare == b->pool_spare;
}

bool group_config_equal(const struct group_config *a, const struct group_config *b)
{
	return strcmp(a->name, b->name) == 0 &&
	       cfg_keys_equal(cfg_group_keys, RELOAD_MASK(RELOAD_RESTART) | RELOAD_MASK(RELOAD_IN_PLACE), a, b);
}

const char *config_restart_key(const struct config *a, const struct config *b)
{
	for (const struct section_def *d = cfg_sections; d->name; d++) {
		const struct key_def *k;

		if (d->target != TARGET_CONFIG)
			continue;
		k = cfg_keys_differ(d->keys, RELOAD_MASK(RELOAD_TEND), a, b);
		if (k)
			return k->name;
	}
	return NULL;
}

bool prog_config_expected_exit(const struct prog_config *pc, int code)
{
	if (code < 0 || code > 255)
		return false;
	return pc->exitcodes[code / 64] & (1ULL << (code % 64));
}

const char *const config_search_path[] = {
	"tend.conf",
	"/etc/tend/tend.conf",
	"/etc/supervisord.conf",
	"/etc/supervisor/supervisord.conf",
	NULL,
};

const char *config_find(void)
{
	for (const char *const *p = config_search_path; *p; p++)
		if (access(*p, R_OK) == 0)
			return *p;
	return NULL;
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
