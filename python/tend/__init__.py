"""tend: libtend's shared-memory IPC for Python, with multiprocessing's names.

    import tend
    q = tend.Queue()                      # multiprocessing.Queue
    v = tend.Value("i", 0)                # multiprocessing.Value (robust lock)
    a = tend.Array("d", 10)               # multiprocessing.Array
    lock = tend.Lock()                    # robust: a killed holder is taken over
    hits = tend.Counter(name="/hits")     # partitioned counter, many writers
    m = tend.Map("/sessions", 10000)      # a dict in shared memory (TTL, incr, cas)
    with tend.Pool() as pool:             # multiprocessing.Pool
        print(pool.map(abs, range(-5, 5)))

Objects created with name="/x" are shared by name: they pickle as their
name, so they pass to processes started with fork, spawn or forkserver, and
other programs open them with Type.open("/x").  Objects without a name are
anonymous: only children forked after their creation share them.
See docs/python.md.
"""
from multiprocessing import TimeoutError
from queue import Empty, Full

from ._pool import AsyncResult, IMapIterator, MapResult, Pool
from ._tend import (Array, Counter, InitializerFailed, Lock, Map, Queue, RLock, ShutDown, TaskCancelled, Value,
                    WorkerDied)

__all__ = [
    "Queue", "Value", "Array", "RawValue", "RawArray", "Lock", "RLock", "Counter", "Map", "Pool",
    "AsyncResult", "MapResult", "IMapIterator",
    "Full", "Empty", "TimeoutError", "ShutDown", "WorkerDied", "InitializerFailed", "TaskCancelled",
]


def RawValue(typecode, value=0, **kwargs):
    """A Value without a lock (multiprocessing.RawValue)."""
    return Value(typecode, value, lock=False, **kwargs)


def RawArray(typecode, size_or_initializer, **kwargs):
    """An Array without a lock (multiprocessing.RawArray)."""
    return Array(typecode, size_or_initializer, lock=False, **kwargs)
