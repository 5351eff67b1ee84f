#!/usr/bin/env python3
"""SimCLR pretraining on Fashion-MNIST in PyTorch, written the way people run it today: torchvision
transforms on PIL images in DataLoader worker processes, the model in Python, LARS in Python (as
solo-learn's). It mirrors what `pretext pretrain --task simclr` runs by default: the same encoder
(pretext's ConvNet, or ResNet-18 with the small-image stem), projector (Linear-BN-ReLU-Linear to
128), NT-Xent at temperature 0.2, LARS (trust 0.001, momentum 0.9, weight decay 1e-6, biases and
norms excluded) and SimCLR's augmentation (crop 0.08-1, flip, jitter 0.8/0.8/0.8/0.2 at p 0.8,
grayscale 0.2, blur p 0.5, normalise). bench/simclr.sh runs it next to pretext.

  simclr_reference.py ENCODER BATCH WARMUP STEPS SETTING [WORKERS] [MODE]
    ENCODER  convnet | resnet18
    SETTING  default (float32, default memory format) | tuned (bf16 autocast, channels-last)
    MODE     train (default): the whole training step, loader included
             features: encoder forward in eval mode over the training images (no augmentation)
             augment: the augmentation pipeline alone in this process (one core), views/s
             flops: the encoder's forward FLOPs per image (convolutions and linear layers,
                    2 per multiply-add) and this machine's matrix-product ceiling: the best of
                    STEPS products of BATCH x BATCH matrices, fp32 and bf16, through the BLAS
                    (torch.mm) or oneDNN (a 1x1 convolution)
             knn: k-NN (k 20, temperature 0.07, cosine, as DINO) of STEPS test features against
                  the 60,000 training features of a random ConvNet, in chunks of BATCH queries

Prints one JSON line: images_per_second, peak_rss_mib (this process plus its largest worker).
"""
import gzip
import json
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms as T
from PIL import Image

DATA = "/usr/share/datasets/fashion-mnist"


def read_images(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    count, rows, cols = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, rows, cols)


class ConvNet(nn.Module):
    """pretext's ConvNet: (conv3x3-BN-ReLU)x2 per stage at widths w, 2w, 4w with 2x2 max-pools
    between, a 1x1 expansion to 16w with BN-ReLU, global average pooling."""

    def __init__(self, width=32, in_channels=1):
        super().__init__()
        layers, channels = [], in_channels
        for stage, out in enumerate((width, 2 * width, 4 * width)):
            for _ in range(2):
                layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
                channels = out
            if stage < 2:
                layers.append(nn.MaxPool2d(2))
        layers += [nn.Conv2d(channels, 16 * width, 1, bias=False), nn.BatchNorm2d(16 * width), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.dim = 16 * width

    def forward(self, x):
        return self.features(x).mean((2, 3))


def resnet18_small(in_channels=1):
    import torchvision
    model = torchvision.models.resnet18()
    model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    model.fc = nn.Identity()
    model.dim = 512
    return model


class SimCLR(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder
        d = encoder.dim
        self.projector = nn.Sequential(nn.Linear(d, d), nn.BatchNorm1d(d), nn.ReLU(inplace=True), nn.Linear(d, 128))

    def forward(self, x1, x2):
        z = self.projector(self.encoder(torch.cat([x1, x2])))
        return nt_xent(z.float(), 0.2)


def nt_xent(z, temperature):
    z = F.normalize(z, dim=1)
    n = z.shape[0] // 2
    logits = z @ z.t() / temperature
    logits.fill_diagonal_(float("-inf"))
    targets = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(logits.device)
    return F.cross_entropy(logits, targets)


class LARS(torch.optim.Optimizer):
    """SGD with momentum on a layer-wise rescaled gradient (You et al. 2017), weight decay and
    adaptation only for weights with more than one dimension, as solo-learn and pretext do."""

    def __init__(self, params, lr, momentum=0.9, weight_decay=1e-6, trust=0.001):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust=trust))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim > 1:
                    d = d.add(p, alpha=group["weight_decay"])
                    w_norm, g_norm = torch.norm(p), torch.norm(d)
                    if w_norm > 0 and g_norm > 0:
                        d = d.mul(group["trust"] * w_norm / g_norm)
                state = self.state[p]
                if "momentum" not in state:
                    state["momentum"] = torch.clone(d).detach()
                else:
                    state["momentum"].mul_(group["momentum"]).add_(d)
                p.add_(state["momentum"], alpha=-group["lr"])


def simclr_transform(mean, std):
    return T.Compose([
        T.RandomResizedCrop(28, scale=(0.08, 1.0)),
        T.RandomHorizontalFlip(),
        T.RandomApply([T.ColorJitter(0.8, 0.8, 0.8, 0.2)], p=0.8),
        T.RandomGrayscale(p=0.2),
        T.RandomApply([T.GaussianBlur(3, sigma=(0.1, 2.0))], p=0.5),
        T.ToTensor(),
        T.Normalize((mean,), (std,)),
    ])


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = Image.fromarray(self.images[i], mode="L")
        return self.transform(image), self.transform(image)


def flops_benchmark(encoder_name, side, repeats):
    encoder = ConvNet() if encoder_name == "convnet" else resnet18_small()
    total = [0]

    def count(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kernel = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total[0] += 2 * kernel * output.numel()
        elif isinstance(module, nn.Linear):
            total[0] += 2 * module.in_features * output.numel()

    for module in encoder.modules():
        module.register_forward_hook(count)
    with torch.no_grad():
        encoder.eval()(torch.zeros(1, 1, 28, 28))
    ceilings = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        # Two ways to multiply side x side matrices: the BLAS (torch.mm) and oneDNN (a 1x1
        # convolution over side positions, channels-last); the ceiling is the faster.
        a, b = torch.randn(side, side, dtype=dtype), torch.randn(side, side, dtype=dtype)
        x = torch.randn(1, side, 32, side // 32, dtype=dtype).contiguous(memory_format=torch.channels_last)
        w = torch.randn(side, side, 1, 1, dtype=dtype).contiguous(memory_format=torch.channels_last)
        best = float("inf")
        for product in (lambda: a @ b, lambda: F.conv2d(x, w)):
            product()
            for _ in range(repeats):
                start = time.perf_counter()
                product()
                best = min(best, time.perf_counter() - start)
        ceilings[name + "_matmul_gflops"] = 2 * side ** 3 / best / 1e9
    return {"forward_gflop_per_image": total[0] / 1e9, **ceilings}


def knn_benchmark(images, mean, std, queries, chunk):
    encoder = ConvNet().eval()
    test = read_images("t10k-images-idx3-ubyte.gz")[:queries]
    labels = torch.from_numpy(np.frombuffer(gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")).read(),
                                            dtype=np.uint8, offset=8).astype(np.int64))
    test_labels = torch.from_numpy(np.frombuffer(gzip.open(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz")).read(),
                                                 dtype=np.uint8, offset=8).astype(np.int64))[:queries]

    def features(array):
        x = (torch.from_numpy(array.copy()).unsqueeze(1).float() / 255 - mean) / std
        with torch.no_grad():
            return torch.cat([encoder(x[i:i + 512]) for i in range(0, len(x), 512)])

    train_features, test_features = features(images), features(test)
    start = time.perf_counter()
    bank = F.normalize(train_features, dim=1)
    predicted = []
    for i in range(0, queries, chunk):
        similarity = F.normalize(test_features[i:i + chunk], dim=1) @ bank.t()
        top, index = similarity.topk(20, dim=1)
        votes = torch.zeros(len(top), 10).scatter_add_(1, labels[index], (top / 0.07).exp())
        predicted.append(votes.argmax(1))
    seconds = time.perf_counter() - start
    top1 = float((torch.cat(predicted) == test_labels).float().mean())
    return {"seconds": seconds, "top1": top1, "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib():
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (own + workers) / 1024.0


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    encoder_name, batch, warmup, steps, setting = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    workers = int(sys.argv[6]) if len(sys.argv) > 6 else 2
    mode = sys.argv[7] if len(sys.argv) > 7 else "train"
    assert setting in ("default", "tuned") and mode in ("train", "features", "augment", "knn", "flops")
    torch.manual_seed(0)
    images = read_images("train-images-idx3-ubyte.gz")
    mean, std = float(images.mean() / 255.0), float(images.std() / 255.0)
    transform = simclr_transform(mean, std)

    if mode == "augment":
        torch.set_num_threads(1)
        dataset = TwoViews(images, transform)
        for i in range(warmup * batch):
            dataset[i % len(dataset)]
        start = time.perf_counter()
        for i in range(steps * batch):
            dataset[i % len(dataset)]
        seconds = time.perf_counter() - start
        # Two views per image, as the training step makes them.
        print(json.dumps({"images_per_second": 2 * steps * batch / seconds, "peak_rss_mib": peak_rss_mib()}))
        return

    encoder = ConvNet() if encoder_name == "convnet" else resnet18_small()
    model = SimCLR(encoder)
    memory_format = torch.channels_last if setting == "tuned" else torch.contiguous_format
    # PRETEXT_REFERENCE_DEVICE=cuda runs the model on the GPU (scripts/gpu-check); the
    # augmentation stays in the DataLoader's CPU workers, as torchvision users run it.
    device = torch.device(os.environ.get("PRETEXT_REFERENCE_DEVICE", "cpu"))
    model = model.to(device=device, memory_format=memory_format)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=setting == "tuned")

    if mode == "flops":
        print(json.dumps(flops_benchmark(encoder_name, batch, steps)))
        return

    if mode == "knn":
        print(json.dumps(knn_benchmark(images, mean, std, steps, batch)))
        return

    if mode == "features":
        model.eval()
        tensors = torch.from_numpy(images.copy()).unsqueeze(1)
        batches = [tensors[i:i + batch] for i in range(0, (warmup + steps) * batch, batch)]
        with torch.no_grad(), autocast:
            for x in batches[:warmup]:
                encoder(((x.float() / 255 - mean) / std).contiguous(memory_format=memory_format))
            start = time.perf_counter()
            for x in batches[warmup:]:
                encoder(((x.float() / 255 - mean) / std).contiguous(memory_format=memory_format))
            seconds = time.perf_counter() - start
        print(json.dumps({"images_per_second": steps * batch / seconds, "peak_rss_mib": peak_rss_mib()}))
        return

    loader = torch.utils.data.DataLoader(TwoViews(images, transform), batch_size=batch, shuffle=True, drop_last=True,
                                         num_workers=workers, persistent_workers=workers > 0,
                                         pin_memory=device.type == "cuda")
    optimizer = LARS(model.parameters(), lr=0.3 * batch / 256)
    model.train()
    done, start = 0, None
    while done < warmup + steps:
        for x1, x2 in loader:
            if done == warmup:
                start = time.perf_counter()
            x1 = x1.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            x2 = x2.to(device, non_blocking=True).contiguous(memory_format=memory_format)
            with autocast:
                loss = model(x1, x2)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            assert math.isfinite(loss.item())
            done += 1
            if done == warmup + steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    del loader  # joins the workers, so that RUSAGE_CHILDREN counts them
    print(json.dumps({"images_per_second": steps * batch / seconds, "peak_rss_mib": peak_rss_mib()}))


if __name__ == "__main__":
    main()
