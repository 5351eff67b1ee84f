#!/usr/bin/env bash
# The method zoo at one fixed budget of pretraining time on Fashion-MNIST (this machine, its
# cores): for each method, pretrain for BUDGET minutes with its recipe (configs/<task>.toml),
# then k-NN and linear probe with every label, and a linear probe with 10 labels per class.
# Prints an aligned table (Markdown) and writes it with the raw numbers under OUT.
#
#   bench/methods.sh [BUDGET_MINUTES] [RUN…]     RUN = task[:encoder], default: every method
#   e.g. bench/methods.sh 3 random simclr byol mocov3:vit-tiny
# RUN `random` is the baseline: the encoder at its initialisation (one step at lr 1e-12), the
# yardstick every method must beat — a random ConvNet already separates Fashion-MNIST well.
#
# RECIPES=configs/short takes each method's short-run recipe (configs/short/<task>.toml) where
# there is one, the paper's (configs/<task>.toml) otherwise.
# Never part of CI: it takes (BUDGET + about 1.5) minutes per run.
set -euo pipefail
cd "$(dirname "$0")/.."
budget=${1:-3}
shift || true
runs=("$@")
if [ ${#runs[@]} -eq 0 ]; then
  runs=(random random:vit-tiny simclr moco mocov3 byol simsiam barlow-twins vicreg dino rotation
        simclr:vit-tiny mocov3:vit-tiny dino:vit-tiny mae:vit-tiny)
fi
PRETEXT=${PRETEXT:-build/pretext}
OUT=${OUT:-runs/bench-methods}
RECIPES=${RECIPES:-configs}
mkdir -p "$OUT"
[ -x "$PRETEXT" ] || { echo "build first: scripts/build (or set PRETEXT)" >&2; exit 1; }

table="$OUT/table.md"
{
  echo "| method | encoder | recipe | steps | images/s | peak MiB | k-NN (all) | linear (all) | linear (10/class) | collapsed steps |"
  echo "|:--|:--|:--|--:|--:|--:|--:|--:|--:|--:|"
} >"$table"

for run in "${runs[@]}"; do
  task=${run%%:*}
  encoder=convnet
  [[ $run == *:* ]] && encoder=${run#*:}
  name="$task-$encoder"
  dir="$OUT/$name"
  rm -rf "$dir"
  config=()
  recipe=–
  for file in "$RECIPES/$task.toml" "configs/$task.toml"; do
    if [ -f "$file" ]; then config=(--config "$file"); recipe=$file; break; fi
  done
  training=(--epochs 0 --budget-minutes "$budget")
  [ "$task" = random ] && training=(--task simclr --max-steps 1 --lr 1e-12)
  # ViTs in these runs: 6 blocks (a tiny ViT's 12 take twice the time per step on 2 cores), and
  # one AdamW setting for every method: the configs' optimizers are the papers' ConvNet ones, and
  # the papers' ViT learning rates (1.5e-4–5e-4 per 256) are set for 300–1600 epochs.
  model=(--encoder "$encoder")
  [[ $encoder == vit-* ]] && model+=(--depth 6 --optimizer adamw --base-lr 2e-3 --weight-decay 0.05)
  echo "== $name: pretraining for $budget min" >&2
  "$PRETEXT" "${config[@]}" pretrain "${model[@]}" "${training[@]}" --knn-every 0 \
    --out "$dir" 2>&1 | tee "$dir.log" | grep -E "budget|pretraining done|collapse|error" >&2 || true
  [ -f "$dir/last.pt" ] || { echo "| $task | $encoder | $recipe | failed, see $dir.log |" >>"$table"; continue; }
  "$PRETEXT" evaluate --checkpoint "$dir/last.pt" --protocol knn --protocol linear --all-labels \
    --labels-per-class 10 --linear-epochs 30 --out "$dir/eval" >"$dir/eval.log" 2>&1 || true
  python3 - "$dir" "$task" "$encoder" "$recipe" >>"$table" <<'PY'
import json, sys
run, task, encoder, recipe = sys.argv[1:]
done = {}
for line in open(f"{run}/metrics.jsonl"):
    record = json.loads(line)
    if record.get("event") == "done":
        done = record
top1 = {}
try:
    for r in json.load(open(f"{run}/eval/results.json"))["results"]:
        top1[(r["protocol"], r["labels"])] = 100 * r["top1"]
except OSError:
    pass
cell = lambda key: f"{top1[key]:.1f}" if key in top1 else "–"
# The random baseline's one step says nothing about speed.
speed = "–" if task == "random" else f"{done.get('images_per_second', 0):.0f}"
print(f"| {task} | {encoder} | {recipe} | {done.get('step', 0)} | {speed} | "
      f"{done.get('peak_memory_mib', 0):.0f} | {cell(('knn', 'all labels'))} | {cell(('linear', 'all labels'))} | "
      f"{cell(('linear', '10 per class'))} | {done.get('collapsed_steps', 0)} |")
PY
  tail -1 "$table" >&2
done
echo
echo "command: RECIPES=$RECIPES bench/methods.sh $budget ${runs[*]}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo
cat "$table"
