#!/usr/bin/env bash
# Rotation prediction end to end, resume across runs, and a user-defined task registered by name.
source "$(dirname "$0")/lib.sh"

PRETEXT_LOG_LEVEL=info "$PRETEXT" pretrain --data fashion-mnist --limit 512 --task rotation --encoder convnet --width 8 \
  --batch-size 64 --epochs 1 --out rot --seed 1
grep -q '"rotation_acc"' rot/metrics.jsonl || fail "rotation statistics missing"
PRETEXT_LOG_LEVEL=info "$PRETEXT" pretrain --data fashion-mnist --limit 512 --task rotation --encoder convnet --width 8 \
  --batch-size 64 --epochs 2 --out rot --seed 1 --resume 2>&1 | tee resume.log
grep -q "resuming from rot/last.pt at step 8" resume.log || fail "did not resume at step 8"
last_step=$(grep -Eo '"step": *[0-9]+' rot/metrics.jsonl | tail -1 | sed -E 's/.*: *//')
[ "$last_step" -eq 16 ] || fail "expected to end at step 16 after resuming, got $last_step"

"$PRETEXT" evaluate --checkpoint rot/last.pt --limit 512 --labels-per-class 5 --protocol knn --out rot-eval >/dev/null
[ -f rot-eval/results.json ] || fail "no results for the rotation checkpoint"

# The example program registers `jigsaw` and reuses pretext's command line.
"$PRETEXT_EXAMPLE" list | grep -q '^  jigsaw' || fail "jigsaw is not listed"
"$PRETEXT_EXAMPLE" pretrain --task jigsaw --data fashion-mnist --limit 256 --width 8 --batch-size 32 \
  --max-steps 4 --out jig
[ -f jig/last.pt ] || fail "jigsaw wrote no checkpoint"
grep -q '"jigsaw_acc"' jig/metrics.jsonl || fail "jigsaw statistics missing"
echo "resume_and_tasks: ok"
