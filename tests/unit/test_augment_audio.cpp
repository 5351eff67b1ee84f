// The audio front end and its augmentation. The log-mels are checked against a reference
// computed here from the definitions (a naive DFT of one frame, the HTK formula by hand), not
// against the library's own pieces.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "pretext/augment/audio.h"
#include "pretext/core/error.h"
#include "pretext/core/runtime.h"
#include "test_files.h"

namespace pretext {
namespace {

using testing_files::kPi;
constexpr int64_t kRate = 16000;

// amplitude · sin(2π f t) sampled at kRate, float [length].
torch::Tensor sine(double hz, int64_t length, double amplitude = 0.5) {
  return torch::arange(length, torch::kDouble).mul(2 * kPi * hz / kRate).sin().mul(amplitude).to(torch::kFloat);
}

// Zero-padded batch of noise clips with the given lengths, and the lengths as int64 [B].
std::pair<torch::Tensor, torch::Tensor> noise_batch(const std::vector<int64_t>& lengths, uint64_t seed = 11) {
  torch::Generator generator = make_generator(seed);
  int64_t longest = 0;
  for (int64_t length : lengths) longest = std::max(longest, length);
  const int64_t batch = static_cast<int64_t>(lengths.size());
  torch::Tensor waveforms = torch::randn({batch, longest}, generator, torch::kFloat).mul_(0.1);
  torch::Tensor length_tensor = torch::tensor(lengths, torch::kLong);
  waveforms.masked_fill_(torch::arange(longest).unsqueeze(0) >= length_tensor.unsqueeze(1), 0.0);
  return {waveforms, length_tensor};
}

// True when every sample is exactly 0 from its length on.
bool padding_is_zero(const torch::Tensor& waveforms, const torch::Tensor& lengths) {
  torch::Tensor padding = torch::arange(waveforms.size(1)).unsqueeze(0) >= lengths.cpu().unsqueeze(1);
  return waveforms.cpu().masked_select(padding).eq(0).all().item<bool>();
}

// Options with every stage off but the one a test turns on.
AudioAugmentOptions only(void (*turn_on)(AudioAugmentOptions&)) {
  AudioAugmentOptions options = AudioAugmentOptions::none();
  turn_on(options);
  return options;
}

// Expects `run` to throw ConfigError whose message names `field`.
template <class Run>
void expect_config_error_naming(Run run, const std::string& field) {
  try {
    run();
    ADD_FAILURE() << "no ConfigError for '" << field << "'";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("'" + field + "'"), std::string::npos) << error.what();
  }
}

// ---------------------------------------------------------------------------------------------
// The independent reference: one frame's log-mels from a naive DFT and the HTK formula.

double htk_mel(double hz) { return 2595.0 * std::log10(1.0 + hz / 700.0); }
double htk_hz(double mel) { return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0); }

// The filters' edges in Hz: mels + 2 points equally spaced in mel; filter m rises from edge m,
// peaks at edge m + 1 (its centre) and falls to edge m + 2.
std::vector<double> filter_edges(const LogMelOptions& options) {
  const double top = options.f_max > 0 ? options.f_max : options.sample_rate / 2.0;
  std::vector<double> edges;
  for (int64_t i = 0; i < options.mels + 2; ++i) {
    const double mel = htk_mel(options.f_min) + (htk_mel(top) - htk_mel(options.f_min)) * i / (options.mels + 1);
    edges.push_back(htk_hz(mel));
  }
  return edges;
}

// Frame `frame` of a centred STFT: samples [frame·hop − n_fft/2, frame·hop + n_fft/2) of the
// signal (they must lie inside it), the periodic Hann window of `window` samples centred in
// n_fft, |DFT|², triangular mel weights, log(· + 1e-6).
std::vector<double> reference_log_mels(const std::vector<double>& signal, int64_t frame, const LogMelOptions& options) {
  const int64_t first = frame * options.hop - options.n_fft / 2;
  const int64_t window_offset = (options.n_fft - options.window) / 2;
  std::vector<double> power(options.n_fft / 2 + 1);
  for (int64_t k = 0; k <= options.n_fft / 2; ++k) {
    double real = 0, imaginary = 0;
    for (int64_t n = 0; n < options.window; ++n) {
      const double hann = 0.5 - 0.5 * std::cos(2 * kPi * n / options.window);
      const int64_t m = window_offset + n;  // position in the n_fft-long frame
      const double value = hann * signal.at(first + m);
      real += value * std::cos(2 * kPi * k * m / options.n_fft);
      imaginary -= value * std::sin(2 * kPi * k * m / options.n_fft);
    }
    power[k] = real * real + imaginary * imaginary;
  }
  const std::vector<double> edges = filter_edges(options);
  std::vector<double> out;
  for (int64_t m = 0; m < options.mels; ++m) {
    double energy = 0;
    for (int64_t k = 0; k <= options.n_fft / 2; ++k) {
      const double hz = static_cast<double>(k) * options.sample_rate / options.n_fft;
      const double up = (hz - edges[m]) / (edges[m + 1] - edges[m]);
      const double down = (edges[m + 2] - hz) / (edges[m + 2] - edges[m + 1]);
      energy += std::max(0.0, std::min(up, down)) * power[k];
    }
    out.push_back(std::log(energy + 1e-6));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Log-mel front end

TEST(LogMel, FilterbankIsTrianglesBetweenFminAndFmax) {
  LogMelOptions options;
  torch::Tensor bank = mel_filterbank(options);
  ASSERT_EQ(bank.sizes(), (std::vector<int64_t>{64, 257}));
  EXPECT_EQ(bank.scalar_type(), torch::kFloat);
  EXPECT_GE(bank.min().item<float>(), 0.0f);
  EXPECT_LE(bank.max().item<float>(), 1.0f);
  // No area normalisation: every filter that spans a bin near its centre peaks close to 1.
  torch::Tensor peaks = std::get<0>(bank.max(1));
  EXPECT_GT(peaks.slice(0, 20).min().item<float>(), 0.6f);
  // Nothing below f_min = 20 Hz (bin 0 is 0 Hz) nor above f_max.
  EXPECT_EQ(bank.select(1, 0).abs().sum().item<float>(), 0.0f);
  options.f_max = 4000;
  torch::Tensor low = mel_filterbank(options);
  EXPECT_EQ(low.slice(1, 129).abs().sum().item<float>(), 0.0f);  // bin 128 = 4000 Hz
  EXPECT_GT(low.slice(1, 100, 128).sum().item<float>(), 0.0f);
  // Each filter rises to its centre and falls after it: one maximum, at the bin nearest the centre.
  const std::vector<double> edges = filter_edges(LogMelOptions{});
  torch::Tensor argmax = std::get<1>(bank.max(1));
  for (int64_t m = 10; m < 64; ++m) {
    const double centre_bin = edges[m + 1] * 512 / kRate;
    EXPECT_LE(std::abs(argmax[m].item<int64_t>() - centre_bin), 0.5 + 1e-9) << "mel " << m;
  }
}

TEST(LogMel, PureToneMatchesNaiveDftReference) {
  const LogMelOptions options;  // 16 kHz, window 400, hop 160, n_fft 512, 64 mels, 20 Hz – 8 kHz
  LogMel log_mel(options);
  const int64_t length = kRate;
  torch::Tensor tone = sine(1000, length);
  torch::Tensor out = log_mel(tone.unsqueeze(0));
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{1, 64, 1 + length / 160}));
  EXPECT_TRUE(torch::isfinite(out).all().item<bool>());

  torch::Tensor tone_double = tone.to(torch::kDouble);
  std::vector<double> signal(tone_double.data_ptr<double>(), tone_double.data_ptr<double>() + length);
  const int64_t frame = 50;  // centred on sample 8000, far from both ends
  std::vector<double> expected = reference_log_mels(signal, frame, options);
  const double peak_energy = *std::max_element(expected.begin(), expected.end());
  for (int64_t m = 0; m < options.mels; ++m) {
    const double got = out[0][m][frame].item<double>();
    // Float32 FFT error is ~1e-7 of the peak's magnitude: tight where the tone puts energy (seen:
    // ≤ 1e-5), looser in bins that see only window side lobes near the 1e-6 floor (seen: ≤ 5e-4).
    const double tolerance = expected[m] > peak_energy - std::log(1e6) ? 1e-4 : 2e-3;
    EXPECT_NEAR(got, expected[m], tolerance) << "mel " << m;
  }

  // A double input is computed in double: the same reference, tightly.
  torch::Tensor out_double = log_mel(tone_double.unsqueeze(0));
  EXPECT_EQ(out_double.scalar_type(), torch::kDouble);
  for (int64_t m = 0; m < options.mels; ++m) {
    EXPECT_NEAR(out_double[0][m][frame].item<double>(), expected[m], 1e-6) << "mel " << m;
  }
}

TEST(LogMel, NoiseFramesMatchTheReferenceInDouble) {
  // A steady tone's power spectrum hardly depends on where the window sits; noise does, so this
  // checks the frame's placement (centring, the window's offset inside n_fft) and its shape.
  LogMelOptions options;
  options.window = 300;  // an uneven split of n_fft − window: offset 106
  options.mels = 40;
  options.f_max = 7000;
  torch::Generator generator = make_generator(12);
  torch::Tensor noise = torch::randn({4000}, generator, torch::kDouble);
  torch::Tensor out = LogMel(options)(noise.unsqueeze(0));
  std::vector<double> signal(noise.data_ptr<double>(), noise.data_ptr<double>() + noise.numel());
  for (int64_t frame : {2, 11, 20}) {
    std::vector<double> expected = reference_log_mels(signal, frame, options);
    for (int64_t m = 0; m < options.mels; ++m) {
      EXPECT_NEAR(out[0][m][frame].item<double>(), expected[m], 1e-6) << "frame " << frame << ", mel " << m;
    }
  }
}

TEST(LogMel, ToneEnergyPeaksAtTheMelBinWhoseCentreIsClosest) {
  const LogMelOptions options;
  const std::vector<double> edges = filter_edges(options);
  for (double hz : {300.0, 1000.0, 2500.0}) {
    int64_t closest = 0;
    for (int64_t m = 1; m < options.mels; ++m) {
      if (std::abs(edges[m + 1] - hz) < std::abs(edges[closest + 1] - hz)) closest = m;
    }
    torch::Tensor out = LogMel(options)(sine(hz, kRate).unsqueeze(0));
    // Every frame away from the ends.
    torch::Tensor peak_bins = out[0].slice(1, 5, -5).argmax(0);
    EXPECT_TRUE(peak_bins.eq(closest).all().item<bool>()) << hz << " Hz: expected mel " << closest << ", got "
                                                          << peak_bins.slice(0, 0, 5);
  }
}

TEST(LogMel, FramesForMatchesTheOutputIncludingShortAndOddCases) {
  LogMelOptions odd;
  odd.n_fft = 401;
  odd.hop = 100;
  for (const LogMelOptions& options : {LogMelOptions{}, odd}) {
    LogMel log_mel(options);
    for (int64_t length : {0, 1, 100, 255, 256, 257, 400, 1600, 7000, 16000, 16001}) {
      torch::Tensor out = log_mel(torch::randn({2, length}));
      const int64_t expected = log_mel.frames_for(torch::tensor({length})).item<int64_t>();
      EXPECT_EQ(expected, 1 + length / options.hop);
      EXPECT_EQ(out.size(2), expected) << "n_fft " << options.n_fft << ", length " << length;
      EXPECT_EQ(out.size(1), options.mels);
      EXPECT_TRUE(torch::isfinite(out).all().item<bool>()) << "length " << length;
    }
  }
  torch::Tensor lengths = torch::tensor({0, 159, 160, 16000}, torch::kLong);
  EXPECT_TRUE(torch::equal(LogMel(LogMelOptions{}).frames_for(lengths), torch::tensor({1, 1, 2, 101}, torch::kLong)));
  EXPECT_EQ(LogMel(LogMelOptions{})(torch::zeros({0, 800})).sizes(), (std::vector<int64_t>{0, 64, 6}));
  EXPECT_THROW(LogMel(LogMelOptions{})(torch::zeros({800})), InputError);
}

TEST(LogMel, ValidFramesOfAPaddedClipMatchTheClipAlone) {
  const LogMelOptions options;
  LogMel log_mel(options);
  auto [batch, lengths] = noise_batch({16000, 7000, 3000});
  torch::Tensor together = log_mel(batch);
  torch::Tensor frames = log_mel.frames_for(lengths);
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t length = lengths[b].item<int64_t>();
    torch::Tensor alone = log_mel(batch[b].slice(0, 0, length).unsqueeze(0))[0];
    ASSERT_EQ(alone.size(1), frames[b].item<int64_t>());
    // A frame's n_fft samples span [t·hop − n_fft/2, t·hop + n_fft/2). Frames whose span ends
    // inside the clip see the same samples alone and in the batch; later valid frames reach past
    // the end, where the clip alone reflects itself and the batch row holds zeros, so they differ.
    const int64_t same = (length - options.n_fft / 2) / options.hop + 1;
    ASSERT_GT(same, 10);
    EXPECT_TRUE(torch::allclose(together[b].slice(1, 0, same), alone.slice(1, 0, same), 1e-4, 1e-4))
        << "sample " << b << ": " << (together[b].slice(1, 0, same) - alone.slice(1, 0, same)).abs().max();
    if (length < 16000) {
      EXPECT_FALSE(torch::allclose(together[b].slice(1, same, alone.size(1)), alone.slice(1, same), 1e-4, 1e-4))
          << "the edge frames were expected to differ; the comparison above may be too narrow";
    }
  }
}

TEST(LogMel, OptionsValidateAndRoundTripThroughJson) {
  LogMelOptions options;
  options.mels = 40;
  options.f_max = 7600;
  LogMelOptions back = LogMelOptions::from_json(options.to_json());
  EXPECT_EQ(back.to_json(), options.to_json());
  EXPECT_EQ(LogMelOptions::from_json(nlohmann::json::object()).to_json(), LogMelOptions{}.to_json());
  expect_config_error_naming([] { LogMelOptions::from_json({{"hop_length", 160}}); }, "hop_length");
  expect_config_error_naming([] { LogMelOptions::from_json({{"mels", "many"}}); }, "mels");
  expect_config_error_naming([] { LogMelOptions::from_json({{"n_fft", 256}}); }, "n_fft");  // < window 400
  auto invalid = [](void (*change)(LogMelOptions&)) {
    return [change] {
      LogMelOptions options;
      change(options);
      LogMel{options};
    };
  };
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.window = 0; }), "window");
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.hop = -1; }), "hop");
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.mels = 0; }), "mels");
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.sample_rate = 0; }), "sample_rate");
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.f_max = 9000; }), "f_max");
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.f_min = -1; }), "f_min");
  expect_config_error_naming(invalid([](LogMelOptions& o) { o.f_min = 8000; }), "f_min");
}

// ---------------------------------------------------------------------------------------------
// Packed frames

TEST(AudioPacking, PackUnpackRoundTripWithMaskRowAndZeroPadding) {
  torch::Tensor log_mels = torch::randn({3, 5, 7});
  log_mels[1][2][6] = std::numeric_limits<float>::quiet_NaN();  // in sample 1's padding
  torch::Tensor frames = torch::tensor({7, 4, 0}, torch::kLong);
  torch::Tensor packed = pack_frames(log_mels, frames);
  ASSERT_EQ(packed.sizes(), (std::vector<int64_t>{3, 6, 7}));
  torch::Tensor expected_mask = torch::arange(7).unsqueeze(0) < frames.unsqueeze(1);
  EXPECT_TRUE(torch::equal(packed.select(1, 0), expected_mask.to(torch::kFloat)));
  EXPECT_TRUE(torch::isfinite(packed).all().item<bool>());

  auto [values, mask] = unpack_frames(packed);
  EXPECT_EQ(mask.scalar_type(), torch::kBool);
  EXPECT_TRUE(torch::equal(mask, expected_mask));
  EXPECT_EQ(values.sizes(), log_mels.sizes());
  torch::Tensor valid = mask.unsqueeze(1).expand_as(values);
  EXPECT_TRUE(torch::equal(values.masked_select(valid), log_mels.masked_select(valid)));
  EXPECT_TRUE(values.masked_select(valid.logical_not()).eq(0).all().item<bool>());
  // Packing what was unpacked gives the same tensor back.
  EXPECT_TRUE(torch::equal(pack_frames(values, mask.sum(1)), packed));
  EXPECT_THROW(pack_frames(log_mels, torch::tensor({7, 4}, torch::kLong)), InputError);
  EXPECT_THROW(unpack_frames(torch::zeros({3, 1, 7})), InputError);
}

// ---------------------------------------------------------------------------------------------
// Waveform augmentation

TEST(AudioAugment, SameSeedSameOutputDifferentSeedDifferentOutput) {
  AudioAugmentOptions options;  // every stage on, noise always
  options.noise_probability = 1.0;
  options.crop_seconds = 0.5;
  torch::Tensor waveforms, lengths;
  std::tie(waveforms, lengths) = noise_batch({16000, 12000, 5000, 9000});
  auto run = [&](uint64_t seed) {
    torch::Generator generator = make_generator(seed);
    return augment_waveforms(waveforms, lengths, kRate, options, generator);
  };
  auto [a, a_lengths] = run(42);
  auto [b, b_lengths] = run(42);
  auto [c, c_lengths] = run(43);
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_TRUE(torch::equal(a_lengths, b_lengths));
  EXPECT_FALSE(a.sizes() == c.sizes() && torch::allclose(a, c));
  for (const auto& [out, out_lengths] : {std::pair{a, a_lengths}, std::pair{c, c_lengths}}) {
    EXPECT_EQ(out.dim(), 2);
    EXPECT_EQ(out.size(0), 4);
    EXPECT_EQ(out_lengths.scalar_type(), torch::kLong);
    EXPECT_EQ(out.size(1), out_lengths.max().item<int64_t>());  // padded to the longest
    // Crop to 8000 samples, then speed 0.9–1.1: at most 8000 / 0.9 samples.
    EXPECT_LE(out_lengths.max().item<int64_t>(), 8889);
    EXPECT_TRUE(padding_is_zero(out, out_lengths));
    EXPECT_TRUE(torch::isfinite(out).all().item<bool>());
  }
  // Identical clips get different parameters.
  torch::Tensor same = waveforms[0].unsqueeze(0).repeat({4, 1});
  torch::Generator generator = make_generator(5);
  auto [views, view_lengths] = augment_waveforms(same, torch::full({4}, 16000, torch::kLong), kRate, options, generator);
  for (int64_t i = 1; i < 4; ++i) EXPECT_FALSE(torch::allclose(views[0], views[i])) << "sample " << i;
}

TEST(AudioAugment, NoneChangesNothing) {
  auto [waveforms, lengths] = noise_batch({16000, 7000});
  torch::Generator generator = make_generator(1);
  const AudioAugmentOptions none = AudioAugmentOptions::none();
  auto [out, out_lengths] = augment_waveforms(waveforms, lengths, kRate, none, generator);
  EXPECT_TRUE(torch::equal(out, waveforms));
  EXPECT_TRUE(torch::equal(out_lengths, lengths));
  LogMel log_mel{LogMelOptions{}};
  torch::Tensor packed = pack_frames(log_mel(waveforms), log_mel.frames_for(lengths));
  EXPECT_TRUE(torch::equal(spec_augment(packed, none, generator), packed));
}

TEST(AudioAugment, NoiseHasTheDrawnSnrOnTheValidPart) {
  AudioAugmentOptions options = only([](AudioAugmentOptions& o) {
    o.noise_probability = 1.0;
    o.noise_snr_min_db = 10;
    o.noise_snr_max_db = 10;
  });
  torch::Tensor clean = torch::zeros({3, 16000});
  clean[0] = sine(440, 16000, 0.5);
  clean[1].slice(0, 0, 8000) = sine(1000, 8000, 0.05);  // half the batch width: padding must not count
  clean[2].slice(0, 0, 4000) = sine(3000, 4000, 0.9);
  torch::Tensor lengths = torch::tensor({16000, 8000, 4000}, torch::kLong);
  torch::Generator generator = make_generator(3);
  auto [noisy, noisy_lengths] = augment_waveforms(clean, lengths, kRate, options, generator);
  EXPECT_TRUE(torch::equal(noisy_lengths, lengths));
  EXPECT_TRUE(padding_is_zero(noisy, lengths));
  torch::Tensor noise = noisy - clean;
  for (int64_t b = 0; b < 3; ++b) {
    const int64_t length = lengths[b].item<int64_t>();
    const double signal_power = clean[b].slice(0, 0, length).square().mean().item<double>();
    const double noise_power = noise[b].slice(0, 0, length).square().mean().item<double>();
    // The measured noise power of N white samples has a relative spread of √(2/N) (≤ 2.3%, 0.1 dB).
    EXPECT_NEAR(10 * std::log10(signal_power / noise_power), 10.0, 0.4) << "sample " << b;
  }
  // A range: every measured SNR inside it (with the same estimation margin), not all equal.
  options.noise_snr_min_db = 5;
  options.noise_snr_max_db = 30;
  torch::Tensor many = sine(440, 16000).unsqueeze(0).repeat({16, 1});
  auto [noisy_many, unused] = augment_waveforms(many, torch::full({16}, 16000, torch::kLong), kRate, options, generator);
  torch::Tensor snr = 10 * torch::log10(many.square().mean(1) / (noisy_many - many).square().mean(1));
  EXPECT_GE(snr.min().item<double>(), 5 - 0.4);
  EXPECT_LE(snr.max().item<double>(), 30 + 0.4);
  EXPECT_GT(snr.max().item<double>() - snr.min().item<double>(), 5.0);
}

TEST(AudioAugment, SpeedChangesLengthByTheFactorAndInterpolates) {
  AudioAugmentOptions options = only([](AudioAugmentOptions& o) {
    o.speed_min = 1.1;
    o.speed_max = 1.1;
  });
  // A ramp x[i] = i, so that linear interpolation at position j·1.1 is exactly j·1.1.
  torch::Tensor lengths = torch::tensor({16000, 11000}, torch::kLong);
  torch::Tensor ramp = torch::arange(16000, torch::kFloat).unsqueeze(0).repeat({2, 1});
  ramp[1].slice(0, 11000).zero_();
  torch::Generator generator = make_generator(0);
  auto [faster, faster_lengths] = augment_waveforms(ramp, lengths, kRate, options, generator);
  for (int64_t b = 0; b < 2; ++b) {
    const double length = lengths[b].item<double>();
    const int64_t changed = faster_lengths[b].item<int64_t>();
    EXPECT_NEAR(changed, length / 1.1, 1.0);
    torch::Tensor expected = torch::arange(changed, torch::kDouble).mul(1.1);
    EXPECT_TRUE(torch::allclose(faster[b].slice(0, 0, changed).to(torch::kDouble), expected, 1e-6, 2e-3))
        << "sample " << b;
    EXPECT_LE(faster[b].slice(0, 0, changed).max().item<double>(), length - 1);  // no extrapolation
  }
  EXPECT_EQ(faster.size(1), faster_lengths.max().item<int64_t>());
  EXPECT_TRUE(padding_is_zero(faster, faster_lengths));

  // Slower: longer clips, still within the factor's range.
  options.speed_min = 0.9;
  options.speed_max = 0.95;
  auto [slower, slower_lengths] = augment_waveforms(ramp, lengths, kRate, options, generator);
  for (int64_t b = 0; b < 2; ++b) {
    const double ratio = lengths[b].item<double>() / slower_lengths[b].item<double>();
    EXPECT_GE(ratio, 0.9 - 1e-3);
    EXPECT_LE(ratio, 0.95 + 1e-3);
  }
  EXPECT_TRUE(padding_is_zero(slower, slower_lengths));
}

TEST(AudioAugment, CropTakesASegmentOfEachLongerClip) {
  AudioAugmentOptions options = only([](AudioAugmentOptions& o) { o.crop_seconds = 0.25; });  // 4000 samples
  // Distinct values 1 … n per clip, so that a crop's first value tells where it starts.
  torch::Tensor lengths = torch::tensor({16000, 9000, 3000, 4000}, torch::kLong);
  torch::Tensor waveforms = torch::arange(1, 16001, torch::kFloat).unsqueeze(0).repeat({4, 1});
  waveforms.masked_fill_(torch::arange(16000).unsqueeze(0) >= lengths.unsqueeze(1), 0.0);
  torch::Generator generator = make_generator(8);
  auto [cropped, cropped_lengths] = augment_waveforms(waveforms, lengths, kRate, options, generator);
  EXPECT_TRUE(torch::equal(cropped_lengths, torch::tensor({4000, 4000, 3000, 4000}, torch::kLong)));
  EXPECT_EQ(cropped.size(1), 4000);
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t length = cropped_lengths[b].item<int64_t>();
    const float start = cropped[b][0].item<float>();
    EXPECT_TRUE(torch::equal(cropped[b].slice(0, 0, length), torch::arange(start, start + length, torch::kFloat)));
    EXPECT_LE(start - 1 + length, lengths[b].item<float>());  // inside the valid part
  }
  EXPECT_EQ(cropped[3][0].item<float>(), 1.0f);  // exactly the crop's length: the whole clip
  EXPECT_TRUE(padding_is_zero(cropped, cropped_lengths));
}

TEST(AudioAugment, ShiftRotatesTheValidPartOnly) {
  AudioAugmentOptions options = only([](AudioAugmentOptions& o) { o.shift_seconds = 0.1; });  // ±1600
  auto [waveforms, lengths] = noise_batch({16000, 6000, 2000, 1000});
  torch::Generator generator = make_generator(4);
  auto [shifted, shifted_lengths] = augment_waveforms(waveforms, lengths, kRate, options, generator);
  EXPECT_TRUE(torch::equal(shifted_lengths, lengths));
  EXPECT_EQ(shifted.sizes(), waveforms.sizes());
  EXPECT_TRUE(padding_is_zero(shifted, lengths));
  int64_t moved = 0;
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t length = lengths[b].item<int64_t>();
    torch::Tensor clip = waveforms[b].slice(0, 0, length);
    torch::Tensor out = shifted[b].slice(0, 0, length);
    bool found = false;
    for (int64_t k = -1600; k <= 1600 && !found; ++k) found = torch::equal(out, torch::roll(clip, k));
    EXPECT_TRUE(found) << "sample " << b << " is not a rotation of its clip by at most 1600 samples";
    moved += torch::equal(out, clip) ? 0 : 1;
  }
  EXPECT_GT(moved, 0);
}

TEST(AudioAugment, GainStaysWithinTheRange) {
  AudioAugmentOptions options = only([](AudioAugmentOptions& o) { o.gain_db = 6; });
  auto [waveforms, lengths] = noise_batch({16000, 16000, 16000, 16000, 16000, 16000, 16000, 8000});
  torch::Generator generator = make_generator(6);
  auto [louder, louder_lengths] = augment_waveforms(waveforms, lengths, kRate, options, generator);
  EXPECT_TRUE(padding_is_zero(louder, louder_lengths));
  torch::Tensor ratio = louder.abs().sum(1) / waveforms.abs().sum(1);
  torch::Tensor decibels = 20 * torch::log10(ratio);
  EXPECT_LE(decibels.abs().max().item<double>(), 6 + 1e-3);
  EXPECT_GT(decibels.max().item<double>() - decibels.min().item<double>(), 1.0);
  // One factor per clip: the output is the input scaled.
  EXPECT_TRUE(torch::allclose(louder, waveforms * ratio.unsqueeze(1), 1e-5, 1e-6));
}

TEST(AudioAugment, OptionsValidateAndRoundTripThroughJson) {
  AudioAugmentOptions options;
  options.noise_snr_min_db = 0;
  options.time_masks = 3;
  EXPECT_EQ(AudioAugmentOptions::from_json(options.to_json()).to_json(), options.to_json());
  EXPECT_EQ(AudioAugmentOptions::from_json(AudioAugmentOptions::none().to_json()).to_json(),
            AudioAugmentOptions::none().to_json());
  expect_config_error_naming([] { AudioAugmentOptions::from_json({{"time_mask_width", 3}}); }, "time_mask_width");
  expect_config_error_naming([] { AudioAugmentOptions::from_json({{"gain_db", "loud"}}); }, "gain_db");
  expect_config_error_naming([] { AudioAugmentOptions::from_json({{"time_masks", -1}}); }, "time_masks");
  auto invalid = [](void (*change)(AudioAugmentOptions&)) {
    return [change] {
      AudioAugmentOptions options;
      change(options);
      options.validate();
    };
  };
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.time_mask_frames = -1; }), "time_mask_frames");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.freq_masks = -2; }), "freq_masks");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.freq_mask_bins = -1; }), "freq_mask_bins");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.crop_seconds = -1; }), "crop_seconds");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.gain_db = -3; }), "gain_db");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.shift_seconds = -0.1; }), "shift_seconds");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.noise_probability = 1.5; }), "noise_probability");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.noise_snr_min_db = 40; }), "noise_snr_min_db");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.speed_min = 1.2; }), "speed_min");
  expect_config_error_naming(invalid([](AudioAugmentOptions& o) { o.speed_min = 0; }), "speed_min");
  // The functions check their options too.
  auto [waveforms, lengths] = noise_batch({100});
  AudioAugmentOptions bad;
  bad.speed_min = 2;
  torch::Generator generator = make_generator(0);
  EXPECT_THROW(augment_waveforms(waveforms, lengths, kRate, bad, generator), ConfigError);
  EXPECT_THROW(augment_waveforms(waveforms, torch::tensor({101}, torch::kLong), kRate, AudioAugmentOptions{}, generator),
               InputError);
}

// ---------------------------------------------------------------------------------------------
// SpecAugment

// Runs of true values in a bool [N] tensor, as (start, width).
std::vector<std::pair<int64_t, int64_t>> runs(const torch::Tensor& flags) {
  std::vector<std::pair<int64_t, int64_t>> out;
  auto values = flags.to(torch::kCPU).contiguous();
  const bool* data = values.data_ptr<bool>();
  for (int64_t i = 0; i < values.numel();) {
    if (!data[i]) {
      ++i;
      continue;
    }
    int64_t end = i;
    while (end < values.numel() && data[end]) ++end;
    out.emplace_back(i, end - i);
    i = end;
  }
  return out;
}

TEST(SpecAugment, MasksOnlyValidFramesAndUpToTheConfiguredWidths) {
  AudioAugmentOptions options = AudioAugmentOptions::none();
  options.time_masks = 2;
  options.time_mask_frames = 10;
  options.freq_masks = 2;
  options.freq_mask_bins = 8;
  const int64_t batch = 64, mels = 40, frames = 101;
  // Log-mels of 1 everywhere (so 0 marks a mask), valid frames from 3 to 101.
  torch::Generator draw = make_generator(21);
  torch::Tensor valid = torch::randint(3, frames + 1, {batch}, draw, torch::kLong);
  torch::Tensor packed = pack_frames(torch::ones({batch, mels, frames}), valid);
  torch::Generator generator = make_generator(2);
  torch::Tensor out = spec_augment(packed, options, generator);
  ASSERT_EQ(out.sizes(), packed.sizes());
  EXPECT_TRUE(torch::equal(out.select(1, 0), packed.select(1, 0)));  // mask row untouched
  auto [values, mask] = unpack_frames(out);
  EXPECT_TRUE(values.masked_select(mask.logical_not().unsqueeze(1).expand_as(values)).eq(0).all().item<bool>());

  int64_t time_masked = 0, freq_masked = 0;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t count = valid[b].item<int64_t>();
    torch::Tensor zero = values[b].slice(1, 0, count).eq(0);  // [mels, valid frames]
    // Every bin zero: a time mask (frequency masks cover at most 2 × 8 of the 40 bins).
    torch::Tensor masked_frames = zero.all(0);
    // Zero in every frame that no time mask covers: a frequency mask. (When time masks cover a
    // short clip's every frame, no bin can be told apart: none is counted.)
    torch::Tensor open_frames = masked_frames.logical_not().nonzero().flatten();
    torch::Tensor masked_bins = open_frames.numel() > 0 ? zero.index_select(1, open_frames).all(1)
                                                        : torch::zeros({mels}, torch::kBool);
    // Each zero lies in a masked frame or a masked bin: nothing else was touched.
    EXPECT_TRUE(torch::equal(zero, masked_frames.unsqueeze(0) | masked_bins.unsqueeze(1))) << "sample " << b;
    // Two masks of at most 10 frames (overlapping ones merge: at most 20 in one run).
    auto frame_runs = runs(masked_frames);
    auto bin_runs = runs(masked_bins);
    EXPECT_LE(frame_runs.size(), 2u) << "sample " << b;
    EXPECT_LE(masked_frames.sum().item<int64_t>(), 20) << "sample " << b;
    for (auto [start, width] : frame_runs) EXPECT_LE(width, 20);
    EXPECT_LE(bin_runs.size(), 2u) << "sample " << b;
    EXPECT_LE(masked_bins.sum().item<int64_t>(), 16) << "sample " << b;
    time_masked += masked_frames.sum().item<int64_t>();
    freq_masked += masked_bins.sum().item<int64_t>();
  }
  EXPECT_GT(time_masked, 0);
  EXPECT_GT(freq_masked, 0);

  // Reproducible from the seed, and different for another.
  torch::Generator again = make_generator(2);
  torch::Generator other = make_generator(3);
  EXPECT_TRUE(torch::equal(spec_augment(packed, options, again), out));
  EXPECT_FALSE(torch::equal(spec_augment(packed, options, other), out));

  // Only one kind on: the other never appears; a clip of 3 frames is never masked past them.
  AudioAugmentOptions time_only = options;
  time_only.freq_masks = 0;
  torch::Tensor timed = unpack_frames(spec_augment(packed, time_only, generator)).first;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t count = valid[b].item<int64_t>();
    torch::Tensor zero = timed[b].slice(1, 0, count).eq(0);
    EXPECT_TRUE(torch::equal(zero, zero.all(0).unsqueeze(0).expand_as(zero))) << "sample " << b;
  }
}

// ---------------------------------------------------------------------------------------------
// CUDA: the same results on the GPU (skipped where this LibTorch has no CUDA device).

TEST(AudioAugmentCuda, LogMelAndAugmentationOnTheGpuMatchTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device in this LibTorch";
  LogMel log_mel{LogMelOptions{}};
  auto [waveforms, lengths] = noise_batch({16000, 7000, 200});
  torch::Tensor cpu = log_mel(waveforms);
  torch::Tensor gpu = log_mel(waveforms.to(torch::kCUDA));
  ASSERT_TRUE(gpu.is_cuda());
  EXPECT_TRUE(torch::allclose(gpu.cpu(), cpu, 1e-3, 1e-3)) << (gpu.cpu() - cpu).abs().max();

  AudioAugmentOptions options;  // every stage on; the GPU takes its batched paths, the CPU its per-clip ones
  options.noise_probability = 1.0;
  options.crop_seconds = 0.5;
  torch::Generator on_cpu = make_generator(4);
  torch::Generator on_gpu = make_generator(4);
  auto [cpu_out, cpu_lengths] = augment_waveforms(waveforms, lengths, kRate, options, on_cpu);
  auto [gpu_out, gpu_lengths] =
      augment_waveforms(waveforms.to(torch::kCUDA), lengths.to(torch::kCUDA), kRate, options, on_gpu);
  ASSERT_TRUE(gpu_out.is_cuda());
  EXPECT_TRUE(torch::equal(gpu_lengths.cpu(), cpu_lengths));
  EXPECT_TRUE(torch::allclose(gpu_out.cpu(), cpu_out, 1e-5, 1e-5)) << (gpu_out.cpu() - cpu_out).abs().max();

  torch::Tensor packed = pack_frames(cpu, log_mel.frames_for(lengths));
  torch::Generator masks_cpu = make_generator(5);
  torch::Generator masks_gpu = make_generator(5);
  EXPECT_TRUE(torch::equal(spec_augment(packed.to(torch::kCUDA), options, masks_gpu).cpu(),
                           spec_augment(packed, options, masks_cpu)));
}

}  // namespace
}  // namespace pretext
