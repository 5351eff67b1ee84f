// Momentum (EMA) target networks, as MoCo, BYOL and DINO use them: a copy of the online
// network that is not trained by gradients but follows it as an exponential moving average,
// target ← m·target + (1 − m)·online, with m ramped towards 1 over the run.
// The copy is a registered submodule of the task (so checkpoints carry it) whose parameters do
// not require gradients (so the Trainer's optimizer leaves them alone).
#pragma once

#include <torch/torch.h>

namespace pretext {

// BYOL's schedule (Grill et al. 2020, §3.2): m = 1 − (1 − base)·(cos(π·progress) + 1)/2,
// base at the start, 1 at the end. progress is clamped to [0, 1].
double cosine_momentum(double base, double progress);

// Copies every parameter and buffer of `from` into `to` (same architecture, matched by name)
// and stops gradients to `to`'s parameters. Throws InternalError-style std::logic_error on a
// structural mismatch.
void copy_as_frozen(torch::nn::Module& to, const torch::nn::Module& from);

// target.param ← m·target.param + (1 − m)·online.param for every parameter (matched by name);
// buffers (BatchNorm running statistics) are copied from the online network.
void ema_update(torch::nn::Module& target, const torch::nn::Module& online, double momentum);

}  // namespace pretext
