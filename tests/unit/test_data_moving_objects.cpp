// Moving-objects videos from small synthetic objects: reproducible from the seed, the labelled
// direction checked on the pixels, objects that never leave the frame, the files written for
// both label sets; and the named datasets on the real Fashion-MNIST when it is installed.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "pretext/core/error.h"
#include "pretext/data/moving_objects.h"
#include "pretext/data/video.h"
#include "test_files.h"

namespace pretext {
namespace {
namespace fs = std::filesystem;

using testing_files::kPi;

// `count` objects of 8×8: a bright block with a dimmer tail (not symmetric), brightness by index.
torch::Tensor synthetic_objects(int64_t count, int64_t side = 8) {
  torch::Tensor objects = torch::zeros({count, side, side, 1}, torch::kUInt8);
  for (int64_t i = 0; i < count; ++i) {
    objects[i].slice(0, 1, side - 1).slice(1, 2, side - 2).fill_(100 + 10 * (i % 10));
    objects[i][side - 1][0][0] = 40;
  }
  return objects;
}

torch::Tensor cycling_labels(int64_t count, int64_t classes) {
  return torch::arange(count, torch::kInt64).remainder(classes);
}

MovingObjectsOptions small_options(uint64_t seed) {
  MovingObjectsOptions options;
  options.frames = 8;
  options.size = 24;
  options.seed = seed;
  return options;
}

// The centre of mass (x, y) of each frame of one video [T, S, S, 1].
std::vector<std::pair<double, double>> centres(const torch::Tensor& video) {
  torch::Tensor mass = video.squeeze(-1).to(torch::kFloat64);
  const int64_t side = mass.size(1);
  torch::Tensor coordinate = torch::arange(side, torch::kFloat64);
  torch::Tensor total = mass.sum({1, 2});
  torch::Tensor x = (mass.sum(1) * coordinate).sum(1) / total;
  torch::Tensor y = (mass.sum(2) * coordinate).sum(1) / total;
  std::vector<std::pair<double, double>> out;
  for (int64_t t = 0; t < mass.size(0); ++t) out.emplace_back(x[t].item<double>(), y[t].item<double>());
  return out;
}

// The compass direction 0..7 (east, north-east, …) nearest to a displacement in image coordinates.
int64_t compass(double dx, double dy) {
  double angle = std::atan2(-dy, dx);  // rows grow downwards: north is −y
  auto step = static_cast<int64_t>(std::lround(angle / (kPi / 4)));
  return ((step % 8) + 8) % 8;
}

TEST(DataMovingObjects, SameSeedSameVideosOtherSeedOthers) {
  torch::Tensor objects = synthetic_objects(12);
  MovingObjects a = make_moving_objects(objects, cycling_labels(12, 3), {"a", "b", "c"}, small_options(5));
  MovingObjects b = make_moving_objects(objects, cycling_labels(12, 3), {"a", "b", "c"}, small_options(5));
  MovingObjects c = make_moving_objects(objects, cycling_labels(12, 3), {"a", "b", "c"}, small_options(6));
  EXPECT_TRUE(torch::equal(a.videos, b.videos));
  EXPECT_TRUE(torch::equal(a.directions, b.directions));
  EXPECT_FALSE(torch::equal(a.videos, c.videos));
  EXPECT_EQ(a.videos.sizes(), (std::vector<int64_t>{12, 8, 24, 24, 1}));
  EXPECT_EQ(a.videos.scalar_type(), torch::kUInt8);
  // More videos than objects: the objects cycle, and the first videos do not change.
  MovingObjectsOptions more = small_options(5);
  more.videos = 30;
  MovingObjects longer = make_moving_objects(objects, cycling_labels(12, 3), {"a", "b", "c"}, more);
  EXPECT_EQ(longer.videos.size(0), 30);
  EXPECT_TRUE(torch::equal(longer.videos.slice(0, 0, 12), a.videos));
  EXPECT_TRUE(torch::equal(longer.objects, cycling_labels(30, 12).remainder(3)));
}

TEST(DataMovingObjects, ObjectsMoveInTheLabelledDirectionAndStayWhole) {
  const int64_t count = 400;
  torch::Tensor objects = synthetic_objects(count);
  MovingObjects made =
      make_moving_objects(objects, cycling_labels(count, 10), std::vector<std::string>(10, "x"), small_options(1));
  ASSERT_EQ(made.directions.min().item<int64_t>(), 0);
  ASSERT_EQ(made.directions.max().item<int64_t>(), 7);
  EXPECT_EQ(std::get<0>(at::_unique(made.directions)).numel(), 8);  // every direction occurs
  EXPECT_TRUE(torch::equal(made.objects, cycling_labels(count, 10)));
  EXPECT_EQ(MovingObjects::direction_names().size(), 8u);
  torch::Tensor object_mass = objects.to(torch::kInt64).sum({1, 2, 3});
  torch::Tensor frame_mass = made.videos.to(torch::kInt64).sum({2, 3, 4});  // [N, T]
  for (int64_t n = 0; n < count; ++n) {
    const int64_t direction = made.directions[n].item<int64_t>();
    auto path = centres(made.videos[n]);
    const double dx = path[1].first - path[0].first, dy = path[1].second - path[0].second;
    ASSERT_GT(std::hypot(dx, dy), 0.5) << "video " << n << " does not move in its first step";
    EXPECT_EQ(compass(dx, dy), direction) << "video " << n << ": first step (" << dx << ", " << dy << ")";
    // The clip fits in the frame at these speeds, so the direction holds to the last frame.
    const double total_x = path.back().first - path[0].first, total_y = path.back().second - path[0].second;
    EXPECT_EQ(compass(total_x, total_y), direction) << "video " << n;
    // Never clipped by an edge: every frame holds the whole object.
    EXPECT_TRUE(torch::all(frame_mass[n] == object_mass[n]).item<bool>()) << "video " << n;
  }
}

TEST(DataMovingObjects, FastObjectsBounceAndStayInside) {
  const int64_t count = 64;
  torch::Tensor objects = synthetic_objects(count);
  MovingObjectsOptions options;
  options.frames = 40;
  options.size = 20;
  options.speed_min = 2.5;
  options.speed_max = 3.5;  // 40 frames × 3 pixels ≫ the 12 pixels of room: every clip bounces
  MovingObjects made = make_moving_objects(objects, cycling_labels(count, 2), {"a", "b"}, options);
  torch::Tensor object_mass = objects.to(torch::kInt64).sum({1, 2, 3});
  torch::Tensor frame_mass = made.videos.to(torch::kInt64).sum({2, 3, 4});
  int64_t bounced = 0;
  for (int64_t n = 0; n < count; ++n) {
    EXPECT_TRUE(torch::all(frame_mass[n] == object_mass[n]).item<bool>()) << "video " << n << " lost pixels";
    auto path = centres(made.videos[n]);
    // A bounce reverses a step's sign (steps of 0, a rounding at the edge, are skipped).
    bool turned = false;
    double last_x = 0, last_y = 0;
    for (size_t t = 1; t < path.size(); ++t) {
      double step_x = path[t].first - path[t - 1].first, step_y = path[t].second - path[t - 1].second;
      turned = turned || step_x * last_x < 0 || step_y * last_y < 0;
      if (step_x != 0) last_x = step_x;
      if (step_y != 0) last_y = step_y;
    }
    bounced += turned ? 1 : 0;
  }
  EXPECT_EQ(bounced, count);
}

// Distractors and noise change the pixels but not the labelled objects: their paths, labels and
// (without noise) their pixels where nothing else is brighter are those of the plain videos.
TEST(DataMovingObjects, DistractorsAndNoiseLeaveTheLabelledObjectAlone) {
  const int64_t count = 60;
  torch::Tensor objects = synthetic_objects(count);
  const std::vector<std::string> names(10, "x");
  MovingObjects plain = make_moving_objects(objects, cycling_labels(count, 10), names, small_options(2));
  MovingObjectsOptions options = small_options(2);
  options.distractors = 2;
  options.distractor_brightness = 0.25;  // 25–48 against the labelled objects' 100–190
  MovingObjects cluttered = make_moving_objects(objects, cycling_labels(count, 10), names, options);
  EXPECT_TRUE(torch::equal(cluttered.directions, plain.directions));
  EXPECT_TRUE(torch::equal(cluttered.objects, plain.objects));
  // Every plain pixel survives (max painting), and the extra pixels are distractors: dim, nonzero.
  EXPECT_TRUE(torch::equal(torch::max(cluttered.videos, plain.videos), cluttered.videos));
  torch::Tensor extra = cluttered.videos.masked_select(plain.videos == 0);
  EXPECT_GT(extra.count_nonzero().item<int64_t>(), 0);
  EXPECT_LE(extra.max().item<int64_t>(), 48);
  // Two distractors of 6×4 block pixels each per frame, unless they overlap something.
  const double block = 6 * 4 * 2 * 8 * count;
  const double extra_pixels = static_cast<double>((extra > 10).sum().item<int64_t>());
  EXPECT_GT(extra_pixels, 0.5 * block);
  EXPECT_LE(extra_pixels, block);

  options.distractors = 0;
  options.noise = 20;
  MovingObjects noisy = make_moving_objects(objects, cycling_labels(count, 10), names, options);
  torch::Tensor difference = noisy.videos.to(torch::kInt32) - plain.videos.to(torch::kInt32);
  EXPECT_LE(difference.abs().max().item<int32_t>(), 20);
  // Uniform on [−20, 20] where nothing clamps (pixels inside objects are 100–190): mean 0, std 20/√3.
  torch::Tensor inside = difference.masked_select(plain.videos >= 100).to(torch::kFloat64);
  EXPECT_NEAR(inside.mean().item<double>(), 0.0, 0.35);
  EXPECT_NEAR(inside.std().item<double>(), 20 / std::sqrt(3.0), 0.3);
  // Reproducible.
  EXPECT_TRUE(torch::equal(make_moving_objects(objects, cycling_labels(count, 10), names, options).videos, noisy.videos));

  for (auto bad : {std::pair<std::string, double>{"distractors", -1}, {"distractor_brightness", 0}, {"noise", 300}}) {
    MovingObjectsOptions wrong = small_options(0);
    if (bad.first == "distractors") wrong.distractors = static_cast<int64_t>(bad.second);
    if (bad.first == "distractor_brightness") wrong.distractor_brightness = bad.second;
    if (bad.first == "noise") wrong.noise = bad.second;
    try {
      wrong.validate();
      ADD_FAILURE() << bad.first << " = " << bad.second << " was accepted";
    } catch (const ConfigError& error) {
      EXPECT_NE(std::string(error.what()).find(bad.first), std::string::npos) << error.what();
    }
  }
}

TEST(DataMovingObjects, OptionsAndInputsAreChecked) {
  torch::Tensor objects = synthetic_objects(2);
  MovingObjectsOptions options = small_options(0);
  options.speed_max = 0.5;
  EXPECT_THROW(make_moving_objects(objects, cycling_labels(2, 1), {"a"}, options), ConfigError);
  options = small_options(0);
  options.size = 6;  // smaller than the 8×8 objects
  EXPECT_THROW(make_moving_objects(objects, cycling_labels(2, 1), {"a"}, options), InputError);
  EXPECT_THROW(make_moving_objects(objects, cycling_labels(2, 3), {"a"}, small_options(0)), InputError);
  EXPECT_THROW(make_moving_objects(objects.expand({2, 8, 8, 3}), cycling_labels(2, 1), {"a"}, small_options(0)),
               InputError);
  EXPECT_EQ(small_options(3).to_json().at("seed"), 3);
  // An object as large as the frame cannot move, but is still whole in every frame.
  options = small_options(0);
  options.size = 8;
  MovingObjects still = make_moving_objects(objects, cycling_labels(2, 1), {"a"}, options);
  EXPECT_TRUE(torch::equal(still.videos[0][7], objects[0]));
}

TEST(DataMovingObjects, WritesBothLabelSetsAsVideoFolders) {
  const int64_t count = 12;
  MovingObjects made =
      make_moving_objects(synthetic_objects(count), cycling_labels(count, 2), {"T-shirt/top", "Bag"}, small_options(9));
  fs::path out = testing_files::fresh_dir("moving_objects_write");
  write_moving_objects(made, out.string(), "train");
  const auto names = MovingObjects::direction_names();
  const int64_t first_direction = made.directions[0].item<int64_t>();
  fs::path file = out / "by-direction" / "train" / names[static_cast<size_t>(first_direction)] / "00.mkv";
  fs::path link = out / "by-class" / "train" / "T-shirt-top" / "00.mkv";
  ASSERT_TRUE(fs::exists(file)) << file;
  ASSERT_TRUE(fs::exists(link)) << link;
  EXPECT_TRUE(fs::equivalent(file, link));  // one copy of the bytes
  EXPECT_EQ(fs::hard_link_count(file), 2u);

  VideoReadOptions read;
  read.frames = 8;
  auto by_direction = load_video_folder((out / "by-direction").string(), "train", read);
  auto by_class = load_video_folder((out / "by-class").string(), "train", read);
  ASSERT_EQ(by_direction->size(), count);
  ASSERT_EQ(by_class->size(), count);
  EXPECT_EQ(by_class->class_names(), (std::vector<std::string>{"Bag", "T-shirt-top"}));
  // Folders sort by name, so labels are compared through the class names.
  for (int64_t i = 0; i < count; ++i) {
    const std::string direction = by_direction->class_names()[by_direction->labels()[i].item<int64_t>()];
    const std::string object = by_class->class_names()[by_class->labels()[i].item<int64_t>()];
    bool found = false;
    for (int64_t n = 0; n < count; ++n) {
      if (!torch::equal(by_direction->videos()[i], made.videos[n])) continue;
      found = true;
      EXPECT_EQ(direction, names[static_cast<size_t>(made.directions[n].item<int64_t>())]);
    }
    EXPECT_TRUE(found) << "video " << i << " of by-direction/ is not one that was made";
    EXPECT_TRUE(object == "Bag" || object == "T-shirt-top");
  }
  EXPECT_THROW(write_moving_objects(made, out.string(), "validation"), ConfigError);
}

TEST(DataMovingObjects, NamedDatasetsFromFashionMnist) {
  EXPECT_EQ(load_moving_objects("moving-mnist", "train", 10), nullptr);
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  DatasetPtr directions = load_moving_objects("moving-objects", "train", 200);
  ASSERT_NE(directions, nullptr);
  EXPECT_EQ(directions->size(), 200);
  EXPECT_EQ(directions->sample_shape(), (std::vector<int64_t>{16, 48, 48, 1}));
  EXPECT_EQ(directions->num_classes(), 8);
  EXPECT_EQ(directions->source(), "moving-objects (Fashion-MNIST, 16×48×48)");
  EXPECT_GE(directions->labels().min().item<int64_t>(), 0);
  EXPECT_LT(directions->labels().max().item<int64_t>(), 8);

  DatasetPtr classes = load_moving_objects("moving-objects-class", "train", 200);
  EXPECT_EQ(classes->num_classes(), 10);
  EXPECT_EQ(classes->class_names().front(), "T-shirt/top");
  torch::Tensor all = torch::arange(200, torch::kInt64);
  EXPECT_TRUE(torch::equal(classes->get(all).input, directions->get(all).input));  // same videos, other labels

  DatasetPtr test = load_moving_objects("moving-objects", "test", 200);
  EXPECT_FALSE(torch::equal(test->get(all).input, directions->get(all).input));
  EXPECT_THROW(load_moving_objects("moving-objects", "valid", 10), InputError);

  // The same videos as files' worth of labels: what `pretext data moving-objects` writes.
  MovingObjects named = named_moving_objects("train", 200);
  EXPECT_TRUE(torch::equal(named.videos, directions->get(all).input));
  EXPECT_TRUE(torch::equal(named.directions, directions->labels()));
  EXPECT_TRUE(torch::equal(named.objects, classes->labels()));
  EXPECT_THROW(named_moving_objects("valid", 10), InputError);
}

// Not run by default (it holds 368 MB): --gtest_also_run_disabled_tests --gtest_filter='*TenThousand*'.
TEST(DataMovingObjects, DISABLED_MakesTenThousandVideosInSeconds) {
  torch::Tensor objects = synthetic_objects(10000, 28);
  auto start = std::chrono::steady_clock::now();
  MovingObjects made = make_moving_objects(objects, cycling_labels(10000, 10), std::vector<std::string>(10, "x"),
                                           MovingObjectsOptions{});
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "10,000 videos of 16×48×48 in " << seconds << " s\n";
  EXPECT_EQ(made.videos.size(0), 10000);
  EXPECT_LT(seconds, 10.0);
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) return;
  start = std::chrono::steady_clock::now();
  DatasetPtr named = load_moving_objects("moving-objects", "train", 10000);
  seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "load_moving_objects(\"moving-objects\", \"train\", 10000) in " << seconds << " s\n";
  EXPECT_EQ(named->size(), 10000);
}

}  // namespace
}  // namespace pretext
