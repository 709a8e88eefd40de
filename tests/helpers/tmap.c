/*
 * tmap VAR: a program that uses the shared map tend made for it (maps=),
 * for tests/e2e/maps.bats.  It opens the map named by the environment
 * variable VAR (TEND_MAP_<NAME>), prints that name, counts its own start in
 * the key "starts" (so a restart after a crash shows what the map kept),
 * stores hello=world, reads it 5 times and a missing key twice, publishes
 * its hit and miss counts, prints "ready", then waits for a signal.
 * Exit 3: the variable is not set or the map cannot be opened.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tend/map.h"

int main(int argc, char **argv)
{
	struct tend_map_stats st;
	const char *name;
	uint64_t zero = 0, starts = 0;
	char buf[64];
	tend_map *m;
	int r;

	if (argc != 2 || !(name = getenv(argv[1]))) {
		printf("no %s in the environment\n", argc == 2 ? argv[1] : "variable");
		return 3;
	}
	printf("map %s\n", name);
	r = tend_map_open(&m, name);
	if (r < 0) {
		printf("cannot open %s: %s\n", name, strerror(-r));
		return 3;
	}
	r = tend_map_add(m, "starts", 6, &zero, sizeof(zero), 0, NULL);
	if (r < 0 && r != -EEXIST)
		printf("add: %s\n", strerror(-r));
	r = tend_map_incr(m, "starts", 6, 1, &starts);
	printf("starts %llu\n", r == 0 ? (unsigned long long)starts : 0ull);
	if (tend_map_set(m, "hello", 5, "world", 5, 0, NULL) < 0)
		printf("set failed\n");
	for (int i = 0; i < 5; i++)
		if (tend_map_get(m, "hello", 5, buf, sizeof(buf), NULL) != 5)
			printf("get failed\n");
	for (int i = 0; i < 2; i++)
		(void)tend_map_get(m, "missing", 7, buf, sizeof(buf), NULL);
	(void)tend_map_stats(m, &st); /* adds this handle's hits and misses to the map's */
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
