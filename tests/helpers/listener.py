#!/usr/bin/python3
"""An event listener written the way supervisord's documentation shows it:
supervisor.childutils.listener.wait() / ok() / fail(), unchanged.

usage: listener.py OUT [ok | fail-first | crash-on N MARK | slow SECS]

Each event it gets is appended to OUT as one JSON line: its pid, the header
dict and the payload.  ok answers OK; fail-first answers FAIL the first time
it sees a serial, OK the second time; crash-on N MARK exits (without an
answer) on the Nth event, once: MARK records that it did; slow answers OK
SECS seconds after it got the event.
"""
import json
import os
import sys
import time

from supervisor import childutils


def main():
    out, mode = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "ok"
    seen = set()
    count = 0
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        count += 1
        with open(out, "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "headers": headers, "payload": payload}) + "\n")
        if mode == "fail-first" and headers["serial"] not in seen:
            seen.add(headers["serial"])
            childutils.listener.fail(sys.stdout)
            continue
        if mode == "crash-on" and count == int(sys.argv[3]) and not os.path.exists(sys.argv[4]):
            open(sys.argv[4], "w").close()
            sys.stderr.write("crashing on event %s\n" % headers["serial"])
            os._exit(1)
        if mode == "slow":
            time.sleep(float(sys.argv[3]))
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
