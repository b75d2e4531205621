#include "mmfuse/data/text/text_decode.h"

#include <iconv.h>
#include <uchardet/uchardet.h>

#include <cerrno>
#include <mutex>

#include "mmfuse/core/error.h"
#include "mmfuse/core/utf8.h"

namespace mmfuse::data {

namespace {

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) utf8::append(out, static_cast<char32_t>(c));
  return out;
}

// Each byte at which a valid UTF-8 sequence cannot start becomes U+FFFD.
std::string replace_invalid(std::string_view bytes) {
  std::string out;
  while (!bytes.empty()) {
    const auto bad = utf8::find_invalid(bytes);
    if (!bad) {
      out.append(bytes);
      break;
    }
    out.append(bytes.substr(0, *bad));
    utf8::append(out, 0xFFFD);
    bytes.remove_prefix(*bad + 1);
  }
  return out;
}

std::mutex& text_fallback_mutex() {
  static std::mutex mu;
  return mu;
}

std::map<std::string, int64_t>& text_fallback_table() {
  static std::map<std::string, int64_t> counts;
  return counts;
}

void count_text_fallback(const std::string& charset) {
  std::lock_guard<std::mutex> lock(text_fallback_mutex());
  ++text_fallback_table()[charset];
}

// `bytes` in `charset` -> UTF-8 by iconv into `out`; false when iconv does not know the charset
// or meets an invalid or incomplete sequence (its byte offset in `bad_at`).
bool iconv_to_utf8(std::string_view bytes, const std::string& charset, std::string& out,
                   std::size_t& bad_at) {
  iconv_t cd = iconv_open("UTF-8", charset.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) {
    bad_at = 0;
    return false;
  }
  out.assign(bytes.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  char* dst = out.data();
  std::size_t out_left = out.size();
  const std::size_t r = iconv(cd, &in, &in_left, &dst, &out_left);
  iconv_close(cd);
  if (r == static_cast<std::size_t>(-1)) {
    bad_at = bytes.size() - in_left;
    return false;
  }
  out.resize(out.size() - out_left);
  return true;
}

}  // namespace

std::string detect_charset(std::string_view bytes) {
  uchardet_t ud = uchardet_new();
  std::string charset;
  if (uchardet_handle_data(ud, bytes.data(), bytes.size()) == 0) {
    uchardet_data_end(ud);
    charset = uchardet_get_charset(ud);
  }
  uchardet_delete(ud);
  return charset;
}

std::map<std::string, int64_t> text_fallback_counts() {
  std::lock_guard<std::mutex> lock(text_fallback_mutex());
  return text_fallback_table();
}

TextEncoding text_encoding_from_string(const std::string& name) {
  if (name == "utf-8") return TextEncoding::utf8;
  if (name == "latin-1") return TextEncoding::latin1;
  if (name == "auto") return TextEncoding::automatic;
  iconv_t cd = iconv_open("UTF-8", name.c_str());
  if (cd != reinterpret_cast<iconv_t>(-1)) {
    iconv_close(cd);
    return TextEncoding::named;
  }
  throw InputError("unknown text encoding '" + name +
                   "'; known: utf-8, latin-1, auto, or a charset iconv knows (`iconv -l`)");
}

InvalidBytes invalid_bytes_from_string(const std::string& name) {
  if (name == "error") return InvalidBytes::error;
  if (name == "replace") return InvalidBytes::replace;
  throw InputError("unknown value '" + name + "' for invalid; known: error, replace");
}

DecodedText decode_text(std::string_view bytes, TextEncoding encoding, InvalidBytes invalid,
                        const std::string& file, const std::string& charset) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  DecodedText d;
  if (encoding == TextEncoding::latin1) {
    d.text = latin1_to_utf8(bytes);
    d.charset = "ISO-8859-1";
    return d;
  }
  if (encoding == TextEncoding::named) {
    std::size_t bad = 0;
    if (!iconv_to_utf8(bytes, charset, d.text, bad)) {
      throw InputError(file + ": invalid " + charset + " at byte " + std::to_string(bad) +
                       "; check the file's encoding, or set encoding: auto");
    }
    d.charset = charset;
    return d;
  }
  const auto bad = utf8::find_invalid(bytes);
  if (!bad) {
    d.text = std::string(bytes);
  } else if (encoding == TextEncoding::automatic) {
    d.fallback = true;
    std::string guess = detect_charset(bytes);
    std::size_t at = 0;
    if (guess.empty() || guess == "UTF-8" || guess == "ASCII" ||
        !iconv_to_utf8(bytes, guess, d.text, at) || utf8::find_invalid(d.text)) {
      d.text = latin1_to_utf8(bytes);
      guess = "ISO-8859-1";
    }
    d.charset = guess;
    count_text_fallback(guess);
  } else if (invalid == InvalidBytes::replace) {
    d.text = replace_invalid(bytes);
  } else {
    throw InputError(file + ": invalid UTF-8 at byte " + std::to_string(*bad) +
                     "; re-encode the file as UTF-8, or set encoding: auto (charset detection) "
                     "or invalid: replace");
  }
  return d;
}

}  // namespace mmfuse::data
