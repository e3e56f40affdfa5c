#!/usr/bin/env bash
# Runs commands at the same time and shows their output one after the other, whole.
#   tools/run-together.sh NAME=COMMAND [NAME=COMMAND ...]
# Each command's output goes to build/logs/NAME.log; once all have ended, each log is printed
# under a header (so that nothing interleaves), and the exit code is 1 when any command failed.
# make test runs the project's suite and each Home Assistant release's at once: most of their
# time is waiting on sockets and processes, so together they take about as long as the longest.
set -uo pipefail
mkdir -p build/logs
names=() pids=()
for job in "$@"; do
	name=${job%%=*} command=${job#*=}
	bash -c "$command" >"build/logs/$name.log" 2>&1 &
	names+=("$name") pids+=($!)
done
failed=()
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || failed+=("${names[$i]}")
done
for name in "${names[@]}"; do
	echo "== $name"
	cat "build/logs/$name.log"
done
if ((${#failed[@]})); then
	echo "FAILED: ${failed[*]} (logs in build/logs/)" >&2
	exit 1
fi
