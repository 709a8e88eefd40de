#!/usr/bin/python3
"""A stand-in for a celery master: it forks a worker that runs one job of
5 s; on SIGTERM (warm shutdown) the master waits for the worker's job,
then exits 0.  A SIGTERM that reached the worker would kill it mid-job.
Each step is appended to OUT."""
import os
import signal
import sys
import time

out = sys.argv[1]


def note(s):
    with open(out, "a") as f:
        f.write(s + "\n")


pid = os.fork()
if pid == 0:
    note("job started")
    time.sleep(5)
    note("job done")
    os._exit(0)
stop = []
signal.signal(signal.SIGTERM, lambda s, f: stop.append(1))
while not stop:
    time.sleep(0.05)
note("warm shutdown")
os.waitpid(pid, 0)
note("master done")
