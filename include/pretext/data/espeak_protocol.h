// The pipe protocol between pretext and its pretext-espeak helper (apps/pretext-espeak), shared
// by both so that the statuses and the framing cannot drift apart. POSIX only: the helper links
// no LibTorch.
//   request  one line "VOICE\tSPEED\tPITCH\tWORD\n" on the helper's stdin
//   reply    a frame: uint32 status, uint32 payload length, payload (host byte order); the first
//            frame, unasked, is kOk with "RATE\tVERSION\tDATA_PATH"; a word's is kOk with its
//            16-bit samples, or a failure status with an optional message
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <string>

namespace pretext::espeak_protocol {

enum Status : uint32_t { kOk = 0, kInitFailed = 1, kBadRequest = 2, kNoVoice = 3, kSynthFailed = 4, kChildFailed = 5 };

// Writes or reads exactly `size` bytes, retrying on EINTR; false on an error or end of file.
inline bool write_all(int fd, const void* data, size_t size) {
  const char* bytes = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t done = ::write(fd, bytes, size);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) return false;
    bytes += done;
    size -= static_cast<size_t>(done);
  }
  return true;
}

inline bool read_exactly(int fd, void* into, size_t size) {
  char* bytes = static_cast<char*>(into);
  while (size > 0) {
    const ssize_t done = ::read(fd, bytes, size);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) return false;
    bytes += done;
    size -= static_cast<size_t>(done);
  }
  return true;
}

inline bool write_frame(int fd, uint32_t status, const void* payload, uint32_t size) {
  const uint32_t header[2] = {status, size};
  return write_all(fd, header, sizeof(header)) && (size == 0 || write_all(fd, payload, size));
}

inline bool read_frame(int fd, uint32_t& status, std::string& payload) {
  uint32_t header[2];
  if (!read_exactly(fd, header, sizeof(header))) return false;
  status = header[0];
  payload.assign(header[1], '\0');
  return read_exactly(fd, payload.data(), payload.size());
}

}  // namespace pretext::espeak_protocol
