// Checkpoints: the header line (length, CRC-32) and, for inputs that pass it, LibTorch's archive
// and the state read from it.
#include "harness.h"
#include "pretext/train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    pretext::read_checkpoint_state(pretext::fuzz::write_input(pretext::fuzz::scratch() / "last.pt", data, size));
  });
}
