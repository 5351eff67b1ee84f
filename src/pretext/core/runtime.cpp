#include "pretext/core/runtime.h"

#include <ATen/autocast_mode.h>
#include <ATen/CPUGeneratorImpl.h>
#include <link.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <unistd.h>

#include "pretext/core/block_cache.h"
#include "pretext/core/error.h"
#include "pretext/core/log.h"

namespace pretext {

int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
  unsigned hardware = std::thread::hardware_concurrency();
  return hardware > 0 ? static_cast<int>(hardware) : 1;
}

bool cpu_supports_bf16() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (word == "avx512_bf16" || word == "amx_bf16") return true;
    }
    return false;
  }
  return false;
}

namespace {
int collect_blas(struct dl_phdr_info* info, size_t, void* data) {
  auto* found = static_cast<std::string*>(data);
  if (info->dlpi_name == nullptr || !found->empty()) return 0;
  std::string name = info->dlpi_name;
  auto slash = name.find_last_of('/');
  std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  if (base.rfind("libblas", 0) == 0 || base.rfind("libopenblas", 0) == 0 || base.rfind("libmkl_rt", 0) == 0 ||
      base.rfind("libblis", 0) == 0) {
    char resolved[PATH_MAX];
    *found = realpath(name.c_str(), resolved) != nullptr ? std::string(resolved) : name;
  }
  return 0;
}
}  // namespace

std::string loaded_blas_path() {
  std::string found;
  dl_iterate_phdr(collect_blas, &found);
  return found;
}

bool is_reference_blas(const std::string& path) {
  // Debian's reference implementation lives in .../blas/libblas.so.3 (package libblas3);
  // OpenBLAS, BLIS and MKL name themselves in their paths.
  if (path.empty()) return false;
  for (const char* fast : {"openblas", "blis", "mkl", "atlas"}) {
    if (path.find(fast) != std::string::npos) return false;
  }
  return path.find("/blas/libblas") != std::string::npos;
}

namespace {
std::atomic<bool> g_stop_requested{false};

void on_stop_signal(int signal_number) {
  if (g_stop_requested.exchange(true)) {
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
  }
}
}  // namespace

void request_stop() { g_stop_requested.store(true); }
bool stop_requested() { return g_stop_requested.load(); }
void clear_stop_request() { g_stop_requested.store(false); }

void install_stop_handlers() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  // A write past the file-size limit (ulimit -f) fails with EFBIG, like a full disk, and gets the
  // same clear error instead of killing the process.
  std::signal(SIGXFSZ, SIG_IGN);
}

double peak_memory_mib() {
  struct rusage usage {};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // Linux reports KiB
}

torch::Generator make_generator(uint64_t seed) {
  return at::make_generator<at::CPUGeneratorImpl>(seed);
}

torch::Tensor uniform_draws(int64_t count, double low, double high, torch::Generator& generator) {
  return torch::rand({count}, generator, torch::kDouble).mul_(high - low).add_(low);
}

std::string Runtime::describe() const {
  std::ostringstream out;
  out << "device " << device.str() << ", precision " << (bf16 ? "bf16 autocast" : "fp32") << ", "
      << threads << " thread" << (threads == 1 ? "" : "s") << ", seed " << seed;
  if (!blas.empty()) out << ", BLAS " << blas;
  if (group && group->world_size() > 1) {
    out << ", rank " << group->rank() << " of " << group->world_size() << " (" << group->backend() << ")";
  }
  return out.str();
}


Runtime init_runtime(const RuntimeOptions& options) {
  install_cpu_block_cache();
  Runtime runtime;
  runtime.seed = options.seed;
  PRETEXT_CHECK(options.threads >= 0, ConfigError, "--threads must be >= 0, got ", options.threads);
  // Ranks started together on one machine (torchrun, `pretext launch`) share its cores.
  int local_ranks = 1;
  if (const char* local = std::getenv("LOCAL_WORLD_SIZE")) local_ranks = std::max(1, std::atoi(local));
  runtime.threads = options.threads > 0 ? options.threads : std::max(1, usable_cores() / local_ranks);
  torch::set_num_threads(runtime.threads);

  const std::string& device = options.device;
  if (device == "auto") {
    runtime.device = torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  } else if (device == "cpu") {
    runtime.device = torch::kCPU;
  } else if (device.rfind("cuda", 0) == 0) {
    PRETEXT_CHECK(torch::cuda::is_available(), ConfigError, "--device ", device,
                  " was requested but this LibTorch has no usable CUDA device");
    try {
      runtime.device = torch::Device(device);
    } catch (const c10::Error&) {
      throw ConfigError("--device: cannot parse '" + device + "' (expected auto, cpu, cuda or cuda:N)");
    }
  } else {
    throw ConfigError("--device: unknown value '" + device + "' (expected auto, cpu, cuda or cuda:N)");
  }

  const std::string& precision = options.precision;
  if (precision == "auto") {
    runtime.bf16 = runtime.device.is_cuda() || cpu_supports_bf16();
  } else if (precision == "bf16") {
    runtime.bf16 = true;
  } else if (precision == "fp32") {
    runtime.bf16 = false;
  } else {
    throw ConfigError("--precision: unknown value '" + precision + "' (expected auto, fp32 or bf16)");
  }

  torch::manual_seed(options.seed);
  runtime.blas = loaded_blas_path();
  if (is_reference_blas(runtime.blas)) {
    log::warn("the reference BLAS (", runtime.blas,
              ") is loaded: float32 matrix products run ~30x slower than with OpenBLAS. "
              "Install libopenblas0-pthread (scripts/setup does) or point libblas.so.3 at it with update-alternatives.");
  }
  return runtime;
}

// Autocast's entry points moved in LibTorch 2.4: set_autocast_enabled(device_type, …) replaced
// the per-backend set_cpu_enabled / set_enabled pairs.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define PRETEXT_AUTOCAST_BY_DEVICE_TYPE 1
#endif

AutocastGuard::AutocastGuard(const torch::Device& device, bool enabled) : device_(device), enabled_(enabled) {
  if (!enabled_) return;
#ifdef PRETEXT_AUTOCAST_BY_DEVICE_TYPE
  previous_ = at::autocast::is_autocast_enabled(device_.type());
  at::autocast::set_autocast_dtype(device_.type(), at::kBFloat16);
  at::autocast::set_autocast_enabled(device_.type(), true);
#else
  if (device_.is_cuda()) {
    previous_ = at::autocast::is_enabled();
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
    at::autocast::set_enabled(true);
  } else {
    previous_ = at::autocast::is_cpu_enabled();
    at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
    at::autocast::set_cpu_enabled(true);
  }
#endif
  at::autocast::increment_nesting();
}

bool autocast_enabled(c10::DeviceType device_type) {
#ifdef PRETEXT_AUTOCAST_BY_DEVICE_TYPE
  return at::autocast::is_autocast_enabled(device_type);
#else
  return device_type == c10::DeviceType::CUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
#endif
}

Float32Region::Float32Region() : guard_(c10::autocast_dispatch_keyset) {}
Float32Region::~Float32Region() = default;

AutocastGuard::~AutocastGuard() {
  if (!enabled_) return;
  // Leaving the outermost region drops the cast-weight cache, as torch.autocast's __exit__ does.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#ifdef PRETEXT_AUTOCAST_BY_DEVICE_TYPE
  at::autocast::set_autocast_enabled(device_.type(), previous_);
#else
  if (device_.is_cuda()) {
    at::autocast::set_enabled(previous_);
  } else {
    at::autocast::set_cpu_enabled(previous_);
  }
#endif
}

void prefer_passive_openmp_threads(int /*argc*/, char** /*argv*/, char** /*envp*/) {
  // Before main() nothing may throw or log; setenv only copies the strings.
  setenv("OMP_WAIT_POLICY", "PASSIVE", /*overwrite=*/0);
}

}  // namespace pretext
