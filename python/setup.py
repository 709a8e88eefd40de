"""Build tend._tend for `pip install ./python` (the repository's Makefile
builds the same module with `make python`).

libtend comes from the repository this directory sits in (../src/lib,
compiled into the extension), or else from an installed libtend found by
pkg-config (`make install` installs tend.pc).
"""
import glob
import os
import subprocess

from setuptools import Extension, setup

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sources = sorted(glob.glob(os.path.join("src", "*.c")))
include_dirs = ["src"]
libraries = ["pthread"]
extra = []
lib_src = os.path.join(root, "src", "lib")
if os.path.isdir(lib_src):
    # relative paths: setuptools refuses absolute ones in sources
    sources += sorted(os.path.relpath(p, here) for p in glob.glob(os.path.join(lib_src, "*.c")))
    include_dirs += [os.path.join(root, "include"), os.path.join(root, "src")]
    extra = ["-fvisibility=hidden", "-DTENDPY_LIBTEND_INTERNALS"]  # Map._check uses libtend's internals
else:
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "tend"], check=True, capture_output=True,
                           text=True).stdout.split()
    include_dirs += [f[2:] for f in flags if f.startswith("-I")]
    libraries += [f[2:] for f in flags if f.startswith("-l")]

setup(ext_modules=[Extension("tend._tend", sources=sources, include_dirs=include_dirs, libraries=libraries,
                             define_macros=[("_GNU_SOURCE", None)], extra_compile_args=["-std=gnu11"] + extra)])
