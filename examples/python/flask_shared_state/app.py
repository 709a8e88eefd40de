"""A Flask app whose gunicorn workers share state through tend.

    GET /            counts the request (tend.Counter, Map.incr, and per tend
                     instance in a tend.Array); answers "ok" with X-Worker-Pid and
                     X-Instance headers (a body of fixed length, for ab)
    GET /stats       {"hits": N, "requests": N, "instances": [...], "pid": P}: read
                     by any worker, the same numbers
    PUT /session/<sid>   store the JSON body as the session's data (30 min TTL)
    GET /session/<sid>   {"session": data, "pid": P}, 404 when absent or expired
    GET /flags           {"flags": {name: value}, "pid": P}; flags.py flips them

Run under tend as a pool of 4 gunicorn instances sharing one socket:
see README.md and tend.conf beside this file.
"""
import os

from flask import Flask, jsonify, request

import shared

shared.attach()
app = Flask(__name__)
INSTANCE = int(os.environ.get("WEB_INSTANCE", "0"))


@app.get("/")
def index():
    shared.hits.add()
    shared.counters.incr("requests")
    with shared.instances.get_lock():
        shared.instances[INSTANCE] += 1
    return "ok\n", 200, {"X-Worker-Pid": str(os.getpid()), "X-Instance": str(INSTANCE)}


@app.get("/stats")
def stats():
    return jsonify(hits=shared.hits.value, requests=shared.counters.get("requests", 0),
                   instances=shared.instances[:8], pid=os.getpid())


@app.put("/session/<sid>")
def session_put(sid):
    shared.sessions.set(sid, request.get_json(force=True), ttl=1800)
    return jsonify(ok=True, pid=os.getpid())


@app.get("/session/<sid>")
def session_get(sid):
    data = shared.sessions.get(sid)
    if data is None:
        return jsonify(error="no such session", pid=os.getpid()), 404
    return jsonify(session=data, pid=os.getpid())


@app.get("/flags")
def flags():
    return jsonify(flags=dict(shared.flags.items()), pid=os.getpid())
