# libtend: the IPC library (src/lib, include/tend).  Included by the top-level
# Makefile.  Builds $(BUILD)/lib/libtend.a, the shared library with its soname
# and tend.pc; `make install` installs them through install-libtend.
#
# Objects are built once with -fPIC and serve both libraries.  Symbols are
# hidden unless a public header marks them TEND_API.

LIBTEND_VERSION := 0.1.0
LIBTEND_SOMAJOR := 0
LIBTEND_SRC  := $(wildcard src/lib/*.c)
LIBTEND_OBJ  := $(LIBTEND_SRC:%.c=$(OBJ)/%.o)
LIBTEND_HDR  := $(wildcard include/tend/*.h)
LIBTEND_DIR  := $(BUILD)/lib
LIBTEND_A    := $(LIBTEND_DIR)/libtend.a
LIBTEND_SONAME := libtend.so.$(LIBTEND_SOMAJOR)
LIBTEND_SO_REAL := $(LIBTEND_DIR)/libtend.so.$(LIBTEND_VERSION)
LIBTEND_SO   := $(LIBTEND_DIR)/libtend.so
LIBTEND_PC   := $(LIBTEND_DIR)/tend.pc
LIBTEND_LIBS := -lpthread

$(OBJ)/src/lib/%.o: src/lib/%.c | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -MMD -MP -c $< -o $@

$(LIBTEND_A): $(LIBTEND_OBJ)
	@mkdir -p $(@D)
	rm -f $@
	ar rcs $@ $^

$(LIBTEND_SO_REAL): $(LIBTEND_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-soname,$(LIBTEND_SONAME) -Wl,-z,relro,-z,now,-z,defs $(SANLD) $(LDFLAGS) $^ -o $@ $(LIBTEND_LIBS)

$(LIBTEND_SO): $(LIBTEND_SO_REAL)
	ln -sf $(notdir $<) $(LIBTEND_DIR)/$(LIBTEND_SONAME)
	ln -sf $(notdir $<) $@

# A program linked with `pkg-config --libs tend` finds libtend.so under any
# PREFIX without LD_LIBRARY_PATH: an rpath, except where the loader looks anyway.
LIBTEND_RPATH := $(if $(filter /usr /usr/,$(PREFIX)),,-Wl,-rpath,$${libdir} )

# Rewritten when its text changes (PREFIX on the command line included).
$(LIBTEND_PC): FORCE
	@mkdir -p $(@D)
	@printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$${prefix}/include' 'libdir=$${prefix}/lib' '' \
	  'Name: tend' 'Description: libtend IPC: shared-memory priority queue, shared arrays, counters, hash map' \
	  'Version: $(LIBTEND_VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} $(LIBTEND_RPATH)-ltend' \
	  'Libs.private: $(LIBTEND_LIBS)' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; echo "  GEN $@"; fi

.PHONY: FORCE
FORCE:

.PHONY: libtend install-libtend
libtend: $(LIBTEND_A) $(LIBTEND_SO) $(LIBTEND_PC)

install-libtend: libtend
	install -d $(DESTDIR)$(PREFIX)/include/tend $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0644 $(LIBTEND_HDR) $(DESTDIR)$(PREFIX)/include/tend/
	install -m 0644 $(LIBTEND_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 0755 $(LIBTEND_SO_REAL) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libtend.so.$(LIBTEND_VERSION) $(DESTDIR)$(PREFIX)/lib/$(LIBTEND_SONAME)
	ln -sf libtend.so.$(LIBTEND_VERSION) $(DESTDIR)$(PREFIX)/lib/libtend.so
	install -m 0644 $(LIBTEND_PC) $(DESTDIR)$(PREFIX)/lib/pkgconfig/

# Unit tests of the library link only libtend and cmocka (this rule's stem is
# shorter than the generic test_% rule's, so make prefers it).
$(BUILD)/tests/test_lib_%: tests/unit/test_lib_%.c tests/unit/lib_fixture.h $(LIBTEND_A) | $(DEPS_OK) $(TEST_DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $< $(LIBTEND_A) -o $@ $(CMOCKA_LIBS) -lpthread

$(BUILD)/fuzz-replay/fuzz_lib_%: tests/fuzz/fuzz_lib_%.c tests/fuzz/replay_main.c $(LIBTEND_A) | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) $(filter %.c,$^) $(LIBTEND_A) -o $@ -lpthread
