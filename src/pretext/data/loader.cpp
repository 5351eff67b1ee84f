#include "pretext/data/loader.h"

#include <algorithm>

#include "pretext/core/error.h"
#include "pretext/core/runtime.h"

namespace pretext {

Loader::Loader(DatasetPtr dataset, LoaderOptions options) : dataset_(std::move(dataset)), options_(options) {
  PRETEXT_CHECK(dataset_ != nullptr, ConfigError, "loader: no dataset");
  PRETEXT_CHECK(options_.batch_size >= 1, ConfigError, "batch_size must be at least 1, got ", options_.batch_size);
  PRETEXT_CHECK(options_.world_size >= 1, ConfigError, "world_size must be at least 1, got ", options_.world_size);
  PRETEXT_CHECK(options_.rank >= 0 && options_.rank < options_.world_size, ConfigError, "rank ", options_.rank,
                " is outside [0, ", options_.world_size, ")");
  PRETEXT_CHECK(options_.prefetch >= 0, ConfigError, "prefetch must be >= 0, got ", options_.prefetch);
  PRETEXT_CHECK(!options_.drop_last || samples_per_epoch() >= options_.batch_size, ConfigError, dataset_->source(),
                ": ", dataset_->size(), " samples give each of ", options_.world_size, " rank(s) ", samples_per_epoch(),
                ", fewer than one batch of ", options_.batch_size, " (lower batch_size)");
}

Loader::~Loader() { stop_worker(); }

int64_t Loader::samples_per_epoch() const {
  // Every rank gets the same count, so that collective operations stay in step.
  return dataset_->size() / options_.world_size;
}

int64_t Loader::batches_per_epoch() const {
  int64_t samples = samples_per_epoch();
  return options_.drop_last ? samples / options_.batch_size
                            : (samples + options_.batch_size - 1) / options_.batch_size;
}

void Loader::start_epoch(int64_t epoch, int64_t skip_batches) {
  PRETEXT_CHECK(skip_batches >= 0, ConfigError, "skip_batches must be >= 0, got ", skip_batches);
  stop_worker();
  int64_t total = dataset_->size();
  torch::Tensor order;
  if (options_.shuffle) {
    // Seeded from (seed, epoch) only, so every rank draws the same permutation.
    auto generator = make_generator(options_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    order = torch::randperm(total, generator, torch::kInt64);
  } else {
    order = torch::arange(total, torch::kInt64);
  }
  order_ = order.slice(0, options_.rank, total, options_.world_size).slice(0, 0, samples_per_epoch()).contiguous();
  next_batch_ = std::min(skip_batches, batches_per_epoch());
  produced_ = next_batch_;
  if (options_.prefetch == 0) return;

  worker_ = std::thread([this] {
    torch::NoGradGuard no_grad;  // thread-local: batches never need autograd history
    try {
      for (int64_t batch_number = produced_; batch_number < batches_per_epoch(); ++batch_number) {
        {
          std::unique_lock<std::mutex> lock(mutex_);
          changed_.wait(lock, [this] { return stopping_ || static_cast<int64_t>(ready_.size()) < options_.prefetch; });
          if (stopping_) return;
        }
        Batch batch = make_batch(batch_number);
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) return;
        ready_.push_back(std::move(batch));
        produced_ = batch_number + 1;
        changed_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      worker_error_ = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    worker_done_ = true;
    changed_.notify_all();
  });
}

std::optional<Batch> Loader::next() {
  if (!order_.defined()) start_epoch(0);
  if (options_.prefetch == 0) {
    if (next_batch_ >= batches_per_epoch()) return std::nullopt;
    return make_batch(next_batch_++);
  }
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !ready_.empty() || worker_done_ || !worker_.joinable(); });
  if (!ready_.empty()) {
    Batch batch = std::move(ready_.front());
    ready_.pop_front();
    ++next_batch_;
    changed_.notify_all();
    return batch;
  }
  if (worker_error_) std::rethrow_exception(worker_error_);
  return std::nullopt;
}

void Loader::stop_worker() {
  if (worker_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    changed_.notify_all();
    worker_.join();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = false;
  worker_done_ = false;
  worker_error_ = nullptr;
  ready_.clear();
}

Batch Loader::make_batch(int64_t batch_number) const {
  int64_t begin = batch_number * options_.batch_size;
  int64_t end = std::min(begin + options_.batch_size, order_.size(0));
  torch::Tensor indices = order_.slice(0, begin, end);
  Batch batch = dataset_->get(indices);
  PRETEXT_CHECK(batch.size() == end - begin, InputError, dataset_->source(), ": asked for ", end - begin,
                " samples, got a batch of ", batch.size());
  return batch;
}

}  // namespace pretext
