#!/usr/bin/env bash
# Data-parallel runs on loopback: two ranks through `pretext launch` end with identical
# parameters and one set of files; --resume continues the run on one rank; a rank killed, or
# frozen, mid-run makes the other exit with a clear error within --dist-timeout.
source "$(dirname "$0")/lib.sh"

base=(pretrain --data fashion-mnist --limit 1024 --width 8 --batch-size 32 --knn-every 0 --seed 3 --log-every 1)
# A port of its own for each pair of ranks (a clash would show as a failed rendezvous).
free_port() { echo $((20000 + (RANDOM * 7 + $$) % 40000)); }

PRETEXT_LOG_LEVEL=info "$PRETEXT" launch -n 2 --master-port 0 -- "$PRETEXT" "${base[@]}" --max-steps 8 --out ddp \
  >ddp.log 2>&1 || fail "two ranks failed: $(tail -n 20 ddp.log)"
crcs=$(grep -Eo 'rank [01] of 2: parameters crc32 [0-9a-f]{8}' ddp.log | sort)
echo "$crcs"
[ "$(echo "$crcs" | wc -l)" -eq 2 ] || fail "expected a parameter CRC from each rank: $(tail -n 20 ddp.log)"
[ "$(echo "$crcs" | awk '{print $NF}' | uniq | wc -l)" -eq 1 ] || fail "the ranks' parameters differ: $crcs"
grep -q "batch 64 (2 ranks × 32)" ddp.log || fail "rank 0 does not report the global batch: $(grep pretraining: ddp.log)"
[ "$(grep -c '^\[rank 1\].*epoch 1 step' ddp.log)" -eq 0 ] || fail "rank 1 printed progress lines"
[ -f ddp/last.pt ] && [ -f ddp/metrics.jsonl ] || fail "rank 0 wrote no checkpoint or metrics"
[ "$(grep -c '"step"' ddp/metrics.jsonl)" -ge 8 ] || fail "metrics.jsonl should have one record per step, written once"
"$PRETEXT" inspect ddp/last.pt | grep '"world_size": *2' >/dev/null || fail "the checkpoint does not record 2 ranks"

# The same run resumed on one rank: its 8 steps of 64 are 16 steps of 32.
PRETEXT_LOG_LEVEL=info "$PRETEXT" "${base[@]}" --max-steps 20 --out ddp --resume >resume.log 2>&1 ||
  fail "resuming on one rank failed: $(tail -n 20 resume.log)"
grep -q "resuming a 2-rank run on 1 rank(s): step 8 → 16" resume.log || fail "no world-size conversion: $(grep -i resum resume.log)"
"$PRETEXT" inspect ddp/last.pt | grep -E '"step": *20' >/dev/null || fail "the resumed run did not reach step 20"
echo "2 ranks, then --resume on 1: ok"

# A rank killed mid-run: the survivor stops with an error naming the failed collective.
# ranks <name> <extra flags…>: starts two ranks by hand (no launcher to stop them), rank 1 in the
# background as $rank1, rank 0 in the background as $rank0.
ranks() {
  local name=$1
  shift
  local port
  port=$(free_port)
  for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$port PRETEXT_LOG_LEVEL=info \
      "$PRETEXT" "${base[@]}" --epochs 100 --out "$name" "$@" >"$name-$rank.log" 2>&1 &
    eval "rank$rank=$!"
  done
  # Wait until both ranks are training.
  for _ in $(seq 600); do
    grep -q "epoch 1 step" "$name-0.log" 2>/dev/null && break
    sleep 0.1
  done
  grep -q "epoch 1 step" "$name-0.log" || fail "$name: the ranks did not start training: $(tail -n 5 "$name-0.log")"
}

# seconds_until_exit <pid> <limit>: waits for the process; prints how long it took, or fails.
seconds_until_exit() {
  local start=$SECONDS
  while kill -0 "$1" 2>/dev/null; do
    [ $((SECONDS - start)) -le "$2" ] || { kill -9 "$1"; fail "rank still running after $2 s"; }
    sleep 0.2
  done
  echo $((SECONDS - start))
}

ranks killed --dist-timeout 20
kill -9 "$rank1"
took=$(seconds_until_exit "$rank0" 40)
status=0
wait "$rank0" || status=$?
[ "$status" -eq 2 ] || fail "the survivor of a killed rank exited with $status, expected 2: $(tail -n 5 killed-0.log)"
grep -Eq "distributed (all-reduce|broadcast|all-gather) failed on rank 0 of 2" killed-0.log ||
  fail "unclear error after a rank was killed: $(tail -n 5 killed-0.log)"
echo "rank 1 killed: rank 0 exited in ${took} s: $(grep -Eo 'distributed .* failed on rank 0 of 2[^:]*' killed-0.log | sed -n 1p)"

ranks frozen --dist-timeout 5
kill -STOP "$rank1"
took=$(seconds_until_exit "$rank0" 40)
kill -9 "$rank1" 2>/dev/null || true
status=0
wait "$rank0" || status=$?
[ "$status" -eq 2 ] || fail "the survivor of a frozen rank exited with $status, expected 2: $(tail -n 5 frozen-0.log)"
grep -q "timeout 5 s" frozen-0.log || fail "the error does not give the timeout: $(tail -n 5 frozen-0.log)"
echo "rank 1 frozen: rank 0 exited in ${took} s (timeout 5 s)"
[ -z "$(ls killed frozen | grep tmp)" ] || fail "a temporary checkpoint was left behind"
echo "distributed: ok"
