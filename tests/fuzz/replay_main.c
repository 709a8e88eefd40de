/*
 * Corpus replay driver for the libFuzzer targets in tests/fuzz/.
 *
 * `make test` builds every fuzz_<name>.c against this main() with the regular
 * compiler and runs it over tests/fuzz/corpus/<name>/, one TAP line per file,
 * so a corpus entry that once crashed keeps being checked (under ASan/UBSan in
 * the SANITIZE=1 pass).  `make fuzz` builds the same targets with clang's
 * -fsanitize=fuzzer instead, which provides its own main().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	n = read(fd, buf, st.st_size);
	close(fd);
	if (n != st.st_size) {
		free(buf);
		return -EIO;
	}
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	char **names = NULL;
	size_t count = 0, i;
	struct dirent *de;
	DIR *dir;
	int failed = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	dir = opendir(argv[1]);
	if (!dir) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	while ((de = readdir(dir))) {
		char **grown;

		if (de->d_name[0] == '.')
			continue;
		grown = realloc(names, (count + 1) * sizeof(*names));
		if (!grown)
			return 2;
		names = grown;
		if (asprintf(&names[count], "%s/%s", argv[1], de->d_name) < 0)
			return 2;
		count++;
	}
	closedir(dir);
	qsort(names, count, sizeof(*names), cmp_str);

	printf("1..%zu\n", count);
	for (i = 0; i < count; i++) {
		int r = replay_file(names[i]);

		/* A crash aborts the whole run (the sanitizer reports it). */
		printf("%s %zu - %s\n", r == 0 ? "ok" : "not ok", i + 1, names[i]);
		if (r < 0)
			failed++;
		free(names[i]);
	}
	free(names);
	return failed ? 1 : 0;
}
