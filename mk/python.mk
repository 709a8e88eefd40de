# tend's Python package (python/): the extension module tend._tend over
# libtend, built against Debian's python3-dev for Debian's /usr/bin/python3
# (the python3 first on PATH may be another build without Debian's
# packages).  Included by the top-level Makefile.
#
#   make python        build $(BUILD)/python/tend (import with PYTHONPATH=$(BUILD)/python)
#   make test          runs its pytest suite as the `python` suite of scripts/run-tests
#
# Under SANITIZE=1 the extension and its own copy of libtend are built with
# ASan+UBSan too, and the suite runs the interpreter with libasan preloaded
# (scripts/run-tests); leak detection is off there (CPython keeps its
# allocations until exit by design).

PYTHON     ?= /usr/bin/python3
PY_INC     := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])' 2>/dev/null)
PY_EXT     := $(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))' 2>/dev/null)
PYBUILD    := $(BUILD)/python
PY_SRC     := $(wildcard python/src/*.c)
PY_OBJ     := $(PY_SRC:python/src/%.c=$(PYBUILD)/obj/%.o)
PY_MOD     := $(PYBUILD)/tend/_tend$(PY_EXT)
PY_FILES   := $(wildcard python/tend/*.py)
PY_COPIES  := $(PY_FILES:python/%=$(PYBUILD)/%)
# the interpreter's headers trip none of our warnings but these
PY_CFLAGS  := -std=gnu11 $(OPT) $(WARN) -Wno-missing-field-initializers -fPIC -fvisibility=hidden \
	      -D_GNU_SOURCE -DTENDPY_LIBTEND_INTERNALS -Iinclude -Isrc -isystem $(PY_INC) $(CFLAGS)

.PHONY: python
python: $(PY_MOD) $(PY_COPIES)

$(PYBUILD)/obj/%.o: python/src/%.c python/src/tendpy.h | $(DEPS_OK)
	@mkdir -p $(@D)
	$(CC) $(PY_CFLAGS) -MMD -MP -c $< -o $@

# libtend's objects are -fPIC with hidden symbols: linked in, nothing of them
# is exported but PyInit__tend
$(PY_MOD): $(PY_OBJ) $(LIBTEND_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS) $^ -o $@ -lpthread

$(PYBUILD)/tend/%.py: python/tend/%.py
	@mkdir -p $(@D)
	cp $< $@
