// Named datasets and the `--data` argument: a name ("fashion-mnist", resolving to the Debian
// package's files) or a path (an IDX folder, a CIFAR binary folder, or an image folder).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pretext/data/dataset.h"
#include "pretext/data/readers.h"

namespace pretext {

struct DataOptions {
  ImageFolderOptions image_folder;  // used when the source is an image folder
  int64_t limit = 0;                // keep only the first `limit` samples of the split (0 = all)
};

// Loads split "train" or "test" of `name_or_path`. For an image folder with train/ and test/
// sub-folders those are the splits; a folder without them is its own "train" split and has no
// "test" (InputError names the folder and says to pass a test set explicitly).
// Throws InputError for a missing path, an unknown name, or a source with no such split.
std::shared_ptr<ImageDataset> load_dataset(const std::string& name_or_path, const std::string& split,
                                           const DataOptions& options = {});

// The names load_dataset() knows, with the folder each resolves to.
std::vector<std::pair<std::string, std::string>> named_datasets();

}  // namespace pretext
