#include "pretext/augment/audio.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include "pretext/core/error.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"

namespace pretext {

namespace F = torch::nn::functional;

namespace {

// log(mel energy + kLogFloor), as the header specifies: keeps silence and zero padding finite
// (about −13.8) for waveforms in [−1, 1].
constexpr double kLogFloor = 1e-6;

const auto kCpuLong = torch::TensorOptions().dtype(torch::kLong);

// HTK mel scale (Young et al., The HTK Book, filterbank analysis): 2595 · log10(1 + f / 700).
double hz_to_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
torch::Tensor mel_to_hz(const torch::Tensor& mel) { return (torch::pow(10.0, mel / 2595.0) - 1.0) * 700.0; }

double upper_frequency(const LogMelOptions& options) {
  return options.f_max > 0 ? options.f_max : static_cast<double>(options.sample_rate) / 2.0;
}

// The filterbank in double, [mels, n_fft/2 + 1]: filter m rises linearly from the (m)th to the
// (m+1)th of mels + 2 points equally spaced on the mel scale and falls to the (m+2)th, peak 1
// (torchaudio's melscale_fbanks with mel_scale="htk", norm=None, transposed).
torch::Tensor filterbank_in_double(const LogMelOptions& options) {
  const int64_t bins = options.n_fft / 2 + 1;
  torch::Tensor bin_hz =
      torch::arange(bins, torch::kDouble) * (static_cast<double>(options.sample_rate) / static_cast<double>(options.n_fft));
  torch::Tensor edges_hz = mel_to_hz(
      torch::linspace(hz_to_mel(options.f_min), hz_to_mel(upper_frequency(options)), options.mels + 2, torch::kDouble));
  torch::Tensor lower = edges_hz.slice(0, 0, options.mels).unsqueeze(1);
  torch::Tensor centre = edges_hz.slice(0, 1, options.mels + 1).unsqueeze(1);
  torch::Tensor upper = edges_hz.slice(0, 2, options.mels + 2).unsqueeze(1);
  torch::Tensor rising = (bin_hz.unsqueeze(0) - lower) / (centre - lower);
  torch::Tensor falling = (upper - bin_hz.unsqueeze(0)) / (upper - centre);
  return torch::minimum(rising, falling).clamp_min_(0.0);
}

// Integers uniform in [0, bound[i]] (bound CPU int64 ≥ 0), drawn as floor(u · (bound + 1)).
torch::Tensor uniform_up_to(const torch::Tensor& bound, torch::Generator& generator) {
  torch::Tensor u = torch::rand(bound.sizes(), generator, torch::kDouble);
  torch::Tensor upper = bound.to(torch::kDouble);
  return torch::minimum(u.mul_(upper + 1.0).floor_(), upper).to(torch::kLong);
}

// [B, width] bool on `device`: position < lengths[b].
torch::Tensor valid_mask(const torch::Tensor& lengths, int64_t width, const torch::Device& device) {
  torch::Tensor positions = torch::arange(width, kCpuLong.device(device));
  return positions.unsqueeze(0) < lengths.to(device).unsqueeze(1);
}

int64_t longest(const torch::Tensor& lengths) { return lengths.numel() == 0 ? 0 : lengths.max().item<int64_t>(); }

int64_t seconds_to_samples(double seconds, int64_t sample_rate) {
  return static_cast<int64_t>(std::llround(seconds * static_cast<double>(sample_rate)));
}

void check_finite(double value, const char* name) {
  PRETEXT_CHECK(std::isfinite(value), ConfigError, "audio option '", name, "' must be finite, got ", value);
}

void check_audio_non_negative(double value, const char* name) {
  check_finite(value, name);
  PRETEXT_CHECK(value >= 0.0, ConfigError, "audio option '", name, "' must be ≥ 0, got ", value);
}

// The stages that move samples (crop, speed, shift) have two ways to the same result. On the
// CPU, one clip at a time (slices, or a plain loop): [B, L] index tensors and their arithmetic
// cost more than the copies themselves (a gather crop of [256, 16000] took 140 ms on 2 cores,
// slices 4 ms).
// On a GPU, one gather over the batch: B small launches cost more there (speed perturbation of
// [256, 16000] on an H200: 44 ms a clip at a time, 0.4 ms batched).

// out[b, j] = waveforms[b, index[b, j]] for j < lengths[b], else `outside[b, j]` (0 if undefined).
// index: int64 [B, W] on the waveforms' device, each entry in [0, L).
torch::Tensor gather_rows(const torch::Tensor& waveforms, const torch::Tensor& index, const torch::Tensor& lengths,
                          const torch::Tensor& outside = {}) {
  torch::Tensor gathered = waveforms.gather(1, index);
  torch::Tensor valid = valid_mask(lengths, index.size(1), waveforms.device());
  return outside.defined() ? torch::where(valid, gathered, outside) : gathered.masked_fill_(valid.logical_not_(), 0.0);
}

// Random crop: a segment of `crop` samples starting uniformly within each longer clip.
std::pair<torch::Tensor, torch::Tensor> random_crop(const torch::Tensor& waveforms, const torch::Tensor& lengths,
                                                    int64_t crop, torch::Generator& generator) {
  torch::Tensor start = uniform_up_to((lengths - crop).clamp_min(0), generator);
  torch::Tensor cropped = lengths.clamp_max(crop);
  const int64_t width = longest(cropped);
  if (!waveforms.is_cpu()) {
    const torch::Device device = waveforms.device();
    torch::Tensor index = start.to(device).unsqueeze(1) + torch::arange(width, kCpuLong.device(device)).unsqueeze(0);
    return {gather_rows(waveforms, index.clamp_max_(waveforms.size(1) - 1), cropped), cropped};
  }
  torch::Tensor out = torch::zeros({waveforms.size(0), width}, waveforms.options());
  auto start_at = start.accessor<int64_t, 1>();
  auto cropped_at = cropped.accessor<int64_t, 1>();
  for (int64_t b = 0; b < waveforms.size(0); ++b) {
    out[b].narrow(0, 0, cropped_at[b]).copy_(waveforms[b].narrow(0, start_at[b], cropped_at[b]));
  }
  return {out, cropped};
}

// Speed perturbation: output sample j reads the input at position j · factor, linearly
// interpolated, for every position inside the clip, so that a clip of n samples becomes
// floor((n − 1) / factor) + 1 samples (≈ n / factor) and nothing is extrapolated. Positions are
// computed in double: in float, j · factor is off by a few thousandths of a sample at j ≈ 30000.
std::pair<torch::Tensor, torch::Tensor> change_speed(const torch::Tensor& waveforms, const torch::Tensor& lengths,
                                                     const torch::Tensor& factor) {
  const int64_t batch = waveforms.size(0);
  torch::Tensor changed = torch::zeros_like(lengths);
  auto length_at = lengths.accessor<int64_t, 1>();
  auto changed_at = changed.accessor<int64_t, 1>();
  auto factor_at = factor.accessor<double, 1>();
  for (int64_t b = 0; b < batch; ++b) {
    if (length_at[b] > 0) {
      changed_at[b] = static_cast<int64_t>(std::floor(static_cast<double>(length_at[b] - 1) / factor_at[b])) + 1;
    }
  }
  const int64_t width = longest(changed);
  if (!waveforms.is_cpu()) {
    torch::Tensor position = torch::arange(width, torch::TensorOptions().dtype(torch::kDouble).device(waveforms.device()))
                                 .unsqueeze(0) *
                             factor.to(waveforms.device()).unsqueeze(1);
    torch::Tensor last = (lengths - 1).clamp_min(0).to(waveforms.device()).unsqueeze(1);
    torch::Tensor below = torch::minimum(position.floor().to(torch::kLong), last);
    torch::Tensor above = torch::minimum(below + 1, last);
    torch::Tensor fraction = (position - below).clamp_(0.0, 1.0).to(waveforms.scalar_type());
    torch::Tensor low = waveforms.gather(1, below);
    torch::Tensor out = low.add_((waveforms.gather(1, above) - low).mul_(fraction));
    return {out.masked_fill_(valid_mask(changed, width, waveforms.device()).logical_not_(), 0.0), changed};
  }
  // On the CPU a plain loop: the same arithmetic as above, without the temporaries (as tensor
  // operations a clip at a time, 40 ms of CPU time for [256, 16000] on 2 cores; this, 12 ms).
  torch::Tensor source = waveforms.contiguous();
  torch::Tensor out = torch::zeros({batch, width}, waveforms.options());
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, source.scalar_type(), "change_speed", [&] {
    const scalar_t* in = source.data_ptr<scalar_t>();
    scalar_t* result = out.data_ptr<scalar_t>();
    const int64_t in_width = source.size(1);
    at::parallel_for(0, batch, /*grain_size=*/16, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const scalar_t* clip = in + b * in_width;
        scalar_t* row = result + b * width;
        const int64_t last = length_at[b] - 1;
        for (int64_t j = 0; j < changed_at[b]; ++j) {
          const double position = static_cast<double>(j) * factor_at[b];
          const int64_t below = std::min(static_cast<int64_t>(position), last);
          const int64_t above = std::min(below + 1, last);
          const auto fraction = static_cast<scalar_t>(std::clamp(position - static_cast<double>(below), 0.0, 1.0));
          row[j] = clip[below] + (clip[above] - clip[below]) * fraction;
        }
      }
    });
  });
  return {out, changed};
}

// Circular shift of each clip's valid part by shift[b] samples (positive: later); the padding
// is left as it is.
torch::Tensor circular_shift(const torch::Tensor& waveforms, const torch::Tensor& lengths, const torch::Tensor& shift) {
  if (!waveforms.is_cpu()) {
    const torch::Device device = waveforms.device();
    torch::Tensor period = lengths.clamp_min(1).to(device).unsqueeze(1);
    torch::Tensor index = (torch::arange(waveforms.size(1), kCpuLong.device(device)).unsqueeze(0) -
                           shift.to(device).unsqueeze(1))
                              .remainder(period);
    return gather_rows(waveforms, index, lengths, waveforms);
  }
  torch::Tensor out = waveforms.clone();
  auto length_at = lengths.accessor<int64_t, 1>();
  auto shift_at = shift.accessor<int64_t, 1>();
  for (int64_t b = 0; b < waveforms.size(0); ++b) {
    const int64_t length = length_at[b];
    if (length == 0) continue;
    const int64_t k = ((shift_at[b] % length) + length) % length;  // in [0, length)
    if (k == 0) continue;
    torch::Tensor clip = waveforms[b];
    out[b].narrow(0, 0, k).copy_(clip.narrow(0, length - k, k));
    out[b].narrow(0, k, length - k).copy_(clip.narrow(0, 0, length - k));
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Log-mel front end

void LogMelOptions::validate() const {
  PRETEXT_CHECK(sample_rate > 0, ConfigError, "log-mel option 'sample_rate' must be > 0, got ", sample_rate);
  PRETEXT_CHECK(window > 0, ConfigError, "log-mel option 'window' must be > 0 samples, got ", window);
  PRETEXT_CHECK(hop > 0, ConfigError, "log-mel option 'hop' must be > 0 samples, got ", hop);
  PRETEXT_CHECK(n_fft >= window, ConfigError, "log-mel option 'n_fft' must be ≥ 'window' (", window, "), got ", n_fft);
  PRETEXT_CHECK(mels > 0, ConfigError, "log-mel option 'mels' must be > 0, got ", mels);
  const double nyquist = static_cast<double>(sample_rate) / 2.0;
  PRETEXT_CHECK(std::isfinite(f_min) && f_min >= 0.0, ConfigError, "log-mel option 'f_min' must be ≥ 0 Hz, got ",
                f_min);
  PRETEXT_CHECK(std::isfinite(f_max) && f_max >= 0.0 && f_max <= nyquist, ConfigError,
                "log-mel option 'f_max' must be in [0, sample_rate / 2 = ", nyquist, "] Hz (0 = sample_rate / 2), got ",
                f_max);
  PRETEXT_CHECK(f_min < upper_frequency(*this), ConfigError, "log-mel option 'f_min' (", f_min,
                " Hz) must be below f_max (", upper_frequency(*this), " Hz)");
}

nlohmann::json LogMelOptions::to_json() const {
  return nlohmann::json{{"sample_rate", sample_rate}, {"window", window}, {"hop", hop}, {"n_fft", n_fft},
                        {"mels", mels},               {"f_min", f_min},   {"f_max", f_max}};
}

LogMelOptions LogMelOptions::from_json(const nlohmann::json& values) {
  const std::string where = "log-mel options";
  LogMelOptions options;
  OptionReader reader(values, where);
  reader.read("sample_rate", options.sample_rate)
      .read("window", options.window)
      .read("hop", options.hop)
      .read("n_fft", options.n_fft)
      .read("mels", options.mels)
      .read("f_min", options.f_min)
      .read("f_max", options.f_max);
  reader.finish();
  try {
    options.validate();
  } catch (const ConfigError& error) {
    throw ConfigError(where + ": " + error.what());
  }
  return options;
}

torch::Tensor mel_filterbank(const LogMelOptions& options) {
  options.validate();
  return filterbank_in_double(options).to(torch::kFloat);
}

LogMel::LogMel(LogMelOptions options) : options_(options) {
  options_.validate();
  // Kept in double and cast to the input's dtype on use, so that double inputs get double weights.
  filterbank_ = filterbank_in_double(options_);
  window_ = torch::hann_window(options_.window, /*periodic=*/true, torch::kDouble);
}

torch::Tensor LogMel::operator()(const torch::Tensor& waveforms) const {
  PRETEXT_CHECK(waveforms.defined() && waveforms.dim() == 2, InputError, "log-mel: expected waveforms [B, L], got ",
                waveforms.defined() ? waveforms.sizes() : torch::IntArrayRef{});
  PRETEXT_CHECK(waveforms.is_floating_point(), InputError, "log-mel: expected float waveforms, got ", waveforms.dtype());
  // Half and bfloat16 inputs are computed in float (torch::stft takes half only on CUDA, and
  // only for power-of-two sizes).
  torch::Tensor x = waveforms.scalar_type() == torch::kDouble ? waveforms : waveforms.to(torch::kFloat);
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t frames = 1 + length / options_.hop;
  const auto options = x.options();
  if (batch == 0) return torch::empty({0, options_.mels, frames}, options);

  // Centred frames reflect n_fft/2 samples at each end, which needs more than n_fft/2 samples:
  // shorter clips are first extended with zeros (their frames then see zeros past the end, as
  // a padded clip in a batch does). With an odd n_fft, torch pads (n_fft − 1)/2 per side, one
  // frame short of 1 + L / hop when hop divides L; one more zero restores it.
  const int64_t half = options_.n_fft / 2;
  const int64_t padded = std::max(length, half + 1) + (options_.n_fft % 2);
  if (padded > length) x = F::pad(x, F::PadFuncOptions({0, padded - length}));

  // The window is zero-padded (centred) to n_fft by torch::stft itself (win_length < n_fft).
  // The `center` overload has the same arguments in LibTorch 1.13 and 2.x; 2.x requires
  // return_complex=true for real input, which 1.13 accepts too.
  torch::Tensor spectrum = torch::stft(x, options_.n_fft, options_.hop, options_.window, window_.to(options),
                                       /*center=*/true, "reflect", /*normalized=*/false, /*onesided=*/true,
                                       /*return_complex=*/true)
                               .slice(2, 0, frames);
  // torch::stft lays its output out as [B, frames, bins] (the [B, bins, frames] result is a
  // transposed view): working in that layout makes |X|² one elementwise pass and the
  // filterbank one matrix product. (view_as_real(…).square().sum(-1), a reduction over a
  // dimension of 2, took 190 ms of 330 for a [256, 16000] batch on 2 cores.)
  torch::Tensor parts = torch::view_as_real(spectrum.transpose(1, 2));  // [B, frames, bins, 2]
  torch::Tensor real = parts.select(3, 0);
  torch::Tensor imaginary = parts.select(3, 1);
  torch::Tensor power = real.square().addcmul_(imaginary, imaginary);  // [B, frames, bins], contiguous
  const int64_t bins = power.size(2);
  torch::Tensor mel = torch::mm(power.reshape({batch * frames, bins}), filterbank_.t().to(options));
  return mel.add_(kLogFloor).log_().view({batch, frames, options_.mels}).transpose(1, 2).contiguous();
}

torch::Tensor LogMel::frames_for(const torch::Tensor& lengths) const {
  PRETEXT_CHECK(lengths.defined() && !lengths.is_floating_point(), InputError,
                "log-mel: frames_for expects integer sample lengths");
  return lengths.to(torch::kLong).div(options_.hop, "floor").add_(1);
}

// ---------------------------------------------------------------------------------------------
// Packed frames

torch::Tensor pack_frames(const torch::Tensor& log_mels, const torch::Tensor& frames) {
  PRETEXT_CHECK(log_mels.defined() && log_mels.dim() == 3, InputError, "pack_frames: expected log-mels [B, mels, T], got ",
                log_mels.defined() ? log_mels.sizes() : torch::IntArrayRef{});
  PRETEXT_CHECK(frames.defined() && frames.dim() == 1 && frames.size(0) == log_mels.size(0) &&
                    !frames.is_floating_point(),
                InputError, "pack_frames: expected integer frame counts [", log_mels.size(0), "], got ",
                frames.defined() ? frames.sizes() : torch::IntArrayRef{});
  torch::Tensor mask = valid_mask(frames.to(torch::kLong), log_mels.size(2), log_mels.device());  // [B, T]
  // where(), not a product: a non-finite value in a padding frame still becomes 0.
  torch::Tensor values = torch::where(mask.unsqueeze(1), log_mels, torch::zeros({}, log_mels.options()));
  return torch::cat({mask.unsqueeze(1).to(log_mels.dtype()), values}, 1);
}

std::pair<torch::Tensor, torch::Tensor> unpack_frames(const torch::Tensor& packed) {
  PRETEXT_CHECK(packed.defined() && packed.dim() == 3 && packed.size(1) >= 2, InputError,
                "unpack_frames: expected packed frames [B, 1 + mels, T], got ",
                packed.defined() ? packed.sizes() : torch::IntArrayRef{});
  return {packed.slice(1, 1), packed.select(1, 0) > 0.5};
}

// ---------------------------------------------------------------------------------------------
// Augmentation options

void AudioAugmentOptions::validate() const {
  check_audio_non_negative(crop_seconds, "crop_seconds");
  check_audio_non_negative(gain_db, "gain_db");
  check_finite(noise_probability, "noise_probability");
  PRETEXT_CHECK(noise_probability >= 0.0 && noise_probability <= 1.0, ConfigError,
                "audio option 'noise_probability' is a probability and must be in [0,1], got ", noise_probability);
  check_finite(noise_snr_min_db, "noise_snr_min_db");
  check_finite(noise_snr_max_db, "noise_snr_max_db");
  PRETEXT_CHECK(noise_snr_min_db <= noise_snr_max_db, ConfigError, "audio option 'noise_snr_min_db' (",
                noise_snr_min_db, ") must be ≤ 'noise_snr_max_db' (", noise_snr_max_db, ")");
  check_audio_non_negative(shift_seconds, "shift_seconds");
  check_finite(speed_min, "speed_min");
  check_finite(speed_max, "speed_max");
  PRETEXT_CHECK(speed_min > 0.0, ConfigError, "audio option 'speed_min' must be > 0, got ", speed_min);
  PRETEXT_CHECK(speed_min <= speed_max, ConfigError, "audio option 'speed_min' (", speed_min,
                ") must be ≤ 'speed_max' (", speed_max, ")");
  PRETEXT_CHECK(time_masks >= 0, ConfigError, "audio option 'time_masks' must be ≥ 0, got ", time_masks);
  PRETEXT_CHECK(time_mask_frames >= 0, ConfigError, "audio option 'time_mask_frames' must be ≥ 0, got ",
                time_mask_frames);
  PRETEXT_CHECK(freq_masks >= 0, ConfigError, "audio option 'freq_masks' must be ≥ 0, got ", freq_masks);
  PRETEXT_CHECK(freq_mask_bins >= 0, ConfigError, "audio option 'freq_mask_bins' must be ≥ 0, got ", freq_mask_bins);
}

nlohmann::json AudioAugmentOptions::to_json() const {
  return nlohmann::json{{"crop_seconds", crop_seconds},
                        {"gain_db", gain_db},
                        {"noise_probability", noise_probability},
                        {"noise_snr_min_db", noise_snr_min_db},
                        {"noise_snr_max_db", noise_snr_max_db},
                        {"shift_seconds", shift_seconds},
                        {"speed_min", speed_min},
                        {"speed_max", speed_max},
                        {"time_masks", time_masks},
                        {"time_mask_frames", time_mask_frames},
                        {"freq_masks", freq_masks},
                        {"freq_mask_bins", freq_mask_bins}};
}

AudioAugmentOptions AudioAugmentOptions::from_json(const nlohmann::json& values) {
  const std::string where = "audio augmentation options";
  AudioAugmentOptions options;
  OptionReader reader(values, where);
  reader.read("crop_seconds", options.crop_seconds)
      .read("gain_db", options.gain_db)
      .read("noise_probability", options.noise_probability)
      .read("noise_snr_min_db", options.noise_snr_min_db)
      .read("noise_snr_max_db", options.noise_snr_max_db)
      .read("shift_seconds", options.shift_seconds)
      .read("speed_min", options.speed_min)
      .read("speed_max", options.speed_max)
      .read("time_masks", options.time_masks)
      .read("time_mask_frames", options.time_mask_frames)
      .read("freq_masks", options.freq_masks)
      .read("freq_mask_bins", options.freq_mask_bins);
  reader.finish();
  try {
    options.validate();
  } catch (const ConfigError& error) {
    throw ConfigError(where + ": " + error.what());
  }
  return options;
}

AudioAugmentOptions AudioAugmentOptions::none() {
  AudioAugmentOptions options;
  options.crop_seconds = 0;
  options.gain_db = 0;
  options.noise_probability = 0;
  options.shift_seconds = 0;
  options.speed_min = 1;
  options.speed_max = 1;
  options.time_masks = 0;
  options.time_mask_frames = 0;
  options.freq_masks = 0;
  options.freq_mask_bins = 0;
  return options;
}

// ---------------------------------------------------------------------------------------------
// Waveform augmentation

std::pair<torch::Tensor, torch::Tensor> augment_waveforms(const torch::Tensor& waveforms, const torch::Tensor& lengths,
                                                          int64_t sample_rate, const AudioAugmentOptions& options,
                                                          torch::Generator& generator) {
  options.validate();
  PRETEXT_CHECK(sample_rate > 0, ConfigError, "augment_waveforms: 'sample_rate' must be > 0, got ", sample_rate);
  PRETEXT_CHECK(waveforms.defined() && waveforms.dim() == 2 && waveforms.is_floating_point(), InputError,
                "augment_waveforms: expected float waveforms [B, L], got ",
                waveforms.defined() ? waveforms.sizes() : torch::IntArrayRef{});
  PRETEXT_CHECK(lengths.defined() && lengths.dim() == 1 && lengths.size(0) == waveforms.size(0) &&
                    !lengths.is_floating_point(),
                InputError, "augment_waveforms: expected integer lengths [", waveforms.size(0), "], got ",
                lengths.defined() ? lengths.sizes() : torch::IntArrayRef{});
  // Per-sample parameters live on the CPU; the samples stay on their device.
  torch::Tensor length = lengths.to(torch::kCPU, torch::kLong);
  const int64_t batch = waveforms.size(0);
  if (batch > 0) {
    PRETEXT_CHECK(length.min().item<int64_t>() >= 0 && length.max().item<int64_t>() <= waveforms.size(1), InputError,
                  "augment_waveforms: lengths must be in [0, ", waveforms.size(1), "], got ", length.min().item<int64_t>(),
                  " … ", length.max().item<int64_t>());
  }
  torch::Tensor x = waveforms;

  // The order keeps each stage's meaning: crop first (less work after it), speed before the
  // others so that the noise stays white and its SNR exact, gain before noise so that the SNR
  // is relative to the signal as heard.
  const int64_t crop = seconds_to_samples(options.crop_seconds, sample_rate);
  if (crop > 0) std::tie(x, length) = random_crop(x, length, crop, generator);

  if (options.speed_min != 1.0 || options.speed_max != 1.0) {
    torch::Tensor factor = uniform_draws(batch, options.speed_min, options.speed_max, generator);
    std::tie(x, length) = change_speed(x, length, factor);
  }

  const int64_t shift = seconds_to_samples(options.shift_seconds, sample_rate);
  if (shift > 0) {
    torch::Tensor samples = uniform_up_to(torch::full({batch}, 2 * shift, kCpuLong), generator) - shift;
    x = circular_shift(x, length, samples);
  }

  if (options.gain_db > 0) {
    torch::Tensor decibels = uniform_draws(batch, -options.gain_db, options.gain_db, generator);
    x = x * torch::pow(10.0, decibels / 20.0).to(x.options()).unsqueeze(1);
  }

  if (options.noise_probability > 0 && batch > 0) {
    // Every sample draws its SNR, chosen or not, so that one sample's SNR does not depend on
    // another's coin flip; the noise itself is drawn only for the chosen samples.
    torch::Tensor chosen = torch::rand({batch}, generator, torch::kDouble).lt(options.noise_probability);
    torch::Tensor snr_db = uniform_draws(batch, options.noise_snr_min_db, options.noise_snr_max_db, generator);
    torch::Tensor index = chosen.nonzero().flatten();
    const int64_t count = index.numel();
    if (count > 0 && x.size(1) > 0) {
      const bool all = count == batch;
      torch::Tensor device_index = index.to(x.device());
      torch::Tensor chosen_length = all ? length : length.index_select(0, index);
      torch::Tensor signal = all ? x : x.index_select(0, device_index);
      // Mean power over the valid part only (padding would dilute it); padding is zero, so the
      // sum over the row is the sum over the valid part.
      torch::Tensor power = signal.square().sum(1).to(torch::kCPU, torch::kDouble) /
                            chosen_length.clamp_min(1).to(torch::kDouble);
      torch::Tensor noise_std = (power / torch::pow(10.0, snr_db.index_select(0, index) / 10.0)).sqrt_();
      torch::Tensor noise = torch::randn({count, x.size(1)}, generator, torch::TensorOptions().dtype(x.dtype()));
      noise = noise.to(x.device()).mul_(noise_std.to(x.options()).unsqueeze(1));
      noise.masked_fill_(valid_mask(chosen_length, x.size(1), x.device()).logical_not_(), 0.0);
      x = all ? x + noise : x.index_add(0, device_index, noise);
    }
  }
  return {x, length.to(lengths.device())};
}

// ---------------------------------------------------------------------------------------------
// SpecAugment

torch::Tensor spec_augment(const torch::Tensor& packed, const AudioAugmentOptions& options,
                           torch::Generator& generator) {
  options.validate();
  PRETEXT_CHECK(packed.defined() && packed.dim() == 3 && packed.size(1) >= 2, InputError,
                "spec_augment: expected packed frames [B, 1 + mels, T], got ",
                packed.defined() ? packed.sizes() : torch::IntArrayRef{});
  const bool time = options.time_masks > 0 && options.time_mask_frames > 0;
  const bool frequency = options.freq_masks > 0 && options.freq_mask_bins > 0;
  const int64_t batch = packed.size(0);
  const int64_t mels = packed.size(1) - 1;
  const int64_t frames = packed.size(2);
  if (batch == 0 || !(time || frequency)) return packed;
  const torch::Device device = packed.device();

  // Masks as [B, K] widths and starts (Park et al. 2019, section 2: width uniform in [0, W],
  // start uniform in [0, extent − width]); a time mask stays within the sample's valid frames.
  auto draw_masks = [&](int64_t count, int64_t max_width, const torch::Tensor& extent, int64_t positions) {
    torch::Tensor extent_column = extent.unsqueeze(1).expand({batch, count});
    torch::Tensor width = torch::minimum(uniform_up_to(torch::full({batch, count}, max_width, kCpuLong), generator),
                                         extent_column);
    torch::Tensor start = uniform_up_to(extent_column - width, generator);
    torch::Tensor position = torch::arange(positions, kCpuLong).view({1, 1, positions});
    torch::Tensor inside = (position >= start.unsqueeze(2)) & (position < (start + width).unsqueeze(2));
    return inside.any(1).to(device);  // [B, positions]
  };

  torch::Tensor masked = torch::zeros({batch, mels, frames}, torch::TensorOptions().dtype(torch::kBool).device(device));
  if (time) {
    torch::Tensor valid = (packed.select(1, 0) > 0.5).sum(1).to(torch::kCPU, torch::kLong);
    masked |= draw_masks(options.time_masks, options.time_mask_frames, valid, frames).unsqueeze(1);
  }
  if (frequency) {
    torch::Tensor all_bins = torch::full({batch}, mels, kCpuLong);
    masked |= draw_masks(options.freq_masks, options.freq_mask_bins, all_bins, mels).unsqueeze(2);
  }
  torch::Tensor log_mels = packed.slice(1, 1).masked_fill(masked, 0.0);
  return torch::cat({packed.slice(1, 0, 1), log_mels}, 1);
}

}  // namespace pretext
