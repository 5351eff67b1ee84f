// Internal to data/: the codec behind read_audio() and write_audio(), on bytes in memory
// (spoken_words.cpp reads espeak-ng's output from a pipe, and writes thousands of clips into a
// folder that is made durable and renamed as a whole). `name` is what messages call the bytes.
#pragma once

#include <string>

#include "pretext/data/audio.h"

namespace pretext {

// Same guarantees and errors as read_audio().
AudioClip decode_audio(std::string bytes, const std::string& name);
// The 16-bit PCM WAV file write_audio() writes (samples clipped to [-1, 1], NaN as 0).
std::string encode_wav(const torch::Tensor& samples, int64_t sample_rate, const std::string& name);

}  // namespace pretext
