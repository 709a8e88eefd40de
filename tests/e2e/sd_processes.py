#!/usr/bin/python3
"""What supervisord runs from a config, by its own parser
(supervisor.options.ServerOptions from Debian's supervisor package): one
line "GROUP:NAME" per process it starts (autostart), sorted."""
import sys

from supervisor.options import ServerOptions

o = ServerOptions()
o.realize(args=["-c", sys.argv[1]])
names = []
for g in o.process_group_configs:
    for p in g.process_configs:
        if p.autostart:
            names.append("%s:%s" % (g.name, p.name))
print("\n".join(sorted(names)))
