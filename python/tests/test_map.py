"""tend.Map: every method in one process and across fork and spawn, races
between processes, a writer SIGKILLed mid-loop, names, pickling, bad
inputs."""
import errno
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time

import pytest

import tend


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


VALUES = [None, True, False, 0, 1, -1, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**100, 1.5, "", "héllo",
          b"", b"a", b"1234567", b"12345678", b"\x00" * 7, b"\x80" * 9, bytearray(b"xy"), [1, [2]],
          {"a": {"b": (1, 2)}}, Point(1, 2), {1, 2}, ("t",)]


def test_values_round_trip():
    m = tend.Map()
    for i, v in enumerate(VALUES):
        m[f"k{i}"] = v
    for i, v in enumerate(VALUES):
        got = m[f"k{i}"]
        assert got == v and type(got) is type(v), (v, got)
    # the storage rule (docs/python.md): ints 8 bytes, bytes tagged, the rest pickled
    assert m.get_raw("k4") == (1).to_bytes(8, sys.byteorder, signed=True)
    assert m.get_raw("k5") == (-1).to_bytes(8, sys.byteorder, signed=True)
    assert m.get_raw("k15") == b"\x00a"
    assert m.get_raw("k16") == b"\x011234567\x00"  # 8 bytes would read as an int: padded
    assert m.get_raw("k17") == b"\x0012345678"
    assert m.get_raw("k0")[:1] == b"\x80"
    assert m.get_raw("k8")[:1] == b"\x80"  # 2**63 does not fit: pickled
    assert m.get_raw("nope") is None and m.get_raw("nope", 5) == 5


def test_mapping_methods():
    m = tend.Map(size=100)
    assert len(m) == 0 and "a" not in m and m.get("a") is None and m.get("a", 7) == 7
    with pytest.raises(KeyError):
        m["a"]
    m["a"] = {"x": 1}
    assert m["a"] == {"x": 1} and "a" in m and b"a" in m and len(m) == 1
    assert m[b"a"] == {"x": 1}  # str keys are their UTF-8 bytes
    m["a"] = 2
    assert m["a"] == 2 and len(m) == 1
    # setdefault
    assert m.setdefault("a", 5) == 2
    assert m.setdefault("s") is None and "s" in m and m["s"] is None
    assert m.setdefault("s2", [1], ttl=30) == [1] and m["s2"] == [1]
    # pop
    assert m.pop("s2") == [1] and "s2" not in m
    assert m.pop("s2", "gone") == "gone"
    with pytest.raises(KeyError):
        m.pop("s2")
    # del
    del m["s"]
    with pytest.raises(KeyError):
        del m["s"]
    # add
    assert m.add("n", 1) is True and m.add("n", 2) is False and m["n"] == 1
    # keys / values / items / iter / clear
    m["é"] = "u"
    m[b"\xff\xfe"] = "b"
    assert sorted(m.keys(), key=repr) == sorted(["a", "n", "é", b"\xff\xfe"], key=repr)
    assert sorted(m.items(), key=repr) == sorted([("a", 2), ("n", 1), ("é", "u"), (b"\xff\xfe", "b")], key=repr)
    assert sorted(m.values(), key=repr) == sorted([2, 1, "u", "b"], key=repr)
    assert sorted(iter(m), key=repr) == sorted(m.keys(), key=repr)
    assert dict(m.items())["é"] == "u"
    m.clear()
    assert len(m) == 0 and m.keys() == [] and m.items() == []
    m._check()


def test_incr():
    m = tend.Map()
    assert m.incr("c") == 1 and m.incr("c") == 2 and m.incr("c", 10) == 12 and m.incr("c", -20) == -8
    assert m["c"] == -8
    m["d"] = 0
    assert m.incr("d", delta=5) == 5
    m["w"] = 2**63 - 1
    assert m.incr("w") == -2**63  # 64-bit wrap, as the C counter
    m["s"] = "text"
    with pytest.raises(TypeError, match="not an integer"):
        m.incr("s")
    assert m["s"] == "text"
    with pytest.raises(OverflowError):
        m.incr("c", 2**64)
    assert m.incr("t", ttl=0.05) == 1
    time.sleep(0.12)
    assert "t" not in m and m.incr("t") == 1


def test_cas():
    m = tend.Map()
    assert m.cas("k", None, 1) is False and "k" not in m  # absent: nothing stored
    m["k"] = {"v": 1}
    assert m.cas("k", {"v": 2}, "no") is False and m["k"] == {"v": 1}
    assert m.cas("k", {"v": 1}, {"v": 2}) is True and m["k"] == {"v": 2}
    assert m.cas("k", {"v": 2}, 3, ttl=0.05) is True and m["k"] == 3
    time.sleep(0.12)
    assert "k" not in m and m.cas("k", 3, 4) is False


def test_ttl():
    m = tend.Map()
    m.set("short", "v", ttl=0.05)
    m.set("long", "v", ttl=30)
    m.set("never", "v", ttl=0)
    m.set("none", "v", ttl=None)
    m.set("plain", "v")
    assert m["short"] == "v"
    time.sleep(0.12)
    assert "short" not in m and m.get("short") is None
    assert all(k in m for k in ("long", "never", "none", "plain"))
    assert sorted(m.keys()) == ["long", "never", "none", "plain"] and len(m) == 4
    with pytest.raises(ValueError, match="ttl"):
        m.set("x", 1, ttl=-1)
    with pytest.raises(ValueError, match="ttl"):
        m.set("x", 1, ttl=float("nan"))
    with pytest.raises(TypeError):
        m.set("x", 1, ttl="1")
    assert "x" not in m
    m.set("e", 1, ttl=0.01)
    time.sleep(0.05)
    assert m.sweep() >= 1


def test_bad_inputs(shm_name):
    m = tend.Map(max_value=100)
    for k in (1, None, 1.5, ("a",), bytearray(b"a")):
        with pytest.raises(TypeError, match="str or bytes"):
            m[k] = 1
        with pytest.raises(TypeError):
            m.get(k)
    for k in ("", b"", "x" * 251, b"x" * 251, "é" * 126):
        with pytest.raises(ValueError, match="1..250"):
            m[k] = 1
    m["x" * 250] = 1
    assert m["x" * 250] == 1
    with pytest.raises(ValueError, match="max_value of 100"):
        m["big"] = b"x" * 100
    with pytest.raises(ValueError, match="max_value of 100"):
        m["big"] = "x" * 200
    m["fits"] = b"x" * 99
    assert "big" not in m and m["fits"] == b"x" * 99
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        m["f"] = lambda: 1
    assert "f" not in m
    with pytest.raises(TypeError):
        m.set("k")
    with pytest.raises(TypeError):
        m.set("k", 1, 2, 3)
    with pytest.raises(TypeError):
        m.set("k", 1, tll=3)
    with pytest.raises(TypeError):
        m.get()
    with pytest.raises(TypeError):
        m.pop()
    # values a C program wrote that tend.Map did not: ValueError naming the map
    m.set_raw("c", b"hello")
    assert m.get_raw("c") == b"hello"
    with pytest.raises(ValueError, match="did not write"):
        m["c"]
    m.set_raw("empty", b"")
    with pytest.raises(ValueError, match="did not write"):
        m.get("empty")
    # constructor arguments
    for kw in ({"size": 0}, {"size": 2**31}, {"max_value": 8}, {"max_value": 2**25}, {"mem_bytes": -1}):
        with pytest.raises(ValueError, match="size"):
            tend.Map(**kw)
    with pytest.raises(ValueError, match="give its name"):
        tend.Map(create=False)
    with pytest.raises(TypeError):
        tend.Map(name=5)


def test_noevict_full_is_enospc():
    m = tend.Map(size=16, max_value=1000, evict=False)
    assert m.evict is False
    with pytest.raises(OSError) as e:
        for i in range(100000):
            m[f"k{i}"] = b"x" * 900
    assert e.value.errno == errno.ENOSPC
    n = len(m)
    assert n > 0 and f"k{n}" not in m  # the failed write changed nothing
    m._check()


def test_evicting_map_stays_usable():
    m = tend.Map(size=64, max_value=1000)
    for i in range(5000):
        m[f"k{i}"] = {"i": i, "pad": "x" * 500}
    assert m["k4999"]["i"] == 4999 and 0 < len(m) <= 5000
    assert m.stats()["evictions"] > 0
    m._check()


def test_names_open_unlink_pickle(shm_name):
    m = tend.Map(shm_name, 100, max_value=300)
    assert m.name == shm_name and m.size == 100 and m.max_value == 300 and m.mem_bytes > 0
    assert shm_name in repr(m)
    m["k"] = "v"
    with pytest.raises(FileExistsError):
        tend.Map(shm_name, 100)
    o = tend.Map.open(shm_name)
    assert o["k"] == "v" and o.size == 100 and o.max_value == 300
    o2 = tend.Map(shm_name.lstrip("/"), create=False)  # the slash is added
    assert o2["k"] == "v"
    p = pickle.loads(pickle.dumps(m))
    assert p.name == shm_name and p["k"] == "v"
    p["k2"] = 1
    assert m["k2"] == 1
    m.unlink()
    assert m["k"] == "v"  # open handles keep working
    with pytest.raises(FileNotFoundError):
        tend.Map.open(shm_name)
    with pytest.raises(FileNotFoundError):
        m.unlink()
    a = tend.Map()
    assert a.name is None
    with pytest.raises(RuntimeError, match="fork"):
        pickle.dumps(a)
    with pytest.raises(ValueError, match="anonymous"):
        a.unlink()


def test_foreign_and_damaged_segments(shm_name):
    with open("/dev/shm" + shm_name, "wb") as f:
        f.write(b"not a map" * 10000)
    with pytest.raises(ValueError, match=f"tend.Map '{shm_name}'.*not a tend map"):
        tend.Map.open(shm_name)
    os.unlink("/dev/shm" + shm_name)
    tend.Queue(name=shm_name)  # another kind of tend object
    with pytest.raises(ValueError, match="not a tend map"):
        tend.Map.open(shm_name)
    os.unlink("/dev/shm" + shm_name)
    m = tend.Map(shm_name, 100)
    m["k"] = 1
    del m
    os.truncate("/dev/shm" + shm_name, 8192)  # truncated
    with pytest.raises(ValueError, match="not a tend map"):
        tend.Map.open(shm_name)
    os.truncate("/dev/shm" + shm_name, 0)  # as a creator leaves it before its ftruncate: retried ~2 s
    with pytest.raises(BlockingIOError):
        tend.Map.open(shm_name)


def test_from_env(shm_name, monkeypatch):
    m = tend.Map(shm_name, 100)
    m["flag"] = True
    monkeypatch.setenv("TEND_MAP_SESSIONS", shm_name)
    assert tend.Map.from_env("sessions")["flag"] is True
    assert tend.Map.from_env("SESSIONS")["flag"] is True
    monkeypatch.delenv("TEND_MAP_SESSIONS")
    with pytest.raises(KeyError, match="TEND_MAP_SESSIONS is not set"):
        tend.Map.from_env("sessions")
    with pytest.raises(TypeError):
        tend.Map.from_env(5)


# ---- across processes ----------------------------------------------------------

def child_ops(m, out):
    """Every method, in a child; what it read goes back through out."""
    got = {"parent": m["parent"], "in": "parent" in m, "missing": m.get("missing", "dflt"),
           "len": len(m), "keys": sorted(m.keys())}
    m["child"] = {"pid": os.getpid()}
    m.set("child_ttl", 1, ttl=0.05)
    got["incr"] = m.incr("counter", 5)
    got["setdefault"] = m.setdefault("sd", "child")
    got["pop"] = m.pop("to_pop")
    del m["to_del"]
    got["cas"] = m.cas("casme", 1, 2)
    m.add("added", "child")
    got["items"] = sorted((k, v) for k, v in m.items() if k == "parent")
    out.put(got)


def test_every_method_under_forkserver(shm_name):
    # forkserver: Python 3.14's default on Linux; the map travels by name
    test_every_method_across_processes(mp.get_context("forkserver"), shm_name)


def test_every_method_across_processes(ctx, shm_name):
    m = tend.Map(shm_name, 100)
    m["parent"] = [1, 2]
    m["counter"] = 10
    m["sd"] = "parent"
    m["to_pop"] = "popped"
    m["to_del"] = 0
    m["casme"] = 1
    out = ctx.Queue()
    p = ctx.Process(target=child_ops, args=(m, out))
    p.start()
    got = out.get(timeout=60)
    p.join(60)
    assert p.exitcode == 0
    assert got == {"parent": [1, 2], "in": True, "missing": "dflt", "len": 6,
                   "keys": ["casme", "counter", "parent", "sd", "to_del", "to_pop"], "incr": 15,
                   "setdefault": "parent", "pop": "popped", "cas": True, "items": [("parent", [1, 2])]}
    assert m["child"] == {"pid": p.pid} and m["counter"] == 15 and m["casme"] == 2 and m["added"] == "child"
    assert "to_pop" not in m and "to_del" not in m
    time.sleep(0.1)
    assert "child_ttl" not in m
    m._check()


def test_anonymous_map_fork_only():
    m = tend.Map()
    m["a"] = 1
    out = mp.get_context("fork").Queue()
    p = mp.get_context("fork").Process(target=child_ops, args=(m, out))
    m["parent"] = "p"
    m["to_pop"] = m["to_del"] = m["casme"] = 1
    p.start()
    got = out.get(timeout=60)
    p.join(60)
    assert got["parent"] == "p" and m["child"] == {"pid": p.pid}
    for method in ("spawn", "forkserver"):
        q = mp.get_context(method).Process(target=child_ops, args=(m, None))
        with pytest.raises(RuntimeError, match="anonymous tend.Map.*name="):
            q.start()


def incr_many(m, n):
    for _ in range(n):
        m.incr("hits")


def pop_race(m, n, out):
    won = []
    for i in range(n):
        v = m.pop(f"k{i}", None)
        if v is not None:
            won.append(v)
    out.put(won)


def setdefault_race(m, go, out):
    go.wait()
    out.put(m.setdefault("winner", os.getpid()))


def cas_add(m, n):
    done = 0
    while done < n:
        v = m["cas"]
        if m.cas("cas", v, v + 1):
            done += 1


def test_races_between_processes(shm_name):
    # fork only: spawn costs ~1.5 s a process here; test_every_method_across_processes covers spawn
    ctx = mp.get_context("fork")
    m = tend.Map(shm_name, 2000)
    kids = [ctx.Process(target=incr_many, args=(m, 3000)) for _ in range(4)]
    m["cas"] = 0
    kids += [ctx.Process(target=cas_add, args=(m, 300)) for _ in range(2)]
    for k in kids:
        k.start()
    for k in kids:
        k.join(120)
        assert k.exitcode == 0
    assert m["hits"] == 12000 and m["cas"] == 600
    # pop: every value goes to exactly one of the racing poppers
    for i in range(1000):
        m[f"k{i}"] = i
    out = ctx.Queue()
    kids = [ctx.Process(target=pop_race, args=(m, 1000, out)) for _ in range(3)]
    for k in kids:
        k.start()
    won = sum((out.get(timeout=120) for _ in kids), [])
    for k in kids:
        k.join(60)
    assert sorted(won) == list(range(1000))
    # setdefault: everyone gets the one value that was stored
    go = ctx.Event()
    kids = [ctx.Process(target=setdefault_race, args=(m, go, out)) for _ in range(4)]
    for k in kids:
        k.start()
    go.set()
    got = {out.get(timeout=60) for _ in kids}
    for k in kids:
        k.join(60)
    assert len(got) == 1 and got == {m["winner"]} and m["winner"] in {k.pid for k in kids}
    m._check()


# ---- kills -------------------------------------------------------------------------

def writer_loop(m, started):
    """Writes forever: values that check themselves, a counter, deletes."""
    n = 0
    started.set()
    while True:
        n = m.incr("count")
        m["last"] = n
        key = f"k{n % 64}"
        m.set(key, {"key": key, "n": n, "pad": "x" * (n % 700)}, ttl=None if n % 3 else 30)
        if n % 5 == 0:
            m.pop(f"k{(n * 7) % 64}", None)
        if n % 11 == 0:
            m.cas(key, m.get(key), {"key": key, "n": n, "pad": ""})


def check_values(m):
    for k, v in m.items():
        if k.startswith("k"):
            assert v["key"] == k and (v["pad"] == "" or len(v["pad"]) == v["n"] % 700), (k, v)


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_writer_sigkilled_mid_loop_leaves_map_consistent(method, shm_name):
    ctx = mp.get_context(method)
    m = tend.Map(shm_name, 200, max_value=1024)
    last_count = 0
    for rnd in range(6):
        started = ctx.Event()
        p = ctx.Process(target=writer_loop, args=(m, started))
        p.start()
        assert started.wait(60)
        deadline = time.monotonic() + 0.05 + 0.03 * rnd
        while time.monotonic() < deadline:  # read while it writes: never a torn value
            check_values(m)
        os.kill(p.pid, signal.SIGKILL)
        p.join(30)
        assert p.exitcode == -signal.SIGKILL
        m._check()  # takes the dead writer's lock over and repairs its write
        check_values(m)
        count, last = m["count"], m.get("last", 0)
        assert count > last_count and count - last in (0, 1), (count, last)
        last_count = count
        m["last"] = count  # the next writer starts from an acknowledged state
    # the map still works for everyone
    m["after"] = "ok"
    assert tend.Map.open(shm_name)["after"] == "ok"
