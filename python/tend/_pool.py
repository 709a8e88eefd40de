"""tend.Pool: multiprocessing.Pool's contract over libtend's tend_pool.

The workers are forks of the process that creates the pool (tend_pool forks
them, and replaces any that dies); each task is a call of a C trampoline in
the worker that unpickles the callable and its arguments and calls into the
worker's copy of the interpreter.  See docs/python.md ("Pool") for the
design and for where it differs from multiprocessing.
"""
import collections
import itertools
import os
import pickle
import sys
import warnings
from time import monotonic as _now
from multiprocessing import TimeoutError
from multiprocessing.pool import ExceptionWithTraceback, MaybeEncodingError

from . import _tend

__all__ = ["Pool", "AsyncResult", "MapResult", "IMapIterator"]

_RUN, _CLOSE, _TERMINATE = "RUN", "CLOSE", "TERMINATE"


# ---- called by the C trampoline in a worker ----------------------------------

def _worker_start():
    """Once per worker, before its initializer and first task: what a
    multiprocessing child does after fork (resets multiprocessing's own locks
    and queues), and line-buffered stdout/stderr: a worker ends with _exit()
    (no interpreter shutdown), so what a task prints must not wait in a
    buffer (flushing after every task would cost a third of a trivial
    task)."""
    util = sys.modules.get("multiprocessing.util")
    if util is not None:
        util._run_after_forkers()
    for s in (sys.stdout, sys.stderr):
        try:
            s.flush()
            s.reconfigure(line_buffering=True)
        except (AttributeError, ValueError, OSError):
            pass


def _encode_exception(exc, _value):
    """The pickle of a task's exception, with its traceback as text (the
    parent raises it with a RemoteTraceback as its __cause__, as
    multiprocessing does)."""
    try:
        return pickle.dumps(ExceptionWithTraceback(exc, exc.__traceback__), 5)
    except Exception as e:  # the exception itself does not pickle
        return pickle.dumps(MaybeEncodingError(e, exc), 5)


def _encode_unpicklable(exc, value):
    """A result that does not pickle: MaybeEncodingError, as multiprocessing."""
    return pickle.dumps(MaybeEncodingError(exc, value), 5)


def _encode_batch(flat, cs, errs):
    """The outcome of a batch with failed chunks (errs: {chunk index: the
    pickle of its exception}, or None when a result does not pickle): one
    entry per chunk, its list of results or its exception's pickle (bytes);
    a chunk whose results do not pickle gets MaybeEncodingError, alone."""
    entries = []
    for j, a in enumerate(range(0, len(flat), cs)):
        e = errs.get(j) if errs else None
        entries.append(e if e is not None else flat[a:a + cs])
    try:
        return pickle.dumps(entries, 5)
    except Exception:
        pass
    for j, e in enumerate(entries):
        if isinstance(e, list):
            try:
                pickle.dumps(e, 5)
            except Exception as exc:
                entries[j] = _encode_unpicklable(exc, e)
    return pickle.dumps(entries, 5)


# ---- results -----------------------------------------------------------------

class AsyncResult:
    """The result of apply_async (multiprocessing.pool.AsyncResult).

    Callbacks run in the thread that collects the result: any call on the
    pool or on a result (get, wait, ready, join...), at the latest join()."""

    def __init__(self, pool, tasks, callback=None, error_callback=None):
        self._pool = pool
        self._tasks = tasks
        self._callback = callback
        self._error_callback = error_callback
        self._fired = callback is None and error_callback is None
        if not self._fired:
            pool._waiting.append(self)

    def _outcome(self, timeout):
        return self._tasks[0].get(timeout)

    def ready(self):
        r = all(t.ready() for t in self._tasks)
        if r:
            self._fire()
        return r

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return all(t.successful() for t in self._tasks)

    def wait(self, timeout=None):
        self._wait(timeout)

    def _wait(self, timeout):
        done = True
        if timeout is None:
            for t in self._tasks:
                t.wait()
        else:
            deadline = _now() + timeout
            for t in self._tasks:
                if not t.wait(max(0.0, deadline - _now())):
                    done = False
                    break
        if done:
            self._fire()
        return done

    def get(self, timeout=None):
        if not self._wait(timeout):
            raise TimeoutError
        return self._outcome(None)

    def _fire(self):
        if self._fired:
            return
        self._fired = True
        try:
            value = self._outcome(None)
        except BaseException as e:
            if self._error_callback is not None:
                self._error_callback(e)
        else:
            if self._callback is not None:
                self._callback(value)


class MapResult(AsyncResult):
    """The result of map_async and starmap_async: a list, in order."""

    def _outcome(self, timeout):
        return self._pool._core.collect(self._tasks, timeout)


class _Raise:
    """An item's place in an IMapIterator whose chunk raised exc."""
    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc


class IMapIterator:
    """The iterator of imap and imap_unordered: next(timeout=None).

    The iterable is consumed as results are taken, a window of batches ahead
    (multiprocessing consumes all of it at once in a thread).  A batch
    carries several chunks to a worker in one task: one chunk at first, twice
    as many after a batch that came back within _QUICK seconds of being sent
    (up to _BATCH_ITEMS items), half as many after a slower one, so that slow
    items come back one by one; a chunk that raises fails alone, and the
    chunks of a batch whose worker died before it started them run on another
    worker (docs/python.md)."""

    _BATCH_ITEMS = 128
    _QUICK = 0.005

    def __init__(self, pool, kind, func, iterable, chunksize, ordered):
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize}")
        self._pool = pool
        self._kind = kind
        self._func = func
        self._it = iter(iterable)
        self._chunksize = chunksize
        self._ordered = ordered
        self._window = max(4, 4 * pool._processes)
        self._pending = []
        self._sent = []  # when each pending task was sent
        self._ready = collections.deque()
        self._exhausted = False
        self._chunks = 1  # chunks in the next batch
        self._max_chunks = 1 if pool._maxtasks else max(1, self._BATCH_ITEMS // chunksize)

    def _fill(self):
        while not self._exhausted and len(self._pending) < self._window:
            items = list(itertools.islice(self._it, self._chunksize * self._chunks))
            if not items:
                self._exhausted = True
                break
            self._pending.append(self._pool._core.submit_batch(self._kind, self._func, items, self._chunksize))
            self._sent.append(_now())

    def __iter__(self):
        return self

    def next(self, timeout=None):
        deadline = None if timeout is None else _now() + timeout
        while not self._ready:
            self._fill()
            if not self._pending:
                raise StopIteration
            if self._ordered:
                i = 0
                left = None if deadline is None else max(0.0, deadline - _now())
                if not self._pending[0].wait(left):
                    raise TimeoutError
            else:
                i = self._pool._core.first_ready(self._pending)
                if i < 0:
                    if deadline is not None and _now() >= deadline:
                        raise TimeoutError
                    self._pending[0].wait(0.001)
                    continue
            task = self._pending.pop(i)
            if _now() - self._sent.pop(i) < self._QUICK:
                self._chunks = min(2 * self._chunks, self._max_chunks)
            else:
                self._chunks = max(1, self._chunks // 2)
            ok, v = task.chunks()
            if ok:
                self._ready.extend(v)
            else:
                for e in v:
                    if isinstance(e, list):
                        self._ready.extend(e)
                    else:
                        self._ready.append(_Raise(e))
        r = self._ready.popleft()
        if type(r) is _Raise:
            raise r.exc
        return r

    __next__ = next


# ---- the pool ----------------------------------------------------------------

class Pool:
    """Pool(processes=None, initializer=None, initargs=(), maxtasksperchild=None,
    context=None, *, max_msg=65536, depth=32)

    multiprocessing.Pool over libtend: the same methods and results, with
    forked workers fed through shared memory.  Differences (docs/python.md):
    the workers are always fork()s of this process (context is accepted and
    ignored); a worker killed mid-task fails that task with tend.WorkerDied
    (multiprocessing waits forever); a broken initializer fails the tasks
    with tend.InitializerFailed; after terminate() unfinished results raise
    tend.TaskCancelled; callbacks run in the thread that collects results.
    Maps send several chunks per task (batches; a chunk still succeeds or
    fails alone): a worker that dies in a batch fails the chunk it ran and
    the ones it had finished with WorkerDied, and imap runs the ones it had
    not started on another worker.
    max_msg: the largest task or result kept in shared memory (larger ones
    go through a file in /dev/shm); depth: tasks queued per worker."""

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None, context=None,
                 *, max_msg=65536, depth=32):
        if processes is None:
            processes = os.cpu_count() or 1
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if maxtasksperchild is not None and (not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0):
            raise ValueError("maxtasksperchild must be a positive int or None")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        self._state = _RUN
        self._waiting = collections.deque()
        self._core = _tend._PoolCore(processes, initializer, tuple(initargs), maxtasksperchild or 0, max_msg, depth)
        self._processes = self._core.size
        self._maxtasks = maxtasksperchild or 0

    # -- helpers
    def _check_running(self):
        if self._state != _RUN:
            raise ValueError("Pool not running")

    def _poll(self):
        """Run the callbacks of the results that are ready, oldest first."""
        w = self._waiting
        while w and w[0]._fired:
            w.popleft()
        while w and w[0].ready():
            w.popleft()

    def _chunks(self, iterable, chunksize):
        items = iterable if isinstance(iterable, list) else list(iterable)
        if chunksize is None:
            chunksize, extra = divmod(len(items), self._processes * 4)
            if extra:
                chunksize += 1
        if chunksize < 1:
            if items:
                raise ValueError(f"Chunksize must be 1+, not {chunksize}")
            chunksize = 1
        return items, chunksize

    # -- multiprocessing.Pool
    def apply(self, func, args=(), kwds={}):
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None):
        self._check_running()
        task = self._core.submit("A", func, (tuple(args), dict(kwds)))
        r = AsyncResult(self, [task], callback, error_callback)
        self._poll()
        return r

    def _map_async(self, kind, func, iterable, chunksize, callback, error_callback):
        self._check_running()
        items, chunksize = self._chunks(iterable, chunksize)
        tasks = self._core.submit_chunks(kind, func, items, chunksize)
        r = MapResult(self, tasks, callback, error_callback)
        self._poll()
        return r

    def map(self, func, iterable, chunksize=None):
        self._check_running()
        items, chunksize = self._chunks(iterable, chunksize)
        self._poll()
        return self._core.map_run("M", func, items, chunksize)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async("M", func, iterable, chunksize, callback, error_callback)

    def starmap(self, func, iterable, chunksize=None):
        self._check_running()
        items, chunksize = self._chunks(iterable, chunksize)
        self._poll()
        return self._core.map_run("S", func, items, chunksize)

    def starmap_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async("S", func, iterable, chunksize, callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        self._check_running()
        return IMapIterator(self, "M", func, iterable, chunksize, True)

    def imap_unordered(self, func, iterable, chunksize=1):
        self._check_running()
        return IMapIterator(self, "M", func, iterable, chunksize, False)

    def close(self):
        if self._state == _RUN:
            self._state = _CLOSE
            self._core.close()

    def terminate(self):
        self._state = _TERMINATE
        self._core.terminate()
        self._drain()

    def join(self):
        if self._state == _RUN:
            raise ValueError("Pool is still running")
        self._core.join()
        self._drain()

    def _drain(self):
        while self._waiting:
            r = self._waiting.popleft()
            if r.ready():
                r._fire()

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, *exc):
        self.terminate()

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    def __del__(self, _warn=warnings.warn, _RUN=_RUN):
        if getattr(self, "_state", None) == _RUN:
            _warn(f"unclosed running tend.Pool {self!r}", ResourceWarning, source=self)

    # -- tend's own
    def pids(self):
        """The pids of the live workers (a worker killed is replaced: the
        list changes)."""
        return self._core.pids()

    def __repr__(self):
        return f"<tend.Pool state={self._state} pool_size={self._processes}>"
