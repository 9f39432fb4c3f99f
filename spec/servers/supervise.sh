#!/bin/sh
# Runs one test server for spec/helper.lua and makes sure it dies with the
# test process.
#
#   supervise.sh PARENT_PID NAME RUN_DIR LOG_FILE STOP_SIGNAL -- COMMAND [ARGS...]
#
# Start it through setsid(1): this script then leads its own process group,
# which holds the server and everything the server forks (gunicorn and nginx
# workers), so `kill -TERM -<pid of this script>` reaches all of them.
# RUN_DIR/NAME.sup.pid gets this script's pid (= the group id),
# RUN_DIR/NAME.pid the server's pid and RUN_DIR/NAME.sig STOP_SIGNAL, the
# signal that makes the server exit quickly (TERM; QUIT for gunicorn).
# The server's stdout and stderr go to LOG_FILE.  Every 0.25 s the script checks that PARENT_PID (the busted/lua
# process) is still alive; when it is gone (normal exit, crash, SIGKILL) or
# when this script gets SIGTERM/SIGHUP, the server gets STOP_SIGNAL, the rest
# of the group SIGTERM, and after 3 s the whole group SIGKILL.
parent=$1 name=$2 run=$3 log=$4 sig=$5
shift 5
[ "$1" = "--" ] && shift

alive() {   # process exists and is not a zombie
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	st=${st%% *}
	[ "$st" != Z ] && [ "$st" != X ]
}

echo $$ > "$run/$name.sup.pid"
echo "$sig" > "$run/$name.sig"
"$@" < /dev/null >> "$log" 2>&1 &
child=$!
echo $child > "$run/$name.pid.tmp" && mv "$run/$name.pid.tmp" "$run/$name.pid"

finish() {
	trap '' TERM HUP INT
	kill -"$sig" $child 2>/dev/null
	i=0
	while [ $i -lt 30 ] && alive $child; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -TERM -$$ 2>/dev/null       # rest of the group (workers)
	sleep 0.1
	kill -KILL -$$ 2>/dev/null       # whatever is left, this script included
	exit 0
}
trap finish TERM HUP

while alive "$parent" && alive $child; do
	sleep 0.25
done
if ! alive $child; then
	wait $child
	echo "[supervise.sh] $name exited with status $?" >> "$log"
fi
finish
