// Files written so that a crash never leaves half of one behind: the bytes go to a temporary
// file in the same folder, are flushed to disk, and the temporary is renamed over the target.
#pragma once

#include <filesystem>
#include <string>

namespace pretext {

// Throws IoError naming the path when any step fails; the temporary is removed on failure.
void write_file_atomic(const std::filesystem::path& path, const std::string& bytes);
// Reads a whole file; throws InputError naming the path when it is missing or unreadable.
std::string read_file(const std::filesystem::path& path);
// Creates a folder (and parents); throws IoError naming it when that fails.
void ensure_directory(const std::filesystem::path& path);
// A dot file or folder (its name starts with '.'): the folder readers skip these.
bool is_hidden(const std::filesystem::path& path);

}  // namespace pretext
