/*
 * tend map stats PROGRAM:MAP|/SHM-NAME: the counters of a shared map of
 * maps=, read from the map itself through a read-only mapping
 * (tend_map_stats_name), so it works without the daemon (a stuck or dead
 * tend, a map a SIGKILLed tend left) and with read permission only.
 * PROGRAM:MAP is named the way the daemon on the configured socket names
 * it (common/mapname.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/exitcodes.h"
#include "common/mapname.h"
#include "common/util.h"
#include "tend/map.h"

int cli_map(const struct cli_opts *o, int argc, char **argv)
{
	struct tend_map_stats st;
	const char *colon;
	char *shm;
	int r;

	if (argc != 3 || strcmp(argv[1], "stats") != 0 || (argv[2][0] != '/' && !strchr(argv[2], ':'))) {
		fprintf(stderr, "usage: tend map stats PROGRAM:MAP|/SHM-NAME  [--json]\n");
		return EXIT_USAGE;
	}
	if (argv[2][0] == '/') {
		shm = xstrdup(argv[2]);
	} else {
		char *sock = cli_socket_path(o), *program;

		colon = strrchr(argv[2], ':');
		program = xstrndup(argv[2], (size_t)(colon - argv[2]));
		shm = map_shm_name(sock, program, colon + 1);
		free(program);
		free(sock);
	}
	r = tend_map_stats_name(shm, &st);
	if (r < 0) {
		fprintf(stderr, "tend: cannot read map '%s': %s\n", shm, r == -EBADMSG ? "not a tend map" : strerror(-r));
		free(shm);
		return r == -EACCES ? EXIT_REFUSED : r == -EINVAL ? EXIT_USAGE : EXIT_NOT_WANTED;
	}
	if (o->json) {
		json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "shm", shm, "items",
				      (json_int_t)st.items, "bytes", (json_int_t)st.bytes, "mem_used",
				      (json_int_t)st.mem_used, "mem_total", (json_int_t)st.mem_total, "capacity",
				      (json_int_t)st.capacity, "hits", (json_int_t)st.hits, "misses",
				      (json_int_t)st.misses, "evictions", (json_int_t)st.evictions, "expirations",
				      (json_int_t)st.expirations, "index_bytes", (json_int_t)st.index_bytes,
				      "read_retries", (json_int_t)st.read_retries);
		char *text = j ? json_dumps(j, JSON_PRESERVE_ORDER) : NULL;

		if (text)
			puts(text);
		free(text);
		json_decref(j);
	}
	else
		printf("map          %s\nitems        %llu of %llu\nbytes        %llu (keys and values)\n"
		       "memory       %llu of %llu bytes used, index %llu bytes\n"
		       "hits         %llu\nmisses       %llu\nevictions    %llu\nexpirations  %llu\n"
		       "read_retries %llu\n",
		       shm, (unsigned long long)st.items, (unsigned long long)st.capacity, (unsigned long long)st.bytes,
		       (unsigned long long)st.mem_used, (unsigned long long)st.mem_total,
		       (unsigned long long)st.index_bytes, (unsigned long long)st.hits, (unsigned long long)st.misses,
		       (unsigned long long)st.evictions, (unsigned long long)st.expirations,
		       (unsigned long long)st.read_retries);
	free(shm);
	return EXIT_OK;
}
