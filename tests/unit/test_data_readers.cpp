// Readers and --data resolution, on tiny files written here: IDX (raw and gzip), PNG folders,
// CIFAR binaries; plus the real Fashion-MNIST when its Debian package is installed.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/data/datasets.h"
#include "pretext/data/readers.h"
#include "test_files.h"

#include "stb_write.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;

fs::path data_dir(const std::string& name) { return testing_files::fresh_dir("data_" + name); }
using testing_files::write_bytes;

void write_gzip(const fs::path& path, const std::string& bytes) {
  gzFile file = gzopen(path.c_str(), "wb");
  ASSERT_NE(file, nullptr) << path;
  ASSERT_EQ(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(file), Z_OK);
}

// An IDX uint8 file's bytes: magic, big-endian dims, then `data`.
std::string idx_bytes(const std::vector<uint32_t>& dims, const std::string& data, unsigned char type = 0x08) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift : {24, 16, 8, 0}) out.push_back(static_cast<char>((d >> shift) & 0xFF));
  }
  return out + data;
}

std::string counting_bytes(size_t count) {
  std::string out(count, 0);
  for (size_t i = 0; i < count; ++i) out[i] = static_cast<char>(i % 251);
  return out;
}

using testing_files::as_vector;

using testing_files::error_message;

// Writes a gray or RGB PNG of size h×w filled with `value` (RGB: value, value/2, 255-value).
void write_png(const fs::path& path, int height, int width, int channels, unsigned char value) {
  fs::create_directories(path.parent_path());
  std::vector<unsigned char> pixels(static_cast<size_t>(height * width * channels));
  for (size_t i = 0; i < pixels.size(); ++i) {
    int c = static_cast<int>(i % channels);
    pixels[i] = c == 0 ? value : c == 1 ? static_cast<unsigned char>(value / 2) : static_cast<unsigned char>(255 - value);
  }
  ASSERT_NE(stbi_write_png(path.c_str(), width, height, channels, pixels.data(), width * channels), 0) << path;
}

// ---- IDX ----

TEST(DataIdx, RawAndGzipRoundTrip) {
  fs::path dir = data_dir("idx_round_trip");
  std::string data = counting_bytes(3 * 4 * 5);
  write_bytes(dir / "raw-idx3-ubyte", idx_bytes({3, 4, 5}, data));
  write_gzip(dir / "packed", idx_bytes({3, 4, 5}, data));  // no .gz: detected by content
  for (const char* name : {"raw-idx3-ubyte", "packed"}) {
    torch::Tensor array = read_idx(dir / name);
    ASSERT_EQ(array.sizes(), torch::IntArrayRef({3, 4, 5})) << name;
    EXPECT_EQ(array.scalar_type(), torch::kUInt8);
    EXPECT_EQ(array[2][3][4].item<int>(), (59 % 251)) << name;
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(array.data_ptr<uint8_t>()), data.size()), data) << name;
  }
}

TEST(DataIdx, ErrorsNameTheFileAndTheProblem) {
  fs::path dir = data_dir("idx_errors");
  write_bytes(dir / "magic.idx", "\x01\x02\x08\x01" + std::string(8, 0));
  EXPECT_CONTAINS(error_message([&] { read_idx(dir / "magic.idx"); }), "magic.idx: wrong IDX magic");

  write_bytes(dir / "short.idx", idx_bytes({2, 10}, counting_bytes(15)));
  EXPECT_CONTAINS(error_message([&] { read_idx(dir / "short.idx"); }),
                  "short.idx: truncated: expected 20 bytes of data, found 15");

  write_gzip(dir / "short_gz.idx", idx_bytes({2, 10}, counting_bytes(19)));
  EXPECT_CONTAINS(error_message([&] { read_idx(dir / "short_gz.idx"); }), "expected 20 bytes of data, found 19");

  write_bytes(dir / "float.idx", idx_bytes({1}, std::string(4, 0), 0x0D));
  std::string float_message = error_message([&] { read_idx(dir / "float.idx"); });
  EXPECT_CONTAINS(float_message, "float.idx");
  EXPECT_CONTAINS(float_message, "0x0D");

  // A gzip stream cut in half is truncated, not silently short.
  write_gzip(dir / "whole.gz", idx_bytes({100}, counting_bytes(100)));
  std::ifstream in(dir / "whole.gz", std::ios::binary);
  std::string compressed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir / "cut.gz", compressed.substr(0, compressed.size() / 2));
  EXPECT_CONTAINS(error_message([&] { read_idx(dir / "cut.gz"); }), "cut.gz");

  EXPECT_CONTAINS(error_message([&] { read_idx(dir / "absent-idx3-ubyte"); }), "absent-idx3-ubyte");
}

TEST(DataIdx, DatasetPairsImagesWithLabels) {
  fs::path dir = data_dir("idx_dataset");
  write_gzip(dir / "images", idx_bytes({4, 2, 3}, counting_bytes(24)));
  write_bytes(dir / "labels", idx_bytes({4}, std::string("\x02\x00\x01\x02", 4)));
  auto dataset = read_idx_dataset(dir / "images", dir / "labels", {}, "tiny");
  EXPECT_EQ(dataset->size(), 4);
  EXPECT_EQ(dataset->sample_shape(), (std::vector<int64_t>{2, 3, 1}));
  EXPECT_EQ(dataset->class_names(), (std::vector<std::string>{"0", "1", "2"}));
  EXPECT_EQ(as_vector(dataset->labels()), (std::vector<int64_t>{2, 0, 1, 2}));
  EXPECT_EQ(dataset->images()[1][1][2][0].item<int>(), 11);
  EXPECT_EQ(dataset->source(), "tiny");

  write_bytes(dir / "labels3", idx_bytes({3}, std::string("\x00\x01\x02", 3)));
  std::string message = error_message([&] { read_idx_dataset(dir / "images", dir / "labels3", {}, "tiny"); });
  EXPECT_CONTAINS(message, (dir / "images").string());
  EXPECT_CONTAINS(message, (dir / "labels3").string());
  EXPECT_CONTAINS(message, "4 images");

  // A label beyond the given class names is an error, not a silent extra class.
  EXPECT_THROW(read_idx_dataset(dir / "images", dir / "labels", {"a", "b"}, "tiny"), InputError);
}

// ---- image folders ----

TEST(DataImageFolder, SubFoldersAreSortedClasses) {
  fs::path dir = data_dir("folder_classes");
  write_png(dir / "zebra" / "a.png", 8, 8, 1, 10);
  write_png(dir / "zebra" / "B.PNG", 8, 8, 1, 20);
  write_png(dir / "ant" / "x.png", 8, 8, 1, 30);
  write_bytes(dir / "ant" / "notes.txt", "not an image");
  auto dataset = read_image_folder(dir);
  EXPECT_EQ(dataset->class_names(), (std::vector<std::string>{"ant", "zebra"}));
  EXPECT_EQ(dataset->size(), 3);
  EXPECT_EQ(dataset->sample_shape(), (std::vector<int64_t>{8, 8, 1}));
  EXPECT_EQ(as_vector(dataset->labels()), (std::vector<int64_t>{0, 1, 1}));
  // Files sort by name within a class: "B.PNG" before "a.png".
  EXPECT_EQ(dataset->images()[0][0][0][0].item<int>(), 30);
  EXPECT_EQ(dataset->images()[1][0][0][0].item<int>(), 20);
  EXPECT_EQ(dataset->images()[2][0][0][0].item<int>(), 10);
}

TEST(DataImageFolder, FlatFolderIsUnlabeledAndColorWins) {
  fs::path dir = data_dir("folder_flat");
  write_png(dir / "gray.png", 6, 6, 1, 100);
  write_png(dir / "rgb.png", 6, 6, 3, 100);
  auto dataset = read_image_folder(dir);
  EXPECT_EQ(dataset->num_classes(), 0);
  EXPECT_TRUE(dataset->class_names().empty());
  EXPECT_EQ(as_vector(dataset->labels()), (std::vector<int64_t>{-1, -1}));
  ASSERT_EQ(dataset->channels(), 3);
  // gray.png replicated to three equal channels; rgb.png kept as written.
  EXPECT_EQ(as_vector(dataset->images()[0][0][0]), (std::vector<int64_t>{100, 100, 100}));
  EXPECT_EQ(as_vector(dataset->images()[1][0][0]), (std::vector<int64_t>{100, 50, 155}));

  auto gray = read_image_folder(dir, ImageFolderOptions{0, 1});
  EXPECT_EQ(gray->channels(), 1);
}

TEST(DataImageFolder, ResizesToImageSize) {
  fs::path dir = data_dir("folder_resize");
  write_png(dir / "c" / "big.png", 16, 12, 3, 200);
  write_png(dir / "c" / "small.png", 4, 4, 3, 40);
  auto dataset = read_image_folder(dir, ImageFolderOptions{8, 0});
  EXPECT_EQ(dataset->sample_shape(), (std::vector<int64_t>{8, 8, 3}));
  // A constant image stays constant through bilinear resizing.
  EXPECT_EQ(dataset->images()[0].select(2, 0).min().item<int>(), 200);
  EXPECT_EQ(dataset->images()[1].select(2, 0).max().item<int>(), 40);

  // image_size 0: every image takes the first one's size.
  auto first = read_image_folder(dir);
  EXPECT_EQ(first->sample_shape(), (std::vector<int64_t>{16, 12, 3}));
}

TEST(DataImageFolder, CorruptImagesAreSkippedAndCountedOrFailTheRead) {
  fs::path dir = data_dir("folder_corrupt");
  write_png(dir / "cats" / "good.png", 4, 4, 1, 1);
  write_png(dir / "dogs" / "good.png", 4, 4, 1, 2);
  write_bytes(dir / "cats" / "broken.png", "this is not a png at all");
  const std::string png = read_file(dir / "dogs" / "good.png");
  write_bytes(dir / "dogs" / "truncated.png", png.substr(0, png.size() / 2));
  // The default skips both bad files: the good ones keep their classes.
  auto dataset = read_image_folder(dir);
  ASSERT_EQ(dataset->size(), 2);
  EXPECT_EQ(dataset->labels()[0].item<int64_t>(), 0);
  EXPECT_EQ(dataset->labels()[1].item<int64_t>(), 1);
  EXPECT_EQ(dataset->images()[1][0][0][0].item<uint8_t>(), 2);
  ImageFolderOptions strict;
  strict.on_bad_file = "fail";
  EXPECT_CONTAINS(error_message([&] { read_image_folder(dir, strict); }), "broken.png");
  strict.on_bad_file = "ignore";
  EXPECT_THROW(read_image_folder(dir, strict), ConfigError);
  // Nothing decodes: an error however bad files are handled.
  fs::path all_bad = data_dir("folder_all_bad");
  write_bytes(all_bad / "a.png", "junk");
  EXPECT_CONTAINS(error_message([&] { read_image_folder(all_bad); }), "could be decoded");

  fs::path empty = data_dir("folder_empty");
  write_bytes(empty / "readme.txt", "nothing here");
  EXPECT_CONTAINS(error_message([&] { read_image_folder(empty); }), "no images found in " + empty.string());
  EXPECT_THROW(read_image_folder(empty / "absent"), InputError);
}

// A BMP header that claims more pixel rows than the file holds (fuzz/fuzz_image.cpp found one: 61
// bytes declaring 33,282 × 70 pixels, which stb_image pads with zeros) is a truncated file, not an
// image; so is a header declaring more pixels than any image pretext reads.
TEST(DataImageFolder, HeadersClaimingMoreThanTheFileAreRefused) {
  fs::path dir = data_dir("folder_bmp_claims");
  auto bmp = [](int32_t width, int32_t height, size_t pixel_bytes) {
    std::string bytes = "BM";
    auto put = [&](uint32_t value, int size) {
      for (int i = 0; i < size; ++i) bytes.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
    };
    put(54 + pixel_bytes, 4), put(0, 4), put(54, 4);                     // file size, reserved, offset
    put(40, 4), put(width, 4), put(height, 4), put(1, 2), put(24, 2);    // info header, 24 bits
    put(0, 4), put(pixel_bytes, 4), put(2835, 4), put(2835, 4), put(0, 4), put(0, 4);
    bytes.append(pixel_bytes, '\x40');
    return bytes;
  };
  write_bytes(dir / "whole.bmp", bmp(2, 2, 16));  // rows of 6 bytes padded to 8
  auto dataset = read_image_folder(dir);
  ASSERT_EQ(dataset->size(), 1);
  EXPECT_EQ(dataset->images().size(1), 2);
  write_bytes(dir / "claims.bmp", bmp(33282, 70, 7));
  ImageFolderOptions strict;
  strict.on_bad_file = "fail";
  const std::string message = error_message([&] { read_image_folder(dir, strict); });
  EXPECT_CONTAINS(message, "claims.bmp is truncated: its BMP header declares 33282 × 70 pixels");
  EXPECT_EQ(read_image_folder(dir)->size(), 1);  // skipped by default, like any bad file
  // A PNG chunk whose declared length runs past the end of the file (stb_image would allocate it:
  // a 98-byte file asked for 2 GiB).
  fs::path png_dir = data_dir("folder_png_claims");
  write_png(png_dir / "good.png", 4, 4, 1, 1);
  std::string png = read_file(png_dir / "good.png");
  const size_t idat = png.find("IDAT");
  ASSERT_NE(idat, std::string::npos);
  png.replace(idat - 4, 4, std::string("\x7f\xff\xff\xff", 4));
  write_bytes(png_dir / "claims.png", png);
  EXPECT_CONTAINS(error_message([&] { read_image_folder(png_dir, strict); }),
                  "claims.png is truncated: its PNG chunk 'IDAT' declares 2147483647 bytes");
}

// ---- CIFAR ----

// `count` records of CIFAR-10 (label_bytes 1) or CIFAR-100 (2): pixel value = record + channel.
std::string cifar_records(int count, int label_bytes, int first_label) {
  std::string out;
  for (int r = 0; r < count; ++r) {
    if (label_bytes == 2) out.push_back(static_cast<char>(7));  // coarse label, ignored
    out.push_back(static_cast<char>(first_label + r));
    for (int c = 0; c < 3; ++c) out += std::string(1024, static_cast<char>(r * 10 + c));
  }
  return out;
}

TEST(DataCifar, ReadsCifar10BatchesAsHwc) {
  fs::path dir = data_dir("cifar10");
  for (int i = 1; i <= 5; ++i) write_bytes(dir / ("data_batch_" + std::to_string(i) + ".bin"), cifar_records(2, 1, i));
  write_bytes(dir / "test_batch.bin", cifar_records(3, 1, 0));
  write_bytes(dir / "batches.meta.txt",
              "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n");
  auto train = read_cifar(dir, "train");
  EXPECT_EQ(train->size(), 10);
  EXPECT_EQ(train->sample_shape(), (std::vector<int64_t>{32, 32, 3}));
  EXPECT_EQ(train->class_names().at(9), "truck");
  EXPECT_EQ(as_vector(train->labels()), (std::vector<int64_t>{1, 2, 2, 3, 3, 4, 4, 5, 5, 6}));
  // Record 1 of a batch: channels 10, 11, 12 at every pixel.
  EXPECT_EQ(as_vector(train->images()[1][31][5]), (std::vector<int64_t>{10, 11, 12}));

  auto test = read_cifar(dir, "test");
  EXPECT_EQ(test->size(), 3);

  write_bytes(dir / "test_batch.bin", cifar_records(3, 1, 0) + "xyz");
  EXPECT_CONTAINS(error_message([&] { read_cifar(dir, "test"); }), "test_batch.bin");
  EXPECT_THROW(read_cifar(dir, "validation"), ConfigError);
}

TEST(DataCifar, ReadsCifar100FineLabels) {
  fs::path dir = data_dir("cifar100");
  write_bytes(dir / "train.bin", cifar_records(4, 2, 95));
  auto train = read_cifar(dir, "train");
  EXPECT_EQ(train->num_classes(), 100);
  EXPECT_EQ(train->class_names().at(42), "42");
  EXPECT_EQ(as_vector(train->labels()), (std::vector<int64_t>{95, 96, 97, 98}));
  EXPECT_EQ(as_vector(train->images()[3][0][0]), (std::vector<int64_t>{30, 31, 32}));
  EXPECT_CONTAINS(error_message([&] { read_cifar(dir, "test"); }), "test.bin");
}

// ---- --data resolution ----

TEST(DataLoadDataset, ResolvesIdxCifarAndImageFolders) {
  fs::path idx = data_dir("load_idx");
  write_gzip(idx / "train-images-idx3-ubyte.gz", idx_bytes({2, 3, 3}, counting_bytes(18)));
  write_gzip(idx / "train-labels-idx1-ubyte.gz", idx_bytes({2}, std::string("\x01\x00", 2)));
  write_bytes(idx / "t10k-images-idx3-ubyte", idx_bytes({1, 3, 3}, counting_bytes(9)));
  write_bytes(idx / "t10k-labels-idx1-ubyte", idx_bytes({1}, std::string("\x01", 1)));
  EXPECT_EQ(load_dataset(idx.string(), "train")->size(), 2);
  EXPECT_EQ(load_dataset(idx.string(), "test")->size(), 1);

  fs::path cifar = data_dir("load_cifar");
  write_bytes(cifar / "test_batch.bin", cifar_records(2, 1, 0));
  EXPECT_EQ(load_dataset(cifar.string(), "test")->sample_shape(), (std::vector<int64_t>{32, 32, 3}));

  fs::path split = data_dir("load_split_folder");
  write_png(split / "train" / "a" / "1.png", 5, 5, 1, 1);
  write_png(split / "train" / "b" / "1.png", 5, 5, 1, 2);
  write_png(split / "test" / "a" / "1.png", 5, 5, 1, 3);
  auto train = load_dataset(split.string(), "train");
  EXPECT_EQ(train->size(), 2);
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(load_dataset(split.string(), "test")->size(), 1);

  fs::path flat = data_dir("load_flat_folder");
  write_png(flat / "cats" / "1.png", 5, 5, 1, 1);
  EXPECT_EQ(load_dataset(flat.string(), "train")->size(), 1);
  std::string message = error_message([&] { load_dataset(flat.string(), "test"); });
  EXPECT_CONTAINS(message, flat.string());
  EXPECT_CONTAINS(message, "test set");
}

TEST(DataLoadDataset, UnknownNamesAndSplitsAreErrors) {
  std::string message = error_message([] { load_dataset("no-such-dataset", "train"); });
  EXPECT_CONTAINS(message, "no-such-dataset");
  EXPECT_CONTAINS(message, "fashion-mnist");
  EXPECT_THROW(load_dataset("fashion-mnist", "valid"), ConfigError);
  ASSERT_FALSE(named_datasets().empty());
  EXPECT_EQ(named_datasets().front().first, "fashion-mnist");
}

TEST(DataLoadDataset, RealFashionMnistTrainSplit) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  }
  auto train = load_dataset("fashion-mnist", "train");
  EXPECT_EQ(train->images().sizes(), torch::IntArrayRef({60000, 28, 28, 1}));
  EXPECT_EQ(train->source(), "fashion-mnist");
  EXPECT_EQ(train->class_names().at(0), "T-shirt/top");
  EXPECT_EQ(train->class_names().at(9), "Ankle boot");
  torch::Tensor counts = train->labels().bincount();
  ASSERT_EQ(counts.size(0), 10);
  EXPECT_TRUE(counts.eq(6000).all().item<bool>()) << counts;
}

}  // namespace
}  // namespace pretext
