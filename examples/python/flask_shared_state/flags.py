#!/usr/bin/python3
"""The admin script: feature flags of the running app, in its tend.Map.

    flags.py list                 every flag and its value
    flags.py set NAME VALUE       VALUE as JSON if it parses (true, 3, "x"), else the string
    flags.py unset NAME

Every worker reads the flags map on each request, so a flag set here is seen
by all of them at their next request: there is no cache to invalidate and
no worker to signal.  Run with the app's environment (FLASK_SHARED_NS, or
TEND_MAP_FLAGS under a tend that makes the map with maps=).
"""
import json
import sys

import shared


def main(argv):
    flags = shared.open_map("flags")
    if argv[:1] == ["list"] and len(argv) == 1:
        for name, value in sorted(flags.items()):
            print(f"{name} = {json.dumps(value)}")
    elif argv[:1] == ["set"] and len(argv) == 3:
        try:
            value = json.loads(argv[2])
        except ValueError:
            value = argv[2]
        flags[argv[1]] = value
    elif argv[:1] == ["unset"] and len(argv) == 2:
        if flags.pop(argv[1], None) is None:
            print(f"flags.py: no flag {argv[1]}", file=sys.stderr)
            return 1
    else:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
