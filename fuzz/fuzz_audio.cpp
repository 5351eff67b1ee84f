// Sound files (WAV, AIFF, AU, FLAC, OGG and whatever else libsndfile recognises): headers,
// declared lengths against the bytes there, channel mix-down, then the resampler on the result.
#include "harness.h"
#include "pretext/data/audio.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    const auto path = pretext::fuzz::write_input(pretext::fuzz::scratch() / "input.wav", data, size);
    pretext::AudioClip clip = pretext::read_audio(path.string());
    // What load_audio_folder does next; a short clip keeps the fuzzer fast.
    if (clip.samples.size(0) <= 48000) pretext::resample(clip.samples, clip.sample_rate, 16000);
  });
}
