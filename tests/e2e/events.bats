#!/usr/bin/env bats
# supervisord's event listeners: [eventlistener:x] with listeners written
# with supervisor.childutils (Debian's supervisor package), unchanged; the
# same events on /v1/events; stdin for sendProcessStdin.

load helpers

LISTENER=$BATS_TEST_DIRNAME/../helpers/listener.py
RPC=$BATS_TEST_DIRNAME/../helpers/rpc.py

# rpc METHOD ARGS...: an XML-RPC call on tend's socket
rpc() {
	/usr/bin/python3 "$RPC" "$SOCK" "$@"
}

# events FILE EVENTNAME: the payloads of that event in a listener's record, one per line
events_of() {
	/usr/bin/python3 - "$1" "$2" <<'PY'
import json, sys
for l in open(sys.argv[1]):
    e = json.loads(l)
    if e["headers"]["eventname"] == sys.argv[2]:
        print(e["payload"])
PY
}

@test "a childutils listener gets a crash's PROCESS_STATE_EXITED and a failed start's BACKOFF, as supervisord writes them, and TICK_5" {
	cat >"$T/programs.conf" <<EOF
[eventlistener:rec]
command=/usr/bin/python3 $LISTENER %(ENV_OUT)s
events=PROCESS_STATE_EXITED,PROCESS_STATE_BACKOFF,TICK_5
startsecs=0
[program:crash]
command=/bin/sh -c 'echo \$\$ >> %(ENV_OUT)s.pids; sleep 1.5; exit 3'
startsecs=1
[program:quick]
command=/bin/sh -c 'exit 2'
startsecs=1
startretries=1
EOF
	conf <<EOF
[include]
files=programs.conf
EOF
	# the same programs under supervisord, for the shape of each payload
	cat >"$T/sd.conf" <<EOF
[unix_http_server]
file=$T/sd.sock
[supervisord]
logfile=$T/sd.log
pidfile=$T/sd.pid
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[include]
files=programs.conf
EOF
	OUT=$T/sd-events /usr/bin/supervisord -c "$T/sd.conf" >/dev/null 2>&1 &
	local sd=$!
	OUT=$T/events start_tend
	wait_until 12 grep -q TICK_5 "$T/events"
	wait_until 5 grep -q PROCESS_STATE_EXITED "$T/events"
	wait_until 5 grep -q PROCESS_STATE_EXITED "$T/sd-events"
	kill -TERM $sd
	wait $sd || true
	cat "$T/events"
	/usr/bin/python3 - "$T/events" "$T/sd-events" "$T/events.pids" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
sd = [json.loads(l) for l in open(sys.argv[2])]
pids = [int(l) for l in open(sys.argv[3])]
def fields(p):
    return dict(x.split(":", 1) for x in p.split())
# headers: supervisord's, in order, serials counting up, len = the payload's length
for e in ev:
    h = e["headers"]
    assert list(h) == ["ver", "server", "serial", "pool", "poolserial", "eventname", "len"], h
    assert h["ver"] == "3.0" and h["pool"] == "rec" and int(h["len"]) == len(e["payload"]), h
assert [int(e["headers"]["poolserial"]) for e in ev] == list(range(len(ev))), ev
serials = [int(e["headers"]["serial"]) for e in ev]
assert serials == sorted(serials), serials
ex = [fields(e["payload"]) for e in ev if e["headers"]["eventname"] == "PROCESS_STATE_EXITED"]
assert ex[0] == {"processname": "crash", "groupname": "crash", "from_state": "RUNNING",
                 "expected": "0", "pid": str(pids[0])}, (ex, pids)
bo = [fields(e["payload"]) for e in ev if e["headers"]["eventname"] == "PROCESS_STATE_BACKOFF"]
assert {"processname": "quick", "groupname": "quick", "from_state": "STARTING", "tries": "1"} in bo, bo
tick = [fields(e["payload"]) for e in ev if e["headers"]["eventname"] == "TICK_5"]
assert tick and int(tick[0]["when"]) % 5 == 0, tick
# the same event carries the same fields under supervisord
for name in ("PROCESS_STATE_EXITED", "PROCESS_STATE_BACKOFF"):
    ours = [list(fields(e["payload"])) for e in ev if e["headers"]["eventname"] == name]
    theirs = [list(fields(e["payload"])) for e in sd if e["headers"]["eventname"] == name]
    assert ours and theirs and ours[0] == theirs[0], (name, ours, theirs)
    assert list(ev[0]["headers"]) == list(sd[0]["headers"])
PY
}

@test "a listener that answers FAIL gets the same event again; the log says it was rejected" {
	conf <<EOF
[eventlistener:rec]
command=/usr/bin/python3 $LISTENER $T/events fail-first
events=REMOTE_COMMUNICATION
startsecs=0
EOF
	start_tend
	wait_until 5 state_is rec RUNNING
	rpc supervisor.sendRemoteCommEvent deploy "first"
	rpc supervisor.sendRemoteCommEvent deploy "second"
	wait_until 5 bash -c "[ \$(wc -l < $T/events) -ge 4 ]"
	cat "$T/events"
	/usr/bin/python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
got = [(e["headers"]["serial"], e["headers"]["poolserial"], e["payload"]) for e in ev]
assert got[0] == got[1] and got[2] == got[3] and got[0] != got[2], got
assert got[0][2] == "type:deploy\nfirst" and got[2][2] == "type:deploy\nsecond", got
PY
	grep -q "rec: event was rejected" "$T/tend.log"
}

@test "a listener that crashes mid-event: the events wait in the buffer, the restarted listener gets them, the lost one first" {
	conf <<EOF
[eventlistener:rec]
command=/usr/bin/python3 $LISTENER $T/events crash-on 2 $T/crashed
events=REMOTE_COMMUNICATION
startsecs=1
EOF
	start_tend
	wait_until 5 state_is rec RUNNING
	rpc supervisor.sendRemoteCommEvent t a
	rpc supervisor.sendRemoteCommEvent t b
	wait_until 5 test -e "$T/crashed"
	# sent while the listener is down (it needs startsecs to be RUNNING again)
	rpc supervisor.sendRemoteCommEvent t c
	rpc supervisor.sendRemoteCommEvent t d
	wait_until 10 bash -c "[ \$(wc -l < $T/events) -ge 5 ]"
	cat "$T/events"
	/usr/bin/python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
got = [(e["pid"], e["payload"].split("\n")[1], e["headers"]["serial"]) for e in ev]
p1, p2 = got[0][0], got[2][0]
assert p1 != p2, got
assert [(p, d) for p, d, s in got] == [(p1, "a"), (p1, "b"), (p2, "b"), (p2, "c"), (p2, "d")], got
assert got[1][2] == got[2][2], got  # sent again with its serial
PY
}

@test "a full buffer drops its oldest event (logged); the listener started later gets the rest" {
	conf <<EOF
[eventlistener:rec]
command=/usr/bin/python3 $LISTENER $T/events
events=REMOTE_COMMUNICATION
buffer_size=2
autostart=false
startsecs=0
EOF
	start_tend
	for x in one two three; do rpc supervisor.sendRemoteCommEvent t $x; done
	grep -q "pool rec event buffer overflowed, discarding event 0" "$T/tend.log"
	tendc start rec
	wait_until 5 bash -c "[ \$(wc -l < $T/events) -ge 2 ]"
	sleep 0.3
	[ "$(events_of "$T/events" REMOTE_COMMUNICATION | grep -v '^type:')" = "$(printf 'two\nthree')" ]
}

@test "stdout_events_enabled and capture mode: PROCESS_LOG and PROCESS_COMMUNICATION to a listener and to /v1/events, with the same serials" {
	cat >"$T/talk.py" <<'PY'
import sys, time
time.sleep(0.5)
sys.stdout.write("plain line\n"); sys.stdout.flush()
# what supervisor.childutils.pcomm writes (its Python 3 version wants a binary stream)
sys.stdout.write("<!--XSUPERVISOR:BEGIN-->a message<!--XSUPERVISOR:END-->"); sys.stdout.flush()
time.sleep(30)
PY
	conf <<EOF
[eventlistener:rec]
command=/usr/bin/python3 $LISTENER $T/events
events=PROCESS_LOG,PROCESS_COMMUNICATION
startsecs=0
[program:talk]
command=/usr/bin/python3 $T/talk.py
stdout_events_enabled=true
stdout_capture_maxbytes=1MB
stdout_logfile=NONE
startsecs=0
EOF
	start_tend
	curl -sN --max-time 10 --unix-socket "$SOCK" "http://localhost/v1/events?types=PROCESS_LOG,PROCESS_COMMUNICATION" >"$T/json" &
	local curl=$!
	wait_until 8 grep -q PROCESS_COMMUNICATION_STDOUT "$T/events"
	wait_until 3 grep -q PROCESS_COMMUNICATION_STDOUT "$T/json"
	kill $curl || true
	cat "$T/events" "$T/json"
	/usr/bin/python3 - "$T/events" "$T/json" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
js = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
log = [e for e in ev if e["headers"]["eventname"] == "PROCESS_LOG_STDOUT"]
comm = [e for e in ev if e["headers"]["eventname"] == "PROCESS_COMMUNICATION_STDOUT"]
assert log and log[0]["payload"].startswith("processname:talk groupname:talk pid:"), log
assert "channel:stdout\nplain line\n" in log[0]["payload"], log
assert comm and comm[0]["payload"].endswith("\na message"), comm
byserial = {str(j["serial"]): j for j in js}
for e in log + comm:
    j = byserial[e["headers"]["serial"]]
    assert j["type"] == e["headers"]["eventname"] and e["payload"].endswith(j["data"]), (e, j)
PY
}

@test "sendProcessStdin writes to the program's stdin (a pipe, as under supervisord)" {
	conf <<EOF
[program:cat]
command=/bin/cat
stdout_logfile=$T/cat.log
startsecs=0
EOF
	start_tend
	wait_until 5 state_is cat RUNNING
	# stdin is no /dev/null: cat is still there, waiting for input
	sleep 0.3
	state_is cat RUNNING
	run rpc supervisor.sendProcessStdin cat "hello from stdin
"
	[ "$output" = "true" ]
	wait_until 5 grep -q "hello from stdin" "$T/cat.log"
	tendc stop cat
	run rpc supervisor.sendProcessStdin cat "more"
	[[ "$output" == "FAULT 70 NOT_RUNNING"* ]]
}

@test "a memmon-style listener restarts a program over its memory limit through SUPERVISOR_SERVER_URL (TICK_5, getAllProcessInfo, stopProcess, startProcess)" {
	cat >"$T/memmon.py" <<'PY'
# after superlance's memmon: on each TICK, the RSS of every process through
# XML-RPC; restart what is over the limit
import os, subprocess, sys
from supervisor import childutils
rpc = childutils.getRPCInterface(os.environ)
limit = int(sys.argv[1])
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    if headers["eventname"].startswith("TICK"):
        for info in rpc.supervisor.getAllProcessInfo():
            if not info["pid"]:
                continue
            rss = subprocess.run(["ps", "-orss=", "-p", str(info["pid"])], capture_output=True, text=True).stdout.strip()
            if rss and int(rss) * 1024 > limit and info["name"] == "hog":
                name = "%s:%s" % (info["group"], info["name"])
                sys.stderr.write("Restarting %s (pid %d)\n" % (name, info["pid"])); sys.stderr.flush()
                rpc.supervisor.stopProcess(name)
                rpc.supervisor.startProcess(name)
    childutils.listener.ok(sys.stdout)
PY
	conf <<EOF
[eventlistener:memmon]
command=/usr/bin/python3 $T/memmon.py 30000000
events=TICK_5
stderr_logfile=$T/memmon.err
startsecs=0
[program:hog]
command=/usr/bin/python3 -c "import time; x = bytearray(60 << 20); time.sleep(60)"
startsecs=0
EOF
	start_tend
	wait_until 5 state_is hog RUNNING
	pid=$(pid_of hog)
	wait_until 12 grep -q "Restarting hog:hog (pid $pid)" "$T/memmon.err"
	wait_until 5 state_is hog RUNNING
	[ "$(pid_of hog)" != "$pid" ]
}

@test "SUPERVISOR_STATE_CHANGE and PROCESS_GROUP_ADDED/REMOVED at start, on update and at shutdown, as supervisord sends them" {
	cat >"$T/programs.conf" <<EOF
[eventlistener:rec]
command=/usr/bin/python3 $LISTENER %(ENV_OUT)s
events=SUPERVISOR_STATE_CHANGE,PROCESS_GROUP_ADDED,PROCESS_GROUP_REMOVED
startsecs=0
[program:a]
command=sleep 60
priority=5
[program:b]
command=sleep 60
priority=1
[group:g]
programs=a
priority=7
EOF
	conf <<EOF
[include]
files=programs.conf
EOF
	cat >"$T/sd.conf" <<EOF
[unix_http_server]
file=$T/sd.sock
[supervisord]
logfile=$T/sd.log
pidfile=$T/sd.pid
nodaemon=true
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://$T/sd.sock
[include]
files=programs.conf
EOF
	OUT=$T/sd-events /usr/bin/supervisord -c "$T/sd.conf" >/dev/null 2>&1 &
	local sd=$!
	OUT=$T/events start_tend
	wait_until 10 grep -q SUPERVISOR_STATE_CHANGE_RUNNING "$T/events"
	wait_until 10 grep -q SUPERVISOR_STATE_CHANGE_RUNNING "$T/sd-events"
	# an update: b goes, c comes
	sed -i 's/^\[program:b\]/[program:c]/' "$T/programs.conf"
	tendc reload
	/usr/bin/supervisorctl -c "$T/sd.conf" update
	wait_until 10 grep -q '"groupname:c' "$T/events"
	wait_until 10 grep -q '"groupname:c' "$T/sd-events"
	stop_tend
	kill -TERM $sd
	wait $sd || true
	cat "$T/events"
	cat "$T/sd-events"
	/usr/bin/python3 - "$T/events" "$T/sd-events" <<'PY'
import json, sys
def seq(path):
    return [(e["headers"]["eventname"], e["payload"]) for e in map(json.loads, open(path))]
# STOPPING goes out as the shutdown begins: a listener stopped in the same
# moment may not read it (under supervisord too), so it is compared only as
# the last event when it came
stop = ("SUPERVISOR_STATE_CHANGE_STOPPING", "")
ours, theirs = seq(sys.argv[1]), seq(sys.argv[2])
assert stop not in ours[:-1] and stop not in theirs[:-1], (ours, theirs)
ours, theirs = [e for e in ours if e != stop], [e for e in theirs if e != stop]
assert ours == theirs, (ours, theirs)
names = [n for n, _ in ours]
assert "PROCESS_GROUP_ADDED" in names and "PROCESS_GROUP_REMOVED" in names and \
    names[-3] == "SUPERVISOR_STATE_CHANGE_RUNNING", ours
assert ("PROCESS_GROUP_REMOVED", "groupname:b\n") in ours and ("PROCESS_GROUP_ADDED", "groupname:c\n") in ours, ours
PY
}

@test "an httpok-style listener restarts a program whose URL fails (TICK_5, getProcessInfo, stopProcess, startProcess), not one that answers" {
	cat >"$T/httpok.py" <<'PY'
# after superlance's httpok: on each TICK, GET the URL; a failure restarts the
# program through XML-RPC, an answer is logged
import os, sys, urllib.request
from supervisor import childutils
rpc = childutils.getRPCInterface(os.environ)
name, url = sys.argv[1], sys.argv[2]
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    if headers["eventname"].startswith("TICK"):
        info = rpc.supervisor.getProcessInfo(name)
        if info["statename"] == "RUNNING":
            try:
                status = urllib.request.urlopen(url, timeout=2).status
            except Exception as e:
                status = str(e)
            if status == 200:
                sys.stderr.write("ok %d\n" % info["pid"])
            else:
                sys.stderr.write("Restarting %s (pid %d): %s\n" % (name, info["pid"], status))
                rpc.supervisor.stopProcess(name)
                rpc.supervisor.startProcess(name)
            sys.stderr.flush()
    childutils.listener.ok(sys.stdout)
PY
	cat >"$T/web.py" <<'PY'
# the first instance answers 500, the ones after it 200
import http.server, os, sys
sick = not os.path.exists(sys.argv[2])
open(sys.argv[2], "a").close()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(500 if sick else 200)
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
	local port
	port=$(free_port)
	conf <<EOF
[eventlistener:httpok]
command=/usr/bin/python3 $T/httpok.py web http://127.0.0.1:$port/
events=TICK_5
stderr_logfile=$T/httpok.err
startsecs=0
[program:web]
command=/usr/bin/python3 $T/web.py $port $T/started
startsecs=0
EOF
	start_tend
	wait_until 5 state_is web RUNNING
	pid=$(pid_of web)
	wait_until 12 grep -q "Restarting web (pid $pid): HTTP Error 500" "$T/httpok.err"
	wait_until 5 state_is web RUNNING
	pid2=$(pid_of web)
	[ "$pid2" != "$pid" ]
	# the healthy one is left alone
	wait_until 12 grep -q "ok $pid2" "$T/httpok.err"
	[ "$(grep -c Restarting "$T/httpok.err")" -eq 1 ]
	[ "$(pid_of web)" = "$pid2" ]
}

@test "a pool of numprocs=2 listeners: each event goes to one listener that is ready, both share the work, none is lost" {
	conf <<EOF
[eventlistener:pool]
command=/usr/bin/python3 $LISTENER $T/events slow 0.5
process_name=%(program_name)s_%(process_num)d
numprocs=2
events=REMOTE_COMMUNICATION
startsecs=0
EOF
	start_tend
	wait_until 5 state_is pool:pool_0 RUNNING
	wait_until 5 state_is pool:pool_1 RUNNING
	# all six at once (one multicall), so both listeners are ready for them
	rpc system.multicall "[$(for i in 1 2 3 4 5 6; do
		printf '{"methodName": "supervisor.sendRemoteCommEvent", "params": ["deploy", "v%d"]}' $i
		[ $i -lt 6 ] && printf ', '
	done)]"
	wait_until 10 bash -c "[ \$(wc -l <'$T/events') -ge 6 ]"
	sleep 1
	cat "$T/events"
	/usr/bin/python3 - "$T/events" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
bodies = sorted(e["payload"] for e in ev)
assert bodies == ["type:deploy\nv%d" % i for i in range(1, 7)], bodies   # each once
assert len({e["pid"] for e in ev}) == 2, ev                               # both got some
# the pool's serials count the pool's events, once each
assert sorted(int(e["headers"]["poolserial"]) for e in ev) == list(range(6)), ev
assert {e["headers"]["pool"] for e in ev} == {"pool"}, ev
PY
}
