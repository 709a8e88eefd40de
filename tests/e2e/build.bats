#!/usr/bin/env bats
# Building and installing: `make` needs only the build set of
# scripts/install-deps; libtend installed under any PREFIX links and runs
# through pkg-config alone; its headers include what their contracts use.

load helpers

ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)

@test "install-deps: the build set names no test-only package; make's objects need only it" {
	run "$ROOT/scripts/install-deps" build --check
	[ "$status" -eq 0 ]
	build=$(sed -n '/^build_need="/,/^"/p' "$ROOT/scripts/install-deps")
	for p in chromium supervisor bats tmux prometheus libcmocka-dev python3-pytest gunicorn; do
		! grep -q "^$p:" <<<"$build"
	done
	test_set=$(sed -n '/^test_need="/,/^"/p' "$ROOT/scripts/install-deps")
	for p in chromium supervisor bats tmux prometheus libcmocka-dev; do
		grep -q "^$p:" <<<"$test_set"
	done
	# the object rules wait for the build set only; unit tests for the test set too
	grep -q '^\$(OBJ)/%.o: %.c | \$(DEPS_OK)$' "$ROOT/Makefile"
	grep -q 'scripts/install-deps build$' "$ROOT/Makefile"
	grep -q '^test: .*| \$(TEST_DEPS_OK)$' "$ROOT/Makefile"
}

@test "libtend under a non-default PREFIX: pkg-config alone builds a program that runs (no LD_LIBRARY_PATH); headers include errno.h" {
	# a plain build even under `make SANITIZE=1 test`: a program built without
	# the sanitizers cannot load a library built with them
	make -C "$ROOT" -s BUILD="$T/b" PREFIX="$T/prefix" SANITIZE= install-libtend >"$T/make.log" 2>&1 || {
		cat "$T/make.log"
		return 1
	}
	cat >"$T/app.c" <<'EOF'
#include <stdio.h>
#include <tend/queue.h>

int main(void)
{
	tend_queue *q = NULL;
	int r = tend_queue_create(&q, NULL, 4, 64, 1, 0600);
	char buf[64];

	if (r < 0)
		return 1;
	/* EAGAIN: errno.h comes with the header that documents it */
	r = tend_queue_get(q, buf, sizeof(buf), NULL, TEND_NOWAIT);
	printf("%s\n", r == -EAGAIN ? "empty" : "?");
	tend_queue_free(q);
	return 0;
}
EOF
	export PKG_CONFIG_PATH=$T/prefix/lib/pkgconfig
	unset LD_LIBRARY_PATH
	cc -Wall -Werror -o "$T/app" "$T/app.c" $(pkg-config --cflags --libs tend)
	run "$T/app"
	[ "$status" -eq 0 ]
	[ "$output" = empty ]
	ldd "$T/app" | grep -q "$T/prefix/lib/libtend.so"
	# every public header compiles alone
	for h in "$T"/prefix/include/tend/*.h; do
		printf '#include <tend/%s>\nint x;\n' "$(basename "$h")" >"$T/one.c"
		cc -Wall -Werror -c -o "$T/one.o" "$T/one.c" $(pkg-config --cflags tend)
	done
}
