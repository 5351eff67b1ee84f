#!/usr/bin/env bash
# SimCLR on Fashion-MNIST, pretext against PyTorch on the same machine in the same run (issue 7's
# suite). pretext runs as users run it (`pretext pretrain --task simclr` with its defaults); the
# reference is bench/simclr_reference.py on Debian's python3-torch and python3-torchvision, in two
# settings: "default" (as most users run it: float32, default memory format, torchvision
# transforms in 2 DataLoader workers) and "tuned" (bf16 autocast, channels-last). Runs alternate,
# ROUNDS times each; tables show medians and ratios pretext / reference.
#
#   bench/simclr.sh [ENCODERS [WARMUP [STEPS [ROUNDS]]]]   default: "convnet resnet18" 4 8 2
# WARMUP and STEPS are the ConvNet's; ResNets, 14× its FLOPs per image, time 3 steps after 2.
#
# Tables: (1) training step, batch 256, images/s and peak memory; (2) achieved FLOP/s of that step
# against the matrix-product ceiling measured here; (3) augmentation alone on one core;
# (4) frozen-encoder features and k-NN (10,000 queries against 60,000); (5) features of all
# 70,000 images plus k-NN as a share of one pretraining epoch. Writes the tables with their command
# to $OUT/simclr.md and the raw JSON lines to $OUT/simclr.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
encoders=${1:-convnet resnet18} warmup=${2:-4} steps=${3:-8} rounds=${4:-2}
batch=256
python=/usr/bin/python3  # Debian's, where python3-torch and python3-torchvision live
export PRETEXT_LOG_LEVEL=${PRETEXT_LOG_LEVEL:-warn}  # tables only: no progress lines between them
OUT=${OUT:-runs/bench}
PRETEXT=${PRETEXT:-build/pretext}
$python -c 'import torch, torchvision' 2>/dev/null || {
  echo "bench/simclr.sh: the reference needs Debian's python3-torch and python3-torchvision" >&2
  exit 1
}
for tool in "$PRETEXT" build/bench/bench_eval; do
  [ -x "$tool" ] || { echo "bench/simclr.sh: build first (scripts/bench builds $tool)" >&2; exit 1; }
done
mkdir -p "$OUT"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
raw="$OUT/simclr.jsonl"
: >"$raw"

median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { grep -Eo "\"$1\": *[0-9.e+-]+" | sed -E 's/.*: *//'; }
record() { echo "{\"bench\": \"$1\", \"who\": \"$2\", \"result\": $3}" >>"$raw"; echo "$3"; }

# pretext's training throughput between the metrics records at step WARMUP and WARMUP + STEPS.
pretext_train() {
  local encoder=$1 warmup=$2 steps=$3 run="$work/run"
  rm -rf "$run"
  PRETEXT_LOG_LEVEL=warn "$PRETEXT" pretrain --task simclr --encoder "$encoder" --batch-size $batch \
    --max-steps $((warmup + steps)) --log-every "$warmup" --knn-every 0 --out "$run" >/dev/null
  $python - "$run/metrics.jsonl" "$warmup" $batch <<'EOF'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1])]
steps = [r for r in records if "loss" in r]
done = [r for r in records if r.get("event") == "done"][0]
first = [r for r in steps if r["step"] == int(sys.argv[2])][0]
last = steps[-1]
rate = (last["step"] - first["step"]) * int(sys.argv[3]) / (last["elapsed_s"] - first["elapsed_s"])
print(json.dumps({"images_per_second": rate, "peak_rss_mib": done["peak_memory_mib"]}))
EOF
}

{
echo "Command: \`bench/simclr.sh \"$encoders\" $warmup $steps $rounds\` — $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $($python -c 'import torch; print("PyTorch", torch.__version__)')"
echo
echo "### SimCLR training step, batch $batch (ConvNet: $steps timed steps after $warmup; ResNet: 3 after 2; median of $rounds runs)"
echo
echo "| encoder | pretext img/s | PyTorch default img/s | ratio | PyTorch tuned img/s | ratio | peak MiB pretext / default / tuned |"
echo "|---|--:|--:|--:|--:|--:|--:|"
declare -A train_rate
for encoder in $encoders; do
  for who in pretext default tuned; do : >"$work/$who"; done
  w=$warmup s=$steps
  [ "$encoder" = convnet ] || { w=2 s=3; }
  for _ in $(seq "$rounds"); do
    record train-$encoder pretext "$(pretext_train "$encoder" $w $s)" >>"$work/pretext"
    for setting in default tuned; do
      record train-$encoder $setting \
        "$($python bench/simclr_reference.py "$encoder" $batch $w $s $setting 2 2>/dev/null)" >>"$work/$setting"
    done
  done
  ours=$(field images_per_second <"$work/pretext" | median)
  train_rate[$encoder]=$ours
  plain=$(field images_per_second <"$work/default" | median)
  tuned=$(field images_per_second <"$work/tuned" | median)
  mib=$(for who in pretext default tuned; do field peak_rss_mib <"$work/$who" | median; done | xargs)
  awk -v e="$encoder" -v a="$ours" -v b="$plain" -v c="$tuned" -v m="$mib" 'BEGIN {
    split(m, p, " ");
    printf "| %s | %.0f | %.0f | %.2f× | %.0f | %.2f× | %.0f / %.0f / %.0f |\n", e, a, b, a / b, c, a / c, p[1], p[2], p[3] }'
done

echo
echo "### Achieved FLOP/s of the training step against the matrix-product ceiling"
echo
echo "A step's FLOPs: 3 × forward (forward, and backward's two products) × 2 views × batch; the"
echo "ceiling is the best of 5 products of 2048×2048 matrices in one process, through OpenBLAS (torch.mm)"
echo "or oneDNN (a 1×1 convolution)."
echo
echo "| encoder | forward GFLOP/image | pretext GFLOP/s | fp32 ceiling GFLOP/s | share | bf16 ceiling GFLOP/s |"
echo "|---|--:|--:|--:|--:|--:|"
for encoder in $encoders; do
  flops=$(record flops-$encoder reference "$($python bench/simclr_reference.py "$encoder" 2048 0 5 default 0 flops 2>/dev/null)")
  per_image=$(echo "$flops" | field forward_gflop_per_image)
  fp32=$(echo "$flops" | field fp32_matmul_gflops)
  bf16=$(echo "$flops" | field bf16_matmul_gflops)
  awk -v e="$encoder" -v f="$per_image" -v r="${train_rate[$encoder]}" -v c="$fp32" -v d="$bf16" 'BEGIN {
    g = 6 * f * r; printf "| %s | %.3f | %.1f | %.1f | %.0f%% | %.1f |\n", e, f, g, c, 100 * g / c, d }'
done

echo
echo "### Augmentation alone, one core (SimCLR's pipeline, two views per image, 28×28 grayscale)"
echo
echo "| pretext views/s (batched) | torchvision views/s (per image, PIL) | ratio |"
echo "|--:|--:|--:|"
: >"$work/aug-pretext" && : >"$work/aug-torch"
for _ in $(seq "$rounds"); do
  record augment pretext "$(build/bench/bench_eval augment 2 20 $batch)" >>"$work/aug-pretext"
  record augment torchvision "$($python bench/simclr_reference.py convnet $batch 1 4 default 0 augment 2>/dev/null)" >>"$work/aug-torch"
done
a=$(field images_per_second <"$work/aug-pretext" | median)
b=$(field images_per_second <"$work/aug-torch" | median)
awk -v a="$a" -v b="$b" 'BEGIN { printf "| %.0f | %.0f | %.1f× |\n", a, b, a / b }'

echo
echo "### Frozen features (batch 512, eval mode) and k-NN (k 20, 10,000 queries against 60,000)"
echo
echo "| work | pretext | PyTorch default | ratio |"
echo "|---|--:|--:|--:|"
declare -A feature_rate
for encoder in $encoders; do
  : >"$work/f-pretext" && : >"$work/f-torch"
  fsteps=$([ "$encoder" = convnet ] && echo 20 || echo 4)
  for _ in $(seq "$rounds"); do
    record features-$encoder pretext "$(build/bench/bench_eval features "$encoder" 2 $fsteps 512)" >>"$work/f-pretext"
    record features-$encoder default \
      "$($python bench/simclr_reference.py "$encoder" 512 2 $fsteps default 0 features 2>/dev/null)" >>"$work/f-torch"
  done
  a=$(field images_per_second <"$work/f-pretext" | median)
  b=$(field images_per_second <"$work/f-torch" | median)
  feature_rate[$encoder]=$a
  awk -v e="$encoder" -v a="$a" -v b="$b" 'BEGIN { printf "| features, %s (images/s) | %.0f | %.0f | %.2f× |\n", e, a, b, a / b }'
done
: >"$work/k-pretext" && : >"$work/k-torch"
for _ in $(seq "$rounds"); do
  record knn pretext "$(build/bench/bench_eval knn 10000)" >>"$work/k-pretext"
  record knn default "$($python bench/simclr_reference.py convnet 1000 0 10000 default 0 knn 2>/dev/null)" >>"$work/k-torch"
done
knn=$(field seconds <"$work/k-pretext" | median)
b=$(field seconds <"$work/k-torch" | median)
awk -v a="$knn" -v b="$b" 'BEGIN { printf "| k-NN, 10,000 × 60,000 (seconds) | %.2f | %.2f | %.2f× |\n", a, b, b / a }'

echo
echo "### Evaluation as a share of one pretraining epoch (60,000 images at pretext's training rate)"
echo
echo "| encoder | epoch (s) | features of 70,000 images (s) | k-NN (s) | share |"
echo "|---|--:|--:|--:|--:|"
for encoder in $encoders; do
  awk -v e="$encoder" -v t="${train_rate[$encoder]}" -v f="${feature_rate[$encoder]}" -v k="$knn" 'BEGIN {
    epoch = 60000 / t; feat = 70000 / f
    printf "| %s | %.0f | %.1f | %.1f | %.1f%% |\n", e, epoch, feat, k, 100 * (feat + k) / epoch }'
done
} | tee "$OUT/simclr.md"
