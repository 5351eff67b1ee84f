# Shared helpers for the integration tests. Each test runs in its own folder $WORK.
set -euo pipefail
# Under pipefail a pipeline fails when its writer dies of SIGPIPE, which happens, by scheduling, when
# the reader stops early: never end a pipeline in `head` or `grep -q`; use `sed -n 1,Np` and
# `grep … >/dev/null`, which read all their input (CI failed once on `printf … | head -3`).
: "${PRETEXT:?PRETEXT must point at the pretext program}"
WORK=${PRETEXT_TEST_WORK:-$(mktemp -d)}
rm -rf "$WORK"
mkdir -p "$WORK"
cd "$WORK"
# Small and quick: everything below runs on 2 cores in seconds to a minute.
export PRETEXT_LOG_LEVEL=${PRETEXT_LOG_LEVEL:-warn}

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# expect_error <pattern> <command…>: the command must exit non-zero (1 for a user error) and
# print a message matching <pattern> (an extended regex).
expect_error() {
  local pattern=$1
  shift
  local status=0
  "$@" >out.txt 2>err.txt || status=$?
  [ "$status" -ne 0 ] || fail "expected failure, got success: $*"
  [ "$status" -eq 1 ] || fail "expected exit status 1 for a user error, got $status: $*\n$(cat err.txt)"
  grep -Eq -- "$pattern" err.txt || fail "error message for '$*' does not match /$pattern/: $(cat err.txt)"
  echo "ok: $* -> $(head -1 err.txt)"
}

# done_collapsed_steps <run folder>: the collapsed-step count of the run's final `done` record
# in metrics.jsonl (empty when there is none).
done_collapsed_steps() {
  grep '"event":"done"' "$1/metrics.jsonl" | grep -Eo '"collapsed_steps": *[0-9]+' | sed -E 's/.*: *//'
}

# json_get <file> <jq-like python-free path>: tiny reader using grep for flat numeric keys.
json_number() {
  grep -Eo "\"$2\": *[-0-9.e]+" "$1" | sed -n 1p | sed -E 's/.*: *//'
}
