#!/usr/bin/env bash
# Speech and video from the user's own folders, end to end: sound files in class folders (made
# with espeak-ng), videos written by `pretext data moving-objects`; pretrain, evaluate; and the
# errors bad files and mismatched encoders give.
source "$(dirname "$0")/lib.sh"

no_output() { [ ! -e "$1" ] || fail "$1 was left behind by a failed run"; }

# Audio: two words, a few voices each, in train/ and test/ class folders.
voices_train="en-us en-gb en-us+f3 en-gb+m3"
voices_test="en-us+f4 en-gb+m5 en-us+m2 en-gb+f2"
for split in train test; do
  voices=$voices_train
  [ "$split" = test ] && voices=$voices_test
  for word in yes no; do
    mkdir -p "sounds/$split/$word"
    for voice in $voices; do
      espeak-ng -v "$voice" -w "sounds/$split/$word/${voice//+/-}_$word.wav" "$word"
    done
  done
done
"$PRETEXT" pretrain --data sounds --encoder audio-transformer --width 32 --depth 1 --task masked-frames \
  --batch-size 8 --max-steps 3 --knn-every 0 --out speech >/dev/null
[ -f speech/last.pt ] || fail "no checkpoint from audio pretraining"
"$PRETEXT" evaluate --checkpoint speech/last.pt --labels-per-class 2 --protocol knn,linear --out speech/eval >/dev/null
grep -q '"top1"' speech/eval/results.json || fail "no results from the audio evaluation"
"$PRETEXT" inspect speech/last.pt | grep "audio-transformer" >/dev/null || fail "inspect does not name the audio encoder"

# Video: moving objects written as .mkv files, read back as a video folder.
"$PRETEXT" data moving-objects --limit 40 --out videos >/dev/null
ls videos/by-direction/train | grep east >/dev/null || fail "no direction folders written"
# The spoken-words ranges: refused for another dataset, and an empty range is named before espeak-ng runs.
expect_error "spoken-words options" "$PRETEXT" data moving-objects --snr-min-db 0 --out bad-videos-out
[ -e bad-videos-out ] && fail "a refused pretext data left its folder"
expect_error "snr_min_db must be <= snr_max_db" "$PRETEXT" data spoken-words --snr-min-db 20 --snr-max-db 10 \
  --out bad-words-out
[ -e bad-words-out ] && fail "a refused spoken-words corpus left its folder"
# The moving-objects options: a harder corpus is written; bad values and the wrong dataset are refused.
"$PRETEXT" data moving-objects --limit 12 --distractors 2 --noise 30 --out hard-videos >/dev/null
[ "$(find hard-videos/by-direction -name '*.mkv' | wc -l)" -eq 24 ] || fail "the harder corpus is not 12 + 12 videos"
expect_error "noise must be in \[0, 255\]" "$PRETEXT" data moving-objects --limit 12 --noise 300 --out bad-noise-out
expect_error "distractors must be in" "$PRETEXT" data moving-objects --limit 12 --distractors -1 --out bad-noise-out
[ -e bad-noise-out ] && fail "a refused moving-objects corpus left its folder"
expect_error "moving-objects options" "$PRETEXT" data spoken-words --noise 10 --out bad-words-out
"$PRETEXT" pretrain --data videos/by-direction --encoder video-cnn3d --width 4 --task clip-contrastive \
  --clip-frames 4 --batch-size 8 --max-steps 3 --knn-every 0 --out video >/dev/null
"$PRETEXT" evaluate --checkpoint video/last.pt --labels-per-class 2 --protocol knn --out video/eval >/dev/null
grep -q '"top1"' video/eval/results.json || fail "no results from the video evaluation"
# --image-size resizes video frames too; evaluation follows the checkpoint's size.
"$PRETEXT" pretrain --data videos/by-direction --encoder video-cnn3d --width 4 --task clip-contrastive \
  --clip-frames 4 --image-size 32 --batch-size 8 --max-steps 1 --knn-every 0 --out video32 >/dev/null
"$PRETEXT" inspect video32/last.pt | grep -E '"image_size": *32' >/dev/null || fail "--image-size did not resize the videos"
"$PRETEXT" evaluate --checkpoint video32/last.pt --labels-per-class 2 --protocol knn --out video32/eval >/dev/null

# Bad input: a corrupt sound file and a truncated video name the file; encoders that do not read
# the data say which to use; a checkpoint meets another modality.
mkdir -p bad-sounds/a
printf 'RIFF garbage, not a sound' > bad-sounds/a/broken.wav
expect_error "broken.wav" "$PRETEXT" pretrain --data bad-sounds --encoder audio-transformer --task masked-frames \
  --max-steps 1 --out out1
no_output out1
mkdir -p bad-videos/left
first=$(ls videos/by-direction/train/east | sed -n 1p)
head -c 600 "videos/by-direction/train/east/$first" > bad-videos/left/cut.mkv
expect_error "cut.mkv" "$PRETEXT" pretrain --data bad-videos --encoder video-cnn3d --task frame-order \
  --max-steps 1 --out out2
no_output out2
# One bad file among good ones is left out with a counted warning, or (--on-bad-file fail) stops
# the run naming it.
cp -r sounds/train mixed-sounds
printf 'RIFF garbage, not a sound' > mixed-sounds/yes/zz-broken.wav
"$PRETEXT" pretrain --data mixed-sounds --encoder audio-transformer --width 32 --depth 1 --task masked-frames \
  --batch-size 8 --max-steps 1 --knn-every 0 --out mixed1 2>mixed1.log >/dev/null || fail "a bad sound file stopped the run"
grep -q "skipped 1 of 9 files" mixed1.log || fail "no warning counting the skipped sound file: $(cat mixed1.log)"
expect_error "zz-broken.wav" "$PRETEXT" pretrain --data mixed-sounds --encoder audio-transformer --task masked-frames \
  --on-bad-file fail --max-steps 1 --out mixed2
no_output mixed2
cp -r videos/by-direction/train mixed-videos
cp bad-videos/left/cut.mkv mixed-videos/east/
"$PRETEXT" pretrain --data mixed-videos --encoder video-cnn3d --width 4 --task clip-contrastive --clip-frames 4 \
  --batch-size 8 --max-steps 1 --knn-every 0 --out mixed3 2>mixed3.log >/dev/null || fail "a bad video stopped the run"
grep -q "skipped 1 of [0-9]* videos" mixed3.log || fail "no warning counting the skipped video: $(cat mixed3.log)"
expect_error "cut.mkv" "$PRETEXT" pretrain --data mixed-videos --encoder video-cnn3d --task clip-contrastive \
  --on-bad-file fail --max-steps 1 --out mixed4
no_output mixed4
expect_error "audio-transformer" "$PRETEXT" pretrain --data sounds --max-steps 1 --out out3
no_output out3
expect_error "video-cnn3d" "$PRETEXT" pretrain --data videos/by-direction --encoder audio-transformer \
  --task masked-frames --max-steps 1 --out out3
no_output out3
expect_error "needs audio data" "$PRETEXT" pretrain --data videos/by-direction --encoder video-cnn3d \
  --task masked-frames --max-steps 1 --out out3
no_output out3
expect_error "reads audio|is video" "$PRETEXT" evaluate --checkpoint speech/last.pt --data videos/by-direction \
  --protocol knn --out out4
no_output out4
echo "media_folders: ok"
