#include "pretext/data/video.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/imgutils.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
}

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdarg>
#include <cstring>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

#include "pretext/core/error.h"
#include "pretext/core/fs.h"
#include "pretext/core/log.h"
#include "pretext/core/options.h"
#include "pretext/core/runtime.h"
#include "pretext/data/readers.h"

namespace pretext {
namespace fs = std::filesystem;

namespace {

// ---------------------------------------------------------------------------------------------
// FFmpeg plumbing: its log routed to ours, and an owner for each object it allocates.

// What FFmpeg logs while this thread reads or writes one file: the messages, so that an error
// can quote them, and how many errors the decoder reported. Some damage is only logged: FFV1's
// "slice CRC mismatch" conceals the slice and returns the frame without an error code or flag.
struct FfmpegMessages {
  std::vector<std::string> lines;
  const void* demuxer = nullptr;  // the AVFormatContext whose errors are counted
  const void* decoder = nullptr;  // the AVCodecContext whose errors are counted
  int64_t demuxer_errors = 0;
  int64_t decoder_errors = 0;
};
thread_local FfmpegMessages* t_ffmpeg_messages = nullptr;

void ffmpeg_log(void* context, int level, const char* format, va_list arguments) {
  if (level > av_log_get_level()) return;
  char line[1024];
  int print_prefix = 1;
  av_log_format_line2(context, level, format, arguments, line, sizeof line, &print_prefix);
  std::string message(line);
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) message.pop_back();
  if (message.empty()) return;
  if (t_ffmpeg_messages != nullptr) {
    if (t_ffmpeg_messages->lines.size() < 8) t_ffmpeg_messages->lines.push_back(message);
    if (context != nullptr && context == t_ffmpeg_messages->decoder) ++t_ffmpeg_messages->decoder_errors;
    if (context != nullptr && context == t_ffmpeg_messages->demuxer) ++t_ffmpeg_messages->demuxer_errors;
  }
  log::debug("ffmpeg: ", message);
}

// FFmpeg prints every damaged packet to stderr by default; ours is quieter: errors only, at our
// debug level, and quoted in the InputError that follows them.
void quiet_ffmpeg() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(ffmpeg_log);
  });
}

// Collects FFmpeg's messages on this thread for its lifetime.
class MessageCapture {
 public:
  MessageCapture() : previous_(t_ffmpeg_messages) { t_ffmpeg_messages = &messages_; }
  ~MessageCapture() { t_ffmpeg_messages = previous_; }
  MessageCapture(const MessageCapture&) = delete;
  MessageCapture& operator=(const MessageCapture&) = delete;
  // " (ffmpeg: first message; second …)" or "" when FFmpeg said nothing.
  std::string quote() const {
    if (messages_.lines.empty()) return "";
    std::string out = " (ffmpeg: ";
    for (size_t i = 0; i < std::min<size_t>(messages_.lines.size(), 3); ++i) {
      out += (i == 0 ? "" : "; ") + messages_.lines[i];
    }
    return out + ")";
  }
  void watch_demuxer(const AVFormatContext* demuxer) { messages_.demuxer = demuxer; }
  void watch_decoder(const AVCodecContext* decoder) { messages_.decoder = decoder; }
  int64_t demuxer_errors() const { return messages_.demuxer_errors; }
  int64_t decoder_errors() const { return messages_.decoder_errors; }

 private:
  FfmpegMessages messages_;
  FfmpegMessages* previous_;
};

struct InputCloser {
  void operator()(AVFormatContext* context) const { avformat_close_input(&context); }
};
struct CodecFreer {
  void operator()(AVCodecContext* context) const { avcodec_free_context(&context); }
};
struct FrameFreer {
  void operator()(AVFrame* frame) const { av_frame_free(&frame); }
};
struct PacketFreer {
  void operator()(AVPacket* packet) const { av_packet_free(&packet); }
};
struct ScalerFreer {
  void operator()(SwsContext* scaler) const { sws_freeContext(scaler); }
};
// An output context that owns its custom I/O context (and that context's buffer).
struct OutputFreer {
  void operator()(AVFormatContext* context) const {
    if (context->pb != nullptr) {
      av_freep(&context->pb->buffer);
      avio_context_free(&context->pb);
    }
    avformat_free_context(context);
  }
};
using InputPtr = std::unique_ptr<AVFormatContext, InputCloser>;
using OutputPtr = std::unique_ptr<AVFormatContext, OutputFreer>;
using CodecPtr = std::unique_ptr<AVCodecContext, CodecFreer>;
using FramePtr = std::unique_ptr<AVFrame, FrameFreer>;
using PacketPtr = std::unique_ptr<AVPacket, PacketFreer>;
using ScalerPtr = std::unique_ptr<SwsContext, ScalerFreer>;

std::string av_error(int code) {
  char text[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(code, text, sizeof text);
  return text;
}

// ---------------------------------------------------------------------------------------------
// Paths.

std::string lowercase(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

bool has_extension(const fs::path& path, const std::vector<std::string>& extensions) {
  std::string extension = lowercase(path.extension().string());
  return std::find(extensions.begin(), extensions.end(), extension) != extensions.end();
}

const std::vector<std::string> kVideoExtensions = {".mp4", ".mkv", ".avi", ".webm", ".mov", ".gif"};
// Still images that make a folder a folder of frames (a .gif is a video of its own).
const std::vector<std::string> kFrameExtensions = {".png", ".jpg", ".jpeg", ".bmp", ".tga"};

bool is_video_file(const fs::path& path) {
  std::error_code error;
  return !is_hidden(path) && fs::is_regular_file(path, error) && has_extension(path, kVideoExtensions);
}

// The visible entries of `folder`, sorted by name.
std::vector<fs::path> sorted_children(const fs::path& folder) {
  std::vector<fs::path> children;
  std::error_code error;
  for (fs::directory_iterator it(folder, error), end; !error && it != end; it.increment(error)) {
    if (!is_hidden(it->path())) children.push_back(it->path());
  }
  std::sort(children.begin(), children.end());
  return children;
}

// A folder holding still images and neither videos nor sub-folders: one clip.
bool is_frame_folder(const fs::path& folder) {
  std::error_code error;
  if (!fs::is_directory(folder, error)) return false;
  bool any_frame = false;
  for (const auto& child : sorted_children(folder)) {
    if (fs::is_directory(child, error) || is_video_file(child)) return false;
    any_frame = any_frame || (fs::is_regular_file(child, error) && has_extension(child, kFrameExtensions));
  }
  return any_frame;
}

bool is_clip_entry(const fs::path& path) { return is_video_file(path) || is_frame_folder(path); }

// ---------------------------------------------------------------------------------------------
// Decoding.

// stb_image's luma (stbi__compute_y), so that a video read as gray matches its frames read as
// images: (77 R + 150 G + 29 B) >> 8.
torch::Tensor rgb_to_gray(const torch::Tensor& rgb) {
  torch::Tensor wide = rgb.to(torch::kInt32);
  torch::Tensor luma = wide.select(-1, 0) * 77 + wide.select(-1, 1) * 150 + wide.select(-1, 2) * 29;
  return luma.div(256, "floor").to(torch::kUInt8).unsqueeze(-1).contiguous();
}

// Frames [T, H, W, native C] → `channels` (0 keeps them).
torch::Tensor with_channels(torch::Tensor frames, int64_t channels) {
  if (channels == 0 || frames.size(-1) == channels) return frames;
  if (channels == 3) return frames.expand({frames.size(0), frames.size(1), frames.size(2), 3}).contiguous();
  return rgb_to_gray(frames);
}

// Every stride-th of `available` frames from the start, `frames` of them, the last repeated
// when the video is short.
torch::Tensor clip_indices(int64_t available, const VideoReadOptions& options) {
  torch::Tensor wanted = torch::arange(options.frames, torch::kInt64) * options.stride;
  return wanted.clamp_max(available - 1);
}

// A clip as read, before short videos are padded: frames [K, H, W, C] (K ≥ 1, C native unless
// options.channels is set) and how many frames the source had to give.
struct RawClip {
  torch::Tensor frames;
  int64_t available = 0;  // frames decoded (video) or images (frame folder), ≥ K
  bool complete = false;  // the source had frames × stride frames or more
};

bool is_gray_format(int format) {
  const AVPixFmtDescriptor* descriptor = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(format));
  if (descriptor == nullptr) return false;
  return descriptor->nb_components <= 2 && (descriptor->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_RGB)) == 0;
}

bool is_yuv_format(int format) {
  const AVPixFmtDescriptor* descriptor = av_pix_fmt_desc_get(static_cast<AVPixelFormat>(format));
  return descriptor != nullptr && descriptor->nb_components >= 3 &&
         (descriptor->flags & (AV_PIX_FMT_FLAG_PAL | AV_PIX_FMT_FLAG_RGB)) == 0;
}

// Converts decoded frames to GRAY8 (gray sources) or RGB24 (all others) at one size.
class FrameConverter {
 public:
  FrameConverter(const fs::path& path, int64_t size) : path_(path), size_(size) {}

  torch::Tensor convert(const AVFrame* frame) {
    if (!target_) {
      gray_ = is_gray_format(frame->format);
      height_ = size_ > 0 ? size_ : frame->height;
      width_ = size_ > 0 ? size_ : frame->width;
      target_.reset(av_frame_alloc());
      PRETEXT_CHECK(target_ != nullptr, IoError, "out of memory decoding ", path_.string());
      target_->format = gray_ ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
      target_->width = static_cast<int>(width_);
      target_->height = static_cast<int>(height_);
      PRETEXT_CHECK(av_frame_get_buffer(target_.get(), 0) == 0, IoError, "out of memory decoding ", path_.string());
    }
    // Bilinear: swscale widens the filter when it shrinks, so a smaller size is antialiased.
    SwsContext* scaler = sws_getCachedContext(
        scaler_.release(), frame->width, frame->height, static_cast<AVPixelFormat>(frame->format), target_->width,
        target_->height, static_cast<AVPixelFormat>(target_->format), SWS_BILINEAR, nullptr, nullptr, nullptr);
    scaler_.reset(scaler);
    PRETEXT_CHECK(scaler != nullptr, InputError, "video ", path_.string(), ": cannot convert its frames (",
                  av_get_pix_fmt_name(static_cast<AVPixelFormat>(frame->format)), ", ", frame->width, "×",
                  frame->height, ")");
    if (is_yuv_format(frame->format)) {
      // The decoder says which matrix and range the frame uses; RGB out is full range.
      const int* coefficients = sws_getCoefficients(frame->colorspace);
      sws_setColorspaceDetails(scaler, coefficients, frame->color_range == AVCOL_RANGE_JPEG,
                               sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    }
    int rows = sws_scale(scaler, frame->data, frame->linesize, 0, frame->height, target_->data, target_->linesize);
    PRETEXT_CHECK(rows > 0, InputError, "video ", path_.string(), ": converting a frame failed");
    const int64_t channels = gray_ ? 1 : 3;
    torch::Tensor pixels = torch::empty({height_, width_, channels}, torch::kUInt8);
    const int64_t row_bytes = width_ * channels;
    for (int64_t y = 0; y < height_; ++y) {
      std::memcpy(pixels.data_ptr<uint8_t>() + y * row_bytes, target_->data[0] + y * target_->linesize[0],
                  static_cast<size_t>(row_bytes));
    }
    return pixels;
  }

 private:
  fs::path path_;
  int64_t size_;
  bool gray_ = false;
  int64_t height_ = 0, width_ = 0;
  FramePtr target_;
  ScalerPtr scaler_;
};

// How many frames the container says the video stream has (0 when it does not say): the
// stream's frame count, or else its duration (or the file's) times its frame rate. Either can
// differ from the frames decoded by a frame or more (variable frame rates, rounding, MP4 edit
// lists that drop frames), so it is compared with some slack.
int64_t declared_frames(const AVFormatContext* format, const AVStream* stream) {
  if (stream->nb_frames > 0) return stream->nb_frames;
  AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
  if (rate.num <= 0 || rate.den <= 0) return 0;
  double seconds = 0;
  if (stream->duration > 0 && stream->duration != AV_NOPTS_VALUE) {
    seconds = static_cast<double>(stream->duration) * av_q2d(stream->time_base);
  } else if (format->duration > 0 && format->duration != AV_NOPTS_VALUE) {
    seconds = static_cast<double>(format->duration) / AV_TIME_BASE;
  }
  return static_cast<int64_t>(seconds * av_q2d(rate) + 0.5);
}

// The container formats read, by the extensions load_video_folder looks for; anything else
// (playlists, concatenation lists, raw streams) is refused rather than probed.
constexpr const char* kFormatWhitelist = "matroska,webm,mov,mp4,avi,gif";

RawClip decode_video(const fs::path& path, const VideoReadOptions& options) {
  quiet_ffmpeg();
  MessageCapture messages;
  std::error_code error;
  PRETEXT_CHECK(fs::exists(path, error), InputError, "no such file: ", path.string());
  PRETEXT_CHECK(fs::is_regular_file(path, error), InputError,
                "expected a video file but found a folder: ", path.string());
  auto fail = [&](const std::string& what) {
    throw InputError("video " + path.string() + ": " + what + messages.quote());
  };

  AVFormatContext* opened = avformat_alloc_context();
  PRETEXT_CHECK(opened != nullptr, IoError, "out of memory opening ", path.string());
  // Local files only, whatever a file's contents or name ("http:…", "pipe:") might ask for.
  opened->protocol_whitelist = av_strdup("file");
  opened->format_whitelist = av_strdup(kFormatWhitelist);
  messages.watch_demuxer(opened);
  const std::string url = "file:" + path.string();
  int status = avformat_open_input(&opened, url.c_str(), nullptr, nullptr);  // frees `opened` on failure
  if (status < 0) fail("cannot open it as a video (" + av_error(status) + ")");
  InputPtr format(opened);
  status = avformat_find_stream_info(format.get(), nullptr);
  if (status < 0) fail("cannot read its stream information (" + av_error(status) + ")");
  const AVCodec* decoder = nullptr;
  const int stream_index = av_find_best_stream(format.get(), AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0);
  if (stream_index == AVERROR_STREAM_NOT_FOUND) fail("no video stream");
  if (stream_index < 0 || decoder == nullptr) {
    fail("no decoder for its video codec (" + av_error(stream_index) + ")");
  }
  AVStream* stream = format->streams[stream_index];
  for (unsigned i = 0; i < format->nb_streams; ++i) {
    if (static_cast<int>(i) != stream_index) format->streams[i]->discard = AVDISCARD_ALL;
  }

  CodecPtr codec(avcodec_alloc_context3(decoder));
  PRETEXT_CHECK(codec != nullptr, IoError, "out of memory opening ", path.string());
  status = avcodec_parameters_to_context(codec.get(), stream->codecpar);
  if (status < 0) fail("cannot set up its decoder (" + av_error(status) + ")");
  codec->thread_count = 1;  // load_video_folder reads files in parallel instead
  // Checksums (FFV1 slices carry CRCs) are checked, and a mismatch is an error, not a concealed frame.
  codec->err_recognition |= AV_EF_CRCCHECK | AV_EF_EXPLODE;
  status = avcodec_open2(codec.get(), decoder, nullptr);
  if (status < 0) fail(std::string("cannot open its ") + decoder->name + " decoder (" + av_error(status) + ")");
  messages.watch_decoder(codec.get());

  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  PRETEXT_CHECK(packet != nullptr && frame != nullptr, IoError, "out of memory decoding ", path.string());
  FrameConverter converter(path, options.size);

  const int64_t needed = (options.frames - 1) * options.stride + 1;  // decoded frames a full clip uses
  int64_t decoded = 0;
  std::vector<torch::Tensor> kept;
  bool flushing = false, ended = false;
  while (decoded < needed && !ended) {
    if (!flushing) {
      status = av_read_frame(format.get(), packet.get());
      if (status == AVERROR_EOF) {
        flushing = true;
        status = avcodec_send_packet(codec.get(), nullptr);
      } else if (status < 0) {
        fail("reading failed after frame " + std::to_string(decoded) + " (" + av_error(status) + ")");
      } else if (packet->stream_index != stream_index) {
        av_packet_unref(packet.get());
        continue;
      } else {
        status = avcodec_send_packet(codec.get(), packet.get());
        av_packet_unref(packet.get());
      }
      if (status < 0 && status != AVERROR(EAGAIN) && status != AVERROR_EOF) {
        fail("decoding failed at frame " + std::to_string(decoded) + " (" + av_error(status) + ")");
      }
    }
    while (decoded < needed) {
      status = avcodec_receive_frame(codec.get(), frame.get());
      if (status == AVERROR(EAGAIN)) {
        ended = flushing;  // a drained decoder that still wants input has nothing more to give
        break;
      }
      if (status == AVERROR_EOF) {
        ended = true;
        break;
      }
      if (status < 0) fail("decoding failed at frame " + std::to_string(decoded) + " (" + av_error(status) + ")");
      if ((frame->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame->decode_error_flags != 0 ||
          messages.decoder_errors() > 0) {
        fail("decoding failed at frame " + std::to_string(decoded) + " (the frame is damaged)");
      }
      if (decoded % options.stride == 0) kept.push_back(converter.convert(frame.get()));
      ++decoded;
      av_frame_unref(frame.get());
    }
  }
  // A file that ends before its header says it should was cut short: the demuxer complains
  // ("File ended prematurely"), or fewer frames came than declared. Only checked when the clip
  // needed frames past the end: a complete clip is returned as read, whatever follows it.
  if (decoded < needed) {
    const int64_t declared = declared_frames(format.get(), stream);
    const int64_t slack = std::max<int64_t>(1, declared / 20);
    if (messages.demuxer_errors() > 0 || decoded + slack < declared) {
      fail("is truncated or damaged: " + std::to_string(decoded) + " frames could be read" +
           (declared > 0 ? ", its header declares " + std::to_string(declared) : std::string()));
    }
  }
  if (decoded == 0) fail("has 0 frames");
  RawClip clip;
  clip.frames = with_channels(torch::stack(kept), options.channels);
  clip.available = decoded;
  clip.complete = decoded >= needed;
  return clip;
}

RawClip decode_frame_folder(const fs::path& path, const VideoReadOptions& options) {
  std::error_code error;
  PRETEXT_CHECK(fs::exists(path, error), InputError, "no such folder: ", path.string());
  PRETEXT_CHECK(fs::is_directory(path, error), InputError,
                "expected a folder of frames but found a file: ", path.string());
  for (const auto& child : sorted_children(path)) {
    PRETEXT_CHECK(!fs::is_directory(child, error), InputError, "frame folder ", path.string(), " holds a sub-folder (",
                  child.filename().string(), "); a clip's frames are image files");
  }
  ImageFolderOptions images;
  images.image_size = options.size;
  images.channels = options.channels;
  images.on_bad_file = "fail";
  torch::Tensor frames = read_image_folder(path, images)->images();
  const int64_t available = frames.size(0);
  const int64_t needed = (options.frames - 1) * options.stride + 1;
  RawClip clip;
  clip.frames = frames.slice(0, 0, std::min(available, needed), options.stride).contiguous();
  clip.available = available;
  clip.complete = available >= needed;
  return clip;
}

RawClip read_entry(const fs::path& path, const VideoReadOptions& options) {
  std::error_code error;
  return fs::is_directory(path, error) ? decode_frame_folder(path, options) : decode_video(path, options);
}

torch::Tensor pad_clip(const RawClip& clip, const VideoReadOptions& options) {
  const int64_t kept = clip.frames.size(0);
  if (kept == options.frames) return clip.frames;
  // clip.frames already holds every stride-th frame, so the clip's indices are 0, 1, 2, …
  VideoReadOptions dense = options;
  dense.stride = 1;
  return clip.frames.index_select(0, clip_indices(kept, dense)).contiguous();
}

// ---------------------------------------------------------------------------------------------
// Encoding into memory: the Matroska muxer seeks back to write durations and cues, so the
// output is a growable buffer that can seek, written to the file atomically at the end.

struct MemoryFile {
  std::string bytes;
  int64_t position = 0;
};

#if LIBAVFORMAT_VERSION_MAJOR >= 61
using WriteBuffer = const uint8_t*;
#else
using WriteBuffer = uint8_t*;
#endif

int write_to_memory(void* opaque, WriteBuffer data, int size) {
  auto* file = static_cast<MemoryFile*>(opaque);
  const auto end = static_cast<size_t>(file->position) + static_cast<size_t>(size);
  if (end > file->bytes.size()) file->bytes.resize(end);
  std::memcpy(&file->bytes[static_cast<size_t>(file->position)], data, static_cast<size_t>(size));
  file->position += size;
  return size;
}

int64_t seek_in_memory(void* opaque, int64_t offset, int whence) {
  auto* file = static_cast<MemoryFile*>(opaque);
  const auto size = static_cast<int64_t>(file->bytes.size());
  whence &= ~AVSEEK_FORCE;
  if (whence == AVSEEK_SIZE) return size;
  int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? file->position : whence == SEEK_END ? size : -1;
  if (base < 0 || base + offset < 0) return AVERROR(EINVAL);
  file->position = base + offset;
  return file->position;
}

void fill_frame(AVFrame* frame, const uint8_t* pixels, int64_t height, int64_t width, int64_t channels) {
  for (int64_t y = 0; y < height; ++y) {
    uint8_t* row = frame->data[0] + y * frame->linesize[0];
    const uint8_t* source = pixels + y * width * channels;
    if (channels == 1) {
      std::memcpy(row, source, static_cast<size_t>(width));
      continue;
    }
    for (int64_t x = 0; x < width; ++x) {  // RGB → BGR0, which FFV1 codes losslessly as RGB
      row[4 * x + 0] = source[3 * x + 2];
      row[4 * x + 1] = source[3 * x + 1];
      row[4 * x + 2] = source[3 * x + 0];
      row[4 * x + 3] = 0;
    }
  }
}

}  // namespace

// -----------------------------------------------------------------------------------------------

void VideoReadOptions::validate() const {
  PRETEXT_CHECK(frames >= 1, ConfigError, "video: frames must be ≥ 1, got ", frames);
  PRETEXT_CHECK(stride >= 1, ConfigError, "video: stride must be ≥ 1, got ", stride);
  PRETEXT_CHECK(size >= 0, ConfigError, "video: size must be ≥ 0 (0 = the first clip's size), got ", size);
  PRETEXT_CHECK(channels == 0 || channels == 1 || channels == 3, ConfigError,
                "video: channels must be 0 (auto), 1 or 3, got ", channels);
  PRETEXT_CHECK(limit >= 0, ConfigError, "video: limit must be ≥ 0 (0 = all), got ", limit);
  PRETEXT_CHECK(on_bad_file == "skip" || on_bad_file == "fail", ConfigError,
                "--on-bad-file must be skip or fail, got '", on_bad_file, "'");
}

nlohmann::json VideoReadOptions::to_json() const {
  return {{"frames", frames}, {"stride", stride}, {"size", size}, {"channels", channels}, {"limit", limit}};
}

VideoReadOptions VideoReadOptions::from_json(const nlohmann::json& values) {
  VideoReadOptions options;
  OptionReader reader(values, "video");
  reader.read("frames", options.frames)
      .read("stride", options.stride)
      .read("size", options.size)
      .read("channels", options.channels)
      .read("limit", options.limit)
      .read("on_bad_file", options.on_bad_file);
  reader.finish();
  options.validate();
  return options;
}

torch::Tensor read_video_file(const std::string& path, const VideoReadOptions& options) {
  options.validate();
  return pad_clip(decode_video(path, options), options);
}

torch::Tensor read_frame_folder(const std::string& path, const VideoReadOptions& options) {
  options.validate();
  return pad_clip(decode_frame_folder(path, options), options);
}

void write_video_file(const std::string& path, const torch::Tensor& frames, int64_t fps) {
  PRETEXT_CHECK(frames.defined() && frames.dim() == 4 && frames.scalar_type() == torch::kUInt8, IoError,
                "cannot write ", path, ": frames must be uint8 [T, H, W, C]");
  const int64_t count = frames.size(0), height = frames.size(1), width = frames.size(2), channels = frames.size(3);
  PRETEXT_CHECK(count > 0 && height > 0 && width > 0, IoError, "cannot write ", path, ": no frames (shape ",
                frames.sizes(), ")");
  PRETEXT_CHECK(channels == 1 || channels == 3, IoError, "cannot write ", path,
                ": frames must have 1 or 3 channels, got ", channels);
  PRETEXT_CHECK(fps > 0 && fps <= 1000, IoError, "cannot write ", path, ": fps must be in [1, 1000], got ", fps);
  PRETEXT_CHECK(height <= 16384 && width <= 16384, IoError, "cannot write ", path, ": frames of ", height, "×", width,
                " are too large");
  quiet_ffmpeg();
  MessageCapture messages;
  auto check = [&](int status, const char* what) {
    if (status < 0)
      throw IoError("cannot write video " + path + ": " + what + " (" + av_error(status) + ")" + messages.quote());
  };
  torch::Tensor pixels = frames.cpu().contiguous();

  const AVCodec* encoder = avcodec_find_encoder(AV_CODEC_ID_FFV1);
  PRETEXT_CHECK(encoder != nullptr, IoError, "cannot write video ", path, ": this FFmpeg has no FFV1 encoder");
  CodecPtr codec(avcodec_alloc_context3(encoder));
  PRETEXT_CHECK(codec != nullptr, IoError, "out of memory writing ", path);
  codec->width = static_cast<int>(width);
  codec->height = static_cast<int>(height);
  // Gray stays one plane; RGB goes as BGR0, which FFV1 codes losslessly in its RGB mode
  // (yuv444p would round every pixel through a colour matrix).
  codec->pix_fmt = channels == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_BGR0;
  codec->time_base = AVRational{1, static_cast<int>(fps)};
  codec->framerate = AVRational{static_cast<int>(fps), 1};
  codec->gop_size = 1;      // every frame a key frame: a damaged frame spoils only itself
  codec->level = 3;         // FFV1 version 3: per-slice CRCs, which the reader checks
  codec->thread_count = 1;  // the caller writes many files in parallel instead

  MemoryFile memory;  // declared before the context that writes into it, so that it outlives it
  OutputPtr format;
  {
    AVFormatContext* allocated = nullptr;
    check(avformat_alloc_output_context2(&allocated, nullptr, "matroska", nullptr), "no Matroska muxer");
    format.reset(allocated);
  }
  if ((format->oformat->flags & AVFMT_GLOBALHEADER) != 0) codec->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  av_opt_set_int(codec->priv_data, "slicecrc", 1, 0);
  check(avcodec_open2(codec.get(), encoder, nullptr), "cannot open the FFV1 encoder");

  constexpr int kBufferBytes = 1 << 16;
  auto* buffer = static_cast<unsigned char*>(av_malloc(kBufferBytes));
  PRETEXT_CHECK(buffer != nullptr, IoError, "out of memory writing ", path);
  format->pb = avio_alloc_context(buffer, kBufferBytes, 1, &memory, nullptr, write_to_memory, seek_in_memory);
  if (format->pb == nullptr) {
    av_free(buffer);
    throw IoError("out of memory writing " + path);
  }
  format->flags |= AVFMT_FLAG_CUSTOM_IO;

  AVStream* stream = avformat_new_stream(format.get(), nullptr);
  PRETEXT_CHECK(stream != nullptr, IoError, "out of memory writing ", path);
  check(avcodec_parameters_from_context(stream->codecpar, codec.get()), "cannot describe the stream");
  stream->time_base = codec->time_base;
  stream->avg_frame_rate = codec->framerate;
  check(avformat_write_header(format.get(), nullptr), "cannot write the Matroska header");

  PacketPtr packet(av_packet_alloc());
  FramePtr frame(av_frame_alloc());
  PRETEXT_CHECK(packet != nullptr && frame != nullptr, IoError, "out of memory writing ", path);
  frame->format = codec->pix_fmt;
  frame->width = codec->width;
  frame->height = codec->height;
  check(av_frame_get_buffer(frame.get(), 0), "cannot allocate a frame");

  auto drain = [&] {
    while (true) {
      int status = avcodec_receive_packet(codec.get(), packet.get());
      if (status == AVERROR(EAGAIN) || status == AVERROR_EOF) return;
      check(status, "encoding failed");
      packet->duration = 1;
      av_packet_rescale_ts(packet.get(), codec->time_base, stream->time_base);
      packet->stream_index = stream->index;
      check(av_interleaved_write_frame(format.get(), packet.get()), "muxing failed");
    }
  };
  const auto* data = pixels.data_ptr<uint8_t>();
  const int64_t frame_bytes = height * width * channels;
  for (int64_t t = 0; t < count; ++t) {
    check(av_frame_make_writable(frame.get()), "cannot allocate a frame");
    fill_frame(frame.get(), data + t * frame_bytes, height, width, channels);
    frame->pts = t;
    check(avcodec_send_frame(codec.get(), frame.get()), "encoding failed");
    drain();
  }
  check(avcodec_send_frame(codec.get(), nullptr), "encoding failed");
  drain();
  check(av_write_trailer(format.get()), "cannot finish the Matroska file");
  avio_flush(format->pb);
  write_file_atomic(path, memory.bytes);
}

// -----------------------------------------------------------------------------------------------

VideoDataset::VideoDataset(torch::Tensor videos, torch::Tensor labels, std::vector<std::string> class_names,
                           std::string source)
    : videos_(std::move(videos)),
      labels_(std::move(labels)),
      class_names_(std::move(class_names)),
      source_(std::move(source)) {
  PRETEXT_CHECK(videos_.defined() && labels_.defined(), InputError, source_, ": videos or labels missing");
  PRETEXT_CHECK(videos_.scalar_type() == torch::kUInt8, InputError, source_, ": videos must be uint8, got ",
                videos_.scalar_type());
  PRETEXT_CHECK(videos_.dim() == 5, InputError, source_, ": videos must be [N, T, H, W, C], got shape ",
                videos_.sizes());
  PRETEXT_CHECK(videos_.size(0) > 0, InputError, "empty dataset: ", source_);
  PRETEXT_CHECK(videos_.size(1) > 0 && videos_.size(2) > 0 && videos_.size(3) > 0, InputError, source_,
                ": videos have zero size, shape ", videos_.sizes());
  PRETEXT_CHECK(videos_.size(4) == 1 || videos_.size(4) == 3, InputError, source_,
                ": videos must have 1 or 3 channels, got ", videos_.size(4));
  PRETEXT_CHECK(labels_.scalar_type() == torch::kInt64, InputError, source_, ": labels must be int64, got ",
                labels_.scalar_type());
  PRETEXT_CHECK(labels_.dim() == 1 && labels_.size(0) == videos_.size(0), InputError, source_, ": ", videos_.size(0),
                " videos but labels of shape ", labels_.sizes());
  videos_ = videos_.cpu().contiguous();
  labels_ = labels_.cpu().contiguous();
  const int64_t lowest = labels_.min().item<int64_t>();
  const int64_t highest = labels_.max().item<int64_t>();
  PRETEXT_CHECK(lowest >= -1, InputError, source_, ": label ", lowest, " is below -1");
  PRETEXT_CHECK(highest < static_cast<int64_t>(class_names_.size()), InputError, source_, ": label ", highest,
                " is out of range for ", class_names_.size(), " classes");
}

Batch VideoDataset::get(const torch::Tensor& indices) const {
  Batch batch;
  batch.index = indices.to(torch::kInt64).cpu();
  batch.input = videos_.index_select(0, batch.index);
  batch.label = labels_.index_select(0, batch.index);
  batch.group = batch.index.clone();
  return batch;
}

std::vector<int64_t> VideoDataset::sample_shape() const {
  return {videos_.size(1), videos_.size(2), videos_.size(3), videos_.size(4)};
}

std::shared_ptr<VideoDataset> load_video_folder(const std::string& path, const std::string& split,
                                                const VideoReadOptions& options) {
  options.validate();
  PRETEXT_CHECK(split == "train" || split == "test", ConfigError, "split must be 'train' or 'test', got '", split, "'");
  const fs::path root(path);
  std::error_code error;
  PRETEXT_CHECK(fs::is_directory(root, error), InputError, "no such folder: ", path);
  fs::path folder = root;
  if (fs::is_directory(root / "train", error) || fs::is_directory(root / "test", error)) {
    folder = root / split;
    PRETEXT_CHECK(fs::is_directory(folder, error), InputError, path, " has no ", split, "/ sub-folder");
  } else {
    PRETEXT_CHECK(split == "train", InputError, path,
                  " has no test split (no train/ and test/ sub-folders; the whole folder is the training set); "
                  "pass a test set explicitly");
  }

  // A sub-folder is a class unless it is itself a clip (a folder of frames).
  std::vector<fs::path> loose, class_folders;
  for (const auto& child : sorted_children(folder)) {
    if (is_clip_entry(child))
      loose.push_back(child);
    else if (fs::is_directory(child, error))
      class_folders.push_back(child);
  }
  std::vector<std::pair<fs::path, int64_t>> entries;  // (clip, label)
  std::vector<std::string> class_names;
  if (class_folders.empty()) {
    for (auto& clip : loose) entries.emplace_back(std::move(clip), -1);
  } else {
    if (!loose.empty()) {
      log::warn(folder.string(), ": ignoring ", loose.size(), " video(s) next to the class sub-folders, e.g. ",
                loose.front().filename().string());
    }
    for (const auto& class_folder : class_folders) {
      const auto label = static_cast<int64_t>(class_names.size());
      class_names.push_back(class_folder.filename().string());
      size_t before = entries.size();
      for (auto& child : sorted_children(class_folder)) {
        if (is_clip_entry(child)) entries.emplace_back(std::move(child), label);
      }
      if (entries.size() == before)
        log::warn(class_folder.string(), ": class '", class_names.back(), "' has no videos");
    }
  }
  PRETEXT_CHECK(!entries.empty(), InputError, "no videos found in ", folder.string(),
                " (looked for .mp4 .mkv .avi .webm .mov .gif files and folders of frames)");
  if (options.limit > 0 && options.limit < static_cast<int64_t>(entries.size())) {
    entries.resize(static_cast<size_t>(options.limit));
  }

  // With on_bad_file "skip", a video that does not decode (an InputError) is left out and
  // counted; the first that does fixes the size (when options.size is 0) and the channels (when
  // 0) of all.
  const bool skip_bad = options.on_bad_file == "skip";
  std::vector<std::string> bad_reasons(entries.size());
  size_t first_index = 0;
  RawClip first;
  for (;; ++first_index) {
    PRETEXT_CHECK(first_index < entries.size(), InputError, "no video in ", folder.string(), " could be decoded (",
                  entries.size(), " files), e.g. ", bad_reasons.front());
    try {
      first = read_entry(entries[first_index].first, options);
      break;
    } catch (const InputError& error) {
      if (!skip_bad) throw;
      bad_reasons[first_index] = error.what();
    }
  }
  torch::Tensor first_clip = pad_clip(first, options);
  VideoReadOptions rest = options;
  rest.channels = first_clip.size(3);
  const size_t count = entries.size();
  torch::Tensor videos = torch::empty(
      {static_cast<int64_t>(count), first_clip.size(0), first_clip.size(1), first_clip.size(2), first_clip.size(3)},
      torch::kUInt8);
  videos[static_cast<int64_t>(first_index)].copy_(first_clip);
  std::vector<char> short_clips(count, 0);
  short_clips[first_index] = first.complete ? 0 : 1;

  std::vector<std::exception_ptr> errors(count);
  std::atomic<size_t> next{first_index + 1};
  std::atomic<bool> failed{false};
  auto work = [&] {
    // Indices are claimed in order, so every index below a failed one is read too: the error
    // reported (the lowest index) does not depend on the threads' timing.
    for (size_t i = next++; i < count && !failed; i = next++) {
      try {
        RawClip raw;
        try {
          raw = read_entry(entries[i].first, rest);
        } catch (const InputError& error) {
          if (!skip_bad) throw;
          bad_reasons[i] = error.what();
          continue;
        }
        // Frames of another size decode fine: not a bad file but a folder that needs a size.
        torch::Tensor clip = pad_clip(raw, rest);
        PRETEXT_CHECK(clip.sizes() == first_clip.sizes(), InputError, "video ", entries[i].first.string(), " has ",
                      clip.size(1), "×", clip.size(2), " frames, but the first video (",
                      entries[first_index].first.string(), ") has ", first_clip.size(1), "×", first_clip.size(2),
                      "; set a size (--image-size) to resize them all");
        videos[static_cast<int64_t>(i)].copy_(clip);
        short_clips[i] = raw.complete ? 0 : 1;
      } catch (...) {
        errors[i] = std::current_exception();
        failed = true;
      }
    }
  };
  const size_t workers =
      std::min<size_t>(static_cast<size_t>(std::max(1, usable_cores())), std::max<size_t>(1, count - first_index - 1));
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) threads.emplace_back(work);
  for (auto& thread : threads) thread.join();
  for (const auto& failure : errors) {
    if (failure) std::rethrow_exception(failure);
  }
  std::vector<std::string> skipped;
  std::vector<int64_t> kept_rows;
  for (size_t i = 0; i < count; ++i) {
    if (bad_reasons[i].empty()) {
      kept_rows.push_back(static_cast<int64_t>(i));
    } else {
      skipped.push_back(bad_reasons[i]);
    }
  }
  warn_skipped_files(folder, skipped, "of " + std::to_string(count) + " videos that could not be decoded");
  if (!skipped.empty()) {
    const auto rows = torch::tensor(kept_rows, torch::kInt64);
    videos = videos.index_select(0, rows);
    std::vector<std::pair<fs::path, int64_t>> kept_entries;
    std::vector<char> kept_short;
    for (const auto row : kept_rows) {
      kept_entries.push_back(std::move(entries[static_cast<size_t>(row)]));
      kept_short.push_back(short_clips[static_cast<size_t>(row)]);
    }
    entries = std::move(kept_entries);
    short_clips = std::move(kept_short);
  }

  const auto shorter = std::count(short_clips.begin(), short_clips.end(), 1);
  if (shorter > 0) {
    log::warn(folder.string(), ": ", shorter, " of ", entries.size(), " videos have fewer than ",
              (options.frames - 1) * options.stride + 1, " frames; their last frame repeats to make ", options.frames,
              "-frame clips");
  }
  std::vector<int64_t> labels;
  labels.reserve(entries.size());
  for (const auto& entry : entries) labels.push_back(entry.second);
  log::debug("read ", entries.size(), " videos (", first_clip.size(0), "×", first_clip.size(1), "×", first_clip.size(2), "×",
             first_clip.size(3), ", ", class_names.size(), " classes) from ", folder.string());
  return std::make_shared<VideoDataset>(videos, torch::tensor(labels, torch::kInt64), std::move(class_names),
                                        folder.string());
}

bool is_video_path(const std::string& path) {
  std::error_code error;
  const fs::path root(path);
  if (fs::is_regular_file(root, error)) return has_extension(root, kVideoExtensions);
  if (!fs::is_directory(root, error)) return false;
  // Judged by the first few entries of each split: a video file, or a class folder holding video
  // files or frame folders. (A split of bare frame folders looks like an image folder with classes,
  // and is taken for one; load_video_folder still reads it.)
  constexpr size_t kLooked = 8;
  std::vector<fs::path> splits;
  for (const char* split : {"train", "test"}) {
    if (fs::is_directory(root / split, error)) splits.push_back(root / split);
  }
  if (splits.empty()) splits.push_back(root);
  for (const auto& split : splits) {
    auto children = sorted_children(split);
    for (size_t i = 0; i < std::min(kLooked, children.size()); ++i) {
      if (is_video_file(children[i])) return true;
      if (!fs::is_directory(children[i], error)) continue;
      auto grandchildren = sorted_children(children[i]);
      for (size_t j = 0; j < std::min(kLooked, grandchildren.size()); ++j) {
        if (is_clip_entry(grandchildren[j])) return true;
      }
    }
  }
  return false;
}

}  // namespace pretext
