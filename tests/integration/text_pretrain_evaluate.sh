#!/usr/bin/env bash
# Text end to end on a generated corpus: train a tokenizer, pretrain BERT (masked-LM + next
# sentence), beat the random encoder with few labels on words it never saw labelled; and the
# text-specific bad inputs.
source "$(dirname "$0")/lib.sh"

# Two groups of 16 words with no spelling pattern between them. In the unlabelled corpus (a flat
# folder: no labels) every sentence names one word of each group, each after its own marker word
# ("zig" A, "zag" B), and a document keeps one determiner throughout (so that next-sentence
# prediction has something to find). The labelled documents hold words of one group and no marker;
# `train/` uses the first 8 words of each group and `test/` the last 8, so a test document shares
# no group word with a labelled one and a random encoder is at chance. Only an encoder that learnt
# from the unlabelled text which words fill the same slot (masked-LM teaches that, as word2vec
# does) can transfer the labels. A document is one file.
make_corpus() {
  awk -v root="$1" 'BEGIN {
    srand(11);
    split("river ball oven price winter table garden letter coach bridge market dough night road quiet window", topic_a, " ");
    split("summer flour team money bright door report city match green law morning union sugar trade small", topic_b, " ");
    split("the a this every our their", det, " ");
    # unlabelled: each sentence names one word of each group, after its own marker word
    dir = root "/unlabelled"; system("mkdir -p " dir);
    for (d = 0; d < 400; d++) {
      file = dir "/" d ".txt"; text = ""; own = det[int(rand() * 6) + 1];
      for (k = 0; k < 6; k++) {
        sentence = own " zig " topic_a[int(rand() * 16) + 1] " and " own " zag " topic_b[int(rand() * 16) + 1] ".";
        text = text (k ? " " : "") toupper(substr(sentence, 1, 1)) substr(sentence, 2);
      }
      print text > file; close(file);
    }
    # labelled: one group per document, no markers; train uses words 1-8, test words 9-16
    for (part = 1; part <= 2; part++) {
      first = part == 2 ? 9 : 1;
      for (c = 0; c < 2; c++) {
        dir = root "/labelled/" (part == 1 ? "train" : "test") "/" (c ? "b" : "a"); system("mkdir -p " dir);
        for (d = 0; d < 40; d++) {
          file = dir "/" d ".txt"; text = "";
          for (k = 0; k < 4; k++) {
            w1 = int(rand() * 8) + first; w2 = int(rand() * 8) + first;
            w1 = c ? topic_b[w1] : topic_a[w1]; w2 = c ? topic_b[w2] : topic_a[w2];
            sentence = det[int(rand() * 6) + 1] " " w1 " and " det[int(rand() * 6) + 1] " " w2 ".";
            text = text (k ? " " : "") toupper(substr(sentence, 1, 1)) substr(sentence, 2);
          }
          print text > file; close(file);
        }
      }
    }
  }'
}
make_corpus corpus

"$PRETEXT" tokenizer train --data corpus/unlabelled --vocab-size 60 --out tok.model | tee tokenizer.txt
[ -f tok.model ] || fail "no tokenizer model written"
grep -q '"vocab_size":60' tokenizer.txt || fail "tokenizer summary lacks the vocabulary size"

pretrain() {  # pretrain <out> <extra flags…>: BERT masked-LM + next sentence, mean-pooled
  local out=$1
  shift
  "$PRETEXT" pretrain --data corpus/unlabelled --task mlm-nsp --encoder bert-tiny --width 64 --tokenizer tok.model \
    --max-length 48 --batch-size 32 --optimizer adamw --base-lr 8e-3 --dropout 0 --pooling mean --knn-every 0 \
    --out "$out" --seed 3 "$@"
}
pretrain run --epochs 20
[ -f run/last.pt ] || fail "no checkpoint"
grep -q '"mlm_accuracy"' run/metrics.jsonl || fail "metrics lack mlm_accuracy"
grep -q '"nsp_accuracy"' run/metrics.jsonl || fail "metrics lack nsp_accuracy"
grep -q '"modality":"text"' run/config.json || grep -q '"modality": "text"' run/config.json \
  || fail "config.json does not say the run read text"

# It learns: the masked-LM loss of the last logged steps is below that of the first ones.
mlm_losses=$(grep -Eo '"mlm_loss": *[0-9.e+-]+' run/metrics.jsonl | sed -E 's/.*: *//')
first=$(printf '%s\n' "$mlm_losses" | sed -n 1,3p | awk '{ s += $1 } END { print s / NR }')
last=$(printf '%s\n' "$mlm_losses" | tail -3 | awk '{ s += $1 } END { print s / NR }')
echo "masked-LM loss: first logged steps $first, last $last"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.3) }' || fail "masked-LM loss did not fall ($first -> $last)"

# Next-sentence prediction learns too: the last logged steps are above chance.
nsp=$(grep -Eo '"nsp_accuracy": *[0-9.e+-]+' run/metrics.jsonl | sed -E 's/.*: *//' | tail -3 | awk '{ s += $1 } END { print s / NR }')
echo "next-sentence accuracy, last logged steps: $nsp"
awk -v a="$nsp" 'BEGIN { exit !(a > 0.6) }' || fail "next-sentence accuracy stayed at chance ($nsp)"

"$PRETEXT" evaluate --checkpoint run/last.pt --data corpus/labelled --labels-per-class 20 --protocol knn,linear \
  --linear-epochs 50 --out eval --seed 3 | tee table.txt
[ -f eval/results.json ] || fail "no results.json"
count=$(grep -c '"draw"' eval/results.json)
[ "$count" -eq 2 ] || fail "expected 2 results, got $count"
grep -q 'macro-F1' table.txt || fail "the table lacks macro-F1"

# It beats the same encoder at its initialisation (one step at a negligible learning rate) on the
# held-out words (measured: k-NN top-1 91% after 20 epochs, 59% random).
pretrain random --max-steps 1 --lr 1e-12
"$PRETEXT" evaluate --checkpoint random/last.pt --data corpus/labelled --labels-per-class 20 --protocol knn \
  --out random_eval --seed 3 >/dev/null
trained_knn=$(json_number eval/results.json top1)
random_knn=$(json_number random_eval/results.json top1)
echo "k-NN top-1 with 20 labels per class on held-out words: random encoder $random_knn, after mlm-nsp $trained_knn"
awk -v t="$trained_knn" -v r="$random_knn" 'BEGIN { exit !(t >= 0.75 && t >= r + 0.2) }' \
  || fail "pretraining did not beat the random encoder by 20 points (random $random_knn, trained $trained_knn)"

# The pooling can be changed at evaluation; results.json records the one used.
"$PRETEXT" evaluate --checkpoint run/last.pt --data corpus/labelled --labels-per-class 20 --protocol knn \
  --pooling cls --out cls_eval --seed 3 >/dev/null
grep -Eq '"pooling": *"cls"' cls_eval/results.json || fail "evaluate --pooling cls was not recorded"
expect_error "pooling" "$PRETEXT" evaluate --checkpoint run/last.pt --data corpus/labelled --protocol knn \
  --pooling max --out bad_pooling

# Sentence pairs: JSON lines with a second text; the pair fits one window ([CLS] A [SEP] B [SEP]).
mkdir -p pairs
awk 'BEGIN { for (i = 0; i < 40; i++) {
  same = i % 2; printf "{\"text\": \"Our river and our oven.\", \"text_pair\": \"%s\", \"label\": \"%s\"}\n",
    same ? "The price and the table." : "A team and a door.", same ? "same" : "different" } }' > pairs/train.jsonl
cp pairs/train.jsonl pairs/test.jsonl
"$PRETEXT" evaluate --checkpoint run/last.pt --data pairs --pair-field text_pair \
  --labels-per-class 5 --protocol linear --out pairs_eval --seed 3 >/dev/null
grep -q '"protocol": *"linear"' pairs_eval/results.json || fail "no pair classification result"

# Text data with an image encoder, image data with a text checkpoint, a binary file.
expect_error "reads images, but .* is text" "$PRETEXT" pretrain --data corpus/unlabelled --task simclr --encoder convnet \
  --max-steps 1 --out bad1
expect_error "is image data, but the checkpoint's encoder reads text" "$PRETEXT" evaluate --checkpoint run/last.pt \
  --data fashion-mnist --limit 100 --out bad2
# Packing documents into shared windows breaks next-sentence pairs; an unknown packing is named.
expect_error "--packing corpus.*mlm-nsp" "$PRETEXT" pretrain --data corpus/unlabelled --task mlm-nsp \
  --encoder bert-tiny --packing corpus --max-steps 1 --out bad5
expect_error "packing must be document or corpus.*everything" "$PRETEXT" pretrain --data corpus/unlabelled \
  --task mlm --encoder bert-tiny --packing everything --max-steps 1 --out bad5
[ -e bad5 ] && fail "a refused run left its output folder"
mkdir -p binary && printf '\0' > binary/blob.txt && head -c 4096 /dev/urandom >> binary/blob.txt
expect_error "blob.txt" "$PRETEXT" tokenizer train --data binary --out bad3.model
[ -e bad3.model ] && fail "a failed tokenizer run left a model file"
mkdir -p empty && : > empty/nothing.txt
expect_error "empty|no text|no documents" "$PRETEXT" tokenizer train --data empty --out bad4.model
# Latin-1 bytes are repaired (U+FFFD) and counted, not a crash; a strict reading names the file.
mkdir -p latin1 && for i in 1 2 3; do printf 'Caf\xe9 au lait number %s is good.\n' "$i" > latin1/$i.txt; done
"$PRETEXT" tokenizer train --data latin1 --vocab-size 26 --out latin1.model >/dev/null || fail "repairable text failed"
# Resuming with another tokenizer than the checkpoint's is refused, naming both.
"$PRETEXT" tokenizer train --data corpus/unlabelled --vocab-size 50 --out other.model >/dev/null
expect_error "is not the tokenizer of the checkpoint being resumed" "$PRETEXT" pretrain --data corpus/unlabelled \
  --task mlm-nsp --encoder bert-tiny --width 64 --tokenizer other.model --max-length 48 --batch-size 32 --epochs 4 \
  --out run --resume
echo "text_pretrain_evaluate: ok"
