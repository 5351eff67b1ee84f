#!/usr/bin/env bash
# A method is done when it learns: a short run of TASK must beat the same encoder at its random
# initialisation under k-NN, with the same labels and test images.
#   learns.sh [TASK [MODEL_FLAGS [TRAINING_FLAGS…]]]
#   learns.sh --baseline TASK MODEL_FLAGS   only the random encoder's top-1, into $WORK/top1.txt
# MODEL_FLAGS (one string, split on spaces) go to both runs; TRAINING_FLAGS to the trained one.
# With $PRETEXT_BASELINE (a top1.txt that a --baseline run wrote for the same MODEL_FLAGS), the
# random encoder is not measured again: tests.cmake shares one per encoder through a fixture.
source "$(dirname "$0")/lib.sh"

baseline_only=0
if [ "${1:-}" = --baseline ]; then
  baseline_only=1
  shift
fi
task=${1:-simclr}
read -r -a model <<<"${2:---width 16}"
shift 2 || shift $#
training=("$@")
if [ ${#training[@]} -eq 0 ]; then
  training=(--epochs 5 --base-lr 0.6 --task-option 'augment={"size":20,"crop_scale":[0.35,1.0],"blur_probability":0.0}')
fi
# No k-NN monitor: the test measures k-NN itself, once, after training.
common=(--data fashion-mnist --limit 4000 --batch-size 128 --seed 7 --knn-every 0 --task "$task" "${model[@]}")
evaluate() {
  "$PRETEXT" evaluate --checkpoint "$1/last.pt" --limit 4000 --labels-per-class 100 --protocol knn \
    --out "$1/eval" --seed 7 >/dev/null
  grep -Eo '"top1": *[0-9.e-]+' "$1/eval/results.json" | sed -n 1p | sed -E 's/.*: *//'
}
if [ -n "${PRETEXT_BASELINE:-}" ] && [ "$baseline_only" = 0 ]; then
  [ -s "$PRETEXT_BASELINE" ] || fail "no random-encoder baseline in $PRETEXT_BASELINE (did its fixture test fail?)"
  random_top1=$(cat "$PRETEXT_BASELINE")
else
  # The baseline: one step at a negligible learning rate leaves the initial weights.
  "$PRETEXT" pretrain "${common[@]}" --max-steps 1 --lr 1e-12 --out random
  random_top1=$(evaluate random)
fi
if [ "$baseline_only" = 1 ]; then
  [ -n "$random_top1" ] || fail "the random encoder's evaluation gave no top-1"
  echo "$random_top1" >top1.txt
  echo "k-NN top-1 with 100 labels per class: random encoder $random_top1 (${model[*]})"
  exit 0
fi
"$PRETEXT" pretrain "${common[@]}" "${training[@]}" --out trained
trained_top1=$(evaluate trained)
echo "k-NN top-1 with 100 labels per class: random encoder $random_top1, after $task $trained_top1"
awk -v r="$random_top1" -v t="$trained_top1" 'BEGIN { exit !(t >= r + 0.03) }' \
  || fail "$task did not beat the random encoder by 3 points ($trained_top1 vs $random_top1)"
# A healthy run: the monitor never saw a collapsed batch (collapse.sh shows that it would).
collapsed=$(done_collapsed_steps trained)
[ "${collapsed:-missing}" = 0 ] || fail "$task: the monitor counted ${collapsed:-no} collapsed steps (see trained/metrics.jsonl)"
echo "learns: ok"
