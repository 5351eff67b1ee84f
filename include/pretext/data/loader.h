// Loader: turns a Dataset into a stream of Batches for one epoch at a time.
// Shuffles with a seed (the same order on every rank for a given epoch), keeps this rank's
// share (every world_size-th sample of that order), batches, and prepares the next batches
// on a background thread while the caller computes.
// Guarantees: the same seed and epoch give the same batches; next() returns nullopt at the
// end of the epoch; a reader error on the background thread is re-thrown from next().
#pragma once

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "pretext/data/dataset.h"

namespace pretext {

struct LoaderOptions {
  int64_t batch_size = 256;
  bool shuffle = true;
  bool drop_last = true;  // drop the final short batch (pretraining); keep it for evaluation
  uint64_t seed = 0;
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t prefetch = 2;  // batches prepared ahead; 0 = no background thread
};

class Loader {
 public:
  // Throws ConfigError for batch_size < 1, rank outside [0, world_size), or a dataset too small
  // to give this rank one full batch when drop_last is set.
  Loader(DatasetPtr dataset, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts epoch `epoch`, skipping its first `skip_batches` batches (to resume mid-epoch).
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);
  std::optional<Batch> next();
  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const;  // this rank's samples per epoch
  // Samples in a full batch: the configured size, or the whole epoch when that is smaller.
  int64_t batch_size() const { return std::min(options_.batch_size, samples_per_epoch()); }
  const Dataset& dataset() const { return *dataset_; }

 private:
  void stop_worker();
  Batch make_batch(int64_t batch_number) const;

  DatasetPtr dataset_;
  LoaderOptions options_;
  torch::Tensor order_;  // this rank's sample indices for the current epoch
  int64_t next_batch_ = 0;
  int64_t produced_ = 0;
  std::thread worker_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch> ready_;
  std::exception_ptr worker_error_;
  bool stopping_ = false;
  bool worker_done_ = false;
};

}  // namespace pretext
