"""Fixtures for tend's Python tests, and a TAP report for scripts/run-tests.

With TEND_PYTEST_TAP=FILE, every test's outcome is written to FILE as a TAP
line ("ok N - id", "not ok N - id" followed by the failure as "# " lines,
"ok N - id # SKIP reason"), which scripts/run-tests counts like the other
suites.
"""
import glob
import itertools
import multiprocessing as mp
import os

import pytest

_seq = itertools.count()
_tap = []


@pytest.fixture
def shm_name():
    """A fresh "/tend-pytest-..." name, unlinked after the test."""
    name = f"/tend-pytest-{os.getpid()}-{next(_seq)}"
    yield name
    try:
        os.unlink("/dev/shm" + name)
    except FileNotFoundError:
        pass


@pytest.fixture(params=["fork", "spawn"])
def ctx(request):
    """A multiprocessing context for each start method the test runs under."""
    return mp.get_context(request.param)


def pytest_runtest_logreport(report):
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed") or \
            (report.when == "teardown" and report.outcome == "failed"):
        _tap.append(report)


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("TEND_PYTEST_TAP")
    if not path:
        return
    with open(path, "w") as f:
        f.write(f"1..{len(_tap)}\n")
        for i, r in enumerate(_tap, 1):
            name = r.nodeid + ("" if r.when == "call" else f" ({r.when})")
            if r.skipped:
                reason = r.longrepr[2] if isinstance(r.longrepr, tuple) else ""
                f.write(f"ok {i} - {name} # SKIP {reason}\n")
            elif r.passed:
                f.write(f"ok {i} - {name}\n")
            else:
                f.write(f"not ok {i} - {name}\n")
                for line in str(r.longrepr).splitlines()[-40:]:
                    f.write(f"# {line}\n")


def shm_files(prefix):
    return sorted(glob.glob("/dev/shm/" + prefix + "*"))
