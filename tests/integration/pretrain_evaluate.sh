#!/usr/bin/env bash
# End to end on a small subset: pretrain SimCLR, then every protocol with two label budgets.
source "$(dirname "$0")/lib.sh"

"$PRETEXT" pretrain --data fashion-mnist --limit 1500 --task simclr --encoder convnet --width 16 \
  --batch-size 64 --max-steps 25 --out run --seed 3
[ -f run/last.pt ] || fail "no checkpoint"
[ -f run/metrics.jsonl ] || fail "no metrics log"
[ -f run/config.json ] || fail "no config.json"
grep -q '"contrastive_acc"' run/metrics.jsonl || fail "metrics lack the task's statistics"
ls run | grep '\.tmp\.' >/dev/null && fail "a temporary file was left behind"

"$PRETEXT" evaluate --checkpoint run/last.pt --limit 1500 --labels-per-class 10 --all-labels \
  --protocol knn,linear,finetune,scratch --finetune-max-steps 20 --finetune-min-steps 20 --linear-epochs 5 \
  --out eval --seed 3 | tee table.txt
[ -f eval/results.json ] || fail "no results.json"
[ -f eval/results.md ] || fail "no results.md"
count=$(grep -c '"draw"' eval/results.json)
[ "$count" -eq 8 ] || fail "expected 8 results (2 budgets x 4 protocols), got $count"
grep -q 'confusion_matrix' eval/results.json || fail "no confusion matrix"
grep -q 'supervised from scratch' table.txt || fail "no table printed"
for value in $(grep -Eo '"top1": *[0-9.e-]+' eval/results.json | sed -E 's/.*: *//'); do
  awk -v v="$value" 'BEGIN { exit !(v >= 0 && v <= 1) }' || fail "top1 $value outside [0,1]"
done

# Same seed, same numbers.
"$PRETEXT" evaluate --checkpoint run/last.pt --limit 1500 --labels-per-class 10 --protocol knn,linear \
  --linear-epochs 5 --out eval2 --seed 3 >/dev/null
"$PRETEXT" evaluate --checkpoint run/last.pt --limit 1500 --labels-per-class 10 --protocol knn,linear \
  --linear-epochs 5 --out eval3 --seed 3 >/dev/null
diff <(grep '"top1"' eval2/results.json) <(grep '"top1"' eval3/results.json) || fail "same seed gave other numbers"

# Label draws: each few-label budget drawn twice (other subsets), shown as mean ± std; all labels once;
# the smallest budget (5 per class) three times.
"$PRETEXT" evaluate --checkpoint run/last.pt --limit 1500 --labels-per-class 5,10 --all-labels --protocol knn \
  --label-draws 2 --smallest-budget-draws 3 --out draws --seed 3 | tee draws.txt
[ "$(grep -c '"draw"' draws/results.json)" -eq 6 ] ||
  fail "expected 3 draws of 5 per class, 2 of 10 per class and 1 of all labels"
grep -q '"draw": *2' draws/results.json || fail "no third draw of the smallest budget"
grep -q '±' draws.txt || fail "the table does not show the spread over draws"
grep -q '5 per class, 3 draws' draws.txt || fail "the table does not say how often the smallest budget was drawn"
grep -q '10 per class, 2 draws' draws.txt || fail "the table does not say how often a budget was drawn"
grep -q '"top1_std"' draws/results.json || fail "results.json lacks the summary over draws"
echo "pretrain_evaluate: ok"
