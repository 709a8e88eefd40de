"""tend.Value, tend.Array, tend.Lock, tend.RLock: multiprocessing's
contracts, robust locks (a holder killed with SIGKILL), names and start
methods, bad inputs."""
import ctypes
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time

import pytest

import tend


# ---- children ----------------------------------------------------------------

def add_locked(v, n):
    for _ in range(n):
        with v.get_lock():
            v.value += 1


def hold_and_die(lock, ready):
    lock.acquire()
    ready.put("holding")
    os.kill(os.getpid(), signal.SIGKILL)


def hold_value_and_die(v, ready):
    v.get_lock().acquire()
    v.value = 12345  # half-way through an update
    ready.put("holding")
    os.kill(os.getpid(), signal.SIGKILL)


def hold_for(lock, ready, secs):
    with lock:
        ready.put("holding")
        time.sleep(secs)


def fill_array(a):
    for i in range(len(a)):
        a[i] = i * i


# ---- Value ---------------------------------------------------------------------

@pytest.mark.parametrize("code,val", [
    ("c", b"x"), ("u", "é"), ("?", True), ("b", -128), ("B", 255), ("h", -32768), ("H", 65535),
    ("i", -2**31), ("I", 2**32 - 1), ("l", -2**63), ("L", 2**64 - 1), ("q", 2**63 - 1), ("Q", 2**64 - 1),
    ("f", 1.5), ("d", -2.25),
])
def test_value_every_typecode(code, val):
    v = tend.Value(code, val)
    assert v.value == val and v.typecode == code
    v.value = val
    assert v.value == val


def test_value_default_zero_and_ctypes_types():
    assert tend.Value("i").value == 0
    assert tend.Value(ctypes.c_double, 2.5).value == 2.5
    assert tend.Value(ctypes.c_int64, -7).typecode in "lq"
    assert tend.Value(ctypes.c_bool, 1).value is True


@pytest.mark.parametrize("bad", ["x", "ii", "", 5, None, ctypes.c_char_p, object])
def test_bad_typecode_is_a_type_error(bad):
    with pytest.raises(TypeError, match="bad typecode"):
        tend.Value(bad, 0)
    with pytest.raises(TypeError, match="bad typecode"):
        tend.Array(bad, 3)


def test_value_range_and_type_checks():
    with pytest.raises(OverflowError):
        tend.Value("b", 128)
    with pytest.raises(OverflowError):
        tend.Value("B", -1)
    v = tend.Value("i", 1)
    with pytest.raises(OverflowError):
        v.value = 2**31
    with pytest.raises(TypeError):
        v.value = "1"
    with pytest.raises(TypeError):
        v.value = 1.5
    assert v.value == 1  # nothing written on failure
    with pytest.raises(TypeError):
        tend.Value("c", b"xy")
    with pytest.raises(TypeError):
        tend.Value("u", "ab")
    with pytest.raises(AttributeError):
        del v.value


def test_value_lock_is_reentrant_and_robust_flag_off():
    v = tend.Value("q", 0)
    lock = v.get_lock()
    with lock:
        with v.get_lock():
            v.value += 1
        assert v.value == 1
    assert not v.owner_died and not lock.owner_died
    assert lock.acquire(False) is True
    lock.release()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock.release()


def test_raw_value_has_no_lock():
    v = tend.RawValue("i", 5)
    v.value += 1
    assert v.value == 6
    with pytest.raises(AttributeError, match="lock=False"):
        v.get_lock()
    a = tend.RawArray("d", [1, 2])
    a[0] += 1
    assert a[:] == [2.0, 2.0]


def test_value_locked_increments_from_processes(ctx, shm_name):
    v = tend.Value("q", 0, name=shm_name)
    kids = [ctx.Process(target=add_locked, args=(v, 2000)) for _ in range(4)]
    for k in kids:
        k.start()
    for k in kids:
        k.join(60)
        assert k.exitcode == 0
    assert v.value == 8000


def test_anonymous_value_works_with_fork_only():
    v = tend.Value("i", 0)
    p = mp.get_context("fork").Process(target=add_locked, args=(v, 100))
    p.start()
    p.join(30)
    assert v.value == 100
    with pytest.raises(RuntimeError, match="anonymous tend.Value"):
        pickle.dumps(v)


def test_value_pickles_by_name_with_typecode(shm_name):
    v = tend.Value("d", 1.25, name=shm_name)
    w = pickle.loads(pickle.dumps(v))
    w.value = 3.5
    assert v.value == 3.5 and w.typecode == "d" and w.name == shm_name
    assert tend.Value.open(shm_name, "d").value == 3.5
    with pytest.raises(ValueError, match="does not match typecode 'i'"):
        tend.Value.open(shm_name, "i")


def test_value_holder_killed_the_next_lock_takes_over(ctx, shm_name):
    v = tend.Value("i", 0, name=shm_name)
    ready = tend.Queue(name=shm_name + "-r")
    try:
        p = ctx.Process(target=hold_value_and_die, args=(v, ready))
        p.start()
        assert ready.get(timeout=60) == "holding"
        p.join(30)
        assert p.exitcode == -signal.SIGKILL
        lock = v.get_lock()
        assert lock.acquire(timeout=10) is True
        assert lock.owner_died and v.owner_died
        assert v.value == 12345  # what the dead holder left: the caller repairs it
        v.value = 0
        lock.release()
        assert lock.acquire(timeout=1) is True and not lock.owner_died
        lock.release()
    finally:
        ready.unlink()


# ---- Array ------------------------------------------------------------------------

def test_array_sequence_protocol():
    a = tend.Array("i", [1, 2, 3, 4, 5])
    assert len(a) == 5 and a[0] == 1 and a[-1] == 5 and list(a) == [1, 2, 3, 4, 5]
    a[1] = 20
    a[-2] = 40
    assert a[:] == [1, 20, 3, 40, 5] and a[::2] == [1, 3, 5] and a[::-1] == [5, 40, 3, 20, 1]
    a[1:3] = [7, 8]
    a[::2] = [0, 0, 0]
    assert a[:] == [0, 7, 0, 40, 0]
    with pytest.raises(IndexError):
        a[5]
    with pytest.raises(IndexError):
        a[-6] = 1
    with pytest.raises(ValueError, match="same size"):
        a[0:2] = [1]
    with pytest.raises(TypeError):
        a["x"]
    with pytest.raises(TypeError):
        del a[0]
    with pytest.raises(OverflowError):
        a[0:2] = [1, 2**40]
    assert a[:] == [0, 7, 0, 40, 0]  # a failed slice assignment writes nothing
    assert tend.Array("d", 3)[:] == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        tend.Array("i", 0)
    with pytest.raises(ValueError):
        tend.Array("i", [])


def test_char_array_value_and_raw():
    a = tend.Array("c", 8)
    a.value = b"hi"
    assert a.value == b"hi" and a.raw == b"hi" + b"\0" * 6
    a.raw = b"abcdefgh"
    assert a.value == b"abcdefgh" and a[1:3] == b"bc"
    with pytest.raises(ValueError):
        a.value = b"123456789"
    with pytest.raises(AttributeError):
        tend.Array("i", 2).value


def test_array_get_obj_is_a_view_of_shared_memory():
    a = tend.Array("d", [1.0, 2.0])
    m = a.get_obj()
    assert m.format == "d" and m.tolist() == [1.0, 2.0]
    m[1] = 9.0
    assert a[1] == 9.0
    del a  # the view keeps the mapping alive
    assert m[1] == 9.0


def test_array_filled_by_child(ctx, shm_name):
    a = tend.Array("q", 50, name=shm_name)
    p = ctx.Process(target=fill_array, args=(a,))
    p.start()
    p.join(60)
    assert p.exitcode == 0
    assert a[:] == [i * i for i in range(50)]
    b = tend.Array.open(shm_name, "q")
    assert len(b) == 50 and b[7] == 49


# ---- Lock and RLock --------------------------------------------------------------

def test_lock_basics():
    lock = tend.Lock()
    assert lock.acquire() is True
    assert lock.acquire(False) is False  # held by this thread: not reentrant
    assert lock.acquire(timeout=0.01) is False
    with pytest.raises(RuntimeError, match="holds it already"):
        lock.acquire()
    lock.release()
    with pytest.raises(RuntimeError, match="un-acquired"):
        lock.release()
    with lock:
        pass
    with pytest.raises(ValueError, match="non-blocking"):
        lock.acquire(False, 1)


def test_rlock_counts():
    r = tend.RLock()
    assert r.acquire() and r.acquire() and r.acquire(False)
    r.release()
    r.release()
    r.release()
    with pytest.raises(RuntimeError):
        r.release()
    with r:
        with r:
            pass


def test_lock_excludes_another_thread():
    lock = tend.Lock()
    lock.acquire()
    got = []
    t = threading.Thread(target=lambda: got.append(lock.acquire(timeout=0.1)))
    t.start()
    t.join()
    assert got == [False]
    lock.release()
    t = threading.Thread(target=lambda: (got.append(lock.acquire(timeout=5)), lock.release()))
    t.start()
    t.join()
    assert got == [False, True]


def test_lock_excludes_another_process(ctx, shm_name):
    lock = tend.Lock(name=shm_name)
    ready = tend.Queue(name=shm_name + "-r")
    try:
        p = ctx.Process(target=hold_for, args=(lock, ready, 1.0))
        p.start()
        assert ready.get(timeout=60) == "holding"
        assert lock.acquire(False) is False
        assert lock.acquire(timeout=10) is True  # once the child lets go
        assert not lock.owner_died
        lock.release()
        p.join(30)
    finally:
        ready.unlink()


@pytest.mark.parametrize("kind", ["Lock", "RLock"])
def test_holder_killed_next_acquire_takes_over_and_can_tell(ctx, shm_name, kind):
    lock = getattr(tend, kind)(name=shm_name)
    ready = tend.Queue(name=shm_name + "-r")
    try:
        p = ctx.Process(target=hold_and_die, args=(lock, ready))
        p.start()
        assert ready.get(timeout=60) == "holding"
        p.join(30)
        assert p.exitcode == -signal.SIGKILL
        t0 = time.monotonic()
        assert lock.acquire(timeout=10) is True
        assert time.monotonic() - t0 < 5
        assert lock.owner_died
        lock.release()
        assert lock.acquire() is True and not lock.owner_died
        lock.release()
    finally:
        ready.unlink()


def test_anonymous_lock_inherited_by_fork_and_refuses_pickling():
    lock = tend.Lock()
    q = tend.Queue()
    p = mp.get_context("fork").Process(target=hold_and_die, args=(lock, q))
    p.start()
    assert q.get(timeout=30) == "holding"
    p.join(30)
    assert lock.acquire(timeout=10) and lock.owner_died
    lock.release()
    with pytest.raises(RuntimeError, match="anonymous tend.Lock"):
        pickle.dumps(lock)


def test_lock_by_name_and_foreign_segment(shm_name):
    lock = tend.Lock(name=shm_name)
    other = pickle.loads(pickle.dumps(lock))
    assert isinstance(other, tend.Lock) and other.name == shm_name
    rl = pickle.loads(pickle.dumps(tend.RLock.open(shm_name)))
    assert isinstance(rl, tend.RLock)
    lock.unlink()
    with pytest.raises(FileNotFoundError):
        tend.Lock.open(shm_name)
    with open("/dev/shm" + shm_name, "wb") as f:
        f.write(os.urandom(4096))
    for opener in (lambda: tend.Lock.open(shm_name), lambda: tend.Value.open(shm_name, "i"),
                   lambda: tend.Array.open(shm_name, "d")):
        with pytest.raises(ValueError, match="not a tend shared array"):
            opener()


def test_value_of_a_counter_segment_is_refused(shm_name):
    c = tend.Counter(name=shm_name)
    with pytest.raises(ValueError, match=f"'{shm_name}'.*not a tend shared array"):
        tend.Value.open(shm_name, "q")
    del c
