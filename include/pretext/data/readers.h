// File formats for images. Each reader throws InputError naming the file and what is wrong
// with it (missing, bad magic, truncated, corrupt image), never returns partial data.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "pretext/data/dataset.h"

namespace pretext {

// IDX (the MNIST family), raw or gzip-compressed (detected by content, not by name).
// Returns the array as stored: uint8 for type 0x08, with the header's dimensions.
torch::Tensor read_idx(const std::filesystem::path& path);

// An IDX images file [N,H,W] plus an IDX labels file [N] → ImageDataset with C = 1.
// `class_names` may be empty (then classes are named "0".."K-1" from the largest label).
std::shared_ptr<ImageDataset> read_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels,
                                               std::vector<std::string> class_names, const std::string& source);

struct ImageFolderOptions {
  int64_t image_size = 0;  // every image is resized to image_size × image_size; 0 = the first image's size
  int64_t channels = 0;    // 1 or 3; 0 = 1 when every image is grayscale, else 3
  // A file that does not decode (corrupt, truncated, not an image): "skip" leaves it out with one
  // warning that counts them and names the first few; "fail" stops with an error naming it.
  std::string on_bad_file = "skip";
};

// A folder of PNG/JPEG (also BMP/TGA/GIF, what stb_image reads). Sub-folders are classes
// (sorted by name); images directly in the folder, with no sub-folders, make an unlabeled set.
// Throws InputError when no image decodes, or (on_bad_file "fail") naming the first that does not.
std::shared_ptr<ImageDataset> read_image_folder(const std::filesystem::path& folder,
                                                const ImageFolderOptions& options = {});

// --on-bad-file skip: one warning for the files of `folder` left out — how many, `what` they
// were, and the first three (`skipped`: a path or reason each). Nothing when `skipped` is empty.
void warn_skipped_files(const std::filesystem::path& folder, const std::vector<std::string>& skipped,
                        const std::string& what);

// CIFAR-10 (data_batch_1..5.bin / test_batch.bin) or CIFAR-100 (train.bin / test.bin, fine
// labels) binary version, from the folder holding those files; split is "train" or "test".
std::shared_ptr<ImageDataset> read_cifar(const std::filesystem::path& folder, const std::string& split);

}  // namespace pretext
