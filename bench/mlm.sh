#!/usr/bin/env bash
# BERT pretraining throughput, pretext against PyTorch on the same machine in the same run:
# build/bench/bench_mlm and bench/mlm_reference.py (Debian's python3-torch) take turns, ROUNDS
# times per setting, and the table shows each one's median tokens/s and the ratio.
#   bench/mlm.sh [SIZE [BATCH [LENGTH [STEPS [ROUNDS]]]]]   (default: bert-mini 64 128 10 2)
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-bert-mini} batch=${2:-64} length=${3:-128} steps=${4:-10} rounds=${5:-2}
python=/usr/bin/python3  # Debian's, where python3-torch lives
$python -c 'import torch' 2>/dev/null || {
  echo "bench/mlm.sh: the reference needs Debian's python3-torch (apt-get install python3-torch)" >&2
  exit 1
}
[ -x build/bench/bench_mlm ] || { echo "bench/mlm.sh: build first (scripts/bench builds build/bench/bench_mlm)" >&2; exit 1; }

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { grep -Eo "\"$1\": *[0-9.]+" | sed -E 's/.*: *//'; }

echo "bench/mlm.sh: $size, batch $batch, length $length, $steps timed steps × $rounds rounds, $(nproc) cores"
echo "| precision | pretext tokens/s | PyTorch tokens/s | ratio | pretext peak MiB | PyTorch peak MiB |"
echo "|---|--:|--:|--:|--:|--:|"
for precision in fp32 bf16; do
  : >/tmp/bench_mlm_pretext.$$ && : >/tmp/bench_mlm_torch.$$
  for _ in $(seq "$rounds"); do
    PRETEXT_LOG_LEVEL=warn build/bench/bench_mlm "$size" "$batch" "$length" "$steps" "$precision" >>/tmp/bench_mlm_pretext.$$
    $python bench/mlm_reference.py "$size" "$batch" "$length" "$steps" "$precision" >>/tmp/bench_mlm_torch.$$
  done
  ours=$(field tokens_per_s </tmp/bench_mlm_pretext.$$ | median)
  theirs=$(field tokens_per_s </tmp/bench_mlm_torch.$$ | median)
  our_mib=$(field peak_rss_mib </tmp/bench_mlm_pretext.$$ | median)
  their_mib=$(field peak_rss_mib </tmp/bench_mlm_torch.$$ | median)
  awk -v p="$precision" -v a="$ours" -v b="$theirs" -v m="$our_mib" -v n="$their_mib" \
    'BEGIN { printf "| %s | %d | %d | %.2f× | %d | %d |\n", p, a, b, a / b, m, n }'
  rm -f /tmp/bench_mlm_pretext.$$ /tmp/bench_mlm_torch.$$
done
