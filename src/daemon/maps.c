/*
 * The shared maps of maps= (maps.h): made before a program's first start,
 * kept across its restarts, removed with the program or with tend.
 *
 * The table: one entry per (program, map) that exists, holding tend's own
 * handle of the map.  tend never reads or writes items; the handle serves
 * tend_map_stats() (status --json, /metrics), which reads only the stripes'
 * counters at offsets tend validated when it made or opened the map, so a
 * program that scribbles over its map cannot lead tend astray.
 *
 * A tend that was SIGKILLed leaves its maps in /dev/shm.  The next tend on
 * the same socket (the same name prefix, common/mapname.h) removes those
 * its config does not name (maps_start) and reuses the others, data and
 * all, when their geometry is the one the config asks for (maps_prepare):
 * the state of a program outlives a crash of tend as it outlives a crash
 * of the program.
 */
#include "daemon/maps.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mapname.h"
#include "daemon/log.h"
#include "daemon/supervisor-internal.h"
#include "tend/map.h"

struct sv_map {
	char *program;
	char *shm;            /* its shm name */
	struct map_spec spec; /* spec.name is owned here */
	tend_map *m;
};

struct sv_maps {
	char prefix[MAP_PREFIX_SIZE];
	bool owned;           /* maps_start ran: the socket, hence the prefix, is this tend's */
	struct sv_map *v;
	size_t n;
};

static struct sv_maps *maps_of(struct supervisor *s)
{
	if (!s->maps) {
		char *sock = config_socket_path(s->cfg);

		s->maps = xcalloc(1, sizeof(*s->maps));
		map_shm_prefix(sock, s->maps->prefix);
		free(sock);
	}
	return s->maps;
}

static char *shm_name(const struct sv_maps *t, const char *program, const char *map)
{
	return xasprintf("%s%s.%s", t->prefix, program, map);
}

/* Does a program of c name the map whose shm name is shm? */
static bool config_names(const struct sv_maps *t, const struct config *c, const char *shm)
{
	size_t plen = strlen(t->prefix);

	if (strncmp(shm, t->prefix, plen) != 0)
		return false;
	for (size_t i = 0; i < c->nprocs; i++) {
		const struct prog_config *pc = c->procs[i];
		size_t n = strlen(pc->program);

		if (!pc->maps || strncmp(shm + plen, pc->program, n) != 0 || shm[plen + n] != '.')
			continue;
		for (const struct map_spec *m = pc->maps; m->name; m++)
			if (strcmp(shm + plen + n + 1, m->name) == 0)
				return true;
	}
	return false;
}

/* Unlink every object of /dev/shm with t's prefix that c does not name (c NULL: every one). */
static void remove_strays(const struct sv_maps *t, const struct config *c)
{
	DIR *d = opendir("/dev/shm");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *shm;

		if (strncmp(e->d_name, t->prefix + 1, strlen(t->prefix) - 1) != 0)
			continue;
		shm = xasprintf("/%s", e->d_name);
		if (!c || !config_names(t, c, shm)) {
			if (shm_unlink(shm) == 0)
				log_info("removed map %s, left by a tend that did not exit cleanly", shm);
		}
		free(shm);
	}
	closedir(d);
}

void maps_start(struct supervisor *s)
{
	struct sv_maps *t = maps_of(s);

	t->owned = true;
	remove_strays(t, s->cfg);
}

static struct sv_map *find(struct sv_maps *t, const char *program, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].program, program) == 0 && strcmp(t->v[i].spec.name, name) == 0)
			return &t->v[i];
	return NULL;
}

static bool same_spec(const struct map_spec *a, const struct map_spec *b)
{
	return a->size == b->size && a->items == b->items && a->max_value == b->max_value &&
	       a->noevict == b->noevict && a->mode == b->mode;
}

/* Close and unlink entry i, and drop it from the table. */
static void drop(struct sv_maps *t, size_t i, const char *why)
{
	struct sv_map *e = &t->v[i];

	tend_map_free(e->m);
	if (tend_map_unlink(e->shm) == 0)
		log_info("removed map %s (%s)", e->shm, why);
	free(e->program);
	free(e->shm);
	free(e->spec.name);
	t->v[i] = t->v[--t->n];
}

/*
 * Open the map an earlier tend left at shm if its geometry is the one sp
 * asks for (an anonymous twin made with sp's arguments says what that is).
 * Returns 0 with the handle, or -errno: then it is not reusable.
 */
static int adopt(const char *shm, const struct map_spec *sp, tend_map **ret_m)
{
	tend_map *m, *twin;
	int r;

	r = tend_map_open(&m, shm);
	if (r < 0)
		return r;
	r = tend_map_create(&twin, NULL, sp->items, sp->max_value, sp->size, sp->noevict ? TEND_MAP_NOEVICT : 0, 0);
	if (r < 0) {
		tend_map_free(m);
		return r;
	}
	if (tend_map_capacity(m) != tend_map_capacity(twin) || tend_map_max_value(m) != tend_map_max_value(twin) ||
	    tend_map_mem_bytes(m) != tend_map_mem_bytes(twin) || tend_map_flags(m) != tend_map_flags(twin))
		r = -ESTALE;
	tend_map_free(twin);
	if (r < 0) {
		tend_map_free(m);
		return r;
	}
	*ret_m = m;
	return 0;
}

/* Make the map sp at shm: new, or the one an earlier tend left if it fits. */
static int make(const char *shm, const struct map_spec *sp, tend_map **ret_m)
{
	unsigned flags = sp->noevict ? TEND_MAP_NOEVICT : 0;
	int r;

	if (strlen(shm) > 255)
		return -ENAMETOOLONG;
	r = tend_map_create(ret_m, shm, sp->items, sp->max_value, sp->size, flags, sp->mode);
	if (r != -EEXIST)
		return r;
	r = adopt(shm, sp, ret_m);
	if (r == 0) {
		log_info("reusing map %s, left by a tend that did not exit cleanly", shm);
		return 0;
	}
	/* another geometry, half made, or not a map: start afresh */
	(void)tend_map_unlink(shm);
	return tend_map_create(ret_m, shm, sp->items, sp->max_value, sp->size, flags, sp->mode);
}

/* Give the map to pc's user with its mode (shm_open applied tend's umask). */
static int own(tend_map *m, const struct prog_config *pc, const struct map_spec *sp)
{
	int fd = tend_map_fd(m);

	if (pc->user && fchown(fd, pc->uid, pc->gid) < 0)
		return -errno;
	return fchmod(fd, sp->mode) < 0 ? -errno : 0;
}

int maps_prepare(struct supervisor *s, const struct prog_config *pc, char *why, size_t why_len)
{
	struct sv_maps *t;

	if (!pc->maps)
		return 0;
	t = maps_of(s);
	for (const struct map_spec *sp = pc->maps; sp->name; sp++) {
		struct sv_map *e = find(t, pc->program, sp->name);
		struct stat st;
		tend_map *m;
		int r;

		/* a changed spec, or a name someone removed behind tend's back: a new map */
		if (e && (!same_spec(&e->spec, sp) || fstat(tend_map_fd(e->m), &st) < 0 || st.st_nlink == 0)) {
			drop(t, (size_t)(e - t->v), "its maps= entry changed");
			e = NULL;
		}
		if (!e) {
			char *shm = shm_name(t, pc->program, sp->name);

			r = make(shm, sp, &m);
			if (r < 0) {
				snprintf(why, why_len, "map %s", sp->name);
				log_warn("spawnerr: %s: cannot make map %s: %s", pc->fullname, shm, strerror(-r));
				free(shm);
				return r;
			}
			t->v = xrealloc(t->v, (t->n + 1) * sizeof(*t->v));
			e = &t->v[t->n++];
			e->program = xstrdup(pc->program);
			e->shm = shm;
			e->spec = *sp;
			e->spec.name = xstrdup(sp->name);
			e->m = m;
			log_info("made map %s for %s (%llu bytes, %llu items, values up to %llu bytes)", shm, pc->program,
				 (unsigned long long)tend_map_mem_bytes(m), (unsigned long long)sp->items,
				 (unsigned long long)sp->max_value);
		}
		r = own(e->m, pc, sp);
		if (r < 0) {
			snprintf(why, why_len, "map %s", sp->name);
			log_warn("spawnerr: %s: cannot give map %s to its user: %s", pc->fullname, e->shm, strerror(-r));
			return r;
		}
	}
	return 0;
}

char **maps_env(struct supervisor *s, const struct prog_config *pc)
{
	struct sv_maps *t;
	char **env;
	size_t n = 0;

	if (!pc->maps)
		return NULL;
	t = maps_of(s);
	while (pc->maps[n].name)
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		char *var = map_env_name(pc->maps[i].name), *shm = shm_name(t, pc->program, pc->maps[i].name);

		env[i] = xasprintf("%s=%s", var, shm);
		free(var);
		free(shm);
	}
	return env;
}

void maps_sweep(struct supervisor *s, const struct config *nc)
{
	struct sv_maps *t = s->maps;

	for (size_t i = 0; t && i < t->n;) {
		if (!config_names(t, nc, t->v[i].shm))
			drop(t, i, "no longer in the config");
		else
			i++;
	}
}

void maps_done(struct supervisor *s)
{
	struct sv_maps *t = s->maps;

	if (!t)
		return;
	while (t->n)
		drop(t, t->n - 1, "tend exits");
	/* and any a SIGKILLed tend left that this one never started */
	if (t->owned)
		remove_strays(t, NULL);
	free(t->v);
	free(t);
	s->maps = NULL;
}

/* ---- stats -------------------------------------------------------------------- */

size_t maps_views_of(const struct inst *in, struct map_view **ret)
{
	const struct prog_config *pc = in->cfg;
	struct sv_maps *t;
	size_t n = 0;

	*ret = NULL;
	if (!pc->maps)
		return 0;
	t = maps_of(sv_of(in));
	while (pc->maps[n].name)
		n++;
	*ret = xcalloc(n, sizeof(**ret));
	for (size_t i = 0; i < n; i++) {
		struct map_view *v = &(*ret)[i];
		struct sv_map *e = find(t, pc->program, pc->maps[i].name);

		v->program = pc->program;
		v->name = pc->maps[i].name;
		v->shm = shm_name(t, pc->program, pc->maps[i].name);
		v->exists = e && tend_map_stats(e->m, &v->st) == 0;
	}
	return n;
}

size_t maps_views_all(struct supervisor *s, struct map_view **ret)
{
	struct sv_maps *t = s->maps;

	*ret = NULL;
	if (!t || t->n == 0)
		return 0;
	*ret = xcalloc(t->n, sizeof(**ret));
	for (size_t i = 0; i < t->n; i++) {
		struct map_view *v = &(*ret)[i];

		v->program = t->v[i].program;
		v->name = t->v[i].spec.name;
		v->shm = xstrdup(t->v[i].shm);
		v->exists = tend_map_stats(t->v[i].m, &v->st) == 0;
	}
	return t->n;
}

void maps_views_free(struct map_view *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].shm);
	free(v);
}
