"""tend.Queue: multiprocessing.Queue's contract, priorities, batches, names,
start methods, kills and bad inputs."""
import multiprocessing as mp
import os
import pickle
import queue
import random
import signal
import time

import pytest

import tend


# ---- children (module level: spawn imports them) -------------------------------

def put_range(q, n, start=0):
    for i in range(start, start + n):
        q.put({"i": i, "s": "x" * 40})


def get_n_into(q, n, out):
    for _ in range(n):
        out.put(q.get(timeout=30))


def get_until_shutdown(q, out):
    try:
        q.get(timeout=30)
        out.put("got")
    except tend.ShutDown:
        out.put("shutdown")


def producer_forever(q, tag):
    i = 0
    while True:
        q.put((tag, i, b"p" * (i % 200)))
        i += 1


# ---- one process ----------------------------------------------------------------

def test_put_get_objects_and_bytes():
    q = tend.Queue()
    objs = [1, "two", b"three", {"four": [4]}, None, 3.5, (1, 2), bytearray(b"ba"), b""]
    for o in objs:
        q.put(o)
    assert q.qsize() == len(objs)
    got = [q.get() for _ in objs]
    assert got == objs
    assert type(got[7]) is bytearray and type(got[2]) is bytes
    assert q.empty() and q.qsize() == 0


def spill_files():
    return sorted(f for f in os.listdir("/dev/shm") if f.startswith("tend-py-"))


def test_bytes_travel_without_pickling():
    # bytes cost their length + 1 (a tag): a bytes object of exactly
    # max_msg - 1 goes in the queue's slot; one byte more through a spill file
    q = tend.Queue(4, max_msg=100)
    q.put(b"x" * 99)
    assert spill_files() == []
    assert q.get() == b"x" * 99
    q.put(b"y" * 100)
    assert len(spill_files()) == 1
    assert q.get() == b"y" * 100
    assert spill_files() == []


def test_objects_of_any_size_as_with_multiprocessing():
    # multiprocessing.Queue takes any size; a message longer than max_msg
    # goes through a file in /dev/shm that its reader removes
    q = tend.Queue()
    big = {"html": "<p>" * 2000, "n": list(range(500))}  # a pickle of about 8 KB
    blob = os.urandom(3 << 20)
    before = spill_files()
    q.put(big)
    q.put(blob)
    q.put("small")
    q.put_many([big, 1, blob])
    assert q.qsize() == 6
    assert q.get() == big and q.get() == blob and q.get() == "small"
    assert q.get_many() == [big, 1, blob]
    assert spill_files() == before
    # a put that does not go in (full) leaves no file behind
    q2 = tend.Queue(1, max_msg=64)
    q2.put(1)
    with pytest.raises(queue.Full):
        q2.put(b"z" * 1000, timeout=0.01)
    assert spill_files() == before
    # max_msg too small to carry even the file's name: a clear error
    q3 = tend.Queue(1, max_msg=8)
    with pytest.raises(ValueError, match="spill file"):
        q3.put(b"z" * 100)
    assert spill_files() == before


def test_a_forged_spill_reference_is_refused():
    q = tend.Queue()
    for ref in (b"\x01/etc/passwd", b"\x01/tend-py-x/../../etc/passwd", b"\x01"):
        q.put_raw(ref)
        with pytest.raises(ValueError, match="spill"):
            q.get()


def test_unlink_sweeps_spill_files_a_killed_consumer_left(shm_name):
    q = tend.Queue(name=shm_name)
    q.put(b"k" * 5000)
    ref = q.get_raw()  # a consumer that took the reference and died before reading it
    assert ref[:1] == b"\x01" and len(spill_files()) == 1
    q.unlink()
    assert spill_files() == []


def test_priorities_higher_first_fifo_within():
    q = tend.Queue(priorities=3)
    q.put("low1", priority=0)
    q.put("high1", priority=2)
    q.put("mid", priority=1)
    q.put("high2", priority=2)
    q.put("low2")
    assert [q.get() for _ in range(5)] == ["high1", "high2", "mid", "low1", "low2"]
    with pytest.raises(ValueError, match="priority"):
        q.put(1, priority=3)
    with pytest.raises(ValueError, match="priority"):
        q.put(1, priority=-1)


def test_full_empty_and_timeouts():
    q = tend.Queue(2)
    q.put(1)
    q.put_nowait(2)
    assert q.full()
    with pytest.raises(queue.Full):
        q.put(3, block=False)
    with pytest.raises(queue.Full):
        q.put_nowait(3)
    t0 = time.monotonic()
    with pytest.raises(queue.Full):
        q.put(3, timeout=0.05)
    assert time.monotonic() - t0 >= 0.04
    assert q.get() == 1 and q.get_nowait() == 2
    with pytest.raises(queue.Empty):
        q.get(False)
    with pytest.raises(queue.Empty):
        q.get_nowait()
    with pytest.raises(queue.Empty):
        q.get(timeout=0.05)
    with pytest.raises(ValueError, match="non-negative"):
        q.get(timeout=-1)
    assert tend.Full is queue.Full and tend.Empty is queue.Empty


def test_close_join_thread_are_per_process():
    q = tend.Queue()
    q.put(1)
    q.close()
    q.join_thread()
    q.cancel_join_thread()
    with pytest.raises(ValueError, match="closed"):
        q.put(2)
    with pytest.raises(ValueError, match="closed"):
        q.put_nowait(2)
    # as multiprocessing's (3.8 on): after close() gets are refused too
    for get in (q.get, q.get_nowait, q.get_many, q.get_raw):
        with pytest.raises(ValueError, match="closed"):
            get()
    assert not q.is_shutdown


def test_shutdown_drains_then_raises():
    q = tend.Queue()
    q.put_many([1, 2])
    q.shutdown()
    assert q.is_shutdown
    with pytest.raises(tend.ShutDown):
        q.put(3)
    assert q.get() == 1 and q.get() == 2
    with pytest.raises(tend.ShutDown):
        q.get()
    with pytest.raises(tend.ShutDown):
        q.get_many()


def test_put_many_get_many():
    q = tend.Queue(10)
    q.put_many(range(7))
    assert q.get_many(max_messages_to_get=3) == [0, 1, 2]
    assert q.get_many() == [3, 4, 5, 6]
    with pytest.raises(queue.Empty):
        q.get_many(timeout=0.01)
    with pytest.raises(queue.Full, match="after 10 of 12"):
        q.put_many(range(12), block=False)
    assert q.qsize() == 10
    with pytest.raises(ValueError):
        q.get_many(max_messages_to_get=0)
    with pytest.raises(TypeError):
        q.put_many(5)


def test_unpicklable_object_is_refused_and_queue_unchanged():
    q = tend.Queue()
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        q.put(lambda: 1)
    import threading
    with pytest.raises(TypeError):
        q.put(threading.Lock())
    assert q.empty()


def test_bad_arguments():
    with pytest.raises(ValueError, match="priorities"):
        tend.Queue(priorities=0)
    with pytest.raises(ValueError, match="priorities"):
        tend.Queue(priorities=33)
    with pytest.raises(ValueError):
        tend.Queue(max_msg=1)
    with pytest.raises(TypeError):
        tend.Queue(name=5)
    with pytest.raises(ValueError, match="give its name"):
        tend.Queue(create=False)
    with pytest.raises(TypeError):
        tend.Queue().put()


def test_signal_interrupts_a_blocked_get():
    q = tend.Queue()

    def boom(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, boom)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.1)
        with pytest.raises(KeyboardInterrupt):
            q.get()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ---- names ------------------------------------------------------------------------

def test_named_create_open_unlink(shm_name):
    q = tend.Queue(16, priorities=2, name=shm_name)
    assert q.name == shm_name and q.maxsize == 16 and q.priorities == 2
    with pytest.raises(FileExistsError):
        tend.Queue(name=shm_name)
    q2 = tend.Queue.open(shm_name)
    q2.put("via q2", priority=1)
    assert q.get() == "via q2"
    q3 = tend.Queue(name=shm_name.lstrip("/"), create=False)  # a name without the slash
    assert q3.name == shm_name
    q.unlink()
    with pytest.raises(FileNotFoundError):
        tend.Queue.open(shm_name)
    q2.put(1)  # open handles keep working
    assert q3.get() == 1


def test_pickles_by_name(shm_name):
    q = tend.Queue(name=shm_name)
    q2 = pickle.loads(pickle.dumps(q))
    q2.put("x")
    assert q.get() == "x" and q2.name == shm_name


def test_anonymous_refuses_pickling_with_a_clear_error():
    q = tend.Queue()
    with pytest.raises(RuntimeError, match="anonymous tend.Queue.*fork.*name="):
        pickle.dumps(q)


# ---- processes ------------------------------------------------------------------------

def test_producer_in_a_child(ctx, shm_name):
    q = tend.Queue(name=shm_name)  # named: works with every start method
    p = ctx.Process(target=put_range, args=(q, 500))
    p.start()
    got = [q.get(timeout=30)["i"] for _ in range(500)]
    p.join(30)
    assert p.exitcode == 0
    assert got == list(range(500))


def test_consumers_in_children_see_every_message_once(ctx, shm_name):
    q = tend.Queue(name=shm_name)
    out = tend.Queue(name=shm_name + "-out")
    try:
        kids = [ctx.Process(target=get_n_into, args=(q, 150, out)) for _ in range(2)]
        for k in kids:
            k.start()
        put_range(q, 300)
        got = sorted(out.get(timeout=30)["i"] for _ in range(300))
        for k in kids:
            k.join(30)
            assert k.exitcode == 0
        assert got == list(range(300))
    finally:
        out.unlink()


def put_large(q, n):
    for i in range(n):
        q.put({"i": i, "pad": "p" * (3000 + i)})
    q.put_many([b"b" * (2000 + i) for i in range(n)], priority=0)


def test_large_objects_from_a_child(ctx, shm_name):
    q = tend.Queue(name=shm_name)
    p = ctx.Process(target=put_large, args=(q, 20))
    p.start()
    got = [q.get(timeout=30) for _ in range(20)]
    blobs = q.get_many(timeout=30, max_messages_to_get=20)
    while len(blobs) < 20:
        blobs += q.get_many(timeout=30, max_messages_to_get=20 - len(blobs))
    p.join(30)
    assert p.exitcode == 0
    assert [g["i"] for g in got] == list(range(20)) and all(len(g["pad"]) == 3000 + g["i"] for g in got)
    assert [len(b) for b in blobs] == [2000 + i for i in range(20)]
    assert spill_files() == []


def put_prio(q):
    q.put_many(["low-1", "low-2"], priority=0)
    q.put("high", priority=1)


def test_priorities_and_sizes_across_processes(ctx, shm_name):
    q = tend.Queue(8, priorities=2, name=shm_name)
    p = ctx.Process(target=put_prio, args=(q,))
    p.start()
    p.join(30)
    assert p.exitcode == 0
    assert q.qsize() == 3 and not q.empty() and not q.full()
    assert q.get() == "high" and q.get_many() == ["low-1", "low-2"]
    assert q.empty()


def test_anonymous_queue_works_with_fork():
    q = tend.Queue()
    p = mp.get_context("fork").Process(target=put_range, args=(q, 50))
    p.start()
    assert [q.get(timeout=30)["i"] for _ in range(50)] == list(range(50))
    p.join(30)


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_anonymous_queue_with_spawn_says_why(method):
    q = tend.Queue()
    p = mp.get_context(method).Process(target=put_range, args=(q, 1))
    with pytest.raises(RuntimeError, match="anonymous tend.Queue"):
        p.start()


def test_shutdown_wakes_a_blocked_getter_in_another_process(ctx, shm_name):
    q = tend.Queue(name=shm_name)
    out = tend.Queue(name=shm_name + "-o")
    try:
        p = ctx.Process(target=get_until_shutdown, args=(q, out))
        p.start()
        time.sleep(0.3 if ctx.get_start_method() == "fork" else 1.0)
        q.shutdown()
        assert out.get(timeout=30) == "shutdown"
        p.join(30)
    finally:
        out.unlink()


def test_producers_killed_at_random_leave_whole_messages_in_order():
    # SIGKILL producers at arbitrary moments of their put loop: every
    # message left is whole, and each producer's messages are 0..k with no
    # gap (FIFO, nothing lost, nothing half-written)
    q = tend.Queue(4096, max_msg=512)
    ctx = mp.get_context("fork")
    seen = {}
    for round_ in range(6):
        kids = [ctx.Process(target=producer_forever, args=(q, (round_, k))) for k in range(2)]
        for k in kids:
            k.start()
        deadline = time.monotonic() + 30
        while q.qsize() < 100 and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(random.random() * 0.005)
        for k in kids:
            os.kill(k.pid, signal.SIGKILL)
        for k in kids:
            k.join(30)
        while not q.empty():
            tag, i, pad = q.get()
            assert pad == b"p" * (i % 200) and i == seen.get(tag, -1) + 1
            seen[tag] = i
    assert len(seen) >= 6  # at least one producer per round got to put


def consumer_forever(q, out):
    while True:
        out.put(q.get())


def test_consumers_killed_at_random_lose_at_most_the_message_in_hand(shm_name):
    # SIGKILL consumers at arbitrary moments of their get loop (inside get,
    # between get and the put that reports it, some messages spilled): no
    # message is taken twice or torn, and at most one per killed consumer is
    # gone (the one it had taken and not yet reported)
    # named: unlink() sweeps the spill files of the references a killed
    # consumer took (from q) or wrote and did not get to queue (to out)
    q = tend.Queue(4096, max_msg=256, name=shm_name)
    out = tend.Queue(8192, max_msg=256, name=shm_name + "-out")
    ctx = mp.get_context("fork")
    sent = 0
    kills = 0
    for round_ in range(6):
        msgs = [(round_, i, b"m" * (i % 7 * 100)) for i in range(300)]  # up to 600 B: some spill
        q.put_many(msgs)
        sent += len(msgs)
        kids = [ctx.Process(target=consumer_forever, args=(q, out)) for _ in range(2)]
        for k in kids:
            k.start()
        deadline = time.monotonic() + 30
        while out.qsize() < sent - 250 and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(random.random() * 0.003)
        for k in kids:
            os.kill(k.pid, signal.SIGKILL)
            kills += 1
        for k in kids:
            k.join(30)
    got = out.get_many(block=False) if not out.empty() else []
    while not out.empty():
        got += out.get_many(block=False)
    left = q.get_many(block=False) if not q.empty() else []
    seen = set()
    for tag in got + left:
        round_, i, pad = tag
        assert pad == b"m" * (i % 7 * 100), tag
        assert (round_, i) not in seen, ("twice", tag)
        seen.add((round_, i))
    assert sent - kills <= len(seen) <= sent, (sent, kills, len(seen))
    q.unlink()
    out.unlink()
    assert spill_files() == []


# ---- foreign and damaged segments ---------------------------------------------------------

def test_foreign_segment_is_a_clear_value_error(shm_name):
    with open("/dev/shm" + shm_name, "wb") as f:
        f.write(b"this is not a tend queue at all" * 100)
    with pytest.raises(ValueError, match=f"tend.Queue '{shm_name}'.*not a tend queue"):
        tend.Queue.open(shm_name)


def test_another_kind_of_tend_object_is_refused(shm_name):
    c = tend.Counter(name=shm_name)
    with pytest.raises(ValueError, match="not a tend queue"):
        tend.Queue.open(shm_name)
    del c


def test_truncated_segment_is_refused(shm_name):
    q = tend.Queue(8, name=shm_name)
    os.truncate("/dev/shm" + shm_name, 100)
    with pytest.raises(ValueError, match="not a tend queue"):
        tend.Queue.open(shm_name)
    del q


def test_foreign_message_is_a_value_error_and_raw_access():
    # a C program that puts bytes without tend's tag byte (put_raw does)
    q = tend.Queue(8)
    q.put_raw(b"\x07 not tagged")
    with pytest.raises(ValueError, match="neither tagged bytes.*nor a pickle"):
        q.get()
    q.put(b"tagged")
    assert q.get_raw() == b"\x00tagged"
    q.put_raw(pickle.dumps({"a": 1}))
    assert q.get() == {"a": 1}
    with pytest.raises(TypeError):
        q.put_raw("str")
