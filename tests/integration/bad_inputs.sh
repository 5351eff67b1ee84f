#!/usr/bin/env bash
# Every bad input gets a clear error naming the culprit, exit status 1, and no output left behind.
source "$(dirname "$0")/lib.sh"

no_output() { [ ! -e "$1" ] || fail "$1 was left behind by a failed run"; }

# A missing path, an unknown dataset name.
expect_error "no-such-folder" "$PRETEXT" pretrain --data ./no-such-folder --max-steps 1 --out out1
no_output out1
expect_error "unknown dataset 'fashion-mnistt'.*fashion-mnist" "$PRETEXT" pretrain --data fashion-mnistt --max-steps 1 --out out1
no_output out1

# IDX: wrong magic, and a truncated file.
mkdir -p idx-bad idx-short
printf 'this is not an IDX file at all' > idx-bad/train-images-idx3-ubyte
printf '\x00\x00\x08\x01\x00\x00\x00\x04\x00\x01\x02\x03' > idx-bad/train-labels-idx1-ubyte
expect_error "train-images-idx3-ubyte.*magic" "$PRETEXT" pretrain --data idx-bad --max-steps 1 --out out2
no_output out2
# A header promising 100 images of 28x28 followed by only 10 bytes.
printf '\x00\x00\x08\x03\x00\x00\x00\x64\x00\x00\x00\x1c\x00\x00\x00\x1c0123456789' > idx-short/train-images-idx3-ubyte
cp idx-bad/train-labels-idx1-ubyte idx-short/
expect_error "train-images-idx3-ubyte.*truncated" "$PRETEXT" pretrain --data idx-short --max-steps 1 --out out2
no_output out2

# A folder whose only image is corrupt (bad files are skipped and counted by default, but nothing
# is left), the same with --on-bad-file fail; an empty folder.
mkdir -p images/cats images/dogs empty
printf 'garbage bytes, not a PNG' > images/cats/broken.png
expect_error "could be decoded.*broken.png" "$PRETEXT" pretrain --data images --max-steps 1 --out out3
no_output out3
expect_error "cannot decode image images/cats/broken.png" "$PRETEXT" pretrain --data images --on-bad-file fail \
  --max-steps 1 --out out3
no_output out3
expect_error "no images" "$PRETEXT" pretrain --data empty --max-steps 1 --out out3
no_output out3

# Unknown task and encoder names list what is known.
expect_error "unknown pretext task 'simclrr'.*simclr" "$PRETEXT" pretrain --task simclrr --limit 64 --max-steps 1 --out out4
no_output out4
expect_error "unknown encoder 'resnet19'.*resnet18" "$PRETEXT" pretrain --encoder resnet19 --limit 64 --max-steps 1 --out out4
no_output out4
expect_error "temprature" "$PRETEXT" pretrain --task-option temprature=0.1 --limit 64 --max-steps 1 --out out4
no_output out4
expect_error "needs a length" "$PRETEXT" pretrain --limit 64 --out out4
no_output out4

# A real checkpoint to misuse.
"$PRETEXT" pretrain --data fashion-mnist --limit 128 --width 8 --batch-size 32 --max-steps 2 --out good >/dev/null 2>&1
[ -f good/last.pt ] || fail "could not make a checkpoint"

# More labels per class than exist (128 images: about 13 per class).
expect_error "class [0-9]+ has only [0-9]+" "$PRETEXT" evaluate --checkpoint good/last.pt --limit 128 \
  --labels-per-class 50 --protocol knn --out out5
no_output out5

# A checkpoint from another encoder: resuming it with --encoder resnet18.
expect_error "good/last.pt.*written for encoder.*convnet.*resnet18" "$PRETEXT" pretrain --data fashion-mnist --limit 128 \
  --encoder resnet18 --width 8 --batch-size 32 --max-steps 4 --out good --resume
# Not a checkpoint at all; a missing one.
printf 'junk' > junk.pt
expect_error "junk.pt" "$PRETEXT" evaluate --checkpoint junk.pt --limit 128 --protocol knn --out out6
no_output out6
expect_error "missing.pt" "$PRETEXT" evaluate --checkpoint missing.pt --protocol knn --out out6
no_output out6
# A checkpoint cut short (a copy interrupted, a full disk), and one with a byte changed.
head -c 20000 good/last.pt > cut.pt
expect_error "cut.pt: truncated" "$PRETEXT" evaluate --checkpoint cut.pt --limit 128 --protocol knn --out out6
no_output out6
cp good/last.pt altered.pt
printf 'X' | dd of=altered.pt bs=1 seek=5000 conv=notrunc status=none
expect_error "altered.pt: corrupt checkpoint.*checksum" "$PRETEXT" evaluate --checkpoint altered.pt --limit 128 \
  --protocol knn --out out6
no_output out6

# Bad values name the flag.
expect_error "--precision.*fp8" "$PRETEXT" pretrain --precision fp8 --max-steps 1 --out out7
expect_error "--protocol.*svm" "$PRETEXT" evaluate --checkpoint good/last.pt --protocol svm --out out7
expect_error "--on-nonfinite.*ignore" "$PRETEXT" pretrain --limit 64 --on-nonfinite ignore --max-steps 1 --out out7
no_output out7
# --quiet: no progress lines, the run still done.
PRETEXT_LOG_LEVEL= "$PRETEXT" pretrain --data fashion-mnist --limit 128 --width 8 --batch-size 32 --max-steps 2 \
  --quiet --out quiet >quiet.log 2>&1
[ -f quiet/last.pt ] || fail "--quiet run wrote no checkpoint"
[ ! -s quiet.log ] || fail "--quiet printed: $(cat quiet.log)"
# --print-config writes the effective settings as a --config file that reads back the same.
"$PRETEXT" --print-config pretrain --task byol --batch-size 96 --no-online-probe >run.toml
grep -q '^\[pretrain\]' run.toml && grep -q '^batch-size=96' run.toml && grep -q '^task="byol"' run.toml ||
  fail "--print-config lacks the given flags: $(head -20 run.toml)"
"$PRETEXT" --config run.toml --print-config pretrain | diff - run.toml || fail "--print-config does not read back the same"
# The demo's section holds only what was given: its other settings come from --modality's recipe.
"$PRETEXT" --print-config demo --modality text --seed 3 >demo.toml
grep -q '^modality="text"' demo.toml || fail "--print-config demo lacks --modality: $(cat demo.toml)"
grep -q '^max-length' demo.toml && fail "--print-config demo wrote a generic default over the text recipe: $(cat demo.toml)"
"$PRETEXT" --config demo.toml --print-config demo | diff - demo.toml || fail "--print-config demo does not read back the same"
# Every command's --help ends with examples.
for command in demo pretrain evaluate report inspect "tokenizer train"; do
  # Into a file first: `grep -q` stops reading at its match, and pipefail would then see the
  # program's SIGPIPE on the lines after it.
  # shellcheck disable=SC2086
  "$PRETEXT" $command --help >help.txt
  grep -q "^Example" help.txt || fail "pretext $command --help has no examples"
done
# --version says what a bug report needs.
"$PRETEXT" --version >version.txt
for field in "pretext [0-9]" "LibTorch [0-9]+\.[0-9]+" "BLAS /" "precision \(--precision auto\): (fp32|bf16)" "threads: [0-9]"; do
  grep -Eq "$field" version.txt || fail "--version lacks /$field/: $(cat version.txt)"
done
# libgomp sees OMP_WAIT_POLICY=PASSIVE (set before it loads), and a value the user set is kept.
OMP_DISPLAY_ENV=true "$PRETEXT" --version >omp.txt 2>&1
grep -q "OMP_WAIT_POLICY = 'PASSIVE'" omp.txt || fail "libgomp did not see OMP_WAIT_POLICY=PASSIVE: $(grep WAIT omp.txt)"
OMP_WAIT_POLICY=ACTIVE OMP_DISPLAY_ENV=true "$PRETEXT" --version >omp.txt 2>&1
grep -q "OMP_WAIT_POLICY = 'ACTIVE'" omp.txt || fail "the user's OMP_WAIT_POLICY was not kept: $(grep WAIT omp.txt)"
echo "bad_inputs: ok"
