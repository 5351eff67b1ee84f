#!/usr/bin/env bash
# Text end to end on a generated two-topic corpus: train a tokenizer, pretrain BERT (masked-LM +
# next sentence), evaluate with few labels; and the text-specific bad inputs.
source "$(dirname "$0")/lib.sh"

# Two topics of 16 words each, with no spelling pattern between them. The unlabelled corpus
# (a flat folder: no labels) mixes all 16 words of a topic in each document. The labelled set uses
# only the first 8 words of each topic in `train/` and only the last 8 in `test/`: a test
# document shares no topic word with any labelled one, so a random encoder is at chance, and
# only an encoder that learnt from the unlabelled text which words go together (which masked-LM
# teaches, as word2vec does) can transfer the labels. A document is one file.
make_corpus() {
  awk -v root="$1" 'BEGIN {
    srand(11);
    split("river ball oven price winter table garden letter coach bridge market dough night road quiet window", topic_a, " ");
    split("summer flour team money bright door report city match green law morning union sugar trade small", topic_b, " ");
    split("the a this every our their", det, " ");
    split("is was seems became looked stayed", verb, " ");
    split("good late early great fresh quick", adj, " ");
    # part 0: unlabelled, all 16 words; 1: labelled train, words 1-8; 2: labelled test, words 9-16
    for (part = 0; part < 3; part++) {
      count = part == 0 ? 200 : 40; first = part == 2 ? 9 : 1; span = part == 0 ? 16 : 8;
      for (c = 0; c < 2; c++) {
        dir = part == 0 ? root "/unlabelled" : root "/labelled/" (part == 1 ? "train" : "test") "/" (c ? "b" : "a");
        system("mkdir -p " dir);
        for (d = 0; d < count; d++) {
          file = dir "/" c "_" d ".txt"; text = "";
          for (k = 0; k < 6; k++) {
            w1 = int(rand() * span) + first; w2 = int(rand() * span) + first;
            w1 = c ? topic_b[w1] : topic_a[w1]; w2 = c ? topic_b[w2] : topic_a[w2];
            sentence = det[int(rand() * 6) + 1] " " w1 " " verb[int(rand() * 6) + 1] " " adj[int(rand() * 6) + 1] " with the " w2 ".";
            text = text (k ? " " : "") toupper(substr(sentence, 1, 1)) substr(sentence, 2);
          }
          print text > file; close(file);
        }
      }
    }
  }'
}
make_corpus corpus

"$PRETEXT" tokenizer train --data corpus --vocab-size 60 --out tok.model | tee tokenizer.txt
[ -f tok.model ] || fail "no tokenizer model written"
grep -q '"vocab_size":60' tokenizer.txt || fail "tokenizer summary lacks the vocabulary size"

"$PRETEXT" pretrain --data corpus --task mlm-nsp --encoder bert-tiny --width 64 --tokenizer tok.model \
  --max-length 48 --batch-size 32 --epochs 20 --optimizer adamw --base-lr 8e-3 --knn-every 0 --out run --seed 3
[ -f run/last.pt ] || fail "no checkpoint"
grep -q '"mlm_accuracy"' run/metrics.jsonl || fail "metrics lack mlm_accuracy"
grep -q '"nsp_accuracy"' run/metrics.jsonl || fail "metrics lack nsp_accuracy"
grep -q '"modality":"text"' run/config.json || grep -q '"modality": "text"' run/config.json \
  || fail "config.json does not say the run read text"

# It learns: the masked-LM loss of the last logged steps is below that of the first ones.
mlm_losses=$(grep -Eo '"mlm_loss": *[0-9.e+-]+' run/metrics.jsonl | sed -E 's/.*: *//')
first=$(printf '%s\n' "$mlm_losses" | head -3 | awk '{ s += $1 } END { print s / NR }')
last=$(printf '%s\n' "$mlm_losses" | tail -3 | awk '{ s += $1 } END { print s / NR }')
echo "masked-LM loss: first logged steps $first, last $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.3) }' || fail "masked-LM loss did not fall ($first -> $last)"

"$PRETEXT" evaluate --checkpoint run/last.pt --labels-per-class 5 --protocol knn,linear --linear-epochs 20 \
  --out eval --seed 3 | tee table.txt
[ -f eval/results.json ] || fail "no results.json"
count=$(grep -c '"protocol"' eval/results.json)
[ "$count" -eq 2 ] || fail "expected 2 results, got $count"
grep -q 'macro-F1' table.txt || fail "the table lacks macro-F1"

# Next-sentence prediction learns too: the last logged steps are above chance.
nsp=$(grep -Eo '"nsp_accuracy": *[0-9.e+-]+' run/metrics.jsonl | sed -E 's/.*: *//' | tail -3 | awk '{ s += $1 } END { print s / NR }')
echo "next-sentence accuracy, last logged steps: $nsp"
awk -v a="$nsp" 'BEGIN { exit !(a > 0.6) }' || fail "next-sentence accuracy stayed at chance ($nsp)"
# Against the same encoder at its initialisation (one step at a negligible learning rate): printed,
# not asserted: on this toy a random BERT's [CLS] separates the topics better than a short run's
# (k-NN with 5 labels per class, measured: 78.8% random, 57.5% trained); see docs/RESULTS.md.
"$PRETEXT" pretrain --data corpus --task mlm-nsp --encoder bert-tiny --width 64 --tokenizer tok.model \
  --max-length 48 --batch-size 32 --max-steps 1 --lr 1e-12 --knn-every 0 --out random --seed 3
"$PRETEXT" evaluate --checkpoint random/last.pt --labels-per-class 5 --protocol knn --out random_eval --seed 3 >/dev/null
trained_knn=$(grep -Eo '"top1": *[0-9.e-]+' eval/results.json | head -1 | sed -E 's/.*: *//')
random_knn=$(grep -Eo '"top1": *[0-9.e-]+' random_eval/results.json | head -1 | sed -E 's/.*: *//')
echo "k-NN top-1 with 5 labels per class: random encoder $random_knn, after mlm-nsp $trained_knn"

# Sentence pairs: JSON lines with a second text; the pair fits one window ([CLS] A [SEP] B [SEP]).
mkdir -p pairs
awk 'BEGIN { for (i = 0; i < 40; i++) {
  same = i % 2; printf "{\"text\": \"The team won the match.\", \"text_pair\": \"%s\", \"label\": \"%s\"}\n",
    same ? "The coach was glad." : "The dough was fresh.", same ? "same" : "different" } }' > pairs/train.jsonl
cp pairs/train.jsonl pairs/test.jsonl
"$PRETEXT" evaluate --checkpoint run/last.pt --data pairs --pair-field text_pair \
  --labels-per-class 5 --protocol linear --out pairs_eval --seed 3 >/dev/null
grep -q '"protocol": *"linear"' pairs_eval/results.json || fail "no pair classification result"

# Text data with an image encoder, image data with a text checkpoint, a binary file.
expect_error "reads images, but .* is text" "$PRETEXT" pretrain --data corpus --task simclr --encoder convnet \
  --max-steps 1 --out bad1
expect_error "holds images, but the checkpoint's encoder reads text" "$PRETEXT" evaluate --checkpoint run/last.pt \
  --data fashion-mnist --limit 100 --out bad2
mkdir -p binary && head -c 4096 /dev/urandom > binary/blob.txt && printf '\0' >> binary/blob.txt
expect_error "blob.txt" "$PRETEXT" tokenizer train --data binary --out bad3.model
[ -e bad3.model ] && fail "a failed tokenizer run left a model file"
mkdir -p empty && : > empty/nothing.txt
expect_error "empty|no text|no documents" "$PRETEXT" tokenizer train --data empty --out bad4.model
# Latin-1 bytes are repaired (U+FFFD) and counted, not a crash; a strict reading names the file.
mkdir -p latin1 && for i in 1 2 3; do printf 'Caf\xe9 au lait number %s is good.\n' "$i" > latin1/$i.txt; done
"$PRETEXT" tokenizer train --data latin1 --vocab-size 26 --out latin1.model >/dev/null || fail "repairable text failed"
# Resuming with another tokenizer than the checkpoint's is refused, naming both.
"$PRETEXT" tokenizer train --data corpus --vocab-size 50 --out other.model >/dev/null
expect_error "is not the tokenizer of the checkpoint being resumed" "$PRETEXT" pretrain --data corpus --task mlm-nsp \
  --encoder bert-tiny --width 64 --tokenizer other.model --max-length 48 --batch-size 32 --epochs 4 --out run --resume
echo "text_pretrain_evaluate: ok"
