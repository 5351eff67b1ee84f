#include "pretext/data/datasets.h"

#include <optional>

#include "pretext/core/error.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {

struct NamedDataset {
  std::string name;
  std::string folder;
  std::string package;  // the Debian package that installs the folder
  std::vector<std::string> class_names;
};

const std::vector<NamedDataset>& known_datasets() {
  static const std::vector<NamedDataset> kKnown = {
      {"fashion-mnist", "/usr/share/datasets/fashion-mnist", "dataset-fashion-mnist",
       {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"}},
  };
  return kKnown;
}

std::string known_names() {
  std::string names;
  for (const auto& known : known_datasets()) names += (names.empty() ? "" : ", ") + known.name;
  return names;
}

// The IDX file `<prefix><kind>`, raw or gzip, under the names the MNIST family ships with
// ("train-images-idx3-ubyte", "train-images.idx3-ubyte", either with ".gz").
std::optional<fs::path> find_idx_file(const fs::path& folder, const std::string& prefix, const std::string& kind,
                                      const std::string& ndims) {
  std::error_code error;
  for (const char* separator : {"-", "."}) {
    for (const char* suffix : {"", ".gz"}) {
      fs::path candidate = folder / (prefix + "-" + kind + separator + "idx" + ndims + "-ubyte" + suffix);
      if (fs::is_regular_file(candidate, error)) return candidate;
    }
  }
  return std::nullopt;
}

std::vector<std::string> idx_prefixes(const std::string& split) {
  return split == "train" ? std::vector<std::string>{"train"} : std::vector<std::string>{"t10k", "test"};
}

bool is_idx_folder(const fs::path& folder) {
  for (const char* split : {"train", "test"}) {
    for (const auto& prefix : idx_prefixes(split)) {
      if (find_idx_file(folder, prefix, "images", "3")) return true;
    }
  }
  return false;
}

bool is_cifar_folder(const fs::path& folder) {
  std::error_code error;
  for (const char* name : {"data_batch_1.bin", "test_batch.bin", "train.bin", "test.bin"}) {
    if (fs::is_regular_file(folder / name, error)) return true;
  }
  return false;
}

std::shared_ptr<ImageDataset> load_idx_folder(const fs::path& folder, const std::string& split,
                                              std::vector<std::string> class_names, const std::string& source) {
  for (const auto& prefix : idx_prefixes(split)) {
    auto images = find_idx_file(folder, prefix, "images", "3");
    if (!images) continue;
    auto labels = find_idx_file(folder, prefix, "labels", "1");
    PRETEXT_CHECK(labels.has_value(), InputError, folder.string(), ": found ", images->filename().string(),
                  " but no ", prefix, "-labels-idx1-ubyte[.gz] next to it");
    return read_idx_dataset(*images, *labels, std::move(class_names), source);
  }
  throw InputError(folder.string() + ": no " + split + " split (expected " + idx_prefixes(split).front() +
                   "-images-idx3-ubyte[.gz] and " + idx_prefixes(split).front() + "-labels-idx1-ubyte[.gz])");
}

std::shared_ptr<ImageDataset> load_image_folder(const fs::path& folder, const std::string& split,
                                                const ImageFolderOptions& options) {
  std::error_code error;
  bool has_splits = fs::is_directory(folder / "train", error) || fs::is_directory(folder / "test", error);
  if (has_splits) {
    fs::path split_folder = folder / split;
    PRETEXT_CHECK(fs::is_directory(split_folder, error), InputError, folder.string(), " has no ", split,
                  "/ sub-folder");
    return read_image_folder(split_folder, options);
  }
  PRETEXT_CHECK(split == "train", InputError, folder.string(),
                " has no test split (no train/ and test/ sub-folders; the whole folder is the training set); "
                "pass a test set explicitly");
  return read_image_folder(folder, options);
}

}  // namespace

std::vector<std::pair<std::string, std::string>> named_datasets() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& known : known_datasets()) out.emplace_back(known.name, known.folder);
  return out;
}

namespace {
std::shared_ptr<ImageDataset> load_whole_split(const std::string& name_or_path, const std::string& split,
                                               const DataOptions& options) {
  PRETEXT_CHECK(split == "train" || split == "test", ConfigError, "split must be 'train' or 'test', got '", split,
                "'");
  std::error_code error;
  for (const auto& known : known_datasets()) {
    if (known.name != name_or_path) continue;
    PRETEXT_CHECK(fs::is_directory(known.folder, error), InputError, "dataset '", known.name, "' is not installed: ",
                  known.folder, " is missing (install the Debian package ", known.package, ")");
    return load_idx_folder(known.folder, split, known.class_names, known.name);
  }

  fs::path path(name_or_path);
  PRETEXT_CHECK(fs::exists(path, error), InputError, "unknown dataset '", name_or_path,
                "': neither a known name (known: ", known_names(), ") nor an existing path");
  PRETEXT_CHECK(fs::is_directory(path, error), InputError, name_or_path,
                " is a file; pass a folder (IDX files, CIFAR binaries, or an image folder)");
  if (is_idx_folder(path)) return load_idx_folder(path, split, {}, path.string());
  if (is_cifar_folder(path)) return read_cifar(path, split);
  return load_image_folder(path, split, options.image_folder);
}
}  // namespace

std::shared_ptr<ImageDataset> load_dataset(const std::string& name_or_path, const std::string& split,
                                           const DataOptions& options) {
  PRETEXT_CHECK(options.limit >= 0, ConfigError, "--limit must be >= 0, got ", options.limit);
  auto dataset = load_whole_split(name_or_path, split, options);
  if (options.limit == 0 || options.limit >= dataset->size()) return dataset;
  return std::make_shared<ImageDataset>(dataset->images().slice(0, 0, options.limit),
                                        dataset->labels().slice(0, 0, options.limit), dataset->class_names(),
                                        dataset->source());
}

}  // namespace pretext
