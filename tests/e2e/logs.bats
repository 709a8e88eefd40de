#!/usr/bin/env bats
# Program output: files, rotation, tend's stdout with prefixes, tail, floods,
# and destinations that break under tend.

load helpers

lines_of() {
	[ -f "$1" ] && wc -l <"$1" || echo 0
}

@test "rotation by size keeps stdout_logfile_backups files" {
	conf <<EOF
[program:spew]
command=$TPROC spew
stdout_logfile=$T/spew.log
stdout_logfile_maxbytes=2KB
stdout_logfile_backups=3
startsecs=0
EOF
	start_tend
	# 2 KB is about 200 lines of "line N": wait for four rotations
	wait_until 20 test -s "$T/spew.log.3"
	sleep 1
	[ ! -e "$T/spew.log.4" ]
	for f in "$T"/spew.log "$T"/spew.log.1 "$T"/spew.log.2 "$T"/spew.log.3; do
		[ "$(stat -c %s "$f")" -le 2048 ]
	done
	[ "$(stat -c %s "$T/spew.log.2")" -eq 2048 ]
	# nothing lost at the seams: .3 .2 .1 and the live file hold consecutive lines
	python3 - "$T/spew.log" <<'PY'
import sys
base = sys.argv[1]
data = b"".join(open(f, "rb").read() for f in (base + ".3", base + ".2", base + ".1", base))
n = [int(l.split()[1]) for l in data.decode().splitlines()[1:-1]]
assert n == list(range(n[0], n[0] + len(n))), "gap in rotated logs"
PY
	run tendc rotate spew
	[ "$status" -eq 0 ]
	[ "$output" = "spew: rotated" ]
}

@test "AUTO logs are named at start and made at the first output: a silent program gets no file, tail and rotate answer, exit removes them" {
	mkdir "$T/logs"
	mkfifo "$T/go"
	conf <<EOF
[supervisord]
childlogdir=$T/logs
[program:quiet]
command=$TPROC sleep
startsecs=0
[program:late]
command=sh -c 'read x <$T/go; echo hello; echo oops >&2; exec $TPROC sleep'
startsecs=0
EOF
	start_tend
	wait_until 5 state_is quiet RUNNING
	wait_until 5 state_is late RUNNING
	json=$(tendc status --json)
	out=$(echo "$json" | python3 -c 'import json,sys; print([p for p in json.load(sys.stdin)["programs"] if p["name"]=="late"][0]["stdout_logfile"])')
	err=$(echo "$json" | python3 -c 'import json,sys; print([p for p in json.load(sys.stdin)["programs"] if p["name"]=="late"][0]["stderr_logfile"])')
	qout=$(echo "$json" | python3 -c 'import json,sys; print([p for p in json.load(sys.stdin)["programs"] if p["name"]=="quiet"][0]["stdout_logfile"])')
	echo "paths: $out $err $qout"
	[[ "$out" == "$T/logs/late-stdout---"*".log" ]]
	[[ "$err" == "$T/logs/late-stderr---"*".log" ]]
	[[ "$qout" == "$T/logs/quiet-stdout---"*".log" ]]
	# nothing written yet: no file; tail answers nothing, rotate and SIGUSR2 make none
	[ -z "$(ls -A "$T/logs")" ]
	run tendc tail quiet
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	run tendc rotate quiet
	[ "$status" -eq 0 ]
	kill -USR2 "$TEND_PID"
	wait_until 5 grep -q 'received SIGUSR2' "$T/tend.log"
	[ -z "$(ls -A "$T/logs")" ]
	# the first output makes the file, 0600, with the bytes in it
	echo go >"$T/go"
	wait_until 5 grep -qx hello "$out"
	wait_until 5 grep -qx oops "$err"
	[ "$(stat -c %a "$out")" = 600 ]
	run tendc tail late
	[ "$output" = hello ]
	[ ! -e "$qout" ]
	[ "$(ls -A "$T/logs" | wc -l)" -eq 2 ]
	stop_tend
	[ -z "$(ls -A "$T/logs")" ]
}

@test "'-' sends output to tend's stdout with a name | prefix, long lines cut, last partial line flushed" {
	python3 -c 'import sys; sys.stdout.write("A" * 20000 + "\n")' >"$T/long"
	conf <<EOF
[program:talker]
command=sh -c 'echo hello; cat $T/long; printf "no newline at the end"; sleep 0.3; exit 3'
stdout_logfile=-
stderr_logfile=-
autorestart=false
startsecs=0
EOF
	start_tend
	wait_until 5 state_is talker EXITED
	grep -qx 'talker | hello' "$T/tend.log"
	# 20000 bytes: a first piece of 16384, then the rest marked as a continuation
	grep -qx "talker | $(printf 'A%.0s' $(seq 1 16384))" "$T/tend.log"
	grep -qx "talker |+ $(printf 'A%.0s' $(seq 1 3616))" "$T/tend.log"
	grep -qx 'talker | no newline at the end' "$T/tend.log"
	run tendc tail -n 1 talker
	[ "$output" = "no newline at the end" ]
}

@test "binary output and lines without newline reach the file unchanged" {
	head -c 300000 /dev/urandom >"$T/blob"
	conf <<EOF
[program:bin]
command=sh -c 'cat $T/blob; exec $TPROC sleep'
stdout_logfile=$T/bin.log
stdout_logfile_maxbytes=0
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "[ \$(stat -c %s $T/bin.log) -eq 300000 ]"
	cmp "$T/blob" "$T/bin.log"
}

@test "tend tail: last lines, stderr, and -f follows new output" {
	conf <<EOF
[program:spew]
command=sh -c 'echo err-line >&2; exec $TPROC spew'
stdout_logfile=$T/out.log
stderr_logfile=$T/err.log
startsecs=0
EOF
	start_tend
	wait_until 5 bash -c "[ \$(wc -l < $T/out.log) -ge 5 ]"
	run tendc tail -n 3 spew
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	[[ "${lines[0]}" == "line "* ]]
	run tendc tail spew stderr
	[ "$output" = "err-line" ]
	# follow for a while: lines keep arriving, numbered consecutively
	timeout 1 "$TEND" -c "$CONF" tail -f -n 1 spew >"$T/followed" || true
	[ "$(wc -l <"$T/followed")" -ge 20 ]
	python3 - "$T/followed" <<'PY'
import sys
n = [int(l.split()[1]) for l in open(sys.argv[1]) if l.startswith("line ")]
assert n == list(range(n[0], n[0] + len(n))), n[:20]
PY
	run tendc tail nosuch
	[ "$status" -eq 2 ]
}

@test "a deleted log directory and a deleted log file are survived and recreated" {
	mkdir "$T/logs"
	conf <<EOF
[program:spew]
command=$TPROC spew
stdout_logfile=$T/logs/spew.log
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/logs/spew.log"
	rm "$T/logs/spew.log"
	wait_until 5 test -s "$T/logs/spew.log"
	rm -rf "$T/logs"
	sleep 1.5
	run tendc --json status spew
	[ "$status" -eq 0 ]
	[[ "$output" == *'"state": "RUNNING"'* ]]
	[[ "$output" == *'"error": "No such file or directory"'* ]]
	mkdir "$T/logs"
	wait_until 5 test -s "$T/logs/spew.log"
	run tendc --json status spew
	[[ "$output" == *'"error": null'* ]]
	dropped=$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stdout_log"]["dropped"])')
	[ "$dropped" -gt 0 ]
	grep -q "spew: log $T/logs/spew.log works again" "$T/tend.log"
}

@test "SIGUSR2 reopens log files (after an external logrotate)" {
	conf <<EOF
[program:spew]
command=$TPROC spew
stdout_logfile=$T/spew.log
startsecs=0
EOF
	start_tend
	wait_until 5 test -s "$T/spew.log"
	mv "$T/spew.log" "$T/spew.log.old"
	kill -USR2 "$TEND_PID"
	wait_until 2 test -s "$T/spew.log"
	size=$(stat -c %s "$T/spew.log.old")
	sleep 0.3
	[ "$(stat -c %s "$T/spew.log.old")" -eq "$size" ]
	grep -q 'received SIGUSR2' "$T/tend.log"
}

@test "a FIFO at a log path is refused; the program runs" {
	mkfifo "$T/fifo.log"
	conf <<EOF
[program:f]
command=$TPROC spew
stdout_logfile=$T/fifo.log
startsecs=0
EOF
	start_tend
	wait_until 5 state_is f RUNNING
	run tendc --json status f
	echo "$output" | python3 -c 'import json,sys; e=json.load(sys.stdin)["programs"][0]["stdout_log"]["error"]; print(e); assert e, e'
}

@test "a program flooding its output for 10 s: tend answers, its memory stays bounded, others keep logging" {
	conf <<EOF
[program:flood]
command=sh -c 'exec yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
stdout_logfile=$T/flood.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=1
startsecs=0
[program:quiet]
command=$TPROC spew
stdout_logfile=$T/quiet.log
startsecs=0
EOF
	start_tend
	wait_until 5 state_is flood RUNNING
	python3 - "$TEND" "$CONF" "$TEND_PID" "$T/quiet.log" <<'PY'
import subprocess, sys, time
tend, conf, pid, quiet = sys.argv[1:]
def rss_kb():
    for l in open(f"/proc/{pid}/status"):
        if l.startswith("VmRSS:"):
            return int(l.split()[1])
def lines():
    return sum(1 for _ in open(quiet))
worst_status, worst_rss = 0.0, 0
end = time.monotonic() + 10
q0 = lines()
while time.monotonic() < end:
    t0 = time.monotonic()
    r = subprocess.run([tend, "-c", conf, "status"], capture_output=True, text=True, timeout=10)
    worst_status = max(worst_status, time.monotonic() - t0)
    assert r.returncode == 0, r
    worst_rss = max(worst_rss, rss_kb())
    time.sleep(0.25)
q1 = lines()
print(f"worst status {worst_status*1000:.0f} ms, worst tend RSS {worst_rss} kB, quiet lines {q1 - q0}")
# a tend starved by the flood would not answer within the 10 s timeout; 3 s
# leaves room for a sanitizer build of the CLI on a loaded machine
assert worst_status < 3.0, worst_status
assert worst_rss < 20 * 1024, worst_rss
# the quiet program writes a line every 10 ms: most of them must have arrived
assert q1 - q0 > 500, q1 - q0
PY
	run tendc --json status flood
	bytes=$(echo "$output" | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stdout_log"]["bytes"])')
	echo "flood relayed $bytes bytes"
	[ "$bytes" -gt 100000000 ]
}

@test "disk full: output is dropped and counted, the program and tend go on, writing resumes" {
	mkdir "$T/small"
	mount -t tmpfs -o size=64k tmpfs "$T/small" || skip "cannot mount a tmpfs here"
	conf <<EOF
[program:spew]
command=sh -c 'while :; do yes aaaaaaaaaaaaaaaaaaaaaaa | head -c 100000; sleep 0.1; done'
stdout_logfile=$T/small/spew.log
stdout_logfile_maxbytes=0
startsecs=0
EOF
	start_tend
	wait_until 10 bash -c "$TEND -c $CONF --json status spew | grep -q '\"error\": \"No space left on device\"'"
	run tendc status spew
	[ "$status" -eq 0 ]
	[[ "$output" == *RUNNING* ]]
	dropped() {
		"$TEND" -c "$CONF" --json status spew | python3 -c 'import json,sys; print(json.load(sys.stdin)["programs"][0]["stdout_log"]["dropped"])'
	}
	d1=$(dropped)
	sleep 0.5
	[ "$(dropped)" -gt "$d1" ]
	# free the space: tend writes again (the file is reopened within a second)
	: >"$T/small/spew.log"
	rm "$T/small/spew.log"
	wait_until 5 test -s "$T/small/spew.log"
	stop_tend
	umount "$T/small"
}

@test "/dev/stdout as a log file: tend's own stdout, unprefixed, as supervisord does" {
	conf <<EOF
[program:direct]
command=sh -c 'echo straight-through; exec $TPROC sleep'
stdout_logfile=/dev/stdout
stdout_logfile_maxbytes=0
startsecs=0
EOF
	start_tend
	wait_until 5 grep -qx straight-through "$T/tend.log"
}

@test "followers that vanish mid-stream (tail -f, events, maintail) never take tend down" {
	conf <<EOF
[supervisord]
logfile=$T/main.log
[program:talk]
command=$TPROC spew
startsecs=0
stdout_logfile=$T/talk.log
[program:flap]
command=$TPROC stamp $T/flap 1 0.05
startsecs=0
startretries=-1
restart_delay=0.05
EOF
	start_tend
	wait_until 5 state_is talk RUNNING
	# many readers, each dropped while output, events and log lines keep coming
	for i in $(seq 25); do
		curl -sN --max-time 0.$((RANDOM % 3 + 1)) --unix-socket "$SOCK" "http://localhost/v1/logs/talk?follow=1" >/dev/null &
		curl -sN --max-time 0.$((RANDOM % 3 + 1)) --unix-socket "$SOCK" "http://localhost/logtail/talk" >/dev/null &
		curl -sN --max-time 0.$((RANDOM % 3 + 1)) --unix-socket "$SOCK" "http://localhost/v1/events" >/dev/null &
		curl -sN --max-time 0.$((RANDOM % 3 + 1)) --unix-socket "$SOCK" "http://localhost/mainlogtail" >/dev/null &
		sleep 0.05
	done
	wait_until 10 bash -c "! pgrep -f '[c]url -sN --max-time 0.*$SOCK'"
	kill -0 "$TEND_PID"
	[ "$(state talk)" = RUNNING ]
	[ "$(curl -s --unix-socket "$SOCK" http://localhost/healthz)" = ok ]
}
