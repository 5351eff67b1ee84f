// CIFAR binary batches: the record layout (label byte(s) + 3×32×32) and the file's length.
#include "harness.h"
#include "pretext/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    const auto folder = pretext::fuzz::scratch() / "cifar";
    pretext::fuzz::write_input(folder / "test_batch.bin", data, size);
    pretext::read_cifar(folder, "test");
  });
}
