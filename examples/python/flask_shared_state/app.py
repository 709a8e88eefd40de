"""A Flask app whose gunicorn workers share state through tend.

    GET /            counts the request (tend.Counter, and per tend instance in
                     a tend.Array); answers "ok" with X-Worker-Pid and
                     X-Instance headers (a body of fixed length, for ab)
    GET /stats       {"hits": N, "instances": [...], "pid": P}: read by any
                     worker, the same numbers
    /session/<sid>   GET/PUT a session's data                 (needs tend.Map)
    GET /flags, PUT /flags/<name>   feature flags             (needs tend.Map)

Run under tend as a pool of 4 gunicorn instances sharing one socket:
see README.md and tend.conf beside this file.
"""
import os

from flask import Flask, jsonify, request

import shared
import tend

shared.attach()
app = Flask(__name__)
INSTANCE = int(os.environ.get("WEB_INSTANCE", "0"))


@app.get("/")
def index():
    shared.hits.add()
    with shared.instances.get_lock():
        shared.instances[INSTANCE] += 1
    return "ok\n", 200, {"X-Worker-Pid": str(os.getpid()), "X-Instance": str(INSTANCE)}


@app.get("/stats")
def stats():
    return jsonify(hits=shared.hits.value, instances=shared.instances[:8], pid=os.getpid())


def needs_map():
    return jsonify(error="sessions and feature flags need tend.Map (libtend's shared map), "
                         "which this build of tend does not have yet"), 501


@app.route("/session/<sid>", methods=["GET", "PUT"])
def session(sid):
    if not shared.SESSIONS_AND_FLAGS:
        return needs_map()
    sessions = tend.Map.open(shared.SESSIONS)  # noqa: F821 -- written for tend.Map, see README
    if request.method == "PUT":
        sessions.set(sid, request.get_json(force=True), ttl=1800)
        return jsonify(ok=True, pid=os.getpid())
    return jsonify(session=sessions.get(sid), pid=os.getpid())


@app.get("/flags")
def flags():
    if not shared.SESSIONS_AND_FLAGS:
        return needs_map()
    return jsonify(dict(tend.Map.open(shared.FLAGS).items()))  # noqa: F821
