"""tend.Counter: exact sums from many writers, killed writers, names, bad
inputs."""
import multiprocessing as mp
import os
import pickle
import signal

import pytest

import tend


def add_n(c, n, delta=1):
    for _ in range(n):
        c.add(delta)


def add_then_die(c, n, ready):
    for _ in range(n):
        c.add()
    ready.put("done")
    os.kill(os.getpid(), signal.SIGKILL)


def test_add_and_value():
    c = tend.Counter()
    assert c.value == 0 and int(c) == 0
    c.add()
    c.add(41)
    c.add(-2)
    assert c.value == 40 and int(c) == 40 and c.kind == "partitioned" and c.slots == 128
    with pytest.raises(TypeError):
        c.add("1")
    with pytest.raises(OverflowError):
        c.add(2**64)
    with pytest.raises(TypeError):
        c.add(1, 2)
    assert c.value == 40


@pytest.mark.parametrize("kind", ["partitioned", "atomic", "locked"])
def test_kinds(kind):
    c = tend.Counter(kind=kind, slots=4)
    add_n(c, 100, 3)
    assert c.value == 300 and c.kind == kind


def test_bad_arguments():
    with pytest.raises(ValueError, match="slots"):
        tend.Counter(slots=0)
    with pytest.raises(ValueError, match="slots"):
        tend.Counter(slots=70000)
    with pytest.raises(ValueError, match="kind"):
        tend.Counter(kind="fast")
    with pytest.raises(ValueError, match="give its name"):
        tend.Counter(create=False)


def test_many_writers_exact(ctx, shm_name):
    c = tend.Counter(name=shm_name, slots=8)
    kids = [ctx.Process(target=add_n, args=(c, 5000)) for _ in range(4)]
    for k in kids:
        k.start()
    for k in kids:
        k.join(60)
        assert k.exitcode == 0
    assert c.value == 20000


def test_more_writers_than_slots_still_exact():
    c = tend.Counter(slots=1)
    kids = [mp.get_context("fork").Process(target=add_n, args=(c, 1000)) for _ in range(3)]
    for k in kids:
        k.start()
    add_n(c, 1000)
    for k in kids:
        k.join(60)
    assert c.value == 4000


def test_killed_writer_adds_stay(ctx, shm_name):
    c = tend.Counter(name=shm_name, slots=2)
    ready = tend.Queue(name=shm_name + "-r")
    try:
        for _ in range(3):  # more deaths than slots: dead slots are reused
            p = ctx.Process(target=add_then_die, args=(c, 250, ready))
            p.start()
            assert ready.get(timeout=60) == "done"
            p.join(30)
            assert p.exitcode == -signal.SIGKILL
        assert c.value == 750
    finally:
        ready.unlink()


def test_release_keeps_the_value():
    c = tend.Counter(slots=1)
    c.add(5)
    c.release()
    c.add(1)
    assert c.value == 6


def test_names_pickling_and_foreign(shm_name):
    c = tend.Counter(name=shm_name)
    c.add(3)
    d = pickle.loads(pickle.dumps(c))
    d.add(4)
    assert c.value == 7 and tend.Counter.open(shm_name).value == 7
    with pytest.raises(FileExistsError):
        tend.Counter(name=shm_name)
    with pytest.raises(RuntimeError, match="anonymous tend.Counter"):
        pickle.dumps(tend.Counter())
    c.unlink()
    with pytest.raises(FileNotFoundError):
        tend.Counter.open(shm_name)
    with open("/dev/shm" + shm_name, "wb") as f:
        f.write(b"\0" * 8 + b"garbage" * 100)
    with pytest.raises(ValueError, match=f"tend.Counter '{shm_name}'.*not a tend counter"):
        tend.Counter.open(shm_name)
