#include "pretext/core/block_cache.h"

#include <c10/util/Exception.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "pretext/core/error.h"

namespace pretext {

namespace {

BlockCache* installed_cache = nullptr;  // set once, before the first block is handed out

std::size_t round_up(std::size_t bytes, std::size_t grain) { return (bytes + grain - 1) / grain * grain; }

// A fresh mapping of `size` bytes, or nullptr. A huge block (grain kBlockGrain) starts on a 2 MiB
// boundary and is advised for huge pages (advice: where the kernel declines, it is ordinary
// pages); the others are page-aligned as mmap returns them.
void* map_block(std::size_t size, std::size_t grain) {
  const bool huge = grain == BlockCache::kBlockGrain;
  const std::size_t extra = huge ? grain : 0;  // room to slide the start to a boundary
  void* raw = mmap(nullptr, size + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  if (!huge) return raw;
  const auto begin = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = round_up(begin, grain);
  if (aligned > begin) munmap(raw, aligned - begin);
  if (begin + extra > aligned) munmap(reinterpret_cast<void*>(aligned + size), begin + extra - aligned);
  void* start = reinterpret_cast<void*>(aligned);
#ifdef MADV_HUGEPAGE
  madvise(start, size, MADV_HUGEPAGE);
#endif
  return start;
}

}  // namespace

BlockCache::BlockCache(c10::Allocator* fallback, std::size_t cap_bytes) : fallback_(fallback), cap_bytes_(cap_bytes) {}

c10::DataPtr BlockCache::allocate(std::size_t bytes) { return std::as_const(*this).allocate(bytes); }

c10::DataPtr BlockCache::allocate(std::size_t bytes) const {
  if (bytes < kMinCachedBytes) return fallback_->allocate(bytes);
  auto& self = const_cast<BlockCache&>(*this);
  const std::size_t grain = bytes < kHugeBytes ? kSmallGrain : kBlockGrain;
  const std::size_t size = round_up(bytes, grain);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = waiting_.lower_bound(size);
    if (it != waiting_.end() && it->first <= size + std::max(grain, size / 8)) {
      void* start = it->second;
      in_use_.emplace(start, it->first);
      stats_.waiting_bytes -= it->first;
      ++stats_.reuses;
      waiting_.erase(it);
      return c10::DataPtr(start, start, &BlockCache::free, c10::Device(c10::DeviceType::CPU));
    }
  }
  void* start = map_block(size, grain);
  if (start == nullptr) {  // the waiting blocks may be what the system lacks
    self.release_waiting();
    start = map_block(size, grain);
  }
  TORCH_CHECK(start != nullptr, "pretext CPU block cache: out of memory mapping ", size >> 20, " MiB");
  std::lock_guard<std::mutex> lock(mutex_);
  in_use_.emplace(start, size);
  stats_.mapped_bytes += size;
  stats_.peak_mapped_bytes = std::max(stats_.peak_mapped_bytes, stats_.mapped_bytes);
  ++stats_.maps;
  return c10::DataPtr(start, start, &BlockCache::free, c10::Device(c10::DeviceType::CPU));
}

void BlockCache::copy_data(void* dest, const void* src, std::size_t count) const {
  if (count > 0) std::memcpy(dest, src, count);
}

void BlockCache::free(void* data) {
  if (data == nullptr) return;
  BlockCache& cache = *installed_cache;
  {
    std::lock_guard<std::mutex> lock(cache.mutex_);
    auto it = cache.in_use_.find(data);
    if (it != cache.in_use_.end()) {
      cache.waiting_.emplace(it->second, data);
      cache.stats_.waiting_bytes += it->second;
      cache.in_use_.erase(it);
      cache.trim_to(cache.cap_bytes_);
      return;
    }
  }
  cache.fallback_->raw_deleter()(data);  // a small block: the fallback's own
}

void BlockCache::trim_to(std::size_t waiting_cap) {
  while (stats_.waiting_bytes > waiting_cap && !waiting_.empty()) {
    auto largest = std::prev(waiting_.end());
    munmap(largest->second, largest->first);
    stats_.waiting_bytes -= largest->first;
    stats_.mapped_bytes -= largest->first;
    waiting_.erase(largest);
  }
}

void BlockCache::release_waiting() {
  std::lock_guard<std::mutex> lock(mutex_);
  trim_to(0);
}

BlockCacheStats BlockCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::size_t block_cache_cap_bytes(const char* setting) {
  if (setting == nullptr) return BlockCache::kDefaultCapMiB << 20;
  char* end = nullptr;
  errno = 0;
  const long long mib = std::strtoll(setting, &end, 10);
  PRETEXT_CHECK(end != setting && *end == '\0' && errno == 0 && mib >= 0 && mib < (1LL << 40), ConfigError,
                "PRETEXT_CPU_CACHE_MIB must be a whole number of MiB >= 0 (0 = no cache), got '", setting, "'");
  return static_cast<std::size_t>(mib) << 20;
}

BlockCache* install_cpu_block_cache() {
  static BlockCache* installed = [] {
    const std::size_t cap_bytes = block_cache_cap_bytes(std::getenv("PRETEXT_CPU_CACHE_MIB"));
    if (cap_bytes == 0) return static_cast<BlockCache*>(nullptr);
    // Never destroyed: tensors freed during static destruction still give their blocks back.
    auto* cache = new BlockCache(c10::GetAllocator(c10::DeviceType::CPU), cap_bytes);
    installed_cache = cache;
    c10::SetAllocator(c10::DeviceType::CPU, cache, /*priority=*/1);
    return cache;
  }();
  return installed;
}

}  // namespace pretext
