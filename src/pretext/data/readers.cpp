#include "pretext/data/readers.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <fstream>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/log.h"

// The decoder lives in this file only; static so that it cannot clash with Debian's libstb.so
// should anything else in the program link that.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb_image.h>
#pragma GCC diagnostic pop

namespace pretext {
namespace fs = std::filesystem;

namespace {

enum class Order { big, little };

// An unsigned integer of `width` bytes stored at `p` (IDX and PNG are big-endian, BMP little).
uint64_t unsigned_at(const void* p, int width, Order order) {
  const auto* bytes = static_cast<const unsigned char*>(p);
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) value = value << 8 | bytes[order == Order::big ? i : width - 1 - i];
  return value;
}

bool is_gzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Inflates every member of a gzip stream (gzip allows several back to back).
std::string gunzip(const std::string& compressed, const fs::path& path) {
  z_stream stream{};
  // 15 + 16: a gzip header and trailer around the deflate data.
  PRETEXT_CHECK(inflateInit2(&stream, 15 + 16) == Z_OK, IoError, "cannot start zlib for ", path.string());
  std::string out;
  std::array<char, 1 << 16> chunk;
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  stream.avail_in = static_cast<uInt>(compressed.size());
  int status = Z_OK;
  while (true) {
    stream.next_out = reinterpret_cast<Bytef*>(chunk.data());
    stream.avail_out = static_cast<uInt>(chunk.size());
    status = inflate(&stream, Z_NO_FLUSH);
    out.append(chunk.data(), chunk.size() - stream.avail_out);
    if (status == Z_STREAM_END) {
      if (stream.avail_in == 0) break;
      inflateReset(&stream);
      continue;
    }
    if (status == Z_OK) continue;
    if (status == Z_BUF_ERROR && stream.avail_in == 0) break;  // input ended mid-stream
    std::string reason = stream.msg != nullptr ? stream.msg : "error " + std::to_string(status);
    inflateEnd(&stream);
    throw InputError(path.string() + ": corrupt gzip data (" + reason + ")");
  }
  inflateEnd(&stream);
  PRETEXT_CHECK(status == Z_STREAM_END, InputError, path.string(), ": truncated gzip data (the stream ends early)");
  return out;
}

const char* idx_type_name(unsigned char type) {
  switch (type) {
    case 0x08: return "uint8";
    case 0x09: return "int8";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default: return "unknown";
  }
}

std::string hex_byte(unsigned char value) {
  const char* digits = "0123456789ABCDEF";
  return std::string("0x") + digits[value >> 4] + digits[value & 0xF];
}

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool is_image_file(const fs::path& path) {
  static const std::vector<std::string> kExtensions = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tga"};
  std::string extension = lowercase(path.extension().string());
  return std::find(kExtensions.begin(), kExtensions.end(), extension) != kExtensions.end();
}

// One decoded image: uint8 [H,W,C], C = 1 or 3, already at the target size.
struct Decoded {
  torch::Tensor pixels;
  bool grayscale = false;
};

torch::Tensor resize(const torch::Tensor& pixels, int64_t height, int64_t width) {
  if (pixels.size(0) == height && pixels.size(1) == width) return pixels;
  torch::NoGradGuard no_grad;
  namespace F = torch::nn::functional;
  bool shrinking = pixels.size(0) > height || pixels.size(1) > width;
  auto image = pixels.permute({2, 0, 1}).unsqueeze(0).to(torch::kFloat32);
  auto resized = F::interpolate(image, F::InterpolateFuncOptions()
                                           .size(std::vector<int64_t>{height, width})
                                           .mode(torch::kBilinear)
                                           .align_corners(false)
                                           .antialias(shrinking));
  return resized.squeeze(0).permute({1, 2, 0}).round().clamp(0, 255).to(torch::kUInt8).contiguous();
}

// What a header may claim before anything is decoded. stb_image pads a short file with zeros, so
// a 61-byte BMP that declares 33,282 × 70 pixels "decodes" into 2.3 million made-up pixels (found
// by fuzz/fuzz_image.cpp); and a few bytes of PNG can declare gigapixels.
constexpr int64_t kMaxImagePixels = int64_t{1} << 28;


// Refuses headers that claim more than the file (an uncompressed BMP shorter than its pixel rows)
// or more than any image pretext reads.
void check_declared_size(const fs::path& path, const std::string& bytes, int w, int h) {
  PRETEXT_CHECK(static_cast<int64_t>(w) * h <= kMaxImagePixels, InputError, "image ", path.string(), " declares ", w,
                " × ", h, " pixels, more than pretext reads (", kMaxImagePixels, ")");
  // PNG: every chunk's declared length must fit in the file. stb_image trusts it and allocates
  // it before reading: a 98-byte file asked for 2 GiB (fuzz/fuzz_image.cpp).
  if (bytes.size() >= 8 && bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") == 0) {
    for (size_t at = 8; at + 8 <= bytes.size();) {
      const uint64_t length = unsigned_at(bytes.data() + at, 4, Order::big);
      const std::string type = bytes.substr(at + 4, 4);
      PRETEXT_CHECK(length + 12 <= bytes.size() - at, InputError, "image ", path.string(),
                    " is truncated: its PNG chunk '", type, "' declares ", length, " bytes, the file has ",
                    bytes.size() - at, " left");
      if (type == "IEND") break;
      at += static_cast<size_t>(length) + 12;  // length, type, data, CRC
    }
    return;
  }
  // BMP: "BM", pixel data offset at 10, bits per pixel at 28, compression at 30 (0 = BI_RGB,
  // 3 = BI_BITFIELDS: rows stored as they are, each padded to 4 bytes).
  if (bytes.size() < 34 || bytes[0] != 'B' || bytes[1] != 'M') return;
  auto little = [&](size_t at, int width) { return unsigned_at(bytes.data() + at, width, Order::little); };
  const uint64_t compression = little(30, 4);
  if (compression != 0 && compression != 3) return;
  const auto bits = static_cast<int64_t>(little(28, 2));
  const int64_t row = (static_cast<int64_t>(w) * bits + 31) / 32 * 4;
  const int64_t needed = static_cast<int64_t>(little(10, 4)) + row * h;
  PRETEXT_CHECK(static_cast<int64_t>(bytes.size()) >= needed, InputError, "image ", path.string(),
                " is truncated: its BMP header declares ", w, " × ", h, " pixels (", needed, " bytes), the file has ",
                bytes.size());
}

Decoded decode_image(const fs::path& path, int64_t channels, int64_t& height, int64_t& width) {
  std::string bytes = read_file(path);
  PRETEXT_CHECK(bytes.size() < (size_t{1} << 31), InputError, "image too large to decode: ", path.string());
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  int length = static_cast<int>(bytes.size());
  int w = 0, h = 0, native = 0;
  PRETEXT_CHECK(stbi_info_from_memory(data, length, &w, &h, &native) == 1, InputError, "cannot decode image ",
                path.string(), ": ", stbi_failure_reason());
  check_declared_size(path, bytes, w, h);
  bool grayscale = native <= 2;
  int wanted = channels != 0 ? static_cast<int>(channels) : (grayscale ? 1 : 3);
  stbi_uc* pixels = stbi_load_from_memory(data, length, &w, &h, &native, wanted);
  PRETEXT_CHECK(pixels != nullptr, InputError, "cannot decode image ", path.string(), ": ", stbi_failure_reason());
  torch::Tensor tensor = torch::from_blob(pixels, {h, w, wanted}, torch::kUInt8).clone();
  stbi_image_free(pixels);
  if (height == 0) {
    height = h;
    width = w;
  }
  return {resize(tensor, height, width), grayscale};
}

std::vector<fs::path> sorted_entries(const fs::path& folder, bool recursive) {
  std::vector<fs::path> files;
  auto add = [&](const fs::directory_entry& entry) {
    if (entry.is_regular_file() && !is_hidden(entry.path()) && is_image_file(entry.path())) files.push_back(entry.path());
  };
  if (recursive) {
    for (const auto& entry : fs::recursive_directory_iterator(folder)) add(entry);
  } else {
    for (const auto& entry : fs::directory_iterator(folder)) add(entry);
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> numbered_names(int64_t count) {
  std::vector<std::string> names;
  for (int64_t i = 0; i < count; ++i) names.push_back(std::to_string(i));
  return names;
}

// One class name per line; blank lines (CIFAR's meta files end with some) are dropped.
std::vector<std::string> read_names(const fs::path& path) {
  std::vector<std::string> names;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

}  // namespace

torch::Tensor read_idx(const fs::path& path) {
  std::string bytes = read_file(path);
  if (is_gzip(bytes)) bytes = gunzip(bytes, path);
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  PRETEXT_CHECK(bytes.size() >= 4 && data[0] == 0 && data[1] == 0, InputError, path.string(),
                ": wrong IDX magic (expected 00 00 <type> <dims>); not an IDX file");
  unsigned char type = data[2];
  PRETEXT_CHECK(type == 0x08, InputError, path.string(), ": IDX type ", hex_byte(type), " (", idx_type_name(type),
                ") is not supported, only 0x08 (uint8)");
  int64_t dims = data[3];
  PRETEXT_CHECK(dims > 0, InputError, path.string(), ": IDX header declares 0 dimensions");
  size_t header = 4 + 4 * static_cast<size_t>(dims);
  PRETEXT_CHECK(bytes.size() >= header, InputError, path.string(), ": truncated: the header needs ", header,
                " bytes, found ", bytes.size());
  std::vector<int64_t> shape;
  size_t available = bytes.size() - header;
  uint64_t expected = 1;
  bool too_large = false;
  for (int64_t d = 0; d < dims; ++d) {
    const unsigned char* p = data + 4 + 4 * d;
    uint64_t extent = unsigned_at(p, 4, Order::big);
    shape.push_back(static_cast<int64_t>(extent));
    // Saturate rather than overflow: anything past the data we have is truncated anyway.
    if (extent != 0 && expected > (uint64_t{1} << 62) / extent) too_large = true;
    else expected *= extent;
  }
  PRETEXT_CHECK(!too_large && expected <= available, InputError, path.string(), ": truncated: expected ",
                too_large ? std::string("more than 2^62") : std::to_string(expected), " bytes of data, found ",
                available);
  PRETEXT_CHECK(expected == available, InputError, path.string(), ": expected ", expected, " bytes of data, found ",
                available, " (trailing bytes after the array)");
  torch::Tensor out = torch::empty(shape, torch::kUInt8);
  if (expected > 0) std::memcpy(out.data_ptr<uint8_t>(), data + header, expected);
  return out;
}

std::shared_ptr<ImageDataset> read_idx_dataset(const fs::path& images, const fs::path& labels,
                                               std::vector<std::string> class_names, const std::string& source) {
  torch::Tensor pixels = read_idx(images);
  PRETEXT_CHECK(pixels.dim() == 3, InputError, images.string(), ": expected an IDX images array [N,H,W], got ",
                pixels.dim(), " dimensions");
  torch::Tensor targets = read_idx(labels);
  PRETEXT_CHECK(targets.dim() == 1, InputError, labels.string(), ": expected an IDX labels array [N], got ",
                targets.dim(), " dimensions");
  PRETEXT_CHECK(pixels.size(0) == targets.size(0), InputError, images.string(), " has ", pixels.size(0),
                " images but ", labels.string(), " has ", targets.size(0), " labels");
  targets = targets.to(torch::kInt64);
  if (class_names.empty() && targets.numel() > 0) class_names = numbered_names(targets.max().item<int64_t>() + 1);
  return std::make_shared<ImageDataset>(pixels.unsqueeze(-1).contiguous(), targets, std::move(class_names), source);
}

std::shared_ptr<ImageDataset> read_image_folder(const fs::path& folder, const ImageFolderOptions& options) {
  PRETEXT_CHECK(options.image_size >= 0, ConfigError, "image_size must be >= 0, got ", options.image_size);
  PRETEXT_CHECK(options.channels == 0 || options.channels == 1 || options.channels == 3, ConfigError,
                "channels must be 0 (auto), 1 or 3, got ", options.channels);
  PRETEXT_CHECK(options.on_bad_file == "skip" || options.on_bad_file == "fail", ConfigError,
                "--on-bad-file must be skip or fail, got '", options.on_bad_file, "'");
  std::error_code error;
  PRETEXT_CHECK(fs::is_directory(folder, error), InputError, "no such folder: ", folder.string());

  std::vector<fs::path> class_folders;
  for (const auto& entry : fs::directory_iterator(folder)) {
    if (entry.is_directory() && !is_hidden(entry.path())) class_folders.push_back(entry.path());
  }
  std::sort(class_folders.begin(), class_folders.end());

  std::vector<std::pair<fs::path, int64_t>> files;  // (file, label)
  std::vector<std::string> class_names;
  if (class_folders.empty()) {
    for (auto& file : sorted_entries(folder, false)) files.emplace_back(std::move(file), -1);
  } else {
    auto loose = sorted_entries(folder, false);
    if (!loose.empty()) {
      log::warn(folder.string(), ": ignoring ", loose.size(), " image(s) next to the class sub-folders, e.g. ",
                loose.front().filename().string());
    }
    for (const auto& class_folder : class_folders) {
      int64_t label = static_cast<int64_t>(class_names.size());
      class_names.push_back(class_folder.filename().string());
      auto class_files = sorted_entries(class_folder, true);
      if (class_files.empty()) log::warn(class_folder.string(), ": class '", class_names.back(), "' has no images");
      for (auto& file : class_files) files.emplace_back(std::move(file), label);
    }
  }
  PRETEXT_CHECK(!files.empty(), InputError, "no images found in ", folder.string(),
                " (looked for .png .jpg .jpeg .bmp .gif .tga)");

  int64_t height = options.image_size, width = options.image_size;
  std::vector<Decoded> decoded;
  decoded.reserve(files.size());
  std::vector<int64_t> kept_labels;
  std::vector<std::string> bad;  // the reasons, one per skipped file
  bool any_color = false;
  for (const auto& [file, label] : files) {
    try {
      decoded.push_back(decode_image(file, options.channels, height, width));
    } catch (const InputError& failure) {
      if (options.on_bad_file == "fail") throw;
      bad.emplace_back(failure.what());
      continue;
    }
    kept_labels.push_back(label);
    any_color = any_color || !decoded.back().grayscale;
  }
  PRETEXT_CHECK(bad.empty() || !decoded.empty(), InputError, "no image in ", folder.string(), " could be decoded (",
                bad.size(), " files), e.g. ", bad.empty() ? "" : bad.front());
  warn_skipped_files(folder, bad, "of " + std::to_string(files.size()) + " files that could not be decoded");
  int64_t channels = options.channels != 0 ? options.channels : (any_color ? 3 : 1);
  torch::Tensor images = torch::empty({static_cast<int64_t>(decoded.size()), height, width, channels}, torch::kUInt8);
  torch::Tensor labels = torch::tensor(kept_labels, torch::kInt64);
  for (size_t i = 0; i < decoded.size(); ++i) {
    torch::Tensor pixels = decoded[i].pixels;
    if (pixels.size(2) != channels) pixels = pixels.expand({height, width, channels});  // gray → RGB
    images[static_cast<int64_t>(i)].copy_(pixels);
  }
  log::debug("read ", decoded.size(), " images (", height, "x", width, "x", channels, ", ", class_names.size(),
             " classes) from ", folder.string());
  return std::make_shared<ImageDataset>(images, labels, std::move(class_names), folder.string());
}

void warn_skipped_files(const fs::path& folder, const std::vector<std::string>& skipped, const std::string& what) {
  if (skipped.empty()) return;
  std::string examples;
  for (size_t i = 0; i < std::min<size_t>(3, skipped.size()); ++i) examples += "\n  " + skipped[i];
  log::warn(folder.string(), ": skipped ", skipped.size(), " ", what, " (--on-bad-file fail stops instead):", examples,
            skipped.size() > 3 ? "\n  …" : "");
}

std::shared_ptr<ImageDataset> read_cifar(const fs::path& folder, const std::string& split) {
  PRETEXT_CHECK(split == "train" || split == "test", ConfigError, "split must be 'train' or 'test', got '", split, "'");
  std::error_code error;
  PRETEXT_CHECK(fs::is_directory(folder, error), InputError, "no such folder: ", folder.string());

  bool cifar100 = fs::exists(folder / "train.bin", error) || fs::exists(folder / "test.bin", error);
  bool cifar10 = fs::exists(folder / "data_batch_1.bin", error) || fs::exists(folder / "test_batch.bin", error);
  PRETEXT_CHECK(cifar10 || cifar100, InputError, folder.string(),
                " holds no CIFAR binaries (data_batch_1.bin … test_batch.bin or train.bin / test.bin)");
  std::vector<fs::path> files;
  if (cifar10) {
    if (split == "train") {
      for (int i = 1; i <= 5; ++i) files.push_back(folder / ("data_batch_" + std::to_string(i) + ".bin"));
    } else {
      files.push_back(folder / "test_batch.bin");
    }
  } else {
    files.push_back(folder / (split + ".bin"));
  }

  const int64_t label_bytes = cifar10 ? 1 : 2;  // CIFAR-100: coarse then fine label
  const int64_t pixel_bytes = 3 * 32 * 32;
  const int64_t record = label_bytes + pixel_bytes;
  std::vector<torch::Tensor> records;
  for (const auto& file : files) {
    std::string bytes = read_file(file);
    int64_t size = static_cast<int64_t>(bytes.size());
    PRETEXT_CHECK(size > 0 && size % record == 0, InputError, file.string(), ": ", size,
                  " bytes is not a whole number of ", record, "-byte CIFAR-", cifar10 ? 10 : 100,
                  " records (truncated or not a CIFAR binary)");
    torch::Tensor raw = torch::empty({size / record, record}, torch::kUInt8);
    std::memcpy(raw.data_ptr<uint8_t>(), bytes.data(), bytes.size());
    records.push_back(raw);
  }
  torch::Tensor all = torch::cat(records);
  torch::Tensor labels = all.select(1, label_bytes - 1).to(torch::kInt64);
  torch::Tensor images =
      all.slice(1, label_bytes).reshape({all.size(0), 3, 32, 32}).permute({0, 2, 3, 1}).contiguous();

  const int64_t classes = cifar10 ? 10 : 100;
  fs::path names_file = folder / (cifar10 ? "batches.meta.txt" : "fine_label_names.txt");
  std::vector<std::string> class_names =
      fs::exists(names_file, error) ? read_names(names_file) : numbered_names(classes);
  if (static_cast<int64_t>(class_names.size()) != classes) {
    log::warn(names_file.string(), ": expected ", classes, " class names, found ", class_names.size(),
              "; using numbers");
    class_names = numbered_names(classes);
  }
  return std::make_shared<ImageDataset>(images, labels, std::move(class_names), folder.string());
}

}  // namespace pretext
