// Text: raw e-mail (headers, MIME parts, encodings, HTML), UTF-8 repair, sentence splitting, and
// a JSON-lines corpus file.
#include "harness.h"
#include "pretext/data/text.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return pretext::fuzz::run([&] {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    const std::string repaired = pretext::repair_utf8(bytes);
    if (pretext::find_invalid_utf8(repaired) != std::string::npos) {
      std::fprintf(stderr, "finding: repair_utf8 left invalid UTF-8\n");
      std::abort();
    }
    pretext::split_sentences(repaired);
    pretext::email_to_text(bytes);
    pretext::html_to_text(bytes);
    const auto file = pretext::fuzz::write_input(pretext::fuzz::scratch() / "corpus.jsonl", data, size);
    pretext::load_text_corpus(file.string(), "train", {});
  });
}
