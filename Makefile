# tend — plain Makefile (redis style). See README for the targets.
#
#   make                 build bin/tend, bin/tendd and libtend
#   make test            build and run every test suite (unit, e2e, fuzz replay)
#   make SANITIZE=1 test the same under ASan+UBSan (separate build dir)
#   make demo            run tend on examples/demo.conf (DEMO_SECONDS=N to stop after N s)
#   make bench [B=NAME]  benchmarks side by side with the anchors
#   make fuzz            build libFuzzer targets (clang)
#   make install PREFIX=/usr/local

.DEFAULT_GOAL := all
CC      ?= cc
PREFIX  ?= /usr/local
PKG_CONFIG ?= pkg-config

ifeq ($(SANITIZE),1)
BUILD   := build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SANLD   := -fsanitize=address,undefined
else
BUILD   := build
OPT     := -O2 -g -D_FORTIFY_SOURCE=2
SANLD   :=
endif

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral -Wstrict-prototypes -Wmissing-prototypes
HARDEN  := -fstack-protector-strong -fPIE
CFLAGS_ALL := -std=gnu11 $(OPT) $(WARN) $(HARDEN) -D_GNU_SOURCE -Iinclude -Isrc $(CFLAGS)
LDFLAGS_ALL := -pie -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS)

BIN     := $(BUILD)/bin
OBJ     := $(BUILD)/obj

# Dependencies: if pkg-config cannot find one, scripts/install-deps installs it.
# Two sets (scripts/install-deps): what building needs, and what testing needs on top.
DEPS_OK := $(BUILD)/.deps-ok
$(DEPS_OK): scripts/install-deps
	@scripts/install-deps build
	@mkdir -p $(@D) && touch $@
TEST_DEPS_OK := $(BUILD)/.test-deps-ok
$(TEST_DEPS_OK): scripts/install-deps
	@scripts/install-deps test
	@mkdir -p $(@D) && touch $@

pc = $(shell $(PKG_CONFIG) --silence-errors $(1) $(2))

INIH_LIBS    = $(call pc,--libs,inih)
JANSSON_LIBS = $(call pc,--libs,jansson)
CMOCKA_LIBS  = $(call pc,--libs,cmocka)
CURSES_LIBS  = $(call pc,--libs,ncursesw)
HTTP_PARSER_LIBS = -lhttp_parser
EXPAT_LIBS   = $(call pc,--libs,expat)
CRYPTO_LIBS  = $(call pc,--libs,libcrypto)
# everything the daemon's objects link with
DAEMON_LIBS  = $(INIH_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS) $(EXPAT_LIBS) $(CRYPTO_LIBS) -lm

# ---- sources -------------------------------------------------------------
COMMON_SRC := $(wildcard src/common/*.c) $(wildcard src/sys/*.c)
CONFIG_SRC := $(wildcard src/config/*.c)
DAEMON_SRC := $(wildcard src/daemon/*.c)
CLI_SRC    := src/main.c $(wildcard src/cli/*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(OBJ)/%.o)
CONFIG_OBJ := $(CONFIG_SRC:%.c=$(OBJ)/%.o)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(OBJ)/%.o)
CLI_OBJ    := $(CLI_SRC:%.c=$(OBJ)/%.o)
# Daemon objects without its main(), for unit tests.
DAEMON_LIB_OBJ := $(filter-out $(OBJ)/src/daemon/tendd.o,$(DAEMON_OBJ))

# ---- libtend (src/lib, include/tend): its own fragment ----------------------
# mk/libtend.mk defines LIBTEND_A, LIBTEND_SRC, the `libtend` and `install-libtend`
# targets; unit tests link LIBTEND_A.
-include mk/libtend.mk
ifeq ($(wildcard mk/libtend.mk),)
.PHONY: libtend install-libtend
libtend:
install-libtend:
endif

# ---- the Python package (python/, mk/python.mk): tend._tend over libtend ----
-include mk/python.mk

# the dashboard page is assembled into this object (.incbin)
$(OBJ)/src/daemon/dashboard.o: src/daemon/dashboard.html

TEND  := $(BIN)/tend
TENDD := $(BIN)/tendd

.PHONY: all test unit e2e pytest demo bench fuzz install clean helpers
all: $(TEND) $(TENDD) helpers libtend python

$(OBJ)/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c $< -o $@

# The CLI speaks HTTP to the daemon's unix socket itself, parsing the answers
# with http-parser (the daemon's request parser): no libcurl (src/cli/client.c).
# Both link libtend statically for tend_map (maps=, `tend map stats`): only map.o,
# seg.o and sync.o come in.
$(TENDD): $(DAEMON_OBJ) $(CONFIG_OBJ) $(COMMON_OBJ) $(LIBTEND_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) $^ -o $@ $(DAEMON_LIBS) -lpthread

$(TEND): $(CLI_OBJ) $(CONFIG_OBJ) $(COMMON_OBJ) $(LIBTEND_A)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS_ALL) $^ -o $@ $(INIH_LIBS) $(JANSSON_LIBS) $(HTTP_PARSER_LIBS) $(CURSES_LIBS) -lpthread

# ---- test helpers (small C programs the e2e tests run) ---------------------
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPERS    := $(HELPER_SRC:tests/helpers/%.c=$(BUILD)/helpers/%)
# LD_PRELOAD libraries (no sanitizer: they load before its runtime)
PRELOAD_SRC := $(wildcard tests/helpers/preload/*.c)
PRELOADS   := $(PRELOAD_SRC:tests/helpers/preload/%.c=$(BUILD)/helpers/%.so)
helpers: $(HELPERS) $(PRELOADS)
$(BUILD)/helpers/%: tests/helpers/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $< -o $@
$(BUILD)/helpers/%.so: tests/helpers/preload/%.c
	@mkdir -p $(@D)
	$(CC) -O2 -Wall -Wextra -Werror -fPIC -shared $< -o $@ -ldl
# tmap uses libtend's shared map
$(BUILD)/helpers/tmap: tests/helpers/tmap.c $(LIBTEND_A) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $< $(LIBTEND_A) -o $@ -lpthread

# ---- unit tests (cmocka): tests/unit/test_<module>.c -----------------------
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
$(BUILD)/tests/test_%: tests/unit/test_%.c $(DAEMON_LIB_OBJ) $(CONFIG_OBJ) $(COMMON_OBJ) $(LIBTEND_A) | $(DEPS_OK) $(TEST_DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $(filter %.c %.o %.a,$^) -o $@ $(CMOCKA_LIBS) $(DAEMON_LIBS) -lpthread

# ---- fuzz targets: tests/fuzz/fuzz_<name>.c, corpus in tests/fuzz/corpus/<name>/
FUZZ_SRC   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_REPLAY := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz-replay/%)
$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(DAEMON_LIB_OBJ) $(CONFIG_OBJ) $(COMMON_OBJ) $(LIBTEND_A) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $(filter %.c %.o %.a,$^) -o $@ $(DAEMON_LIBS) -lpthread

FUZZ_CC ?= clang
fuzz: | $(DEPS_OK)
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo "  FUZZ $$n"; \
	  $(FUZZ_CC) -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
	    $$f $(CONFIG_SRC) $(filter-out src/daemon/tendd.c,$(DAEMON_SRC)) $(COMMON_SRC) $(LIBTEND_SRC) \
	    -o build-fuzz/$$n $(DAEMON_LIBS) -lpthread || exit 1; done
	@echo "run: build-fuzz/fuzz_NAME tests/fuzz/corpus/NAME"

# ---- test ------------------------------------------------------------------
test: all $(UNIT_BINS) $(FUZZ_REPLAY) | $(TEST_DEPS_OK)
	@BUILD=$(BUILD) scripts/run-tests

unit: all $(UNIT_BINS) | $(TEST_DEPS_OK)
	@BUILD=$(BUILD) scripts/run-tests unit

e2e: all | $(TEST_DEPS_OK)
	@BUILD=$(BUILD) scripts/run-tests e2e

pytest: all
	@BUILD=$(BUILD) scripts/run-tests python

DEMO_SECONDS ?= 0
demo: all
	@DEMO_SECONDS=$(DEMO_SECONDS) scripts/demo $(TEND)

B ?=
bench: all
	@BUILD=$(BUILD) bench/run $(B)

install: all install-libtend
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/tend
	install -m 0755 $(TEND) $(DESTDIR)$(PREFIX)/bin/tend
	install -m 0755 $(TENDD) $(DESTDIR)$(PREFIX)/libexec/tend/tendd

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
