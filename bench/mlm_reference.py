#!/usr/bin/env python3
"""The PyTorch reference for bench_mlm: the same BERT pretraining step written the way a
PyTorch user writes it (torch.nn.TransformerEncoderLayer, post-norm, GELU; BERT's masked-LM head
with the decoder tied to the token embeddings and run on the masked positions only; the
next-sentence pooler and classifier; AdamW), on batches of full-length random token windows.
Masking follows Hugging Face's DataCollatorForLanguageModeling (15% chosen; 80% [MASK], 10%
random, 10% kept); half of each batch pairs its first half with another row's second half.

  python3 bench/mlm_reference.py SIZE BATCH LENGTH STEPS PRECISION   (fp32 | bf16)
Prints one JSON line, as bench_mlm does.
"""
import json
import os
import resource
import sys
import time

import torch
from torch import nn

SIZES = {"bert-tiny": (128, 2, 2), "bert-mini": (256, 4, 4), "bert-small": (512, 4, 8)}
VOCAB = 8000
SPECIAL = 5  # [PAD] [UNK] [CLS] [SEP] [MASK]
PAD, CLS, SEP, MASK = 0, 2, 3, 4
WARMUP_STEPS = 3


class Bert(nn.Module):
    def __init__(self, dim, depth, heads, length):
        super().__init__()
        self.token = nn.Embedding(VOCAB, dim)
        self.position = nn.Embedding(length, dim)
        self.segment = nn.Embedding(2, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(0.1)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, activation="gelu",
                                           layer_norm_eps=1e-12, batch_first=True, norm_first=False)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.mlm_dense = nn.Linear(dim, dim)
        self.mlm_norm = nn.LayerNorm(dim, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(VOCAB))
        self.pooler = nn.Linear(dim, dim)
        self.nsp = nn.Linear(dim, 2)

    def forward(self, ids, segments, labels, is_next):
        positions = torch.arange(ids.size(1))
        x = self.token(ids) + self.position(positions)[None] + self.segment(segments)
        h = self.blocks(self.dropout(self.norm(x)), src_key_padding_mask=ids.eq(PAD))
        chosen = labels.ne(-100)
        # .float(): under CPU autocast in PyTorch 1.13 layer_norm rejects bf16 input with float32 weights.
        m = self.mlm_norm(nn.functional.gelu(self.mlm_dense(h[chosen])).float())
        logits = nn.functional.linear(m, self.token.weight, self.mlm_bias)
        mlm = nn.functional.cross_entropy(logits.float(), labels[chosen])
        nsp = nn.functional.cross_entropy(self.nsp(torch.tanh(self.pooler(h[:, 0]))).float(), is_next)
        return mlm + nsp


def make_batch(windows, length):
    """[CLS] A [SEP] B [SEP] from two halves of the windows; B from another row for half the batch."""
    batch = windows.size(0)
    half = (length - 3) // 2
    a, b = windows[:, :half], windows[:, half:length - 3]
    is_next = (torch.rand(batch) < 0.5).long()
    b = torch.where(is_next[:, None].bool(), b, b.roll(1, 0))
    column = lambda value: torch.full((batch, 1), value, dtype=torch.long)
    ids = torch.cat([column(CLS), a, column(SEP), b, column(SEP)], 1)
    segments = torch.cat([torch.zeros(batch, half + 2, dtype=torch.long),
                          torch.ones(batch, ids.size(1) - half - 2, dtype=torch.long)], 1)
    labels = ids.clone()
    chosen = torch.bernoulli(torch.full(ids.shape, 0.15)).bool() & ids.ge(SPECIAL)
    labels[~chosen] = -100
    replace = torch.bernoulli(torch.full(ids.shape, 0.8)).bool() & chosen
    ids = ids.masked_fill(replace, MASK)
    random = torch.bernoulli(torch.full(ids.shape, 0.5)).bool() & chosen & ~replace
    ids = torch.where(random, torch.randint(SPECIAL, VOCAB, ids.shape), ids)
    return ids, segments, labels, is_next


def main():
    if len(sys.argv) != 6:
        sys.exit(__doc__)
    size, batch, length, steps, precision = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    torch.manual_seed(1)
    dim, depth, heads = SIZES[size]
    model = Bert(dim, depth, heads, length).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
    windows = torch.randint(SPECIAL, VOCAB, (batch, length - 3))
    seconds = []
    for step in range(WARMUP_STEPS + steps):
        start = time.perf_counter()
        ids, segments, labels, is_next = make_batch(windows, length)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(ids, segments, labels, is_next)
        loss.backward()
        optimizer.step()
        if step >= WARMUP_STEPS:
            seconds.append(time.perf_counter() - start)
    median = sorted(seconds)[len(seconds) // 2]
    print(json.dumps({"impl": "pytorch", "size": size, "precision": precision, "batch": batch, "length": length,
                      "threads": torch.get_num_threads(), "step_ms": round(median * 1e3, 2),
                      "tokens_per_s": round(batch * length / median),
                      "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))


if __name__ == "__main__":
    main()
