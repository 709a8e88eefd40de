#!/usr/bin/python3
"""A stand-in for the supervisor_stdout package used by container images:
main() is the listener (it echoes each event back as its result), and
event_handler is the result handler supervisord imports from it
(result_handler = supervisor_stdout:event_handler), which prints each line
of the output as "process channel | line".  supervisord's own parser in
tests/e2e/dropin.bats imports this module; tend has the handler built in."""
import sys


def main():
    while True:
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        line = sys.stdin.readline()
        headers = dict(x.split(":") for x in line.split())
        data = sys.stdin.read(int(headers["len"]))
        sys.stdout.write("RESULT %d\n%s" % (len(data), data))
        sys.stdout.flush()


def event_handler(event, response):
    if isinstance(response, bytes):
        response = response.decode("utf-8", "replace")
    line, data = response.split("\n", 1)
    headers = dict(x.split(":") for x in line.split())
    prefix = "%s %s | " % (headers["processname"], headers["channel"])
    print("\n".join(prefix + l for l in data.split("\n")))


if __name__ == "__main__":
    main()
