// `pretext launch`: runs N copies of a command on this machine as the ranks of one job, in the
// manner of torchrun. Each copy finds RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT in its
// environment; its output comes back line by line behind a `[rank r] ` prefix; and when one rank
// fails the others are stopped (SIGTERM, then SIGKILL after a grace period), since a rank whose
// peer is gone would otherwise wait in its next all-reduce forever.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "pretext/cli/commands.h"
#include "pretext/core/error.h"

extern char** environ;

namespace pretext::cli {
namespace {

using Clock = std::chrono::steady_clock;

// A line longer than this is passed on in pieces rather than held in memory without bound.
constexpr size_t kMaxLineBytes = 64 * 1024;

// ---- The pure parts: lines, prefixes, exit statuses ----

// Removes the complete lines from `pending` and returns them, each behind `prefix`; a partial line
// at the end stays in `pending` for the next read.
std::string take_complete_lines(std::string& pending, const std::string& prefix) {
  std::string lines;
  size_t start = 0;
  for (size_t end = pending.find('\n'); end != std::string::npos; end = pending.find('\n', start)) {
    lines += prefix;
    lines.append(pending, start, end + 1 - start);
    start = end + 1;
  }
  pending.erase(0, start);
  return lines;
}

// At the end of a stream (or past kMaxLineBytes): what is left, as one line of its own.
std::string take_partial_line(std::string& pending, const std::string& prefix) {
  if (pending.empty()) return "";
  std::string line = prefix + pending + "\n";
  pending.clear();
  return line;
}

// "exited with status 3", "was killed by signal 9 (Killed)".
std::string describe_exit(int wait_status) {
  if (WIFSIGNALED(wait_status)) {
    const int signal_number = WTERMSIG(wait_status);
    return "was killed by signal " + std::to_string(signal_number) + " (" + strsignal(signal_number) + ")";
  }
  return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
}

// The shell's convention (128 + signal), so that the launcher exits as its failed rank did.
int exit_code(int wait_status) {
  return WIFSIGNALED(wait_status) ? 128 + WTERMSIG(wait_status) : WEXITSTATUS(wait_status);
}

const char* signal_name(int signal_number) { return signal_number == SIGINT ? "SIGINT" : "SIGTERM"; }

// ---- Small system helpers ----

// One write per call, retried until done: the launcher is the only writer of its stdout and
// stderr, so a line handed over whole is never interleaved with another rank's.
void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t written = write(fd, text.data() + done, text.size() - done);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return;  // stdout closed (`| head`): the ranks run on regardless
    done += static_cast<size_t>(written);
  }
}

void say(const std::string& message) { write_all(STDERR_FILENO, "pretext launch: " + message + "\n"); }

bool is_executable_file(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(path.c_str(), X_OK) == 0;
}

bool found_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string dirs = path;
  for (size_t start = 0;;) {
    const size_t end = dirs.find(':', start);
    std::string dir = dirs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (is_executable_file((dir.empty() ? "." : dir) + "/" + name)) return true;
    if (end == std::string::npos) return false;
    start = end + 1;
  }
}

// `-- pretext …` run from a build folder, where no pretext is installed, means this program.
std::string program_to_run(const std::string& command) {
  if (command != "pretext" || found_on_path(command)) return command;
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? "/proc/self/exe" : self.string();
}

// Port 0 asks the kernel for a free port. The socket is closed before the ranks start, so another
// program could take the port in between: the same small race torchrun accepts.
int pick_free_port(const std::string& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int resolved = getaddrinfo(address.c_str(), "0", &hints, &found);
  PRETEXT_CHECK(resolved == 0, ConfigError, "--master-addr ", address, ": ", gai_strerror(resolved));
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);

  const int socket_fd = socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, found->ai_protocol);
  PRETEXT_CHECK(socket_fd >= 0, IoError, "--master-port 0: cannot open a socket: ", std::strerror(errno));
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  const bool ok = bind(socket_fd, found->ai_addr, found->ai_addrlen) == 0 &&
                  getsockname(socket_fd, reinterpret_cast<sockaddr*>(&bound), &length) == 0;
  const int saved_errno = errno;
  close(socket_fd);
  PRETEXT_CHECK(ok, ConfigError, "--master-port 0: cannot bind a port on --master-addr ", address, ": ",
                std::strerror(saved_errno));
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

// The launcher's environment, less any launch variables it was itself given (a launch inside a
// launched rank), plus this rank's.
std::vector<std::string> rank_environment(int rank, const LaunchFlags& flags, int port) {
  const std::vector<std::pair<std::string, std::string>> launch_variables = {
      {"RANK", std::to_string(rank)},
      {"LOCAL_RANK", std::to_string(rank)},
      {"WORLD_SIZE", std::to_string(flags.nproc_per_node)},
      {"LOCAL_WORLD_SIZE", std::to_string(flags.nproc_per_node)},
      {"MASTER_ADDR", flags.master_addr},
      {"MASTER_PORT", std::to_string(port)},
      {"PRETEXT_LAUNCHED", "1"}};
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string variable = *entry;
    const std::string name = variable.substr(0, variable.find('='));
    bool replaced = false;
    for (const auto& [launch_name, value] : launch_variables) replaced = replaced || name == launch_name;
    if (!replaced) environment.push_back(variable);
  }
  for (const auto& [name, value] : launch_variables) environment.push_back(name + "=" + value);
  return environment;
}

std::vector<char*> c_strings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (auto& text : strings) pointers.push_back(text.data());
  pointers.push_back(nullptr);
  return pointers;
}

// ---- Signals ----

// The handler only writes the signal's number into a pipe that the main loop polls with the
// ranks' output, so a signal (or a rank's exit, SIGCHLD) wakes the loop without a race.
int g_signal_pipe[2] = {-1, -1};

void relay_signal(int signal_number) {
  const int saved_errno = errno;
  const auto byte = static_cast<unsigned char>(signal_number);
  [[maybe_unused]] const ssize_t written = write(g_signal_pipe[1], &byte, 1);
  errno = saved_errno;
}

constexpr int kRelayedSignals[] = {SIGINT, SIGTERM, SIGCHLD};

// Installs the relay for the launcher's lifetime and restores the previous handlers (pretext's
// stop handlers) afterwards.
class SignalRelay {
 public:
  SignalRelay() {
    PRETEXT_CHECK(pipe2(g_signal_pipe, O_CLOEXEC | O_NONBLOCK) == 0, IoError, "cannot create a pipe: ",
                  std::strerror(errno));
    struct sigaction action {};
    action.sa_handler = relay_signal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < std::size(kRelayedSignals); ++i) sigaction(kRelayedSignals[i], &action, &previous_[i]);
    // A closed stdout must not kill the launcher and orphan the ranks.
    action.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &action, &previous_pipe_);
  }
  ~SignalRelay() {
    for (size_t i = 0; i < std::size(kRelayedSignals); ++i) sigaction(kRelayedSignals[i], &previous_[i], nullptr);
    sigaction(SIGPIPE, &previous_pipe_, nullptr);
    close(g_signal_pipe[0]);
    close(g_signal_pipe[1]);
    g_signal_pipe[0] = g_signal_pipe[1] = -1;
  }
  SignalRelay(const SignalRelay&) = delete;
  SignalRelay& operator=(const SignalRelay&) = delete;

  int fd() const { return g_signal_pipe[0]; }

 private:
  struct sigaction previous_[std::size(kRelayedSignals)] {};
  struct sigaction previous_pipe_ {};
};

// ---- The launcher ----

struct Stream {
  int fd = -1;          // our end of the pipe; -1 once closed
  int to = -1;          // STDOUT_FILENO or STDERR_FILENO
  std::string prefix;   // "[rank r] "
  std::string pending;  // a line not yet complete
};

// Prints what is left of a stream's last line and closes it.
void close_stream(Stream& stream) {
  write_all(stream.to, take_partial_line(stream.pending, stream.prefix));
  close(stream.fd);
  stream.fd = -1;
}

struct Rank {
  int rank = 0;
  pid_t pid = -1;
  bool running = false;
  Stream out, err;
};

class Launcher {
 public:
  Launcher(const LaunchFlags& flags, int port) : flags_(flags), port_(port) {}

  int run() {
    SignalRelay relay;
    ranks_.reserve(static_cast<size_t>(flags_.nproc_per_node));
    null_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
    for (int rank = 0; rank < flags_.nproc_per_node && !stopping_; ++rank) start(rank);
    while (any_running()) {
      wait_for_events(relay.fd());
      reap();
      if (stopping_ && !killed_ && Clock::now() >= deadline_) kill_the_rest(/*grace_over=*/true);
    }
    if (null_fd_ >= 0) close(null_fd_);
    if (failed_) return exit_status_;
    return interrupted_by_ != 0 ? 128 + interrupted_by_ : 0;
  }

 private:
  void start(int rank_index) {
    Rank& rank = ranks_.emplace_back();
    rank.rank = rank_index;
    // Everything the child needs is built before fork(): the launcher may have threads (LibTorch
    // starts some), and then a forked child may only make async-signal-safe calls until exec.
    std::vector<std::string> args = flags_.command;
    std::vector<std::string> environment = rank_environment(rank_index, flags_, port_);
    std::vector<char*> argv = c_strings(args), envp = c_strings(environment);
    const std::string program = program_to_run(flags_.command.front());
    const std::string cannot_run = "pretext launch: cannot run '" + flags_.command.front() + "': ";

    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0) {
      fail_to_start(rank_index, std::strerror(errno));
      return;
    }
    if (pipe2(err, O_CLOEXEC) != 0) {
      const int pipe_errno = errno;
      close(out[0]);
      close(out[1]);
      fail_to_start(rank_index, std::strerror(pipe_errno));
      return;
    }
    // Signals stay blocked across fork() so that none runs the relay in the child before exec.
    sigset_t relayed, previous_mask;
    sigemptyset(&relayed);
    for (int signal_number : kRelayedSignals) sigaddset(&relayed, signal_number);
    sigprocmask(SIG_BLOCK, &relayed, &previous_mask);
    const pid_t launcher = getpid();
    const pid_t pid = fork();
    if (pid == 0) {
      // A process group of its own: the terminal's Ctrl-C then reaches only the launcher, which
      // passes it on once (pretext takes a second SIGINT as "kill now"), and stopping a rank
      // stops whatever it started too.
      setpgid(0, 0);
      // Should the launcher itself be killed, its ranks are asked to stop rather than left running.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != launcher) _exit(128 + SIGTERM);
      for (int signal_number : {SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGXFSZ}) std::signal(signal_number, SIG_DFL);
      sigprocmask(SIG_SETMASK, &previous_mask, nullptr);
      // In its own process group a rank reading the terminal would be stopped (SIGTTIN).
      if (null_fd_ >= 0) dup2(null_fd_, STDIN_FILENO);
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      execvpe(program.c_str(), argv.data(), envp.data());
      const char* reason = std::strerror(errno);
      [[maybe_unused]] ssize_t written = write(STDERR_FILENO, cannot_run.data(), cannot_run.size());
      written = write(STDERR_FILENO, reason, std::strlen(reason));
      written = write(STDERR_FILENO, "\n", 1);
      _exit(127);
    }
    const int fork_errno = errno;
    if (pid > 0) setpgid(pid, pid);  // also here, so that a signal sent right away finds the group
    sigprocmask(SIG_SETMASK, &previous_mask, nullptr);
    close(out[1]);
    close(err[1]);
    if (pid < 0) {
      close(out[0]);
      close(err[0]);
      fail_to_start(rank_index, std::strerror(fork_errno));
      return;
    }
    rank.pid = pid;
    rank.running = true;
    const std::string prefix = "[rank " + std::to_string(rank_index) + "] ";
    rank.out = {out[0], STDOUT_FILENO, prefix, {}};
    rank.err = {err[0], STDERR_FILENO, prefix, {}};
    for (int fd : {out[0], err[0]}) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }

  void fail_to_start(int rank_index, const std::string& reason) {
    say("cannot start rank " + std::to_string(rank_index) + ": " + reason + "; stopping the other ranks");
    failed_ = true;
    exit_status_ = 1;
    begin_stop(SIGTERM);
  }

  bool any_running() const {
    for (const Rank& rank : ranks_) {
      if (rank.running) return true;
    }
    return false;
  }

  // Sleeps until a rank writes, exits or a signal comes, or the grace period ends.
  void wait_for_events(int signal_fd) {
    std::vector<pollfd> fds = {{signal_fd, POLLIN, 0}};
    std::vector<Stream*> streams = {nullptr};
    for (Rank& rank : ranks_) {
      for (Stream* stream : {&rank.out, &rank.err}) {
        if (stream->fd < 0) continue;
        fds.push_back({stream->fd, POLLIN, 0});
        streams.push_back(stream);
      }
    }
    int timeout_ms = -1;
    if (stopping_ && !killed_) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
      timeout_ms = static_cast<int>(std::max<decltype(left)>(left, 0));
    }
    if (poll(fds.data(), fds.size(), timeout_ms) < 0) return;  // EINTR: the caller loops
    if (fds[0].revents != 0) handle_signals(signal_fd);
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents != 0) read_available(*streams[i]);
    }
  }

  void handle_signals(int signal_fd) {
    unsigned char signal_number = 0;
    while (read(signal_fd, &signal_number, 1) == 1) {
      if (signal_number == SIGCHLD) continue;  // reap() looks at every rank after each wake-up
      if (stopping_) {
        say(std::string(signal_name(signal_number)) + " again: killing the ranks");
        kill_the_rest(/*grace_over=*/false);
      } else {
        say(std::string("got ") + signal_name(signal_number) + "; passing it on to the ranks (send it again to "
                                                                "kill them)");
        interrupted_by_ = signal_number;
        begin_stop(signal_number);
      }
    }
  }

  // Reads what a pipe holds now; prints the complete lines, and the rest at end of stream.
  // Returns false once the stream is closed or empty for now.
  bool read_available(Stream& stream) {
    char buffer[65536];
    const ssize_t count = read(stream.fd, buffer, sizeof(buffer));
    if (count < 0 && (errno == EAGAIN || errno == EINTR)) return false;
    if (count <= 0) {
      close_stream(stream);
      return false;
    }
    stream.pending.append(buffer, static_cast<size_t>(count));
    std::string lines = take_complete_lines(stream.pending, stream.prefix);
    if (stream.pending.size() > kMaxLineBytes) lines += take_partial_line(stream.pending, stream.prefix);
    write_all(stream.to, lines);
    return true;
  }

  void reap() {
    for (Rank& rank : ranks_) {
      int status = 0;
      if (!rank.running || waitpid(rank.pid, &status, WNOHANG) != rank.pid) continue;
      rank.running = false;
      // What the rank wrote before it exited is all in its pipes now: print it before the verdict.
      for (Stream* stream : {&rank.out, &rank.err}) {
        while (stream->fd >= 0 && read_available(*stream)) {
        }
        // A background process the rank left behind loses its output from here on.
        if (stream->fd >= 0) close_stream(*stream);
      }
      if (status == 0 || failed_) continue;
      failed_ = true;
      exit_status_ = exit_code(status);
      // Ranks that fail after being asked to stop are expected to; only a first failure is news.
      if (!stopping_) {
        say("rank " + std::to_string(rank.rank) + " " + describe_exit(status) + "; stopping the other ranks");
        begin_stop(SIGTERM);
      }
    }
  }

  void begin_stop(int signal_number) {
    stopping_ = true;
    deadline_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                   std::chrono::duration<double>(flags_.grace_seconds));
    signal_all(signal_number);
  }

  void kill_the_rest(bool grace_over) {
    killed_ = true;
    for (const Rank& rank : ranks_) {
      if (rank.running && grace_over) {
        say("rank " + std::to_string(rank.rank) + " still running " + format_seconds(flags_.grace_seconds) +
            " s after being asked to stop; killing it");
      }
    }
    signal_all(SIGKILL);
  }

  static std::string format_seconds(double seconds) {
    std::string text = std::to_string(seconds);
    text.erase(text.find_last_not_of('0') + 1);
    if (!text.empty() && text.back() == '.') text.pop_back();
    return text;
  }

  void signal_all(int signal_number) {
    for (const Rank& rank : ranks_) {
      if (rank.running) kill(-rank.pid, signal_number);
    }
  }

  const LaunchFlags& flags_;
  const int port_;
  int null_fd_ = -1;
  std::vector<Rank> ranks_;
  bool stopping_ = false;
  bool killed_ = false;
  Clock::time_point deadline_;
  bool failed_ = false;
  int exit_status_ = 0;     // the first failed rank's, as a shell would report it
  int interrupted_by_ = 0;  // the signal the launcher passed on, if any
};

}  // namespace

int run_launch(const LaunchFlags& flags) {
  PRETEXT_CHECK(flags.nproc_per_node >= 1, ConfigError, "launch: -n must be at least 1, got ", flags.nproc_per_node);
  PRETEXT_CHECK(!flags.command.empty(), ConfigError,
                "launch: no command to run; give it after `--`, e.g. pretext launch -n 2 -- pretext pretrain …");
  PRETEXT_CHECK(flags.master_port >= 0 && flags.master_port <= 65535, ConfigError,
                "launch: --master-port must be in [0, 65535], got ", flags.master_port);
  PRETEXT_CHECK(flags.grace_seconds >= 0, ConfigError, "launch: --grace-seconds must be >= 0, got ",
                flags.grace_seconds);
  const int port = flags.master_port == 0 ? pick_free_port(flags.master_addr) : flags.master_port;
  return Launcher(flags, port).run();
}

}  // namespace pretext::cli
