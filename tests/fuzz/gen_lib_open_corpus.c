/*
 * Writes the seed corpus of fuzz_lib_open into DIR: real queue, array,
 * counter and map objects (made by libtend, dumped from their memfds) and
 * damaged copies of them (truncated, wrong magic, wrong version, huge sizes,
 * a lock word naming a dead owner, a map writer's intent left half done).  Not built by make; run it when a layout changes:
 *
 *   cc -std=gnu11 -D_GNU_SOURCE -Iinclude tests/fuzz/gen_lib_open_corpus.c \
 *      build/lib/libtend.a -lpthread -o /tmp/gen && /tmp/gen tests/fuzz/corpus/lib_open
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tend/counter.h"
#include "tend/map.h"
#include "tend/queue.h"
#include "tend/shm.h"

static const char *dir;

static void die(const char *what, int r)
{
	fprintf(stderr, "gen: %s: %s\n", what, strerror(r < 0 ? -r : r));
	exit(1);
}

static unsigned char *image(int fd, size_t *ret_len)
{
	struct stat st;
	unsigned char *img;

	if (fstat(fd, &st) < 0)
		die("fstat", errno);
	img = malloc((size_t)st.st_size);
	if (!img || pread(fd, img, (size_t)st.st_size, 0) != st.st_size)
		die("pread", errno);
	*ret_len = (size_t)st.st_size;
	return img;
}

static void save(const char *name, const void *bytes, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || (len && fwrite(bytes, 1, len, f) != len) || fclose(f) != 0)
		die(path, errno);
}

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

/* The damaged copies every kind gets: seg header fields at fixed offsets. */
static void variants(const char *kind, const unsigned char *img, size_t len)
{
	unsigned char *bad = malloc(len);
	char name[64];

	if (!bad)
		die("malloc", ENOMEM);
	snprintf(name, sizeof(name), "%s-valid", kind);
	save(name, img, len);
	snprintf(name, sizeof(name), "%s-truncated-header", kind);
	save(name, img, 40);
	snprintf(name, sizeof(name), "%s-truncated", kind);
	save(name, img, len - 8);
	memcpy(bad, img, len);
	bad[0] ^= 0xff;
	snprintf(name, sizeof(name), "%s-wrong-magic", kind);
	save(name, bad, len);
	memcpy(bad, img, len);
	put32(bad + 8, 2);
	snprintf(name, sizeof(name), "%s-wrong-version", kind);
	save(name, bad, len);
	memcpy(bad, img, len);
	put64(bad + 16, (uint64_t)1 << 40);
	snprintf(name, sizeof(name), "%s-huge-total-size", kind);
	save(name, bad, len);
	memcpy(bad, img, len);
	put32(bad + 24, 0);
	snprintf(name, sizeof(name), "%s-not-ready", kind);
	save(name, bad, len);
	free(bad);
}

int main(int argc, char **argv)
{
	unsigned char *img, *bad;
	tend_counter *c;
	tend_queue *q;
	tend_shm *s;
	size_t len;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		die(dir, errno);

	/* queue: 4 messages of up to 16 bytes, 2 levels, two messages in it */
	r = tend_queue_create(&q, NULL, 4, 16, 2, 0);
	if (r < 0)
		die("queue", r);
	if ((r = tend_queue_put(q, "hello", 5, 1, TEND_NOWAIT)) < 0 ||
	    (r = tend_queue_put(q, "0123456789abcdef", 16, 0, TEND_NOWAIT)) < 0)
		die("put", r);
	img = image(tend_queue_fd(q), &len);
	variants("queue", img, len);
	bad = malloc(len);
	memcpy(bad, img, len);
	put32(bad + 32, 0x7fffffff); /* capacity */
	save("queue-huge-capacity", bad, len);
	memcpy(bad, img, len);
	put32(bad + 36, 0xffffffffu); /* max_msg */
	save("queue-huge-max-msg", bad, len);
	memcpy(bad, img, len);
	put32(bad + 40, 1000); /* nprio */
	save("queue-huge-nprio", bad, len);
	free(bad);
	free(img);
	tend_queue_free(q);

	/* array: 6 elements of 12 bytes, lock held by a dead "owner" */
	r = tend_shm_create(&s, NULL, 6, 12, 0);
	if (r < 0)
		die("shm", r);
	memcpy(tend_shm_at(s, 0), "element zero", 12);
	img = image(tend_shm_fd(s), &len);
	variants("shm", img, len);
	bad = malloc(len);
	memcpy(bad, img, len);
	put64(bad + 64, 0x000012343ffffffeull);
	save("shm-dead-owner", bad, len);
	memcpy(bad, img, len);
	put64(bad + 32, (uint64_t)1 << 33); /* nelem */
	save("shm-huge-nelem", bad, len);
	memcpy(bad, img, len);
	put64(bad + 32, ~(uint64_t)0);
	put64(bad + 40, ~(uint64_t)0);
	save("shm-overflowing-sizes", bad, len);
	free(bad);
	free(img);
	tend_shm_free(s);

	/* counters: partitioned with claimed slots, atomic, locked */
	r = tend_counter_create(&c, NULL, TEND_COUNTER_PARTITIONED, 4, 0);
	if (r < 0)
		die("counter", r);
	tend_counter_add(c, 41);
	img = image(tend_counter_fd(c), &len);
	variants("counter", img, len);
	bad = malloc(len);
	memcpy(bad, img, len);
	put32(bad + 32, 7); /* kind */
	save("counter-bad-kind", bad, len);
	memcpy(bad, img, len);
	put32(bad + 36, 0xffffffffu); /* nslots */
	save("counter-huge-nslots", bad, len);
	free(bad);
	free(img);
	tend_counter_free(c);
	r = tend_counter_create(&c, NULL, TEND_COUNTER_ATOMIC, 0, 0);
	if (r < 0)
		die("counter", r);
	tend_counter_add(c, 7);
	img = image(tend_counter_fd(c), &len);
	save("counter-atomic-valid", img, len);
	free(img);
	tend_counter_free(c);
	r = tend_counter_create(&c, NULL, TEND_COUNTER_LOCKED, 0, 0);
	if (r < 0)
		die("counter", r);
	tend_counter_add(c, 7);
	img = image(tend_counter_fd(c), &len);
	save("counter-locked-valid", img, len);
	free(img);
	tend_counter_free(c);

	/* map: a few items; then damaged: a dead writer with a publish intent
	 * naming junk, an odd bucket, a geometry field changed, free-list and
	 * slot words pointing anywhere */
	{
		tend_map *mp;
		uint64_t ctr = 40;
		size_t i, stripes, buckets;

		r = tend_map_create(&mp, NULL, 64, 100, 32768, 0, 0);
		if (r < 0)
			die("map", r);
		if ((r = tend_map_set(mp, "alpha", 5, "one", 3, 0, NULL)) < 0 ||
		    (r = tend_map_set(mp, "beta", 4, "two", 3, 60000, NULL)) < 0 ||
		    (r = tend_map_set(mp, "ctr", 3, &ctr, 8, 0, NULL)) < 0 || (r = tend_map_delete(mp, "beta", 4)) < 0)
			die("map set", r);
		img = image(tend_map_fd(mp), &len);
		memcpy(&stripes, img + 72, 8); /* stripes_off; a stripe: lock 0, op 24, bucket 32, x 40, new_word 56 */
		variants("map", img, len);
		bad = malloc(len);
		memcpy(bad, img, len);
		put64(bad + stripes, 0x000012343ffffffeull); /* stripe 0's lock: a dead owner */
		put32(bad + stripes + 24, 4);                /* op: publish */
		put32(bad + stripes + 32, 0xffffffu);        /* bucket far away */
		put64(bad + stripes + 56, ~(uint64_t)0);     /* new word */
		save("map-dead-writer", bad, len);
		memcpy(bad, img, len);
		put64(bad + stripes, 0x000012343ffffffeull);
		put32(bad + stripes + 24, 2); /* op: carve, chunk anywhere */
		put32(bad + stripes + 40, 0x7fffffffu);
		save("map-dead-carver", bad, len);
		memcpy(bad, img, len);
		put64(bad + 32, (uint64_t)1 << 31); /* capacity */
		save("map-huge-capacity", bad, len);
		memcpy(bad, img, len);
		put64(bad + 40, (uint64_t)1 << 30); /* max_value */
		save("map-huge-max-value", bad, len);
		/* every bucket odd, every slot word junk */
		memcpy(bad, img, len);
		buckets = 0;
		for (i = 0; i + 8 <= len; i += 8) {
			uint64_t w;

			memcpy(&w, img + i, 8);
			if (w == 0 || i < 1024)
				continue;
			buckets++;
			put64(bad + i, w ^ 0x00ff00ff00ff00ffull);
		}
		if (!buckets)
			die("map image", EINVAL);
		save("map-scrambled", bad, len);
		free(bad);
		free(img);
		tend_map_free(mp);
	}

	save("empty", "", 0);
	save("junk", "not a libtend object at all, just some text\n", 45);
	return 0;
}
