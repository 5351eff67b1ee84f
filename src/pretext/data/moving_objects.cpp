#include "pretext/data/moving_objects.h"

#include <ATen/Parallel.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <filesystem>
#include <random>
#include <thread>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/log.h"
#include "pretext/core/progress.h"
#include "pretext/core/runtime.h"
#include "pretext/data/datasets.h"
#include "pretext/data/video.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {

constexpr double kPi = 3.14159265358979323846;

// Draws made from the engine's raw 64-bit output rather than std:: distributions, whose
// algorithms differ between standard libraries: the same seed gives the same videos everywhere.
double unit_draw(std::mt19937_64& engine) { return static_cast<double>(engine() >> 11) * 0x1.0p-53; }
int64_t integer_draw(std::mt19937_64& engine, int64_t low, int64_t high) {  // uniform in [low, high]
  return low + static_cast<int64_t>(engine() % static_cast<uint64_t>(high - low + 1));
}

// One object's path along one axis: start position (whole pixels) and velocity (pixels/frame).
struct Axis {
  double position = 0;
  double velocity = 0;
};

// A start in [0, room] from which `frames` frames of motion at `velocity` stay inside [0, room]
// when they can; otherwise anywhere (the object will bounce). Whole pixels, so that the first
// step already moves the object by round(velocity) and shows its direction.
Axis draw_axis(std::mt19937_64& engine, double velocity, int64_t room, int64_t frames) {
  Axis axis;
  axis.velocity = velocity;
  if (room == 0) {
    axis.velocity = 0;
    return axis;
  }
  const double travel = static_cast<double>(frames - 1) * std::abs(velocity);
  int64_t low = 0, high = room;
  if (travel <= static_cast<double>(room)) {
    if (velocity > 0) high = static_cast<int64_t>(std::floor(static_cast<double>(room) - travel));
    if (velocity < 0) low = static_cast<int64_t>(std::ceil(travel));
  }
  axis.position = static_cast<double>(integer_draw(engine, low, high));
  return axis;
}

// One step; an edge reflects the position and the velocity's sign.
void advance(Axis& axis, int64_t room) {
  axis.position += axis.velocity;
  const auto limit = static_cast<double>(room);
  while (axis.position < 0 || axis.position > limit) {
    if (axis.position < 0) axis.position = -axis.position;
    if (axis.position > limit) axis.position = 2 * limit - axis.position;
    axis.velocity = -axis.velocity;
  }
}

int64_t pixel(double position, int64_t room) { return std::clamp<int64_t>(std::lround(position), 0, room); }

// A class name as a folder name: no separators, not hidden, not empty.
std::string folder_name(const std::string& name, size_t index) {
  std::string out;
  for (char c : name) out += (c == '/' || c == '\\' || c == '\0') ? '-' : c;
  if (out.empty() || out == "." || out == "..") out = "class-" + std::to_string(index);
  if (out[0] == '.') out = "_" + out;
  return out;
}

// Runs job(i) for i in [0, count) on worker threads; rethrows the error of the lowest index.
template <class Job>
void run_parallel(size_t count, const Job& job) {
  std::vector<std::exception_ptr> errors(count);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto work = [&] {
    for (size_t i = next++; i < count && !failed; i = next++) {
      try {
        job(i);
      } catch (...) {
        errors[i] = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t workers = std::min<size_t>(static_cast<size_t>(std::max(1, usable_cores())), count);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) threads.emplace_back(work);
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors) {
    if (error) std::rethrow_exception(error);
  }
}

}  // namespace

void MovingObjectsOptions::validate() const {
  PRETEXT_CHECK(videos >= 0, ConfigError, "moving objects: videos must be ≥ 0 (0 = one per object), got ", videos);
  PRETEXT_CHECK(frames >= 1, ConfigError, "moving objects: frames must be ≥ 1, got ", frames);
  PRETEXT_CHECK(size >= 1 && size <= 4096, ConfigError, "moving objects: size must be in [1, 4096], got ", size);
  PRETEXT_CHECK(std::isfinite(speed_min) && speed_min > 0, ConfigError,
                "moving objects: speed_min must be > 0 pixels per frame, got ", speed_min);
  PRETEXT_CHECK(std::isfinite(speed_max) && speed_max >= speed_min, ConfigError,
                "moving objects: speed_max must be ≥ speed_min (", speed_min, "), got ", speed_max);
  PRETEXT_CHECK(distractors >= 0 && distractors <= 16, ConfigError,
                "moving objects: distractors must be in [0, 16], got ", distractors);
  PRETEXT_CHECK(std::isfinite(distractor_brightness) && distractor_brightness > 0 && distractor_brightness <= 1,
                ConfigError, "moving objects: distractor_brightness must be in (0, 1], got ", distractor_brightness);
  PRETEXT_CHECK(std::isfinite(noise) && noise >= 0 && noise <= 255, ConfigError,
                "moving objects: noise must be in [0, 255], got ", noise);
}

nlohmann::json MovingObjectsOptions::to_json() const {
  return {{"videos", videos},
          {"frames", frames},
          {"size", size},
          {"speed_min", speed_min},
          {"speed_max", speed_max},
          {"distractors", distractors},
          {"distractor_brightness", distractor_brightness},
          {"noise", noise},
          {"seed", seed}};
}

std::vector<std::string> MovingObjects::direction_names() {
  return {"east", "north-east", "north", "north-west", "west", "south-west", "south", "south-east"};
}

MovingObjects make_moving_objects(const torch::Tensor& images, const torch::Tensor& labels,
                                  std::vector<std::string> object_names, const MovingObjectsOptions& options) {
  options.validate();
  PRETEXT_CHECK(images.defined() && images.scalar_type() == torch::kUInt8 && images.dim() == 4 && images.size(3) == 1,
                InputError, "moving objects: object images must be uint8 [M, h, w, 1], got ",
                images.defined() ? images.sizes() : torch::IntArrayRef{});
  const int64_t sources = images.size(0), height = images.size(1), width = images.size(2);
  PRETEXT_CHECK(sources > 0, InputError, "moving objects: no object images");
  PRETEXT_CHECK(height <= options.size && width <= options.size, InputError, "moving objects: objects of ", height, "×",
                width, " do not fit in a ", options.size, "×", options.size, " frame");
  PRETEXT_CHECK(
      labels.defined() && labels.scalar_type() == torch::kInt64 && labels.dim() == 1 && labels.size(0) == sources,
      InputError, "moving objects: labels must be int64 [", sources, "]");
  torch::Tensor objects_in = images.cpu().contiguous();
  torch::Tensor labels_in = labels.cpu().contiguous();
  const int64_t classes = static_cast<int64_t>(object_names.size());
  PRETEXT_CHECK(labels_in.min().item<int64_t>() >= -1 && labels_in.max().item<int64_t>() < classes, InputError,
                "moving objects: object labels must be in [-1, ", classes, ")");

  const int64_t count = options.videos > 0 ? options.videos : sources;
  const int64_t frames = options.frames, size = options.size;
  const int64_t room_x = size - width, room_y = size - height;

  // Draws in video order from one engine: video n is the same whatever the number of videos.
  std::mt19937_64 engine(options.seed);
  std::vector<Axis> xs(static_cast<size_t>(count)), ys(static_cast<size_t>(count));
  torch::Tensor directions = torch::empty({count}, torch::kInt64);
  auto* direction = directions.data_ptr<int64_t>();
  // One object's direction (returned), speed and start, drawn from `from`.
  auto draw_path = [&](std::mt19937_64& from, Axis& x, Axis& y) {
    const auto compass = static_cast<int64_t>(from() % 8);
    const double speed = options.speed_min + (options.speed_max - options.speed_min) * unit_draw(from);
    const double angle = static_cast<double>(compass) * kPi / 4;
    // Image rows grow downwards, so north is −y; cos(90°) is 6e-17, not 0.
    double vx = speed * std::cos(angle), vy = -speed * std::sin(angle);
    if (std::abs(vx) < 1e-9) vx = 0;
    if (std::abs(vy) < 1e-9) vy = 0;
    x = draw_axis(from, vx, room_x, frames);
    y = draw_axis(from, vy, room_y, frames);
    return compass;
  };
  for (int64_t n = 0; n < count; ++n) {
    direction[n] = draw_path(engine, xs[static_cast<size_t>(n)], ys[static_cast<size_t>(n)]);
  }
  // Distractors from an engine of their own, so that the labelled objects' paths do not depend on
  // them: each one an image drawn from all the sources, with its own path.
  struct Distractor {
    int64_t source = 0;
    Axis x, y;
  };
  const auto per_video = static_cast<size_t>(options.distractors);
  std::vector<Distractor> distractors(static_cast<size_t>(count) * per_video);
  std::mt19937_64 distractor_engine(options.seed ^ 0x9E3779B97F4A7C15ULL);
  for (auto& distractor : distractors) {
    distractor.source = integer_draw(distractor_engine, 0, sources - 1);
    draw_path(distractor_engine, distractor.x, distractor.y);
  }

  torch::Tensor videos = torch::zeros({count, frames, size, size, 1}, torch::kUInt8);
  uint8_t* out = videos.data_ptr<uint8_t>();
  const uint8_t* source_pixels = objects_in.data_ptr<uint8_t>();
  // Objects are painted with max(), so overlapping objects show the brighter pixel.
  auto paint = [&](uint8_t* video, int64_t source, Axis x, Axis y, double brightness) {
    const uint8_t* object = source_pixels + source * height * width;
    for (int64_t t = 0; t < frames; ++t) {
      uint8_t* frame = video + t * size * size;
      const int64_t left = pixel(x.position, room_x), top = pixel(y.position, room_y);
      for (int64_t row = 0; row < height; ++row) {
        uint8_t* target = frame + (top + row) * size + left;
        const uint8_t* from = object + row * width;
        for (int64_t column = 0; column < width; ++column) {
          const auto value = brightness == 1 ? from[column] : static_cast<uint8_t>(std::lround(from[column] * brightness));
          target[column] = std::max(target[column], value);
        }
      }
      advance(x, room_x);
      advance(y, room_y);
    }
  };
  const int64_t video_pixels = frames * size * size;
  at::parallel_for(0, count, 64, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      uint8_t* video = out + n * video_pixels;
      for (size_t k = 0; k < per_video; ++k) {
        const Distractor& distractor = distractors[static_cast<size_t>(n) * per_video + k];
        paint(video, distractor.source, distractor.x, distractor.y, options.distractor_brightness);
      }
      paint(video, n % sources, xs[static_cast<size_t>(n)], ys[static_cast<size_t>(n)], 1.0);
      if (options.noise > 0) {
        // One engine per video, so that the noise does not depend on how the videos are split
        // among threads; four 16-bit draws from each 64-bit output.
        std::mt19937_64 noise_engine(options.seed * 0xD1B54A32D192ED03ULL + static_cast<uint64_t>(n) + 1);
        uint64_t bits = 0;
        for (int64_t i = 0; i < video_pixels; ++i) {
          if (i % 4 == 0) bits = noise_engine();
          const double draw = static_cast<double>(bits & 0xFFFF) / 65535.0 * 2 - 1;  // [−1, 1]
          bits >>= 16;
          video[i] = static_cast<uint8_t>(std::clamp<long>(std::lround(video[i] + draw * options.noise), 0, 255));
        }
      }
    }
  });

  MovingObjects made;
  made.videos = videos;
  made.objects = labels_in.index_select(0, torch::arange(count, torch::kInt64).remainder(sources));
  made.directions = directions;
  made.object_names = std::move(object_names);
  return made;
}

MovingObjects named_moving_objects(const std::string& split, int64_t limit, MovingObjectsOptions options) {
  PRETEXT_CHECK(split == "train" || split == "test", InputError,
                "moving objects have the splits 'train' and 'test', not '", split, "'");
  PRETEXT_CHECK(limit >= 0, ConfigError, "--limit must be >= 0, got ", limit);
  DataOptions data;
  data.limit = limit;  // only the objects the videos use are kept
  auto objects = load_dataset("fashion-mnist", split, data);
  options.seed = split == "train" ? 0 : 1;
  const int64_t bytes = objects->size() * options.frames * options.size * options.size;
  if (bytes > (int64_t{1} << 30)) {
    log::info("moving objects (", split, "): making ", objects->size(), " videos (", bytes >> 20,
              " MiB in memory); --limit makes fewer");
  }
  return make_moving_objects(objects->images(), objects->labels(), objects->class_names(), options);
}

DatasetPtr load_moving_objects(const std::string& name, const std::string& split, int64_t limit) {
  if (name != "moving-objects" && name != "moving-objects-class") return nullptr;
  MovingObjects made = named_moving_objects(split, limit);
  const MovingObjectsOptions defaults;
  const bool by_class = name == "moving-objects-class";
  std::string source = name + " (Fashion-MNIST, " + std::to_string(defaults.frames) + "×" +
                       std::to_string(defaults.size) + "×" + std::to_string(defaults.size) + ")";
  return std::make_shared<VideoDataset>(made.videos, by_class ? made.objects : made.directions,
                                        by_class ? made.object_names : MovingObjects::direction_names(), source);
}

void write_moving_objects(const MovingObjects& objects, const std::string& out, const std::string& split) {
  PRETEXT_CHECK(split == "train" || split == "test", ConfigError, "split must be 'train' or 'test', got '", split, "'");
  PRETEXT_CHECK(objects.videos.defined() && objects.videos.dim() == 5 && objects.videos.size(0) > 0, IoError,
                "cannot write moving objects to ", out, ": no videos");
  const int64_t count = objects.videos.size(0);
  PRETEXT_CHECK(objects.objects.defined() && objects.objects.numel() == count && objects.directions.defined() &&
                    objects.directions.numel() == count,
                IoError, "cannot write moving objects to ", out, ": ", count, " videos need ", count,
                " object and direction labels");
  const auto direction_names = MovingObjects::direction_names();
  torch::Tensor object_labels = objects.objects.to(torch::kInt64).cpu().contiguous();
  torch::Tensor direction_labels = objects.directions.to(torch::kInt64).cpu().contiguous();
  const auto* object = object_labels.data_ptr<int64_t>();
  const auto* direction = direction_labels.data_ptr<int64_t>();

  std::vector<std::string> class_folders;
  for (size_t k = 0; k < objects.object_names.size(); ++k)
    class_folders.push_back(folder_name(objects.object_names[k], k));
  const fs::path by_direction = fs::path(out) / "by-direction" / split;
  const fs::path by_class = fs::path(out) / "by-class" / split;
  for (int64_t n = 0; n < count; ++n) {
    PRETEXT_CHECK(direction[n] >= 0 && direction[n] < 8, IoError, "cannot write moving objects: video ", n,
                  " has direction ", direction[n]);
    PRETEXT_CHECK(object[n] >= 0 && object[n] < static_cast<int64_t>(class_folders.size()), IoError,
                  "cannot write moving objects: video ", n, " has object class ", object[n], " of ",
                  class_folders.size());
  }
  for (const auto& name : direction_names) ensure_directory(by_direction / name);
  for (const auto& name : class_folders) ensure_directory(by_class / name);

  // Zero-padded numbers, so that a folder sorted by name is in generation order.
  const size_t digits = std::to_string(count - 1).size();
  auto file_name = [&](int64_t n) {
    std::string number = std::to_string(n);
    return std::string(digits - number.size(), '0') + number + ".mkv";
  };
  std::atomic<bool> copied{false};
  std::mutex progress_mutex;  // guards progress and written
  Progress progress("moving objects", count, "videos", 5);
  int64_t written = 0;
  run_parallel(static_cast<size_t>(count), [&](size_t i) {
    const auto n = static_cast<int64_t>(i);
    const fs::path file = by_direction / direction_names[static_cast<size_t>(direction[n])] / file_name(n);
    write_video_file(file.string(), objects.videos[n]);
    // The by-class view shares the bytes: a hard link, made under a temporary name and renamed
    // into place so that the target is never half there.
    const fs::path link = by_class / class_folders[static_cast<size_t>(object[n])] / file_name(n);
    fs::path temporary = link;
    temporary += ".tmp." + std::to_string(::getpid());
    std::error_code error;
    fs::remove(temporary, error);
    fs::create_hard_link(file, temporary, error);
    if (error) {  // a file system without hard links: a copy instead
      error.clear();
      fs::copy_file(file, temporary, fs::copy_options::overwrite_existing, error);
      PRETEXT_CHECK(!error, IoError, "cannot write ", temporary.string(), ": ", error.message());
      copied = true;
    }
    fs::rename(temporary, link, error);
    if (error) {
      std::error_code ignored;
      fs::remove(temporary, ignored);
      throw IoError("cannot rename " + temporary.string() + " to " + link.string() + ": " + error.message());
    }
    std::lock_guard<std::mutex> lock(progress_mutex);
    progress.update(++written);
  });
  if (copied) log::warn(out, ": hard links failed, so by-class/ holds copies of the by-direction/ files");
  log::info("wrote ", count, " moving-object videos to ", by_direction.string(), " and ", by_class.string());
}

}  // namespace pretext
