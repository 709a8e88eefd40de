#!/usr/bin/env bats
# Ordered start (priority, depends_on) and ordered stop (reverse; group batches).

load helpers

# starts FILE: the start time of the first line in a stamp file (ns)
first_stamp() {
	head -n 1 "$1" | cut -d' ' -f1
}

@test "depends_on waits for RUNNING on start and stops in reverse" {
	conf <<EOF
[program:web]
command=$TPROC stamp $T/web 0 1000
depends_on=app
startsecs=0
priority=1
[program:app]
command=$TPROC stamp $T/app 0 1000
depends_on=db
startsecs=1
priority=2
[program:db]
command=$TPROC stamp $T/db 0 1000
startsecs=1
priority=3
EOF
	start_tend
	wait_until 10 state_is web RUNNING
	db=$(first_stamp "$T/db")
	app=$(first_stamp "$T/app")
	web=$(first_stamp "$T/web")
	# each waits for its dependency's startsecs (1 s) to pass (the stamps are
	# taken after exec, so allow for a slower exec of the dependency)
	[ $((app - db)) -ge 900000000 ]
	[ $((web - app)) -ge 900000000 ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
	order=$(grep -o 'stopped: [a-z]*' "$T/tend.log" | cut -d' ' -f2 | tr '\n' ' ')
	[ "$order" = "web app db " ]
}

@test "starting a program starts what it depends on" {
	conf <<EOF
[program:db]
command=$TPROC sleep
autostart=false
startsecs=0
[program:app]
command=$TPROC sleep
autostart=false
depends_on=db
startsecs=0
EOF
	start_tend
	[ "$(state db)" = STOPPED ]
	run tendc start app
	[ "$status" -eq 0 ]
	[ "$(state db)" = RUNNING ]
	[ "$(state app)" = RUNNING ]
}

@test "priority orders start; groups stop one batch after another, highest priority first" {
	conf <<EOF
[group:front]
programs=a,b
priority=900
[group:back]
programs=c
priority=100
[program:a]
command=$TPROC ignore-term $T/a
stopwaitsecs=1
startsecs=0
priority=30
[program:b]
command=$TPROC sleep
startsecs=0
priority=20
[program:c]
command=$TPROC sleep
startsecs=0
priority=10
EOF
	start_tend
	wait_until 5 state_is front:a RUNNING
	wait_until 5 state_is back:c RUNNING
	# start order: priority ascending (c, b, a)
	order=$(grep -o 'spawned: [a-z:]*' "$T/tend.log" | cut -d' ' -f2 | tr '\n' ' ')
	[ "$order" = "back:c front:b front:a " ]
	stop_tend
	[ "$TEND_STATUS" -eq 0 ]
	# front (900) stops first and waits for a, which needs SIGKILL after 1 s; then back
	lines=$(grep -n 'stopped: ' "$T/tend.log")
	a_line=$(echo "$lines" | grep 'front:a' | cut -d: -f1)
	c_line=$(echo "$lines" | grep 'back:c' | cut -d: -f1)
	[ "$a_line" -lt "$c_line" ]
	grep -q 'stopped: front:a (terminated by SIGKILL after stopwaitsecs)' "$T/tend.log"
}

@test "a depends_on cycle is a config error" {
	conf <<EOF
[program:a]
command=/bin/true
depends_on=b
[program:b]
command=/bin/true
depends_on=a
EOF
	run "$TEND" -c "$CONF" up
	[ "$status" -eq 5 ]
	[[ "$output" == *"tend.conf:5: depends_on cycle"* || "$output" == *"depends_on cycle: a -> b -> a"* ]]
	[ ! -e "$SOCK" ]
}

@test "priority_waits: redis (priority 0) is RUNNING before the app (priority 15) starts, without depends_on" {
	port=$(free_port)
	conf <<EOF
[supervisord]
priority_waits=true
[program:app]
command=/usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port)); open('$T/app', 'w').write('redis was up')"
priority=15
startsecs=0
autorestart=false
[program:redis]
command=/usr/bin/python3 -c "import socket, time; time.sleep(0.5); s = socket.socket(); s.bind(('127.0.0.1', $port)); s.listen(); time.sleep(60)"
priority=0
startsecs=1
EOF
	start_tend
	wait_until 10 test -s "$T/app"
	[ "$(cat "$T/app")" = "redis was up" ]
	run tendc status app
	[[ "$output" == *"EXITED"* ]]
	[[ "$output" == *"exit status 0"* ]]
}
