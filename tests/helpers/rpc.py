#!/usr/bin/python3
"""Call one of supervisord's XML-RPC methods on a unix socket, as
supervisorctl and supervisor.childutils do: rpc.py SOCKET METHOD [ARG...]
(an argument that parses as JSON is passed as that value).  Prints the
result as JSON; a fault exits 1 with "FAULT code text"."""
import json
import sys
import xmlrpc.client

from supervisor.xmlrpc import SupervisorTransport


def arg(s):
    try:
        return json.loads(s)
    except ValueError:
        return s


def main():
    sock, method, args = sys.argv[1], sys.argv[2], [arg(a) for a in sys.argv[3:]]
    proxy = xmlrpc.client.ServerProxy("http://127.0.0.1", SupervisorTransport("", "", "unix://" + sock))
    fn = proxy
    for part in method.split("."):
        fn = getattr(fn, part)
    try:
        print(json.dumps(fn(*args)))
    except xmlrpc.client.Fault as f:
        print("FAULT %d %s" % (f.faultCode, f.faultString))
        sys.exit(1)


if __name__ == "__main__":
    main()
