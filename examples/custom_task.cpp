// A user-defined pretext task in one file: 2×2 jigsaw puzzles.
//
// The problem is made from unlabeled images alone: cut each image into four quadrants, shuffle
// them with one of the 24 permutations, and ask the network which permutation it was. Register
// it by name, then hand argv to pretext's own command line:
//
//   custom_task_example pretrain --task jigsaw --data fashion-mnist --epochs 1 --out runs/jigsaw
//   custom_task_example evaluate --checkpoint runs/jigsaw/last.pt --labels-per-class 10
#include <pretext/augment/image.h>
#include <pretext/cli/cli.h>
#include <pretext/core/options.h>
#include <pretext/models/heads.h>
#include <pretext/tasks/task.h>

#include <algorithm>
#include <array>

namespace {

struct JigsawOptions {
  double crop_min_scale = 0.6;  // a light random crop before cutting, so puzzles vary

  static JigsawOptions from_json(const nlohmann::json& values) {
    JigsawOptions options;
    pretext::OptionReader reader(values, "task jigsaw");
    reader.read("crop_min_scale", options.crop_min_scale);
    reader.finish();
    return options;
  }
};

class JigsawTask : public pretext::PretextTask {
 public:
  JigsawTask(const pretext::TaskContext& context, JigsawOptions options)
      : PretextTask("JigsawTask", context.seed), options_(options), augment_(make_augment(context, options)) {
    PRETEXT_CHECK(context.encoder.image_size % 2 == 0, ConfigError,
                  "task jigsaw needs an even image size, got ", context.encoder.image_size);
    encoder_ = register_module("encoder", pretext::make_encoder(context.encoder));
    pretext::MLPOptions head;
    head.in_dim = encoder_->dim();
    head.out_dim = 24;
    head.layers = 1;
    head_ = register_module("head", pretext::MLP(head));
    // All 24 orderings of the four quadrants; the answer is an index into this table.
    std::array<int64_t, 4> order{0, 1, 2, 3};
    std::vector<int64_t> flat;
    do {
      flat.insert(flat.end(), order.begin(), order.end());
    } while (std::next_permutation(order.begin(), order.end()));
    permutations_ = torch::tensor(flat, torch::kLong).view({24, 4});
  }

  Output step(const pretext::Batch& batch) override {
    auto x = augment_(batch.input, generator());  // [B,C,S,S]
    const int64_t b = x.size(0), c = x.size(1), half = x.size(2) / 2;
    // [B,C,2,h,2,w] → quadrants [B,4,C,h,w] in reading order.
    auto quadrants = x.reshape({b, c, 2, half, 2, half}).permute({0, 2, 4, 1, 3, 5}).reshape({b, 4, c, half, half});
    auto answer = torch::randint(0, 24, {b}, generator(), torch::kLong);
    auto order = permutations_.index_select(0, answer).to(x.device());  // [B,4]
    auto shuffled = quadrants.gather(1, order.view({b, 4, 1, 1, 1}).expand_as(quadrants));
    auto puzzle = shuffled.reshape({b, 2, 2, c, half, half}).permute({0, 3, 1, 4, 2, 5}).reshape({b, c, 2 * half, 2 * half});
    auto features = encoder_->forward(prepare_for_encoder(puzzle));
    auto logits = head_->forward(features).to(torch::kFloat32);
    answer = answer.to(x.device());
    auto loss = torch::nn::functional::cross_entropy(logits, answer);
    double accuracy = (logits.argmax(1) == answer).to(torch::kFloat32).mean().item<double>();
    // The loss, named statistics for the progress line, and the (detached) representation that
    // the trainer's monitors judge: collapse warnings, online linear probe, k-NN.
    Output out;
    out.loss = loss;
    out.stats = {{"jigsaw_acc", accuracy}};
    out.embedding = features.detach();
    return out;
  }

  pretext::EncoderPtr encoder() const override { return encoder_; }
  nlohmann::json options_json() const override { return {{"crop_min_scale", options_.crop_min_scale}}; }

 private:
  static pretext::ImageAugment make_augment(const pretext::TaskContext& context, const JigsawOptions& options) {
    auto augment = pretext::crop_and_flip_only(options.crop_min_scale);
    augment.flip_probability = 0.0;  // a mirrored puzzle would need its own answer
    return pretext::ImageAugment(pretext::fit_augment_to_data(augment, context));
  }

  JigsawOptions options_;
  pretext::ImageAugment augment_;
  pretext::EncoderPtr encoder_;
  pretext::MLP head_{nullptr};
  torch::Tensor permutations_;
};

// The one registration line: from here on `--task jigsaw` works like a built-in task.
const pretext::TaskRegistrar kJigsaw(
    "jigsaw",
    [](const pretext::TaskContext& context) {
      return std::make_shared<JigsawTask>(context, JigsawOptions::from_json(context.options));
    },
    "2×2 jigsaw: predict which of 24 permutations shuffled the quadrants (examples/custom_task.cpp)");

}  // namespace

int main(int argc, char** argv) { return pretext::cli::run_cli(argc, argv); }
