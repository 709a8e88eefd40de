"""The state the gunicorn workers share, in tend objects named after
$FLASK_SHARED_NS (default "flask-shared"):

  /NS-hits        tend.Counter: requests served by every worker, exact across
                  worker restarts (a killed writer's adds stay in the sum)
  /NS-instances   tend.Array('q', 64): requests per tend instance (process_num)
  /NS-sessions    tend.Map: session data by session id, with a TTL; evicts
                  the least recently read sessions when full
  /NS-flags       tend.Map (evict=False): feature flags, flipped by the admin
                  script flags.py, seen by every worker at its next request
  /NS-counters    tend.Map (evict=False): counters kept with Map.incr

Created by the first gunicorn master that starts (on_starting), opened by
name in every worker (post_fork): the pattern for any prefork server.

Under a tend whose config gives the program `maps = sessions:..., flags:...`
tend creates those maps itself and passes their names in TEND_MAP_SESSIONS
and TEND_MAP_FLAGS: then they are used (tend.Map.from_env) instead.
"""
import os

import tend

NS = os.environ.get("FLASK_SHARED_NS", "flask-shared")
HITS = f"/{NS}-hits"
INSTANCES = f"/{NS}-instances"
SESSIONS = f"/{NS}-sessions"
FLAGS = f"/{NS}-flags"
COUNTERS = f"/{NS}-counters"

hits = None
instances = None
sessions = None
flags = None
counters = None

# name -> (the map tend made for maps=, else our own name, creation arguments)
MAPS = {
    "sessions": (SESSIONS, dict(size=10000, max_value=4096)),
    "flags": (FLAGS, dict(size=256, max_value=1024, evict=False)),
    "counters": (COUNTERS, dict(size=256, max_value=64, evict=False)),
}


def open_map(what):
    """The map `what`: tend's (maps= in tend.conf) if tend made one, else ours."""
    if f"TEND_MAP_{what.upper()}" in os.environ:
        return tend.Map.from_env(what)
    return tend.Map.open(MAPS[what][0])


def create_or_open():
    """In a gunicorn master: create the objects, or open them when another
    master (an earlier instance, or the one before a restart) made them."""
    for make in (lambda: tend.Counter(name=HITS, slots=64), lambda: tend.Array("q", 64, name=INSTANCES)):
        try:
            make()
        except FileExistsError:
            pass  # made by another master: attach() opens it
    for what, (name, kwargs) in MAPS.items():
        if f"TEND_MAP_{what.upper()}" in os.environ:
            continue  # tend made it
        try:
            tend.Map(name, **kwargs)
        except FileExistsError:
            pass


def attach():
    """In a worker: open the shared objects by name."""
    global hits, instances, sessions, flags, counters
    if hits is None:
        create_or_open()  # also when run without the gunicorn hooks (flask run)
        hits = tend.Counter.open(HITS)
        instances = tend.Array.open(INSTANCES, "q")
        sessions = open_map("sessions")
        flags = open_map("flags")
        counters = open_map("counters")


def unlink_all():
    """Remove the names (the admin's reset; tests clean up with it)."""
    for name in (HITS, INSTANCES, SESSIONS, FLAGS, COUNTERS):
        try:
            os.unlink("/dev/shm" + name)
        except FileNotFoundError:
            pass
