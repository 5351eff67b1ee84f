// Image decoding (stb_image: PNG, JPEG, BMP, GIF, TGA, …) through an image folder that fails on a
// bad file, so that every input reaches the decoder and its checks.
#include "harness.h"
#include "pretext/data/readers.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    const auto folder = pretext::fuzz::scratch() / "images";
    pretext::fuzz::write_input(folder / "input.png", data, size);
    pretext::ImageFolderOptions options;
    options.on_bad_file = "fail";
    pretext::read_image_folder(folder, options);
  });
}
