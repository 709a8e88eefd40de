#!/usr/bin/python3
"""A listener that works as superlance's crashmail does: it must run under a
supervisor (SUPERVISOR_SERVER_URL), waits with supervisor.childutils, and
on a PROCESS_STATE_EXITED that was not expected pipes a mail to the
sendmail command (-s).  usage: crashmail.py [-a] [-p NAME] -m ADDR -s CMD"""
import getopt
import os
import sys

from supervisor import childutils


def main():
    opts, _ = getopt.getopt(sys.argv[1:], "ap:m:s:o:")
    opts = dict(opts)
    if "SUPERVISOR_SERVER_URL" not in os.environ:
        sys.stderr.write("crashmail must be run as a supervisor event listener\n")
        return 1
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers["eventname"] != "PROCESS_STATE_EXITED":
            childutils.listener.ok(sys.stdout)
            continue
        pheaders, _ = childutils.eventdata(payload + "\n")
        if int(pheaders["expected"]):
            childutils.listener.ok(sys.stdout)
            continue
        msg = ("Process %(processname)s in group %(groupname)s exited unexpectedly "
               "(pid %(pid)s) from state %(from_state)s" % pheaders)
        subject = " %s crashed at %s" % (pheaders["processname"], childutils.get_asctime())
        body = "To: %s\nSubject: %s\n\n%s\n" % (opts.get("-m"), subject, msg)
        with os.popen(opts["-s"], "w") as m:
            m.write(body)
        sys.stderr.write("unexpected exit, mailed:\n%s" % body)
        sys.stderr.flush()
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    sys.exit(main())
