#!/usr/bin/env bash
# No collapse goes unseen: SimSiam without its stop-gradient collapses (Chen & He 2021, figure 2),
# and the monitor must say so — a warning on stderr and a `collapsed` stat in metrics.jsonl.
# The projector's output BatchNorm (no affine) standardises every dimension, which holds off the
# constant solution for a while (the head's rank falls to ~4 in 3 epochs, its std stays up);
# without it the constant is open and the run reaches it within the first epoch.
source "$(dirname "$0")/lib.sh"

"$PRETEXT" pretrain --data fashion-mnist --limit 2000 --batch-size 128 --seed 7 --knn-every 0 \
  --task simsiam --width 16 --epochs 3 --optimizer adamw --base-lr 2e-3 --weight-decay 1e-4 \
  --task-option stop_gradient=false --task-option projector_output_batch_norm=false --out collapsed 2>stderr.txt \
  || fail "pretraining without stop-gradient failed: $(tail -3 stderr.txt)"
grep -q "representation collapse at step" stderr.txt \
  || fail "no collapse warning on stderr: $(tail -5 stderr.txt)"
grep -q '"collapsed":1' collapsed/metrics.jsonl || fail "no step logged \"collapsed\": 1 in metrics.jsonl"
collapsed=$(done_collapsed_steps collapsed)
[ "${collapsed:-0}" -gt 0 ] || fail "the done record counts ${collapsed:-no} collapsed steps"
echo "warning: $(grep -m1 -o 'representation collapse at step [0-9]*' stderr.txt); $collapsed collapsed steps logged"
echo "collapse: ok"
