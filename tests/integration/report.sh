#!/usr/bin/env bash
# The report in a real browser: a short pretraining and evaluation, `pretext report`, then
# headless Chromium loads report.html. Fails on any console error or failed load, and unless every
# chart rendered with data (an SVG with a non-empty polyline per series) and the tables are there.
# Keeps report.png (a screenshot) in the test's work folder.
source "$(dirname "$0")/lib.sh"
browser=$(command -v chromium-headless-shell || command -v chromium || true)
[ -n "$browser" ] || fail "no headless Chromium (scripts/setup installs chromium-headless-shell)"

"$PRETEXT" pretrain --data fashion-mnist --limit 512 --width 8 --batch-size 64 --epochs 2 --out run >/dev/null
"$PRETEXT" evaluate --checkpoint run/last.pt --limit 512 --labels-per-class 5 --protocol knn,linear \
  --out run --json >eval.json
# --json: stdout is the results document alone.
[ "$(head -c 1 eval.json)" = "{" ] && [ "$(tail -c 2 eval.json)" = "}" ] || fail "--json printed more than JSON"
grep -q '"summary"' eval.json && grep -q '"embedding_2d"' eval.json || fail "--json lacks the summary or the map"
"$PRETEXT" report run | grep "report: run/report.html" >/dev/null || fail "pretext report did not name its file"
expect_error "nowhere" "$PRETEXT" report nowhere

flags=(--no-sandbox --disable-gpu --hide-scrollbars --enable-logging=stderr --v=0 --window-size=1000,3000)
"$browser" "${flags[@]}" --dump-dom "file://$PWD/run/report.html" >dom.html 2>console.log
"$browser" "${flags[@]}" --screenshot="$PWD/report.png" "file://$PWD/run/report.html" >/dev/null 2>>console.log
[ -s report.png ] || fail "no screenshot"
if grep -E "CONSOLE|Uncaught|ERR_FILE_NOT_FOUND|net::ERR" console.log; then fail "the browser reported errors"; fi

occurrences() { { grep -o -- "$1" "$2" || true; } | wc -l; }
charts=$(occurrences '<figure class="chart"' dom.html)
[ "$charts" -ge 5 ] || fail "expected at least 5 charts in the rendered page, found $charts"
empty=$(occurrences 'points=""' dom.html)
[ "$empty" -eq 0 ] || fail "$empty chart series rendered without points"
[ "$(occurrences "no data" dom.html)" -eq 0 ] || fail "a chart has no data"
for title in "Loss" "Learning rate" "Online evaluation" "Representation health: effective rank" \
             "Top-1 against labels (mean over draws)" "Test-set embeddings (PCA of the frozen features)"; do
  grep -q "data-chart=\"$title\"" dom.html || fail "chart '$title' missing"
done
grep -q '<table class="results">' dom.html || fail "the label-efficiency table is missing"
grep -q '<table class="confusion">' dom.html || fail "the confusion matrix is missing"
dots=$(occurrences '<circle class="dot"' dom.html)
[ "$dots" -ge 100 ] || fail "the embeddings map has $dots dots"
echo "report: ok ($charts charts; screenshot $PWD/report.png)"
