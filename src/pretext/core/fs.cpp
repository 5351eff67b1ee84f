#include "pretext/core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "pretext/core/error.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {
void fsync_directory(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

void write_file_atomic(const fs::path& path, const std::string& bytes) {
  fs::path dir = path.parent_path();
  if (!dir.empty()) ensure_directory(dir);
  fs::path temporary = path;
  temporary += ".tmp." + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot create " + temporary.string() + ": " + std::strerror(errno));
  const char* data = bytes.data();
  size_t left = bytes.size();
  while (left > 0) {
    ssize_t written = ::write(fd, data, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      std::string reason = std::strerror(errno);
      ::close(fd);
      ::unlink(temporary.c_str());
      throw IoError("cannot write " + path.string() + ": " + reason);
    }
    data += written;
    left -= static_cast<size_t>(written);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw IoError("cannot flush " + path.string() + ": " + reason);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    std::string reason = std::strerror(errno);
    ::unlink(temporary.c_str());
    throw IoError("cannot rename " + temporary.string() + " to " + path.string() + ": " + reason);
  }
  fsync_directory(dir);
}

std::string read_file(const fs::path& path) {
  std::error_code error;
  PRETEXT_CHECK(fs::exists(path, error), InputError, "no such file: ", path.string());
  PRETEXT_CHECK(!fs::is_directory(path, error), InputError, "expected a file but found a folder: ", path.string());
  std::ifstream in(path, std::ios::binary);
  PRETEXT_CHECK(in.good(), InputError, "cannot open ", path.string());
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

void ensure_directory(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path, error);
  PRETEXT_CHECK(!error && fs::is_directory(path), IoError, "cannot create folder ", path.string(), ": ",
                error ? error.message() : "a file is in the way");
}

bool is_hidden(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  return !name.empty() && name[0] == '.';
}

}  // namespace pretext
