// A fixed, platform-independent hash for choices that must not move between machines or runs:
// the spam-assassin split, per-clip seeds of the spoken-words corpus, tokenizer fingerprints.
#pragma once

#include <cstdint>
#include <string_view>

namespace pretext {

// FNV-1a, 64 bit.
inline uint64_t fnv1a(std::string_view bytes) {
  uint64_t hash = 0xCBF29CE484222325ULL;
  for (unsigned char byte : bytes) hash = (hash ^ byte) * 0x100000001B3ULL;
  return hash;
}

}  // namespace pretext
