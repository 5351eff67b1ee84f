// IDX files (raw or gzip): header, dimensions, length.
#include "harness.h"
#include "pretext/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    pretext::read_idx(pretext::fuzz::write_input(pretext::fuzz::scratch() / "input-idx3-ubyte", data, size));
  });
}
