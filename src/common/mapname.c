/* The shm names of tend's shared maps (mapname.h). */
#include "common/mapname.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>

#include "common/util.h"

void map_shm_prefix(const char *socket, char ret[MAP_PREFIX_SIZE])
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const unsigned char *p = (const unsigned char *)socket; *p; p++)
		h = (h ^ *p) * 0x100000001b3ull;
	snprintf(ret, MAP_PREFIX_SIZE, "/tend.%016llx.", (unsigned long long)h);
}

char *map_shm_name(const char *socket, const char *program, const char *map)
{
	char prefix[MAP_PREFIX_SIZE];

	map_shm_prefix(socket, prefix);
	return xasprintf("%s%s.%s", prefix, program, map);
}

char *map_env_name(const char *map)
{
	char *s = xasprintf("TEND_MAP_%s", map);

	for (char *p = s + 9; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	return s;
}
