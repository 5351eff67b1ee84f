// Video files and folders, on tiny clips written here: FFV1/Matroska round trips, stride and
// clip length, resizing, frame folders, damaged files, class folders and splits.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/data/video.h"
#include "test_files.h"

#include "stb_write.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;

fs::path video_dir(const std::string& name) { return testing_files::fresh_dir("video_" + name); }
using testing_files::write_bytes;

// Random pixels: a lossless round trip must give back every one of them.
torch::Tensor random_frames(int64_t count, int64_t height, int64_t width, int64_t channels, uint64_t seed) {
  auto generator = at::detail::createCPUGenerator(seed);
  return torch::randint(0, 256, {count, height, width, channels}, generator, torch::kUInt8);
}

// Frame t is flat at brightness 10·t, so a frame's value says which frame it was.
torch::Tensor numbered_frames(int64_t count, int64_t height, int64_t width, int64_t channels) {
  return (torch::arange(count, torch::kInt64) * 10)
      .to(torch::kUInt8)
      .view({count, 1, 1, 1})
      .expand({count, height, width, channels})
      .contiguous();
}

// The brightness of each frame's first pixel, divided by 10: the frame numbers of a clip.
std::vector<int64_t> frame_numbers(const torch::Tensor& clip) {
  std::vector<int64_t> out;
  for (int64_t t = 0; t < clip.size(0); ++t) out.push_back(clip[t][0][0][0].item<int64_t>() / 10);
  return out;
}

VideoReadOptions clip_options(int64_t frames, int64_t stride = 1, int64_t size = 0, int64_t channels = 0) {
  VideoReadOptions options;
  options.frames = frames;
  options.stride = stride;
  options.size = size;
  options.channels = channels;
  return options;
}

void write_frame_png(const fs::path& path, const torch::Tensor& frame) {
  fs::create_directories(path.parent_path());
  torch::Tensor pixels = frame.contiguous();
  const int height = static_cast<int>(pixels.size(0)), width = static_cast<int>(pixels.size(1));
  const int channels = static_cast<int>(pixels.size(2));
  ASSERT_NE(stbi_write_png(path.c_str(), width, height, channels, pixels.data_ptr<uint8_t>(), width * channels), 0)
      << path;
}

// A folder of frame_000.png, frame_001.png, …
void write_frame_folder(const fs::path& folder, const torch::Tensor& frames) {
  for (int64_t t = 0; t < frames.size(0); ++t) {
    char name[32];
    std::snprintf(name, sizeof name, "frame_%03d.png", static_cast<int>(t));
    write_frame_png(folder / name, frames[t]);
  }
}

TEST(DataVideoFile, GrayAndRgbRoundTripsAreIdentical) {
  fs::path dir = video_dir("round_trip");
  for (int64_t channels : {1, 3}) {
    torch::Tensor frames = random_frames(6, 20, 28, channels, 7 + channels);
    fs::path file = dir / ("clip" + std::to_string(channels) + ".mkv");
    write_video_file(file.string(), frames, 25);
    torch::Tensor read = read_video_file(file.string(), clip_options(6));
    ASSERT_EQ(read.sizes(), frames.sizes()) << channels << " channel(s)";
    EXPECT_TRUE(torch::equal(read, frames)) << channels << " channel(s)";
  }
  // Written atomically: nothing but the two videos is left in the folder.
  int64_t files = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().extension(), ".mkv") << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 2);
}

TEST(DataVideoFile, StrideTakesEveryNthFrameAndShortVideosRepeatTheirLastFrame) {
  fs::path file = video_dir("stride") / "numbered.mkv";
  write_video_file(file.string(), numbered_frames(10, 8, 8, 1));
  EXPECT_EQ(frame_numbers(read_video_file(file.string(), clip_options(4, 2))), (std::vector<int64_t>{0, 2, 4, 6}));
  EXPECT_EQ(frame_numbers(read_video_file(file.string(), clip_options(3, 3))), (std::vector<int64_t>{0, 3, 6}));
  EXPECT_EQ(frame_numbers(read_video_file(file.string(), clip_options(5))), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  // 10 frames: stride 2 reaches frames 0, 2, 4, 6, 8 and then repeats 8.
  EXPECT_EQ(frame_numbers(read_video_file(file.string(), clip_options(7, 2))),
            (std::vector<int64_t>{0, 2, 4, 6, 8, 8, 8}));
  EXPECT_EQ(frame_numbers(read_video_file(file.string(), clip_options(12))),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9}));
}

TEST(DataVideoFile, ResizesToSizeAndConvertsChannels) {
  fs::path dir = video_dir("resize");
  fs::path gray = dir / "gray.mkv";
  write_video_file(gray.string(), numbered_frames(4, 24, 40, 1));
  torch::Tensor small = read_video_file(gray.string(), clip_options(4, 1, 12));
  ASSERT_EQ(small.sizes(), (std::vector<int64_t>{4, 12, 12, 1}));
  EXPECT_EQ(frame_numbers(small), (std::vector<int64_t>{0, 1, 2, 3}));  // flat frames stay flat
  EXPECT_EQ(small.max().item<int64_t>(), 30);
  EXPECT_EQ(small.min().item<int64_t>(), 0);

  torch::Tensor as_rgb = read_video_file(gray.string(), clip_options(4, 1, 0, 3));
  ASSERT_EQ(as_rgb.sizes(), (std::vector<int64_t>{4, 24, 40, 3}));
  EXPECT_TRUE(torch::equal(as_rgb.select(3, 0), as_rgb.select(3, 2)));

  fs::path color = dir / "color.mkv";
  torch::Tensor rgb = random_frames(2, 16, 16, 3, 3);
  write_video_file(color.string(), rgb);
  torch::Tensor as_gray = read_video_file(color.string(), clip_options(2, 1, 0, 1));
  ASSERT_EQ(as_gray.sizes(), (std::vector<int64_t>{2, 16, 16, 1}));
  // stb_image's luma, as for images read as gray: (77 R + 150 G + 29 B) >> 8.
  torch::Tensor wide = rgb.to(torch::kInt32);
  torch::Tensor luma = (wide.select(3, 0) * 77 + wide.select(3, 1) * 150 + wide.select(3, 2) * 29).div(256, "floor");
  EXPECT_TRUE(torch::equal(as_gray.squeeze(3).to(torch::kInt32), luma));
  // Shrinking an RGB clip keeps three channels and values in range.
  EXPECT_EQ(read_video_file(color.string(), clip_options(2, 1, 8)).sizes(), (std::vector<int64_t>{2, 8, 8, 3}));
}

TEST(DataVideoFile, FrameFoldersReadLikeVideos) {
  fs::path folder = video_dir("frames") / "clip";
  write_frame_folder(folder, numbered_frames(5, 10, 10, 1));
  torch::Tensor clip = read_frame_folder(folder.string(), clip_options(4, 2));
  ASSERT_EQ(clip.sizes(), (std::vector<int64_t>{4, 10, 10, 1}));
  EXPECT_EQ(frame_numbers(clip), (std::vector<int64_t>{0, 2, 4, 4}));
  torch::Tensor resized = read_frame_folder(folder.string(), clip_options(2, 1, 5, 3));
  EXPECT_EQ(resized.sizes(), (std::vector<int64_t>{2, 5, 5, 3}));
  EXPECT_EQ(frame_numbers(resized), (std::vector<int64_t>{0, 1}));

  fs::path empty = video_dir("frames_empty");
  EXPECT_CONTAINS(testing_files::error_message([&] { read_frame_folder(empty.string(), clip_options(2)); }), empty.string());
  EXPECT_CONTAINS(testing_files::error_message([&] { read_frame_folder((empty / "none").string(), clip_options(2)); }),
                  "no such folder");
}

TEST(DataVideoFile, MissingCorruptAndTruncatedFilesNameTheFile) {
  fs::path dir = video_dir("damaged");
  std::string missing = (dir / "missing.mkv").string();
  std::string message = testing_files::error_message([&] { read_video_file(missing, clip_options(2)); });
  EXPECT_CONTAINS(message, missing);
  EXPECT_CONTAINS(message, "no such file");

  fs::path empty = dir / "empty.mkv";
  write_bytes(empty, "");
  EXPECT_CONTAINS(testing_files::error_message([&] { read_video_file(empty.string(), clip_options(2)); }), empty.string());

  fs::path noise = dir / "noise.mkv";
  std::string bytes(4096, '\0');
  torch::Tensor random = random_frames(1, 1, 4096, 1, 11).reshape({-1});
  std::memcpy(bytes.data(), random.data_ptr<uint8_t>(), bytes.size());
  write_bytes(noise, bytes);
  EXPECT_CONTAINS(testing_files::error_message([&] { read_video_file(noise.string(), clip_options(2)); }), noise.string());

  // A Matroska file cut in half: the clip needs frames past the cut.
  fs::path whole = dir / "whole.mkv";
  write_video_file(whole.string(), random_frames(8, 32, 32, 3, 5));
  std::string content = read_file(whole);
  fs::path half = dir / "half.mkv";
  write_bytes(half, content.substr(0, content.size() / 2));
  message = testing_files::error_message([&] { read_video_file(half.string(), clip_options(8)); });
  EXPECT_CONTAINS(message, half.string());
  EXPECT_CONTAINS(message, "truncated");

  // A file whose frames are damaged in the middle: FFV1's slice checksums catch it.
  fs::path flipped = dir / "flipped.mkv";
  std::string damaged = content;
  for (size_t i = damaged.size() / 2; i < damaged.size() / 2 + 64; ++i) damaged[i] = static_cast<char>(~damaged[i]);
  write_bytes(flipped, damaged);
  message = testing_files::error_message([&] { read_video_file(flipped.string(), clip_options(8)); });
  EXPECT_CONTAINS(message, flipped.string());
  EXPECT_CONTAINS(message, "decoding failed at frame");
  // The first frames, before the damage, still read.
  EXPECT_TRUE(
      torch::equal(read_video_file(flipped.string(), clip_options(2)), random_frames(8, 32, 32, 3, 5).slice(0, 0, 2)));

  // Cut inside the header: nothing to decode.
  fs::path stub = dir / "stub.mkv";
  write_bytes(stub, content.substr(0, 200));
  EXPECT_CONTAINS(testing_files::error_message([&] { read_video_file(stub.string(), clip_options(1)); }), stub.string());

  // A folder is not a video file.
  EXPECT_CONTAINS(testing_files::error_message([&] { read_video_file(dir.string(), clip_options(2)); }), "folder");
}

TEST(DataVideoFile, EveryCutOfAFileIsAnErrorOrTheWholeClip) {
  fs::path dir = video_dir("cuts");
  torch::Tensor frames = random_frames(6, 16, 16, 3, 21);
  fs::path whole = dir / "whole.mkv";
  write_video_file(whole.string(), frames);
  const std::string content = read_file(whole);
  int64_t errors = 0, whole_clips = 0;
  for (size_t cut = 0; cut < content.size(); cut += 97) {
    fs::path file = dir / "cut.mkv";
    write_bytes(file, content.substr(0, cut));
    try {
      torch::Tensor clip = read_video_file(file.string(), clip_options(6));
      EXPECT_TRUE(torch::equal(clip, frames)) << "cut at " << cut << " of " << content.size() << " bytes";
      ++whole_clips;
    } catch (const InputError& error) {
      EXPECT_CONTAINS(error.what(), file.string());
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
}

TEST(DataVideoFile, WriteRefusesBadFramesAndOptionsAreChecked) {
  fs::path dir = video_dir("write_errors");
  EXPECT_THROW(write_video_file((dir / "a.mkv").string(), torch::zeros({2, 4, 4, 2}, torch::kUInt8)), IoError);
  EXPECT_THROW(write_video_file((dir / "b.mkv").string(), torch::zeros({2, 4, 4, 1}, torch::kFloat32)), IoError);
  EXPECT_THROW(write_video_file((dir / "c.mkv").string(), torch::zeros({0, 4, 4, 1}, torch::kUInt8)), IoError);
  EXPECT_TRUE(fs::is_empty(dir));

  EXPECT_THROW(clip_options(0).validate(), ConfigError);
  EXPECT_THROW(clip_options(4, 0).validate(), ConfigError);
  EXPECT_THROW(clip_options(4, 1, -1).validate(), ConfigError);
  EXPECT_THROW(clip_options(4, 1, 0, 2).validate(), ConfigError);
  VideoReadOptions options = clip_options(8, 2, 32, 3);
  options.limit = 5;
  VideoReadOptions again = VideoReadOptions::from_json(options.to_json());
  EXPECT_EQ(again.to_json(), options.to_json());
  EXPECT_THROW(VideoReadOptions::from_json({{"frame", 8}}), ConfigError);  // unknown key
  EXPECT_THROW(VideoReadOptions::from_json({{"frames", "eight"}}), ConfigError);
}

// root/train/{jump,run}/…, root/test/{jump,run}/…: video files and one folder of frames.
fs::path write_video_folder(const std::string& name) {
  fs::path root = video_dir(name);
  write_video_file((root / "train" / "jump" / "a.mkv").string(), numbered_frames(6, 16, 16, 1));
  write_video_file((root / "train" / "jump" / "b.mkv").string(), numbered_frames(3, 16, 16, 1));  // short
  write_frame_folder(root / "train" / "run" / "c", numbered_frames(6, 16, 16, 1));
  write_video_file((root / "train" / "run" / "d.mkv").string(), numbered_frames(6, 16, 16, 1));
  write_video_file((root / "test" / "jump" / "e.mkv").string(), numbered_frames(6, 16, 16, 1));
  write_video_file((root / "test" / "run" / "f.mkv").string(), numbered_frames(6, 16, 16, 1));
  return root;
}

TEST(DataVideoFolder, ClassFoldersAndSplits) {
  fs::path root = write_video_folder("folder");
  auto train = load_video_folder(root.string(), "train", clip_options(4));
  ASSERT_EQ(train->size(), 4);
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"jump", "run"}));
  EXPECT_TRUE(torch::equal(train->labels(), torch::tensor({0, 0, 1, 1}, torch::kInt64)));
  EXPECT_EQ(train->sample_shape(), (std::vector<int64_t>{4, 16, 16, 1}));
  EXPECT_EQ(train->source(), (root / "train").string());
  EXPECT_EQ(frame_numbers(train->videos()[1]), (std::vector<int64_t>{0, 1, 2, 2}));  // b.mkv has 3 frames
  EXPECT_EQ(frame_numbers(train->videos()[2]), (std::vector<int64_t>{0, 1, 2, 3}));  // the frame folder
  EXPECT_TRUE(torch::equal(train->videos()[3], read_video_file((root / "train/run/d.mkv").string(), clip_options(4))));

  auto test = load_video_folder(root.string(), "test", clip_options(4, 1, 8, 3));
  EXPECT_EQ(test->size(), 2);
  EXPECT_EQ(test->sample_shape(), (std::vector<int64_t>{4, 8, 8, 3}));

  VideoReadOptions limited = clip_options(2);
  limited.limit = 3;
  EXPECT_EQ(load_video_folder(root.string(), "train", limited)->size(), 3);

  // Read in parallel, stored in order: two reads agree.
  auto again = load_video_folder(root.string(), "train", clip_options(4));
  EXPECT_TRUE(torch::equal(again->videos(), train->videos()));
  EXPECT_THROW(load_video_folder(root.string(), "valid"), ConfigError);
}

TEST(DataVideoFolder, FlatFoldersAreUnlabeledAndErrorsNameTheCulprit) {
  fs::path flat = video_dir("flat");
  write_video_file((flat / "one.mkv").string(), numbered_frames(4, 8, 8, 1));
  write_frame_folder(flat / "two", numbered_frames(4, 8, 8, 1));
  auto unlabeled = load_video_folder(flat.string(), "train", clip_options(2));
  EXPECT_EQ(unlabeled->size(), 2);
  EXPECT_EQ(unlabeled->num_classes(), 0);
  EXPECT_TRUE(torch::equal(unlabeled->labels(), torch::full({2}, -1, torch::kInt64)));
  EXPECT_CONTAINS(testing_files::error_message([&] { load_video_folder(flat.string(), "test"); }), "no test split");

  // Sizes must agree unless a size is given; the message names the odd one out.
  write_video_file((flat / "three.mkv").string(), numbered_frames(4, 12, 12, 1));
  std::string message = testing_files::error_message([&] { load_video_folder(flat.string(), "train", clip_options(2)); });
  EXPECT_CONTAINS(message, "three.mkv");
  EXPECT_EQ(load_video_folder(flat.string(), "train", clip_options(2, 1, 8))->size(), 3);

  // Corrupt files are left out with one warning (on_bad_file "skip", the default), the first
  // one included (the first good file fixes the size); with "fail" one stops the read, named.
  write_bytes(flat / "zz-broken.mkv", "not a video at all");
  write_bytes(flat / "0-broken.mkv", "not a video either");
  ::testing::internal::CaptureStderr();
  auto kept = load_video_folder(flat.string(), "train", clip_options(2, 1, 8));
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(kept->size(), 3);
  EXPECT_EQ(kept->videos().size(2), 8);
  EXPECT_CONTAINS(warning, "skipped 2 of 5 videos");
  EXPECT_CONTAINS(warning, "0-broken.mkv");
  VideoReadOptions strict = clip_options(2, 1, 8);
  strict.on_bad_file = "fail";
  message = testing_files::error_message([&] { load_video_folder(flat.string(), "train", strict); });
  EXPECT_CONTAINS(message, "0-broken.mkv");
  strict.on_bad_file = "maybe";
  EXPECT_THROW(strict.validate(), ConfigError);

  fs::path empty = video_dir("no_videos");
  write_bytes(empty / "notes.txt", "hello");
  EXPECT_CONTAINS(testing_files::error_message([&] { load_video_folder(empty.string(), "train"); }), "no videos found");
  EXPECT_CONTAINS(testing_files::error_message([&] { load_video_folder((empty / "none").string(), "train"); }), "no such folder");
}

TEST(DataVideoFolder, IsVideoPathLooksAtFilesAndFolders) {
  fs::path root = write_video_folder("is_video");
  EXPECT_TRUE(is_video_path(root.string()));
  EXPECT_TRUE(is_video_path((root / "train" / "jump" / "a.mkv").string()));
  EXPECT_TRUE(is_video_path((root / "train").string()));
  EXPECT_FALSE(is_video_path((root / "missing").string()));

  fs::path images = video_dir("is_video_images");
  write_frame_png(images / "cat" / "1.png", torch::zeros({4, 4, 1}, torch::kUInt8));
  write_frame_png(images / "dog" / "2.png", torch::zeros({4, 4, 1}, torch::kUInt8));
  EXPECT_FALSE(is_video_path(images.string()));
  EXPECT_FALSE(is_video_path((images / "cat" / "1.png").string()));
}

TEST(DataVideoDataset, GetReturnsClipsLabelsAndGroups) {
  torch::Tensor videos = random_frames(5 * 3, 6, 6, 3, 1).view({5, 3, 6, 6, 3});
  VideoDataset dataset(videos, torch::tensor({0, 1, 1, -1, 0}, torch::kInt64), {"a", "b"}, "synthetic");
  EXPECT_EQ(dataset.size(), 5);
  EXPECT_EQ(dataset.num_classes(), 2);
  EXPECT_EQ(dataset.sample_shape(), (std::vector<int64_t>{3, 6, 6, 3}));
  Batch batch = dataset.get(torch::tensor({4, 1}, torch::kInt64));
  EXPECT_EQ(batch.input.sizes(), (std::vector<int64_t>{2, 3, 6, 6, 3}));
  EXPECT_EQ(batch.input.scalar_type(), torch::kUInt8);
  EXPECT_TRUE(torch::equal(batch.input[0], videos[4]));
  EXPECT_TRUE(torch::equal(batch.label, torch::tensor({0, 1}, torch::kInt64)));
  EXPECT_TRUE(torch::equal(batch.group, torch::tensor({4, 1}, torch::kInt64)));

  EXPECT_THROW(VideoDataset(videos, torch::tensor({0, 1, 2, 0, 0}, torch::kInt64), {"a", "b"}, "x"), InputError);
  EXPECT_THROW(VideoDataset(videos[0], torch::zeros({3}, torch::kInt64), {}, "x"), InputError);
  EXPECT_THROW(VideoDataset(videos.to(torch::kFloat32), torch::zeros({5}, torch::kInt64), {}, "x"), InputError);
}

}  // namespace
}  // namespace pretext
