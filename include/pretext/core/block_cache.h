// A cache of large blocks for CPU tensors, installed as LibTorch's CPU allocator by init_runtime.
//
// Why: a training step frees and allocates the same large tensors every step (activations,
// gradients, the masked-LM logits). glibc either maps each of them afresh, and the kernel then
// zero-fills every page on first touch, or keeps them in its heap, where a block freed at the top
// goes back to the system and the next step faults it in again. On a VM where page faults are
// expensive this dominated training: SimCLR on the ConvNet ran at 161 images/s against 850 with
// the pages kept, BERT-tiny masked-LM at 16k tokens/s against 44k (docs/PERFORMANCE.md).
//
// What: blocks of at least kMinCachedBytes come from their own mapping, sized in 64 KiB steps;
// from kHugeBytes up in 2 MiB steps, 2 MiB-aligned and advised for transparent huge pages (one
// fault per 2 MiB where the kernel allows). A freed block waits in the cache; a later request takes the smallest waiting block that holds
// it unless that wastes more than an eighth (and 2 MiB). Waiting blocks beyond the cap go back
// to the system, largest first. Smaller requests go to the allocator that was there before.
//
// The cap: PRETEXT_CPU_CACHE_MIB (default kDefaultCapMiB; 0 turns the cache off: every large
// block is mapped and unmapped each time).
#pragma once

#include <c10/core/Allocator.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <unordered_map>

namespace pretext {

struct BlockCacheStats {
  std::size_t mapped_bytes = 0;   // blocks now mapped: in use + waiting
  std::size_t waiting_bytes = 0;  // freed blocks kept for reuse
  std::size_t peak_mapped_bytes = 0;
  int64_t maps = 0;    // blocks mapped from the system
  int64_t reuses = 0;  // requests served from the cache
};

class BlockCache final : public c10::Allocator {
 public:
  static constexpr std::size_t kMinCachedBytes = std::size_t{1} << 20;
  static constexpr std::size_t kBlockGrain = std::size_t{2} << 20;  // huge blocks' (a huge page)
  static constexpr std::size_t kSmallGrain = std::size_t{64} << 10;  // the others'
  static constexpr std::size_t kHugeBytes = std::size_t{8} << 20;
  static constexpr std::size_t kDefaultCapMiB = 256;

  BlockCache(c10::Allocator* fallback, std::size_t cap_bytes);

  // LibTorch 1.13 declares allocate const, 2.3+ non-const: one of these two overrides it there.
  c10::DataPtr allocate(std::size_t bytes) const;
  c10::DataPtr allocate(std::size_t bytes);
  // raw_allocate/raw_deallocate (oneDNN's scratch buffers) need one deleter for every block.
  c10::DeleterFnPtr raw_deleter() const override { return &BlockCache::free; }
  // Pure virtual in LibTorch 2.3+ (Tensor.clone of a storage); a plain method before.
  void copy_data(void* dest, const void* src, std::size_t count) const;

  BlockCacheStats stats() const;
  // Returns every waiting block to the system.
  void release_waiting();

 private:
  // Takes a block of this cache back, or hands another pointer to the fallback's deleter.
  static void free(void* data);
  void trim_to(std::size_t waiting_cap);  // mutex held

  c10::Allocator* fallback_;
  std::size_t cap_bytes_;
  mutable std::mutex mutex_;
  mutable std::multimap<std::size_t, void*> waiting_;      // size → block start
  mutable std::unordered_map<void*, std::size_t> in_use_;  // block start → size
  mutable BlockCacheStats stats_;
};

// The cap in bytes for a PRETEXT_CPU_CACHE_MIB setting (nullptr: unset, the default). Throws
// ConfigError naming the variable for anything but a whole number >= 0.
std::size_t block_cache_cap_bytes(const char* setting);

// Installs the cache as LibTorch's CPU allocator once per process (later calls do nothing) and
// returns it; nullptr when PRETEXT_CPU_CACHE_MIB is 0. Throws ConfigError for a malformed value.
BlockCache* install_cpu_block_cache();

}  // namespace pretext
