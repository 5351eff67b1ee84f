#include "pretext/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <zlib.h>

#include <charconv>
#include <cstring>
#include <sstream>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"

namespace pretext {
namespace {

// The file: one header line, "pretext-checkpoint <archive bytes> <CRC-32 of them, hex>\n", then
// LibTorch's archive. The header lets a load tell a truncated or altered file from a good one
// before LibTorch reads any of it. Files from before the header (a bare archive) still load.
constexpr std::string_view kMagic = "pretext-checkpoint ";

uLong crc32_of(std::string_view bytes, uLong crc = crc32(0L, Z_NULL, 0)) {
  // zlib takes at most uInt bytes a call.
  for (size_t done = 0; done < bytes.size();) {
    const size_t chunk = std::min<size_t>(bytes.size() - done, 1u << 30);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), static_cast<uInt>(chunk));
    done += chunk;
  }
  return crc;
}

std::string with_header(const std::string& archive) {
  char crc[9];
  std::snprintf(crc, sizeof(crc), "%08x", static_cast<uint32_t>(crc32_of(archive)));
  return std::string(kMagic) + std::to_string(archive.size()) + " " + crc + "\n" + archive;
}

// The archive's bytes, verified against the header. Throws InputError naming the file when it is
// truncated or its bytes do not match their checksum.
std::string verified_archive(std::string bytes, const std::filesystem::path& path) {
  if (bytes.compare(0, kMagic.size(), kMagic) != 0) return bytes;  // written before the header
  const size_t end = bytes.find('\n');
  PRETEXT_CHECK(end != std::string::npos && end < 64, InputError, path.string(),
                ": damaged checkpoint (its header line is cut off)");
  const std::string_view header(bytes.data() + kMagic.size(), end - kMagic.size());
  const size_t space = header.find(' ');
  uint64_t size = 0;
  uint32_t expected = 0;
  const bool parsed =
      space != std::string_view::npos &&
      std::from_chars(header.data(), header.data() + space, size).ec == std::errc() &&
      std::from_chars(header.data() + space + 1, header.data() + header.size(), expected, 16).ec == std::errc();
  PRETEXT_CHECK(parsed, InputError, path.string(), ": damaged checkpoint (unreadable header '", std::string(header),
                "')");
  const uint64_t present = bytes.size() - end - 1;
  PRETEXT_CHECK(present == size, InputError, path.string(), ": truncated or damaged checkpoint (", present,
                " bytes of data where the header says ", size, ")");
  bytes.erase(0, end + 1);
  PRETEXT_CHECK(crc32_of(bytes) == expected, InputError, path.string(),
                ": corrupt checkpoint (its checksum does not match: the file was changed after it was written)");
  return bytes;
}

torch::serialize::InputArchive open_archive(const std::filesystem::path& path) {
  std::string bytes = verified_archive(read_file(path), path);
  std::istringstream stream(bytes);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(stream);
  } catch (const c10::Error&) {
    throw InputError("not a pretext checkpoint (unreadable archive): " + path.string());
  }
  return archive;
}

CheckpointState read_state(torch::serialize::InputArchive& archive, const std::filesystem::path& path) {
  c10::IValue version, config, numbers, finished;
  try {
    archive.read("format_version", version);
    archive.read("config", config);
    archive.read("numbers", numbers);
    archive.read("finished", finished);
  } catch (const c10::Error&) {
    throw InputError("not a pretext checkpoint (no pretext header): " + path.string());
  }
  PRETEXT_CHECK(version.toInt() == kCheckpointFormatVersion, InputError, path.string(), ": checkpoint format version ",
                version.toInt(), " is not supported (this pretext reads version ", kCheckpointFormatVersion, ")");
  CheckpointState state;
  state.config = nlohmann::json::parse(config.toStringRef(), nullptr, false);
  PRETEXT_CHECK(!state.config.is_discarded() && state.config.is_object(), InputError, path.string(),
                ": the checkpoint's config is not valid JSON");
  auto values = numbers.toTensor();
  state.step = values[0].item<int64_t>();
  state.epoch = values[1].item<int64_t>();
  state.total_steps = values[2].item<int64_t>();
  state.finished = finished.toBool();
  c10::IValue skipped, lr_scale, best, world_size, epoch_step;
  if (archive.try_read("world_size", world_size)) state.world_size = world_size.toInt();
  if (archive.try_read("epoch_step", epoch_step)) state.epoch_step = epoch_step.toInt();
  if (archive.try_read("best_knn_top1", best)) state.best_knn_top1 = best.toDouble();
  if (archive.try_read("skipped_steps", skipped)) state.skipped_steps = skipped.toInt();
  if (archive.try_read("lr_scale", lr_scale)) state.lr_scale = lr_scale.toDouble();
  // Assets: their names as a JSON list, each file as a uint8 tensor (checkpoints without any
  // have no entry).
  c10::IValue names;
  if (archive.try_read("asset_names", names)) {
    PRETEXT_CHECK(names.isString(), InputError, path.string(), ": the checkpoint's asset list is not a string");
    auto list = nlohmann::json::parse(names.toStringRef(), nullptr, false);
    PRETEXT_CHECK(list.is_array(), InputError, path.string(), ": the checkpoint's asset list is not valid JSON");
    for (const auto& name : list) {
      PRETEXT_CHECK(name.is_string(), InputError, path.string(), ": the checkpoint's asset list holds ", name.dump());
      torch::Tensor bytes;
      PRETEXT_CHECK(archive.try_read("asset_" + name.get<std::string>(), bytes) && bytes.scalar_type() == torch::kUInt8,
                    InputError, path.string(), ": the checkpoint lists asset '", name.get<std::string>(),
                    "' but does not hold it");
      bytes = bytes.contiguous();
      state.assets[name.get<std::string>()] =
          std::string(reinterpret_cast<const char*>(bytes.data_ptr<uint8_t>()), static_cast<size_t>(bytes.numel()));
    }
  }
  return state;
}

// GPU `device`'s default generator, through ATen's context so that CPU builds compile it too.
at::Generator cuda_generator(int64_t device) {
  return at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(device)));
}

void load_module(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& key,
                 const std::filesystem::path& path, const std::string& what) {
  torch::serialize::InputArchive part;
  try {
    archive.read(key, part);
    module.load(part);
  } catch (const c10::Error& error) {
    std::string reason = error.what_without_backtrace();
    throw InputError(path.string() + ": the checkpoint does not fit " + what + " (" +
                     reason.substr(0, reason.find('\n')) + ")");
  }
}

}  // namespace

uint32_t weights_crc32(const torch::nn::Module& module, bool with_buffers) {
  uLong crc = crc32(0L, Z_NULL, 0);
  auto add = [&](const std::string& name, const torch::Tensor& value) {
    std::string header = name;
    for (int64_t size : value.sizes()) header += " " + std::to_string(size);
    crc = crc32_of(header, crc);
    const torch::Tensor bytes = value.detach().to(torch::kCPU).contiguous();
    crc = crc32_of(std::string_view(static_cast<const char*>(bytes.data_ptr()), bytes.nbytes()), crc);
  };
  for (const auto& item : module.named_parameters()) add(item.key(), item.value());
  if (with_buffers) {
    for (const auto& item : module.named_buffers()) add(item.key(), item.value());
  }
  return static_cast<uint32_t>(crc);
}

void save_checkpoint(const std::filesystem::path& path, PretextTask& task, Optimizer* optimizer,
                     const CheckpointState& state) {
  torch::serialize::OutputArchive archive;
  archive.write("format_version", c10::IValue(kCheckpointFormatVersion));
  archive.write("config", c10::IValue(state.config.dump()));
  archive.write("numbers", torch::tensor({state.step, state.epoch, state.total_steps}, torch::kLong));
  archive.write("finished", c10::IValue(state.finished));
  archive.write("skipped_steps", c10::IValue(state.skipped_steps));
  archive.write("lr_scale", c10::IValue(state.lr_scale));
  archive.write("best_knn_top1", c10::IValue(state.best_knn_top1));
  archive.write("world_size", c10::IValue(state.world_size));
  archive.write("epoch_step", c10::IValue(state.epoch_step));
  if (!state.assets.empty()) {
    nlohmann::json names = nlohmann::json::array();
    for (const auto& [name, bytes] : state.assets) {
      names.push_back(name);
      auto tensor = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
      std::memcpy(tensor.data_ptr<uint8_t>(), bytes.data(), bytes.size());
      archive.write("asset_" + name, tensor);
    }
    archive.write("asset_names", c10::IValue(names.dump()));
  }
  torch::serialize::OutputArchive task_archive;
  task.save(task_archive);
  archive.write("task", task_archive);
  archive.write("generator_state", task.generator().get_state());
  // torch's own generators too: dropout and other layers draw from them, on the CPU or on each GPU.
  archive.write("torch_cpu_generator_state", at::detail::getDefaultCPUGenerator().get_state());
  for (int64_t device = 0; device < static_cast<int64_t>(torch::cuda::device_count()); ++device) {
    archive.write("torch_cuda_generator_state_" + std::to_string(device), cuda_generator(device).get_state());
  }
  if (optimizer != nullptr) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->torch_optimizer().save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  std::ostringstream bytes;
  archive.save_to(bytes);
  write_file_atomic(path, with_header(bytes.str()));
}

CheckpointState read_checkpoint_state(const std::filesystem::path& path) {
  auto archive = open_archive(path);
  return read_state(archive, path);
}

CheckpointState load_checkpoint(const std::filesystem::path& path, PretextTask& task, Optimizer* optimizer) {
  auto archive = open_archive(path);
  CheckpointState state = read_state(archive, path);
  load_module(task, archive, "task", path, "this task and encoder");
  torch::Tensor generator_state;
  archive.read("generator_state", generator_state);
  task.generator().set_state(generator_state);
  // Checkpoints written before these were saved (or on a machine with fewer GPUs) lack some.
  torch::Tensor torch_state;
  if (archive.try_read("torch_cpu_generator_state", torch_state)) {
    at::Generator cpu = at::detail::getDefaultCPUGenerator();  // a handle on the shared generator
    cpu.set_state(torch_state);
  }
  for (int64_t device = 0; device < static_cast<int64_t>(torch::cuda::device_count()); ++device) {
    if (archive.try_read("torch_cuda_generator_state_" + std::to_string(device), torch_state)) {
      cuda_generator(device).set_state(torch_state);
    }
  }
  if (optimizer != nullptr) {
    torch::serialize::InputArchive optimizer_archive;
    try {
      archive.read("optimizer", optimizer_archive);
      optimizer->torch_optimizer().load(optimizer_archive);
    } catch (const c10::Error&) {
      throw InputError(path.string() + ": the checkpoint's optimizer state does not fit this optimizer");
    }
  }
  return state;
}

EncoderPtr load_encoder(const std::filesystem::path& path, CheckpointState* state_out, const nlohmann::json& overrides) {
  auto archive = open_archive(path);
  CheckpointState state = read_state(archive, path);
  PRETEXT_CHECK(state.config.contains("encoder"), InputError, path.string(), ": the checkpoint names no encoder");
  nlohmann::json encoder_values = state.config["encoder"];
  encoder_values.merge_patch(overrides);
  EncoderConfig config = EncoderConfig::from_json(encoder_values);
  EncoderPtr encoder = make_encoder(config);
  torch::serialize::InputArchive task_archive;
  try {
    archive.read("task", task_archive);
  } catch (const c10::Error&) {
    throw InputError(path.string() + ": the checkpoint holds no weights");
  }
  load_module(*encoder, task_archive, "encoder", path, "encoder '" + config.name + "'");
  if (state_out != nullptr) *state_out = state;
  return encoder;
}

}  // namespace pretext
