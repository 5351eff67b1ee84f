// pretext-espeak: says words with libespeak-ng for `pretext data spoken-words`; not for people.
//
// Why a program of its own: the synthesiser keeps state from one utterance to the next in static
// variables its API cannot reset (pitch flutter, wave phase, the rand() sequence), so words said
// one after another in one process differ from the same words said alone, and a corpus made by
// parallel workers would depend on their order. This program starts the library once and says
// each word in a child forked for it, from a state in which nothing was ever said: every clip is
// the same bytes as `espeak-ng -v VOICE -s SPEED -p PITCH --stdout WORD` makes. Forking this small
// process costs about 1 ms here; forking the pretext program (LibTorch mapped) cost 7–60 ms, and
// starting the espeak-ng program for each word 32 ms (it reads some 400 voice files every time).
//
// Protocol, on stdin and stdout:
//   first, unasked: a frame with the sample rate, the espeak-ng version and its data folder,
//     separated by tabs (or, when the library cannot start, status kInitFailed and a message);
//   then for each request line "VOICE<TAB>SPEED<TAB>PITCH<TAB>WORD\n", one frame of the word's
//     16-bit samples at that rate (status 0) or an error status with an empty payload.
// A frame is a uint32 status, a uint32 payload length in bytes, and the payload (host order).
#include <espeak-ng/speak_lib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "pretext/data/espeak_protocol.h"

namespace {

using namespace pretext::espeak_protocol;

// A frame on stdout.
bool write_frame(uint32_t status, const void* payload, uint32_t size) {
  return pretext::espeak_protocol::write_frame(1, status, payload, size);
}

int collect_samples(short* wav, int count, espeak_EVENT* events) {
  auto* sink = static_cast<std::vector<int16_t>*>(events != nullptr ? events->user_data : nullptr);
  if (wav != nullptr && count > 0 && sink != nullptr) sink->insert(sink->end(), wav, wav + count);
  return 0;
}

// In the forked child: says the word and writes its frame; returns the exit status.
int say(const std::string& voice, int speed, int pitch, const std::string& word) {
  // The voice first (choosing one resets the rate and pitch to its own), found as the espeak-ng
  // program finds it: by name, else as a language ("en-gb+m1").
  if (espeak_SetVoiceByName(voice.c_str()) != EE_OK) {
    espeak_VOICE wanted{};
    wanted.languages = voice.c_str();
    if (espeak_SetVoiceByProperties(&wanted) != EE_OK) return write_frame(kNoVoice, nullptr, 0) ? 0 : 1;
  }
  espeak_SetParameter(espeakRATE, speed, 0);
  espeak_SetParameter(espeakPITCH, pitch, 0);
  std::vector<int16_t> samples;
  const unsigned flags = espeakCHARS_AUTO | espeakPHONEMES | espeakENDPAUSE;  // as the program's
  if (espeak_Synth(word.c_str(), word.size() + 1, 0, POS_CHARACTER, 0, flags, nullptr, &samples) != EE_OK ||
      espeak_Synchronize() != EE_OK) {
    return write_frame(kSynthFailed, nullptr, 0) ? 0 : 1;
  }
  return write_frame(kOk, samples.data(), static_cast<uint32_t>(samples.size() * sizeof(int16_t))) ? 0 : 1;
}

}  // namespace

int main() {
  // DONT_EXIT: without it the library ends the process when its data is missing.
  const int rate = espeak_Initialize(AUDIO_OUTPUT_SYNCHRONOUS, 0, nullptr, espeakINITIALIZE_DONT_EXIT);
  if (rate <= 0) {
    const std::string message = "espeak-ng could not start: its data (espeak-ng-data) is missing or unreadable";
    write_frame(kInitFailed, message.data(), static_cast<uint32_t>(message.size()));
    return 1;
  }
  espeak_SetSynthCallback(collect_samples);
  espeak_ListVoices(nullptr);  // read the voice files once, here, rather than in every child
  const char* data = nullptr;
  const char* version = espeak_Info(&data);
  const std::string hello = std::to_string(rate) + "\t" + (version != nullptr ? version : "") + "\t" +
                            (data != nullptr ? data : "");
  if (!write_frame(kOk, hello.data(), static_cast<uint32_t>(hello.size()))) return 1;

  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream fields(line);
    std::string voice, speed, pitch, word;
    if (!std::getline(fields, voice, '\t') || !std::getline(fields, speed, '\t') ||
        !std::getline(fields, pitch, '\t') || !std::getline(fields, word) || word.empty()) {
      if (!write_frame(kBadRequest, nullptr, 0)) return 1;
      continue;
    }
    const pid_t child = ::fork();
    if (child == 0) ::_exit(say(voice, std::atoi(speed.c_str()), std::atoi(pitch.c_str()), word));
    int status = 0;
    if (child < 0) {
      status = -1;
    } else {
      while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
      }
    }
    // A child that wrote its frame exited 0; otherwise no frame came, so one is written here.
    if (!(child > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      const std::string why = child < 0 ? "cannot fork"
                              : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                                    : "exit status " + std::to_string(WEXITSTATUS(status));
      if (!write_frame(kChildFailed, why.data(), static_cast<uint32_t>(why.size()))) return 1;
    }
  }
  return 0;
}
