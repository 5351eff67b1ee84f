#!/usr/bin/env bash
# Kill-safe resume: a run killed with SIGKILL at a random moment and resumed with --resume ends
# with bit-identical encoder weights to the same run left alone (same seed and threads), and
# SIGTERM stops a run cleanly with a checkpoint that resumes too.
source "$(dirname "$0")/lib.sh"

base=(pretrain --data fashion-mnist --limit 1024 --width 8 --batch-size 64 --knn-every 0 --seed 3 --threads 2
      --log-every 1)
args=("${base[@]}" --epochs 4)
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
crc() { "$PRETEXT" inspect "$1" | grep -Eo '"encoder_weights_crc32": *"[0-9a-f]+"' | grep -Eo '[0-9a-f]{8}'; }

"$PRETEXT" "${args[@]}" --out alone >/dev/null
expected=$(crc alone/last.pt)

# Checkpoints every step (0.00001 minutes), so that a kill lands between two of them.
kills=0
for round in 1 2; do
  "$PRETEXT" "${args[@]}" --out killed --checkpoint-minutes 0.00001 $([ $round -gt 1 ] && echo --resume) \
    >/dev/null 2>&1 &
  pid=$!
  # Kill only once this run has taken a step of its own (a new metrics record).
  records=$(lines killed/metrics.jsonl)
  for _ in $(seq 400); do [ "$(lines killed/metrics.jsonl)" -gt "$records" ] && break; sleep 0.05; done
  sleep "0.$((RANDOM % 10))"
  if kill -9 "$pid" 2>/dev/null; then kills=$((kills + 1)); fi
  wait "$pid" 2>/dev/null || true
  [ -f killed/last.pt ] || fail "no checkpoint before the kill in round $round"
  echo "round $round: killed at step $("$PRETEXT" inspect killed/last.pt | json_number /dev/stdin step)"
done
"$PRETEXT" "${args[@]}" --out killed --checkpoint-minutes 0.00001 --resume >/dev/null
[ "$kills" -gt 0 ] || fail "every run finished before its kill; nothing was tested"
actual=$(crc killed/last.pt)
[ "$actual" = "$expected" ] || fail "resumed after $kills kill(s): encoder weights CRC $actual, uninterrupted $expected"
echo "kill -9 ×$kills then --resume: weights identical ($actual)"

# SIGTERM after the first epoch's checkpoint: a checkpoint at the next step boundary, then
# --resume finishes the run.
"$PRETEXT" "${args[@]}" --out termed >/dev/null 2>term.log &
pid=$!
for _ in $(seq 400); do [ -f termed/last.pt ] && break; sleep 0.05; done
kill -TERM "$pid"
wait "$pid" || true
grep -q "stop requested" term.log || fail "SIGTERM did not stop the run at a step boundary: $(cat term.log)"
"$PRETEXT" "${args[@]}" --out termed --resume >/dev/null
[ "$(crc termed/last.pt)" = "$expected" ] || fail "resumed after SIGTERM: weights differ from the uninterrupted run"
# A checkpoint that cannot be written (a file-size limit here, a full disk alike): a clear error
# naming it, exit status 2, and the previous checkpoint unchanged.
cp -r alone full
status=0
(ulimit -f 300 && "$PRETEXT" "${base[@]}" --epochs 5 --out full --resume >/dev/null 2>full.log) || status=$?
[ "$status" -eq 2 ] || fail "expected exit status 2 when the checkpoint cannot be written, got $status: $(cat full.log)"
grep -Eq "cannot write full/last.pt: File too large \(at step 80\); the last good checkpoint, full/last.pt, is unchanged" \
  full.log || fail "unclear message when the checkpoint cannot be written: $(cat full.log)"
[ "$(crc full/last.pt)" = "$expected" ] || fail "the previous checkpoint changed"
[ -z "$(ls full | grep tmp)" ] || fail "a temporary file was left behind: $(ls full)"
echo "kill_resume: ok"
