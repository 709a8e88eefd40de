"""tend.Pool: multiprocessing.Pool's methods and results, workers killed
mid-task, broken initializers, big payloads, pools in spawned processes,
bad inputs."""
import errno
import multiprocessing as mp
import os
import pickle
import signal
import time

import pytest

import tend
from conftest import shm_files


def sq(x):
    return x * x


def add(a, b=0):
    return a + b


def boom(x):
    raise KeyError(f"boom {x}")


def slow_pid(secs):
    time.sleep(secs)
    return os.getpid()


def die(_):
    os.kill(os.getpid(), signal.SIGKILL)


def die_once(path):
    # the first worker to run this dies; the task after it runs normally
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return "second"
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def unpicklable_result(_):
    return lambda: 1


def big(n):
    return b"r" * n


def size_of(b):
    return len(b)


_init_value = None


def init(v):
    global _init_value
    _init_value = v


def get_init(_):
    return _init_value


def bad_init():
    raise RuntimeError("initializer fails")


def pid_of(_):
    return os.getpid()


def fail_on_13(x):
    if x == 13:
        raise ValueError("thirteen")
    return x * 2


def unpicklable_on_5(x):
    return (lambda: 1) if x == 5 else x


def logged_die_at(args):
    # log the item (O_APPEND: one write, whole), die on the chosen one
    x, log, kill_at = args
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.write(fd, b"%d\n" % x)
    os.close(fd)
    if x == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return x + 1


def pool_in_child(out):
    with tend.Pool(2) as p:
        out.put(p.map(sq, range(20)))


@pytest.fixture
def pool():
    p = tend.Pool(2)
    yield p
    p.terminate()


def test_apply_and_apply_async(pool):
    assert pool.apply(add, (2, 3)) == 5
    assert pool.apply(add, (2,), {"b": 5}) == 7
    r = pool.apply_async(sq, (9,))
    assert r.get(timeout=30) == 81
    assert r.ready() and r.successful()
    r.wait()
    e = pool.apply_async(boom, (1,))
    e.wait(30)
    assert e.ready() and not e.successful()
    with pytest.raises(KeyError, match="boom 1") as ei:
        e.get()
    assert "RemoteTraceback" in type(ei.value.__cause__).__name__ and "boom" in str(ei.value.__cause__)
    slow = pool.apply_async(slow_pid, (1,))
    with pytest.raises(tend.TimeoutError):
        slow.get(timeout=0.05)
    with pytest.raises(ValueError, match="not ready"):
        slow.successful()
    assert isinstance(slow.get(30), int)


def test_callbacks_run_when_results_are_collected(pool):
    got, errs = [], []
    for i in range(5):
        pool.apply_async(sq, (i,), callback=got.append)
    pool.apply_async(boom, (7,), error_callback=errs.append)
    pool.map_async(sq, [10, 11], callback=got.append)
    pool.close()
    pool.join()
    assert sorted(got[:5]) == [0, 1, 4, 9, 16] and got[5] == [100, 121]
    assert len(errs) == 1 and isinstance(errs[0], KeyError)


def test_map_variants(pool):
    assert pool.map(sq, range(100)) == [i * i for i in range(100)]
    assert pool.map(sq, range(10), chunksize=1) == [i * i for i in range(10)]
    assert pool.map(sq, range(10), chunksize=7) == [i * i for i in range(10)]
    assert pool.map(sq, iter(range(5))) == [0, 1, 4, 9, 16]
    assert pool.map(sq, []) == []
    assert pool.map_async(sq, range(6)).get(30) == [0, 1, 4, 9, 16, 25]
    with pytest.raises(KeyError):
        pool.map(boom, range(10))
    with pytest.raises(KeyError):
        pool.map_async(boom, range(3)).get(30)
    assert pool.map(sq, [3]) == [9]  # the pool goes on after a failed map


def test_starmap(pool):
    assert pool.starmap(add, [(1, 2), (3, 4)]) == [3, 7]
    assert pool.starmap_async(add, [(5, 5)], chunksize=1).get(30) == [10]
    assert pool.starmap(pow, [(2, 10)]) == [1024]  # a builtin


def test_imap_and_imap_unordered(pool):
    assert list(pool.imap(sq, range(50))) == [i * i for i in range(50)]
    assert list(pool.imap(sq, range(50), chunksize=8)) == [i * i for i in range(50)]
    assert sorted(pool.imap_unordered(sq, range(50))) == [i * i for i in range(50)]
    assert sorted(pool.imap_unordered(sq, range(50), chunksize=4)) == [i * i for i in range(50)]
    it = pool.imap(slow_pid, [1.0])
    with pytest.raises(tend.TimeoutError):
        it.next(timeout=0.05)
    assert isinstance(it.next(timeout=30), int)
    with pytest.raises(StopIteration):
        next(it)
    it = pool.imap(boom, [1, 2])
    with pytest.raises(KeyError):
        next(it)

    def numbers():  # lazily consumed: an endless iterator is fine
        i = 0
        while True:
            yield i
            i += 1
    it = pool.imap(sq, numbers())
    assert [next(it) for _ in range(10)] == [i * i for i in range(10)]
    with pytest.raises(ValueError):
        pool.imap(sq, [1], chunksize=0)


def test_close_join_terminate_and_context_manager():
    p = tend.Pool(2)
    r = p.apply_async(sq, (3,))
    with pytest.raises(ValueError, match="still running"):
        p.join()
    p.close()
    with pytest.raises(ValueError, match="not running"):
        p.apply(sq, (1,))
    with pytest.raises(ValueError, match="not running"):
        p.map(sq, [1])
    p.join()
    assert r.get() == 9
    assert p.pids() == []

    p = tend.Pool(2)
    long = p.apply_async(slow_pid, (30,))
    time.sleep(0.2)
    p.terminate()
    with pytest.raises(tend.TaskCancelled):
        long.get(5)

    with tend.Pool(1) as p:
        pids = p.pids()
        assert len(pids) == 1 and p.apply(sq, (4,)) == 16
    for pid in pids:  # __exit__ terminated: the worker is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_processes_default_and_bad_arguments():
    with tend.Pool() as p:
        assert p._processes == os.cpu_count()
    with pytest.raises(ValueError):
        tend.Pool(0)
    with pytest.raises(ValueError):
        tend.Pool(1, maxtasksperchild=0)
    with pytest.raises(TypeError):
        tend.Pool(1, initializer=5)
    with tend.Pool(1) as p:
        with pytest.raises(NotImplementedError):
            pickle.dumps(p)


def test_initializer_and_maxtasksperchild():
    with tend.Pool(2, initializer=init, initargs=("hello",)) as p:
        assert p.map(get_init, range(8), chunksize=1) == ["hello"] * 8
    with tend.Pool(1, maxtasksperchild=2) as p:
        pids = [p.apply(pid_of, (i,)) for i in range(6)]
        assert len(set(pids)) == 3 and pids[0] == pids[1] and pids[2] == pids[3]


def test_broken_initializer_fails_tasks_instead_of_hanging(capfd):
    with tend.Pool(1, initializer=bad_init) as p:
        r = p.apply_async(sq, (2,))
        with pytest.raises(tend.InitializerFailed):
            r.get(timeout=60)
    assert "initializer fails" in capfd.readouterr().err


def test_worker_killed_mid_task_fails_that_task_only(pool):
    before = set(pool.pids())
    r = pool.apply_async(die, (0,))
    with pytest.raises(tend.WorkerDied) as ei:
        r.get(timeout=60)
    assert ei.value.errno == errno.EOWNERDEAD
    assert pool.map(sq, range(20)) == [i * i for i in range(20)]
    assert len(pool.pids()) == 2 and set(pool.pids()) != before


def test_worker_killed_from_outside_during_a_map(tmp_path):
    with tend.Pool(2) as p:
        rs = [p.apply_async(slow_pid, (0.5,)) for _ in range(2)]
        time.sleep(0.2)
        victim = p.pids()[0]
        os.kill(victim, signal.SIGKILL)
        outcomes = []
        for r in rs:
            try:
                outcomes.append(r.get(timeout=60))
            except tend.WorkerDied:
                outcomes.append("died")
        assert outcomes.count("died") == 1
        assert p.map(sq, range(10)) == [i * i for i in range(10)]


def test_kill_inside_map_chunk_raises_worker_died(tmp_path):
    flag = str(tmp_path / "flag")
    with tend.Pool(2) as p:
        with pytest.raises(tend.WorkerDied):
            p.map(die_once, [flag] * 4, chunksize=1)
        assert p.apply(die_once, (flag,)) == "second"


def test_pickling_errors():
    with tend.Pool(1) as p:
        with pytest.raises((pickle.PicklingError, AttributeError)):
            p.apply_async(lambda: 1)
        with pytest.raises((pickle.PicklingError, AttributeError)):
            p.map(lambda x: x, [1, 2])
        with pytest.raises(mp.pool.MaybeEncodingError):
            p.apply(unpicklable_result, (1,))
        assert p.apply(sq, (5,)) == 25


def test_big_arguments_and_results_go_through_spill_files():
    with tend.Pool(2, max_msg=4096) as p:
        spill_prefix = "tend-py-"
        before = shm_files(spill_prefix)
        assert p.apply(size_of, (b"a" * 100000,)) == 100000
        assert p.apply(big, (200000,)) == b"r" * 200000
        assert p.map(big, [10, 50000, 20]) == [b"r" * 10, b"r" * 50000, b"r" * 20]
        assert len(p.map(sq, range(20000))) == 20000  # big default chunks
        assert shm_files(spill_prefix) == before


def test_pool_inside_a_spawned_process():
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=pool_in_child, args=(q,))
    p.start()
    assert q.get(timeout=120) == [i * i for i in range(20)]
    p.join(60)
    assert p.exitcode == 0


def test_forked_child_cannot_use_the_parents_pool(pool):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            pool.apply(sq, (1,))
            os.write(w, b"no error")
        except RuntimeError as e:
            os.write(w, b"RuntimeError" if "process that created it" in str(e) else b"other")
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    assert os.read(r, 100) == b"RuntimeError"
    os.close(r)
    assert pool.apply(sq, (3,)) == 9


# ---- batches: several items per tend_pool task (docs/python.md, "Batches") ----

def test_chunksize_1_maps_many_items_in_order_in_batches(pool):
    n = 20000
    want = [i * i for i in range(n)]
    assert pool.map(sq, range(n), chunksize=1) == want
    assert pool.map(sq, range(n), chunksize=3) == want
    assert pool.starmap(add, [(i, 1) for i in range(n)], chunksize=1) == [i + 1 for i in range(n)]
    assert pool.map_async(sq, range(n), chunksize=1).get(60) == want
    assert pool.starmap_async(add, [(i, i) for i in range(n)], chunksize=1).get(60) == [2 * i for i in range(n)]
    assert list(pool.imap(sq, range(n))) == want
    assert list(pool.imap(sq, range(n), chunksize=7)) == want
    assert sorted(pool.imap_unordered(sq, range(n))) == want
    # batched: a worker runs runs of consecutive items, not every other one
    pids = pool.map(pid_of, range(2000), chunksize=1)
    switches = sum(a != b for a, b in zip(pids, pids[1:]))
    assert switches < 200, switches
    pids = list(pool.imap(pid_of, range(2000)))
    assert sum(a != b for a, b in zip(pids, pids[1:])) < 400


def test_an_item_that_raises_fails_alone_in_its_batch(pool):
    def outcomes(it):
        out = []
        while True:
            try:
                out.append(next(it))
            except StopIteration:
                return out
            except ValueError as e:
                out.append(("raised", str(e)))
    want = [("raised", "thirteen") if i == 13 else i * 2 for i in range(300)]
    assert outcomes(pool.imap(fail_on_13, range(300))) == want
    got = outcomes(pool.imap_unordered(fail_on_13, range(300)))
    assert sorted(got, key=repr) == sorted(want, key=repr)
    # a chunk of 4 fails as one (multiprocessing's chunk), the others not
    want4 = [x for c in range(0, 300, 4) for x in
             ([("raised", "thirteen")] if c == 12 else [i * 2 for i in range(c, min(c + 4, 300))])]
    assert outcomes(pool.imap(fail_on_13, range(300), chunksize=4)) == want4
    with pytest.raises(ValueError, match="thirteen"):
        pool.map(fail_on_13, range(300), chunksize=1)
    errs = []
    r = pool.map_async(fail_on_13, range(300), chunksize=1, error_callback=errs.append)
    with pytest.raises(ValueError):
        r.get(60)
    assert len(errs) == 1
    # a result that does not pickle: that item alone
    it = pool.imap(unpicklable_on_5, range(50))
    got = []
    for i in range(50):
        try:
            got.append(next(it))
        except mp.pool.MaybeEncodingError:
            got.append("unpicklable")
    assert got == ["unpicklable" if i == 5 else i for i in range(50)]
    assert pool.map(sq, range(100), chunksize=1) == [i * i for i in range(100)]


@pytest.mark.parametrize("ordered", [True, False])
def test_worker_killed_in_the_middle_of_a_batch(tmp_path, ordered, monkeypatch):
    """imap: the item that killed its worker raises WorkerDied, so do the
    items its batch had finished (their results died with the worker); the
    items the batch had not started run on another worker; none runs twice."""
    # every batch counts as quick: sizes 1, 2, 4 ... 128, 128 ... whatever
    # the load, and item 600 is in the middle of one
    monkeypatch.setattr(tend._pool.IMapIterator, "_QUICK", float("inf"))
    n, kill_at = 1000, 600
    log = str(tmp_path / "log")
    with tend.Pool(2) as p:
        it = (p.imap if ordered else p.imap_unordered)(logged_die_at, [(i, log, kill_at) for i in range(n)])
        got = {}
        order = []
        while True:
            try:
                v = next(it)
            except StopIteration:
                break
            except tend.WorkerDied as e:
                assert e.errno == errno.EOWNERDEAD
                v = "died"
            order.append(v)
        if ordered:
            got = dict(enumerate(order))
        else:
            vals = [v for v in order if v != "died"]
            got = {v - 1: v for v in vals}
            assert len(order) == n
        with open(log) as f:
            ran = [int(x) for x in f.read().split()]
        assert sorted(ran) == list(range(n))  # each item ran once, the rest of the batch too
        died = sorted(set(range(n)) - {i for i, v in got.items() if v != "died"})
        assert kill_at in died and 1 < len(died) <= 128  # in the middle of a batch
        assert died == list(range(died[0], kill_at + 1))  # the batch's finished items and the killer
        assert all(got[i] == i + 1 for i in range(n) if i not in died)
        assert len(p.pids()) == 2
        assert p.map(sq, range(50), chunksize=1) == [i * i for i in range(50)]


def test_maxtasksperchild_counts_chunks_with_batching():
    from collections import Counter
    with tend.Pool(2, maxtasksperchild=3) as p:
        for pids in (p.map(pid_of, range(30), chunksize=1), list(p.imap(pid_of, range(30))),
                     p.map_async(pid_of, range(30), chunksize=1).get(60)):
            per = Counter(pids)
            assert max(per.values()) <= 3 and len(per) >= 10, per
        pids = p.map(pid_of, range(12), chunksize=2)  # a task is a chunk, as in multiprocessing
        assert max(Counter(pids).values()) <= 6


def test_imap_batches_of_slow_items_stay_small(pool):
    # 20 ms items: no batch comes back quickly, each stays one item, and the
    # results come one by one as they are done
    it = pool.imap(slow_pid, [0.02] * 12)
    assert len(list(it)) == 12
    assert it._chunks == 1


def test_map_batches_of_slow_items_stay_small(pool):
    # map starts with one item per batch and grows only while batches come
    # back quickly: four slow items up front go to both workers, not all in
    # the first batch (guided self-scheduling alone would send 8 items)
    for m in (pool.map, pool.starmap):
        args = [0.2] * 4 + [0.001] * 60
        pids = m(slow_pid, args if m == pool.map else [(a,) for a in args], chunksize=1)
        assert len(set(pids[:4])) == 2


def test_imap_stays_lazy_with_batches(pool):
    taken = []

    def numbers():
        i = 0
        while True:
            taken.append(i)
            yield i
            i += 1
    it = pool.imap(sq, numbers())
    assert [next(it) for _ in range(1000)] == [i * i for i in range(1000)]
    assert len(taken) < 1000 + 8 * 128
    it = pool.imap_unordered(sq, numbers())
    assert len({next(it) for _ in range(100)}) == 100


def test_no_spill_or_worker_left_after_pools():
    assert shm_files("tend-py-") == []
