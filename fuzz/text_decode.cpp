// Text in any encoding -> UTF-8, the tokenizer, and WordNet gloss lookup of the first tokens
// (when Debian's wordnet-base is installed).
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/data/text/text_decode.h"
#include "mmfuse/data/text/tokenizer.h"
#include "mmfuse/data/text/wordnet.h"

namespace {
const mmfuse::data::text::WordNet* fuzz_wordnet() {
  static std::unique_ptr<mmfuse::data::text::WordNet> wn = []() {
    const char* dir = "/usr/share/wordnet";
    std::unique_ptr<mmfuse::data::text::WordNet> p;
    if (access((std::string(dir) + "/index.noun").c_str(), R_OK) == 0)
      p = std::make_unique<mmfuse::data::text::WordNet>(dir);
    return p;
  }();
  return wn.get();
}
}  // namespace

// Loads WordNet's indexes (seconds under ASan) before the first input, outside the per-input
// timeout; the replay build loads it lazily on first use instead.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)fuzz_wordnet();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmfuse::data;
  if (size < 1) return 0;
  static const char* kCharsets[] = {"GB18030", "SHIFT_JIS", "UTF-16LE", "CP1252"};
  const auto encoding = static_cast<TextEncoding>(data[0] % 4);  // utf8 latin1 automatic named
  const std::string charset = encoding == TextEncoding::named ? kCharsets[(data[0] >> 5) % 4] : "";
  const auto invalid = (data[0] & 4) ? InvalidBytes::replace : InvalidBytes::error;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    DecodedText t = decode_text(bytes, encoding, invalid, "fuzz.txt", charset);
    text::TokenizerOptions opt;
    opt.lowercase = data[0] & 8;
    opt.keep_punctuation = data[0] & 16;
    using Special = text::TokenizerOptions::Special;
    opt.urls = static_cast<Special>((data[0] >> 5) % 3);
    opt.mentions = static_cast<Special>((data[0] >> 6) % 3);
    opt.keep_hashtags = data[0] & 32;
    std::vector<std::string> tokens = text::tokenize(t.text, opt);
    if (const auto* wn = fuzz_wordnet()) {
      for (std::size_t i = 0; i < tokens.size() && i < 2; ++i) (void)wn->gloss(tokens[i], 2);
    }
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
