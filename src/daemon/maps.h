/*
 * The shared maps of maps= (libtend's tend_map): tend makes each map of a
 * program before the program's first instance starts, names it in the
 * instance's environment (TEND_MAP_<NAME>), keeps it across restarts of the
 * program (its state survives a crash), and removes it when the program
 * leaves the config or tend exits.  Names: common/mapname.h.
 *
 * A map belongs to a program, not to an instance: every instance of a
 * program (numprocs, pools) shares it.  The table of maps hangs off the
 * supervisor (s->maps); nothing else keeps map state.
 */
#ifndef TEND_DAEMON_MAPS_H
#define TEND_DAEMON_MAPS_H

#include <stddef.h>

#include "common/util.h"
#include "config/config.h"
#include "tend/map.h"

struct supervisor;
struct inst;

/*
 * The socket is this tend's now (called once, before the first start):
 * remove the maps an earlier tend on the same socket left behind (SIGKILL)
 * that the config no longer names; the ones it names are reused by
 * maps_prepare when their geometry matches.  This function can't fail.
 */
void maps_start(struct supervisor *s);

/*
 * Make (or find) every map pc names, owned by pc's user with its mode.
 * Returns 0, or -errno with the map that failed in why ("map NAME").
 */
int maps_prepare(struct supervisor *s, const struct prog_config *pc, char *why, size_t why_len);

/* TEND_MAP_<NAME>=<shm name> for each map pc names; NULL when none (caller frees: strv_free). */
char **maps_env(struct supervisor *s, const struct prog_config *pc);

/* After a reload put nc in force: remove the maps nc no longer names.  This function can't fail. */
void maps_sweep(struct supervisor *s, const struct config *nc);

/* Close and remove every map (tend exits).  Accepts a supervisor without maps. */
void maps_done(struct supervisor *s);

/* One map as the front-ends show it (they encode it: JSON, /metrics). */
struct map_view {
	const char *program;      /* its program (points into the map table or the config) */
	const char *name;         /* its name in maps= */
	char *shm;                /* its shm name, "/tend.<hash>.<program>.<name>" */
	bool exists;              /* made and readable: st holds its figures */
	struct tend_map_stats st;
};

/*
 * The maps in's program names, in maps= order, each with its figures read
 * now; 0 and *ret NULL when it names none.  Free with maps_views_free.
 * This function can't fail.
 */
size_t maps_views_of(const struct inst *in, struct map_view **ret);

/* Every map tend holds, as maps_views_of.  This function can't fail. */
size_t maps_views_all(struct supervisor *s, struct map_view **ret);

void maps_views_free(struct map_view *v, size_t n);

#endif
