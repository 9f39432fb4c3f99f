#!/bin/sh
# Stops every server of one spec/helper.lua run and removes its state dir.
#
#   stop.sh STATE_DIR
#
# Sends each server its stop signal (STATE_DIR/run/NAME.pid, NAME.sig),
# waits up to 3 s for them to exit, sends SIGTERM to each supervise.sh
# process group (NAME.sup.pid: wrapper, leftover workers), waits up to 1 s
# more, sends SIGKILL to what is left, then removes STATE_DIR unless
# LURL_SPEC_KEEP_TMP is set in the environment.  Also used by janitor.sh.
dir=$1
run=$dir/run
[ -n "$dir" ] && [ -d "$dir" ] || exit 0

alive() {
	read -r st 2>/dev/null < "/proc/$1/stat" || return 1
	st=${st##*) }
	st=${st%% *}
	[ "$st" != Z ] && [ "$st" != X ]
}

if [ -r "$dir/janitor.pid" ]; then
	read -r j < "$dir/janitor.pid"
	[ "$j" != $$ ] && kill -TERM "$j" 2>/dev/null
fi

pids= groups=
for f in "$run"/*.pid; do
	[ -r "$f" ] || continue
	read -r p < "$f" || continue
	case $f in
	*.sup.pid) groups="$groups $p" ;;
	*) pids="$pids $p" ;;
	esac
done

wait_gone() {   # wait_gone STEPS PID...: up to STEPS x 0.05 s until none is alive
	n=$1
	shift
	i=0
	while [ $i -lt "$n" ]; do
		left=
		for p in "$@"; do alive "$p" && left=1 && break; done
		[ -z "$left" ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

for f in "$run"/*.pid; do
	case $f in *.sup.pid) continue ;; esac
	[ -r "$f" ] && read -r p < "$f" || continue
	sig=TERM
	[ -r "${f%.pid}.sig" ] && read -r sig < "${f%.pid}.sig"
	kill -"$sig" "$p" 2>/dev/null
done
wait_gone 60 $pids
for g in $groups; do kill -TERM -"$g" 2>/dev/null; done
wait_gone 20 $pids $groups
for g in $groups; do kill -KILL -"$g" 2>/dev/null; done
for p in $pids; do kill -KILL "$p" 2>/dev/null; done

[ -n "$LURL_SPEC_KEEP_TMP" ] || rm -rf "$dir"
exit 0
