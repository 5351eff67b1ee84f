#!/usr/bin/env bash
# Thread settings for BERT pretraining on this machine: the same `pretext pretrain` run (masked-LM,
# bert-tiny, 64-token windows, batch 64, STEPS steps on spam-assassin, tokenizer trained once)
# under each setting, ROUNDS times in turn, median sequences/s per setting. The settings: OpenMP
# threads that spin between parallel regions (ACTIVE) or sleep (PASSIVE, pretext's default when
# OMP_WAIT_POLICY is unset), and OpenBLAS held to one thread.
#   bench/threads.sh [STEPS [ROUNDS]]   (default: 150 2)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-150} rounds=${2:-2}
[ -x build/pretext ] || { echo "bench/threads.sh: build first (scripts/build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build/pretext tokenizer train --data spam-assassin --vocab-size 8000 --out "$work/tok.model" --log-level warn >/dev/null

run() {  # run <env assignments…>: prints sequences/s of one run
  env "$@" build/pretext pretrain --data spam-assassin --task mlm --encoder bert-tiny --max-length 64 \
    --dropout 0 --batch-size 64 --optimizer adamw --base-lr 8e-3 --knn-every 0 --no-online-probe \
    --max-steps "$steps" --tokenizer "$work/tok.model" --out "$work/run" --log-level info 2>&1 |
    grep -Eo '[0-9]+ seq/s' | tail -1 | grep -Eo '[0-9]+'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

settings=("OMP_WAIT_POLICY=ACTIVE" "OMP_WAIT_POLICY=PASSIVE" "OMP_WAIT_POLICY=ACTIVE OPENBLAS_NUM_THREADS=1")
declare -A results
for _ in $(seq "$rounds"); do
  for setting in "${settings[@]}"; do
    # shellcheck disable=SC2086
    results[$setting]+="$(run $setting) "
  done
done
echo "bench/threads.sh: $steps steps × $rounds rounds, $(nproc) cores, BLAS $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || echo '?')"
echo "| setting | sequences/s (median) | runs |"
echo "|---|--:|---|"
for setting in "${settings[@]}"; do
  echo "| $setting | $(printf '%s\n' ${results[$setting]} | median) | ${results[$setting]}|"
done
