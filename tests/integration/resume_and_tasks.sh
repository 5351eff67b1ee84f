#!/usr/bin/env bash
# Rotation prediction end to end, resume across runs, and a user-defined task registered by name.
source "$(dirname "$0")/lib.sh"

PRETEXT_LOG_LEVEL=info "$PRETEXT" pretrain --data fashion-mnist --limit 512 --task rotation --encoder convnet --width 8 \
  --batch-size 64 --epochs 1 --out rot --seed 1
grep -q '"rotation_acc"' rot/metrics.jsonl || fail "rotation statistics missing"
[ -f rot/best.pt ] || fail "no best.pt after an epoch with k-NN"
# The resumed epoch also checkpoints within the epoch (every step here: 0.0001 minutes) and keeps
# the last 2 as checkpoints/step-N.pt.
PRETEXT_LOG_LEVEL=info "$PRETEXT" pretrain --data fashion-mnist --limit 512 --task rotation --encoder convnet --width 8 \
  --batch-size 64 --epochs 2 --out rot --seed 1 --resume --checkpoint-minutes 0.0001 --keep-checkpoints 2 2>&1 |
  tee resume.log
grep -q "resuming from rot/last.pt at step 8" resume.log || fail "did not resume at step 8"
last_step=$(grep -Eo '"step": *[0-9]+' rot/metrics.jsonl | tail -1 | sed -E 's/.*: *//')
[ "$last_step" -eq 16 ] || fail "expected to end at step 16 after resuming, got $last_step"
kept=$(ls rot/checkpoints | xargs)
[ "$kept" = "step-15.pt step-16.pt" ] || fail "expected checkpoints/step-15.pt and step-16.pt, got: $kept"
"$PRETEXT" evaluate --checkpoint rot/checkpoints/step-15.pt --limit 512 --labels-per-class 5 --protocol knn \
  --out rot-eval15 >/dev/null || fail "the kept step-15 checkpoint does not load"
"$PRETEXT" evaluate --checkpoint rot/best.pt --limit 512 --labels-per-class 5 --protocol knn --out rot-best \
  >/dev/null || fail "best.pt does not load"

"$PRETEXT" evaluate --checkpoint rot/last.pt --limit 512 --labels-per-class 5 --protocol knn --out rot-eval >/dev/null
[ -f rot-eval/results.json ] || fail "no results for the rotation checkpoint"

# The example program registers `jigsaw` and reuses pretext's command line.
"$PRETEXT_EXAMPLE" list | grep '^  jigsaw' >/dev/null || fail "jigsaw is not listed"
"$PRETEXT_EXAMPLE" pretrain --task jigsaw --data fashion-mnist --limit 256 --width 8 --batch-size 32 \
  --max-steps 4 --out jig
[ -f jig/last.pt ] || fail "jigsaw wrote no checkpoint"
grep -q '"jigsaw_acc"' jig/metrics.jsonl || fail "jigsaw statistics missing"
echo "resume_and_tasks: ok"
