#!/usr/bin/env bash
# `pretext launch`: each rank gets its variables and its output comes back behind `[rank r] `; a
# failed rank stops the others (SIGTERM, then SIGKILL after the grace period) and sets the exit
# status; signals reach the ranks; bad usage gets a one-line error. Plain shell commands stand in
# for training runs, so this takes seconds.
source "$(dirname "$0")/lib.sh"

# launch <args…>: runs `pretext launch`, stdout to out.txt, stderr to err.txt; sets $status and
# $seconds (wall-clock).
launch() {
  local start=$SECONDS
  status=0
  "$PRETEXT" launch "$@" >out.txt 2>err.txt || status=$?
  seconds=$((SECONDS - start))
}
expect_line() { grep -Fxq -- "$2" "$1" || fail "$1 lacks the line '$2': $(cat "$1")"; }

# (a) Variables and prefixed output, stdout and stderr kept apart.
launch -n 2 -- sh -c 'echo "hello $RANK of $WORLD_SIZE"; echo "err $RANK" >&2
                      echo "local $LOCAL_RANK/$LOCAL_WORLD_SIZE at $MASTER_ADDR:$MASTER_PORT launched=$PRETEXT_LAUNCHED"
                      printf "no newline $RANK"'
[ "$status" -eq 0 ] || fail "two good ranks: exit status $status: $(cat err.txt)"
for rank in 0 1; do
  expect_line out.txt "[rank $rank] hello $rank of 2"
  expect_line out.txt "[rank $rank] local $rank/2 at 127.0.0.1:29500 launched=1"
  expect_line out.txt "[rank $rank] no newline $rank"
  expect_line err.txt "[rank $rank] err $rank"
done
[ "$(wc -l <out.txt)" -eq 6 ] && [ "$(wc -l <err.txt)" -eq 2 ] || fail "unexpected lines: $(cat out.txt err.txt)"
echo "ok: variables and [rank r] output"

# Many lines from ranks writing at once: every line whole, none lost.
launch -n 4 -- sh -c 'for i in $(seq 2000); do echo "rank $RANK line $i of a longer line to make the pipe fill up"; done'
[ "$status" -eq 0 ] || fail "busy ranks: exit status $status"
[ "$(grep -Ec '^\[rank ([0-3])\] rank \1 line [0-9]+ of a longer line to make the pipe fill up$' out.txt)" -eq 8000 ] ||
  fail "lines were mixed or lost: $(grep -Evc '^\[rank ([0-3])\] rank \1 line' out.txt) malformed of $(wc -l <out.txt)"
echo "ok: 8000 lines from 4 ranks, all whole"

# (b) A failed rank stops the others and gives its exit status.
launch -n 3 --grace-seconds 2 -- sh -c 'if [ "$RANK" = 1 ]; then exit 3; fi; sleep 120'
[ "$status" -eq 3 ] || fail "rank 1 exited 3, the launcher $status: $(cat err.txt)"
[ "$seconds" -lt 30 ] || fail "the other ranks were not stopped: took $seconds s"
grep -q "rank 1 exited with status 3; stopping the other ranks" err.txt || fail "no clear message: $(cat err.txt)"
echo "ok: failed rank -> $(grep 'rank 1' err.txt)"

# (c) A rank that ignores SIGTERM is killed once the grace period is over.
rm -f rank1-ignores-term
launch -n 2 --grace-seconds 1 -- sh -c 'if [ "$RANK" = 1 ]; then trap "" TERM; touch rank1-ignores-term; sleep 120; fi
                                       while [ ! -e rank1-ignores-term ]; do sleep 0.05; done; exit 5'
[ "$status" -eq 5 ] || fail "rank 0 exited 5, the launcher $status: $(cat err.txt)"
[ "$seconds" -lt 30 ] || fail "the rank ignoring SIGTERM was not killed: took $seconds s"
grep -q "rank 1 still running 1 s after being asked to stop; killing it" err.txt || fail "no kill message: $(cat err.txt)"
echo "ok: SIGTERM ignored -> SIGKILL after the grace period"

# A rank killed by a signal: 128 + signal, and the signal's name.
launch -n 2 --grace-seconds 1 -- sh -c 'if [ "$RANK" = 1 ]; then kill -9 $$; fi; sleep 120'
[ "$status" -eq 137 ] || fail "rank 1 was killed by SIGKILL, the launcher exited $status: $(cat err.txt)"
grep -q "rank 1 was killed by signal 9 (Killed)" err.txt || fail "no clear message: $(cat err.txt)"
echo "ok: killed rank -> $(grep 'rank 1' err.txt)"

# (d) Bad usage: one line, exit status 1.
expect_error "-n must be at least 1, got 0" "$PRETEXT" launch -n 0 -- true
expect_error "no command to run.*--" "$PRETEXT" launch -n 2
expect_error "--master-port must be in \[0, 65535\]" "$PRETEXT" launch -n 1 --master-port 70000 -- true
expect_error "--grace-seconds must be >= 0" "$PRETEXT" launch -n 1 --grace-seconds -1 -- true

# (e) A program that does not exist: 127, and its name.
launch -n 2 -- /nonexistent/prog --flag
[ "$status" -eq 127 ] || fail "expected exit status 127 for a missing program, got $status: $(cat err.txt)"
grep -q "cannot run '/nonexistent/prog': No such file or directory" err.txt || fail "unclear message: $(cat err.txt)"
grep -q "exited with status 127" err.txt || fail "no failure line: $(cat err.txt)"
echo "ok: missing program -> $(head -1 err.txt)"

# (f) --master-port 0: a free port, the same for every rank.
launch -n 2 --master-port 0 -- sh -c 'echo "port $MASTER_PORT"'
[ "$status" -eq 0 ] || fail "--master-port 0: exit status $status: $(cat err.txt)"
ports=$(sed -E 's/^\[rank [01]\] port //' out.txt | sort -u)
[ "$(echo "$ports" | wc -l)" -eq 1 ] && [ "$ports" -gt 0 ] 2>/dev/null ||
  fail "--master-port 0 gave the ranks: $(cat out.txt)"
echo "ok: --master-port 0 -> $ports on both ranks"

# `-- pretext …` runs this very program when none is on PATH (as from a build folder).
PATH=/usr/bin:/bin launch -n 2 -- pretext --version
[ "$status" -eq 0 ] || fail "launch -- pretext --version: exit status $status: $(cat err.txt)"
grep -Eq '^\[rank 1\] pretext [0-9]' out.txt || fail "pretext was not found: $(cat out.txt err.txt)"
echo "ok: -- pretext runs $(readlink -f "$PRETEXT")"

# SIGTERM to the launcher reaches every rank once; the launcher then exits 128 + 15.
"$PRETEXT" launch -n 2 -- sh -c 'trap "echo stopping $RANK; exit 0" TERM; echo ready; sleep 120 & wait' \
  >out.txt 2>err.txt &
pid=$!
for _ in $(seq 100); do [ "$(grep -c ready out.txt)" -eq 2 ] && break; sleep 0.1; done
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 143 ] || fail "launcher stopped by SIGTERM exited $status: $(cat err.txt)"
expect_line out.txt "[rank 0] stopping 0"
expect_line out.txt "[rank 1] stopping 1"
echo "ok: SIGTERM passed on -> $(head -1 err.txt)"

# A second SIGINT kills ranks that did not stop on the first.
"$PRETEXT" launch -n 2 --grace-seconds 100 -- sh -c 'trap "" INT; echo ready; sleep 120' >out.txt 2>err.txt &
pid=$!
for _ in $(seq 100); do [ "$(grep -c ready out.txt)" -eq 2 ] && break; sleep 0.1; done
start=$SECONDS
kill -INT "$pid"
sleep 0.5
kill -INT "$pid"
status=0
wait "$pid" || status=$?
[ "$status" -eq 137 ] || fail "after a second SIGINT the launcher exited $status: $(cat err.txt)"
[ $((SECONDS - start)) -lt 30 ] || fail "a second SIGINT did not kill the ranks"
grep -q "SIGINT again: killing the ranks" err.txt || fail "no message for the second SIGINT: $(cat err.txt)"
echo "ok: second SIGINT -> SIGKILL"

"$PRETEXT" launch --help | grep "^Example" >/dev/null || fail "pretext launch --help has no examples"
echo "launch: ok"
