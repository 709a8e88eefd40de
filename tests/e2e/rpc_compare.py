#!/usr/bin/python3
"""Call every XML-RPC method on tend and on the real supervisord, with the
same programs, and compare what comes back: the type of every value, the keys
of every struct, the code of every fault.  Known, documented differences are
listed in EXPECTED_DIFF; anything else fails.

usage: rpc_compare.py TEND_SOCK SUPERVISORD_SOCK
Prints one line per call ("ok", "differs (expected)" or "DIFFERS") and exits 1
on an unexpected difference.
"""
import sys
import xmlrpc.client

from supervisor.xmlrpc import SupervisorTransport


def proxy(sock):
    return xmlrpc.client.ServerProxy(
        "http://127.0.0.1", transport=SupervisorTransport(None, None, "unix://" + sock))


def shape(v):
    """A comparable description of a value: types, struct keys, fault codes."""
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    if isinstance(v, dict):
        return {k: shape(x) for k, x in sorted(v.items())}
    if isinstance(v, list):
        shapes = []
        for x in v:
            s = shape(x)
            if s not in shapes:
                shapes.append(s)
        return ["list", shapes]
    return type(v).__name__


def call(server, name, *args):
    try:
        # the raw request: attribute lookup would turn "supervisor.__init__" into Python's own
        return ("value", shape(server._ServerProxy__request(name, args)))
    except xmlrpc.client.Fault as f:
        return ("fault", f.faultCode)


# (method, args): run in this order on both servers
CALLS = [
    ("supervisor.getAPIVersion", ()),
    ("supervisor.getVersion", ()),
    ("supervisor.getSupervisorVersion", ()),
    ("supervisor.getIdentification", ()),
    ("supervisor.getState", ()),
    ("supervisor.getPID", ()),
    ("supervisor.readLog", (0, 0)),
    ("supervisor.readLog", (-100, 0)),
    ("supervisor.readLog", (-100, 5)),          # BAD_ARGUMENTS
    ("supervisor.getProcessInfo", ("a",)),
    ("supervisor.getProcessInfo", ("g:b",)),
    ("supervisor.getProcessInfo", ("nosuch",)),  # BAD_NAME
    ("supervisor.getAllProcessInfo", ()),
    ("supervisor.getAllConfigInfo", ()),
    ("supervisor.startProcess", ("a",)),        # ALREADY_STARTED
    ("supervisor.stopProcess", ("a",)),
    ("supervisor.stopProcess", ("a",)),         # NOT_RUNNING
    ("supervisor.getProcessInfo", ("a",)),
    ("supervisor.startProcess", ("a",)),
    ("supervisor.startProcess", ("a", False)),  # ALREADY_STARTED
    ("supervisor.startProcess", ("nosuch",)),   # BAD_NAME
    ("supervisor.startProcess", ("missing",)),  # NO_FILE
    ("supervisor.stopProcessGroup", ("g",)),
    ("supervisor.startProcessGroup", ("g",)),
    ("supervisor.startProcessGroup", ("nosuch",)),  # BAD_NAME
    ("supervisor.stopProcess", ("g:*",)),
    ("supervisor.startProcess", ("g:*",)),
    ("supervisor.signalProcess", ("a", "CONT")),
    ("supervisor.signalProcess", ("a", 18)),
    ("supervisor.signalProcess", ("a", "NOSUCH")),  # BAD_SIGNAL
    ("supervisor.signalProcessGroup", ("g", "CONT")),
    ("supervisor.signalAllProcesses", ("CONT",)),
    ("supervisor.readProcessStdoutLog", ("g:b", 0, 100)),
    ("supervisor.readProcessStdoutLog", ("g:b", -100, 0)),
    ("supervisor.readProcessStderrLog", ("g:b", -100, 0)),
    ("supervisor.readProcessStdoutLog", ("a", -100, 0)),  # NO_FILE (stdout_logfile = NONE)
    ("supervisor.tailProcessStdoutLog", ("g:b", 0, 100)),
    ("supervisor.tailProcessStderrLog", ("g:b", 0, 100)),
    ("supervisor.clearProcessLogs", ("g:b",)),
    ("supervisor.clearAllProcessLogs", ()),
    ("supervisor.clearLog", ()),
    ("supervisor.sendProcessStdin", ("a", "x\n")),
    ("supervisor.reloadConfig", ()),
    ("supervisor.addProcessGroup", ("a",)),      # ALREADY_ADDED
    ("supervisor.addProcessGroup", ("nosuch",)),  # BAD_NAME
    ("supervisor.removeProcessGroup", ("a",)),   # STILL_RUNNING
    ("supervisor.stopAllProcesses", ()),
    ("supervisor.removeProcessGroup", ("a",)),
    ("supervisor.addProcessGroup", ("a",)),
    ("supervisor.startAllProcesses", ()),
    ("system.methodHelp", ("supervisor.getPID",)),
    ("system.methodHelp", ("nosuch",)),          # SIGNATURE_UNSUPPORTED
    ("system.methodSignature", ("supervisor.startProcess",)),
    ("system.multicall", ([{"methodName": "supervisor.getPID", "params": []},
                           {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]}],)),
    ("supervisor.__init__", ()),                 # UNKNOWN_METHOD
    ("supervisor.nosuch", ()),                   # UNKNOWN_METHOD
]

# documented differences (docs/decisions.md)
EXPECTED_DIFF = [
    # tend gives programs /dev/null as stdin: NO_FILE where supervisord writes to a pipe
    ("supervisor.sendProcessStdin", ("a", "x\n")),
    # tend wraps each result in a one-element array, as the XML-RPC multicall
    # convention and supervisord's own docstring say; supervisord 4.2 does not
    ("system.multicall", ([{"methodName": "supervisor.getPID", "params": []},
                           {"methodName": "supervisor.getProcessInfo", "params": ["nosuch"]}],)),
]


def main():
    tend, sup = proxy(sys.argv[1]), proxy(sys.argv[2])
    bad = 0
    for name, args in CALLS:
        a, b = call(tend, name, *args), call(sup, name, *args)
        key = (name, args)
        if a == b:
            print("ok        %s%r -> %s" % (name, args, a[0] if a[0] == "value" else "fault %d" % a[1]))
        elif any(key == e for e in EXPECTED_DIFF):
            print("differs (expected) %s%r: tend %r, supervisord %r" % (name, args, a, b))
        else:
            bad += 1
            print("DIFFERS   %s%r:\n  tend        %r\n  supervisord %r" % (name, args, a, b))
    # every method supervisord publishes, tend serves
    missing = set(sup.system.listMethods()) - set(tend.system.listMethods())
    if missing:
        bad += 1
        print("DIFFERS   system.listMethods: tend lacks %s" % sorted(missing))
    else:
        print("ok        system.listMethods: all %d of supervisord's methods" % len(sup.system.listMethods()))
    print("%d unexpected difference(s)" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
