#!/bin/sh
# Last line of defence for spec/helper.lua: waits for the test process to
# go away and then runs stop.sh on its state dir (kills what supervise.sh
# left and deletes the dir).  Started through setsid; helper.stop() kills it
# (via stop.sh) before stopping the servers itself.
#
#   janitor.sh PARENT_PID STATE_DIR
parent=$1 dir=$2
here=$(dirname "$0")

alive() {
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	st=${st%% *}
	[ "$st" != Z ] && [ "$st" != X ]
}

echo $$ > "$dir/janitor.pid"
trap 'exit 0' TERM HUP
while alive "$parent"; do
	sleep 0.5
done
exec /bin/sh "$here/stop.sh" "$dir"
