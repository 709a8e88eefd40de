/*
 * The names of the shared maps tend makes for maps= (src/daemon/maps.c), in
 * one place because the CLI computes them too (`tend map stats PROGRAM:MAP`).
 * A map's POSIX shm name is
 *
 *     /tend.<16 hex digits: FNV-1a of the control socket's path>.<program>.<map>
 *
 * so two tends (two sockets) never share a name, and a tend that starts on
 * the socket of one that was SIGKILLed finds that one's maps by the prefix.
 */
#ifndef TEND_MAPNAME_H
#define TEND_MAPNAME_H

/* "/tend." + 16 hex digits + "." and the NUL */
#define MAP_PREFIX_SIZE 24

/* Write the prefix of the maps of the tend on socket into ret.  This function can't fail. */
void map_shm_prefix(const char *socket, char ret[MAP_PREFIX_SIZE]);

/* The shm name of program's map called map (caller frees).  This function can't fail. */
char *map_shm_name(const char *socket, const char *program, const char *map);

/* The environment variable of a map called map: "TEND_MAP_" and the name in upper case (caller frees). */
char *map_env_name(const char *map);

#endif
