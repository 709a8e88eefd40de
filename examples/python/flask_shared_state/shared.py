"""The state the gunicorn workers share, in tend objects named after
$FLASK_SHARED_NS (default "flask-shared"):

  /NS-hits        tend.Counter: requests served by every worker, exact across
                  worker restarts (a killed writer's adds stay in the sum)
  /NS-instances   tend.Array('q', 64): requests per tend instance (process_num)

Created by the first gunicorn master that starts (on_starting), opened by
name in every worker (post_fork): the pattern for any prefork server.

Sessions and feature flags belong in a tend.Map, which waits for libtend's
shared map (see README.md): SESSIONS_AND_FLAGS is False until tend has Map.
"""
import os

import tend

NS = os.environ.get("FLASK_SHARED_NS", "flask-shared")
HITS = f"/{NS}-hits"
INSTANCES = f"/{NS}-instances"
SESSIONS = f"/{NS}-sessions"
FLAGS = f"/{NS}-flags"
SESSIONS_AND_FLAGS = hasattr(tend, "Map")

hits = None
instances = None


def create_or_open():
    """In a gunicorn master: create the objects, or open them when another
    master (an earlier instance, or the one before a restart) made them."""
    for make, opener in ((lambda: tend.Counter(name=HITS, slots=64), lambda: tend.Counter.open(HITS)),
                         (lambda: tend.Array("q", 64, name=INSTANCES), lambda: tend.Array.open(INSTANCES, "q"))):
        try:
            make()
        except FileExistsError:
            opener()


def attach():
    """In a worker: open the shared objects by name."""
    global hits, instances
    if hits is None:
        create_or_open()  # also when run without the gunicorn hooks (flask run)
        hits = tend.Counter.open(HITS)
        instances = tend.Array.open(INSTANCES, "q")


def unlink_all():
    """Remove the names (the admin's reset; tests clean up with it)."""
    for name in (HITS, INSTANCES, SESSIONS, FLAGS):
        try:
            os.unlink("/dev/shm" + name)
        except FileNotFoundError:
            pass
