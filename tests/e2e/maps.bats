#!/usr/bin/env bats
# Shared maps (maps=): tend makes a program's libtend maps before it starts,
# names them in TEND_MAP_<NAME>, keeps them across the program's crashes and
# removes them with the program or with tend.  The program is a small C
# program linked with libtend (tests/helpers/tmap.c).

load helpers

TMAP=$TEND_BUILD/helpers/tmap

# prefix: the shm-name prefix of the maps of the tend on $SOCK, without its
# slash ("tend.<FNV-1a of the socket path>."), as common/mapname.c makes it
prefix() {
	python3 -c 'import sys
h = 0xcbf29ce484222325
for c in sys.argv[1].encode():
    h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
print("tend.%016x." % h)' "$SOCK"
}

# segments: this test's maps in /dev/shm
segments() {
	ls /dev/shm | grep -F "$(prefix)" || true
}

# every test must leave no map of its tend behind (checked after tend is gone)
eval "$(declare -f teardown | sed '1s/^teardown/helpers_teardown/')"
teardown() {
	local left s
	left=$(segments)
	[ -n "$left" ] && echo "leftover maps: $left" >&3
	for s in $left; do rm -f "/dev/shm/$s"; done
	helpers_teardown
	[ -z "$left" ]
}

# json EXPR: evaluate a Python expression over `tend status --json web` (j)
json() {
	tendc --json status web | python3 -c "import json,sys; j=json.load(sys.stdin)['programs'][0]; print($1)"
}

@test "maps: made before the program starts, named in TEND_MAP_*, kept across a crash, stats everywhere, gone at exit" {
	conf <<EOF
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M, flags:64K:value=256:noevict:mode=0660
startsecs=0
restart_delay=0.1
stdout_logfile=$T/web.log
EOF
	start_tend
	wait_until 5 grep -q '^ready' "$T/web.log"
	# the program found the map tend made, under the name it was given
	name="/$(prefix)web.sessions"
	grep -qx "map $name" "$T/web.log"
	grep -qx 'starts 1' "$T/web.log"
	[ "$(stat -c %a "/dev/shm$name")" = 600 ]
	[ "$(stat -c %a "/dev/shm/$(prefix)web.flags")" = 660 ]
	[ "$(stat -c %u "/dev/shm$name")" = "$(id -u)" ]
	[ "$(segments | wc -l)" = 2 ]

	# a crash: the restarted program finds what the first one stored
	pid=$(pid_of web)
	kill -KILL "$pid"
	wait_until 10 grep -qx 'starts 2' "$T/web.log"
	wait_until 5 bash -c "[ \$(grep -c '^ready' $T/web.log) = 2 ]"
	[ "$(pid_of web)" != "$pid" ]

	# stats: status --json (the API), /metrics, and tend map stats from the map itself
	[ "$(json "[m['name'] for m in j['maps']]")" = "['sessions', 'flags']" ]
	[ "$(json "j['maps'][0]['shm']")" = "$name" ]
	[ "$(json "j['maps'][0]['items']")" = 2 ]
	[ "$(json "j['maps'][0]['hits']")" = 10 ]
	[ "$(json "j['maps'][0]['misses']")" = 4 ]
	[ "$(json "j['maps'][1]['items']")" = 0 ]
	curl -sf --unix-socket "$SOCK" http://localhost/v1/programs/web | python3 -c \
		'import json,sys; m=json.load(sys.stdin)["programs"][0]["maps"][0]; assert m["items"] == 2, m'
	curl -sf --unix-socket "$SOCK" http://localhost/metrics >"$T/metrics"
	grep -qx 'tend_map_items{program="web",map="sessions"} 2' "$T/metrics"
	grep -qx 'tend_map_bytes{program="web",map="sessions"} 24' "$T/metrics"
	grep -qx 'tend_map_hits_total{program="web",map="sessions"} 10' "$T/metrics"
	grep -qx 'tend_map_misses_total{program="web",map="sessions"} 4' "$T/metrics"
	grep -qx 'tend_map_evictions_total{program="web",map="flags"} 0' "$T/metrics"
	if command -v promtool >/dev/null; then promtool check metrics <"$T/metrics"; fi
	run tendc map stats web:sessions
	[ "$status" -eq 0 ]
	[[ "$output" == *"map          $name"* ]]
	[[ "$output" == *"items        2 of 8192"* ]]
	[[ "$output" == *"hits         10"* ]]
	run tendc --json map stats "$name"
	[ "$status" -eq 0 ]
	echo "$output" | python3 -c 'import json,sys; j=json.load(sys.stdin); assert (j["items"], j["misses"]) == (2, 4), j'
	run tendc map stats web:nosuch
	[ "$status" -eq 1 ]
	[[ "$output" == *"No such file or directory"* ]]

	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
	[ -z "$(segments)" ]
	run tendc map stats web:sessions
	[ "$status" -eq 1 ]
}

@test "maps: a reload that removes a program or a map removes it; a changed spec makes a new map" {
	conf <<EOF
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M, extra:64K
startsecs=0
stdout_logfile=$T/web.log
[program:other]
command=$TMAP TEND_MAP_CACHE
maps = cache:1M
startsecs=0
stdout_logfile=$T/other.log
EOF
	start_tend
	wait_until 5 grep -q '^ready' "$T/web.log"
	wait_until 5 grep -q '^ready' "$T/other.log"
	[ "$(segments | sort | tr '\n' ' ')" = "$(prefix)other.cache $(prefix)web.extra $(prefix)web.sessions " ]

	# other goes, web loses extra: both maps go; sessions stays with its data
	conf <<EOF
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M
startsecs=0
stdout_logfile=$T/web.log
EOF
	tendc reload
	wait_until 5 bash -c "[ \$(grep -c '^ready' $T/web.log) = 2 ]"
	[ "$(segments)" = "$(prefix)web.sessions" ]
	grep -qx 'starts 2' "$T/web.log"

	# a new size: a new map (the program restarts with a fresh one)
	sed -i 's/sessions:1M/sessions:2M/' "$CONF"
	tendc reload
	wait_until 5 bash -c "[ \$(grep -c '^ready' $T/web.log) = 3 ]"
	[ "$(grep '^starts' "$T/web.log" | tail -n 1)" = 'starts 1' ]
	[ "$(json "j['maps'][0]['mem_total']")" = $((2 << 20)) ]
	stop_tend
	[ -z "$(segments)" ]
}

@test "maps: a map that cannot be made fails the start with the reason; tend keeps running" {
	long=$(printf 'p%.0s' $(seq 240))
	conf <<EOF
[program:$long]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M
startsecs=0
startretries=0
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M
startsecs=0
stdout_logfile=$T/web.log
EOF
	start_tend
	wait_until 5 state_is "$long" FATAL
	reason=$(tendc --json status "$long" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["last_exit"]["reason"])')
	[ "$reason" = "map sessions: File name too long" ]
	wait_until 5 grep -q '^ready' "$T/web.log"
	state_is web RUNNING
	stop_tend
}

@test "maps: after tend is SIGKILLed, the next tend on the socket reuses the maps its config names and removes the rest" {
	conf <<EOF
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M
startsecs=0
stdout_logfile=$T/web.log
[program:gone]
command=$TMAP TEND_MAP_OLD
maps = old:1M
startsecs=0
stdout_logfile=$T/gone.log
EOF
	start_tend
	wait_until 5 grep -q '^ready' "$T/web.log"
	wait_until 5 grep -q '^ready' "$T/gone.log"
	pids="$(pid_of web) $(pid_of gone)"
	kill -KILL "$TEND_PID"
	wait "$TEND_PID" || true
	kill -KILL $pids
	TEND_PID=
	[ "$(segments | wc -l)" = 2 ]

	conf <<EOF
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M
startsecs=0
stdout_logfile=$T/web.log
EOF
	start_tend
	wait_until 5 bash -c "[ \$(grep -c '^ready' $T/web.log) = 2 ]"
	grep -qx 'starts 2' "$T/web.log"
	[ "$(segments)" = "$(prefix)web.sessions" ]
	grep -q "removed map /$(prefix)gone.old, left by a tend that did not exit cleanly" "$T/tend.log"
	grep -q "reusing map /$(prefix)web.sessions" "$T/tend.log"
	stop_tend
	[ -z "$(segments)" ]
}

@test "maps: owned by user= with the entry's mode; the program, running as that user, uses it" {
	[ "$(id -u)" = 0 ] || skip "user= needs root"
	id nobody >/dev/null
	conf <<EOF
[program:web]
command=$TMAP TEND_MAP_SESSIONS
maps = sessions:1M:mode=0640
user=nobody
startsecs=0
stdout_logfile=$T/web.log
EOF
	chmod 755 "$T"	# nobody reaches the log; tend refuses a socket directory others may write
	start_tend
	wait_until 5 grep -q '^ready' "$T/web.log"
	grep -qx 'starts 1' "$T/web.log"
	f=/dev/shm/$(prefix)web.sessions
	[ "$(stat -c '%U %g %a' "$f")" = "nobody $(id -g nobody) 640" ]
	[ "$(json "j['maps'][0]['items']")" = 2 ]
	# read permission is enough for tend map stats: a user of the map's group (0640) reads it
	run setpriv --reuid=65533 --regid="$(id -g nobody)" --clear-groups "$TEND" map stats "/${f#/dev/shm/}"
	[ "$status" -eq 0 ]
	[[ "$output" == *"items        2 of"* ]]
	# and cannot open it for writing (tmap would: it calls tend_map_open)
	run setpriv --reuid=65533 --regid="$(id -g nobody)" --clear-groups env TEND_MAP_X="/${f#/dev/shm/}" "$TMAP" TEND_MAP_X
	[ "$status" -eq 3 ]
	[[ "$output" == *"Permission denied"* ]]
	stop_tend
	[ -z "$(segments)" ]
}
