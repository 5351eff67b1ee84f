// Video files through FFmpeg (libavformat's probing and demuxing, libavcodec's decoders,
// libswscale's conversion): container and stream headers, packets that do not decode, frame
// sizes that change mid-stream, then the stride, padding and resize of read_video_file.
#include "harness.h"
#include "pretext/data/video.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    const auto path = pretext::fuzz::write_input(pretext::fuzz::scratch() / "input.mkv", data, size);
    pretext::VideoReadOptions options;
    options.frames = 4;  // what a clip of a short video needs: padding past the end is exercised
    options.stride = 2;
    options.size = size % 2 == 0 ? 0 : 16;  // both the native size and swscale's resize
    pretext::read_video_file(path.string(), options);
  });
}
