#include "mmfuse/serve/base64.h"

#include <array>

#include "mmfuse/core/error.h"

namespace mmfuse::serve {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int8_t, 256> decode_table() {
  std::array<int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<int8_t>(i);
  return t;
}

constexpr auto kTable = decode_table();

[[noreturn]] void bad_base64(const std::string& field, const std::string& reason) {
  throw InputError(reason + "; send the file's bytes base64-encoded (RFC 4648)").at("", 0, field);
}

std::string describe(char c) {
  const auto u = static_cast<unsigned char>(c);
  if (u >= 0x20 && u < 0x7f) return std::string("'") + c + "'";
  static const char* hex = "0123456789abcdef";
  return std::string("byte 0x") + hex[u >> 4] + hex[u & 15];
}

}  // namespace

std::string base64_decode(std::string_view text, const std::string& field) {
  if (text.rfind("data:", 0) == 0) {
    const auto comma = text.find(',');
    if (comma == std::string_view::npos ||
        text.substr(0, comma).find(";base64") == std::string_view::npos) {
      bad_base64(field, "a data: URL without ';base64,'");
    }
    text.remove_prefix(comma + 1);
  }
  std::size_t n = text.size();
  std::size_t pad = 0;
  while (pad < 2 && n > 0 && text[n - 1] == '=') --n, ++pad;
  if (n % 4 == 1) {
    bad_base64(field, "invalid base64: " + std::to_string(text.size()) +
                          " characters, a length no base64 encoding has (truncated?)");
  }
  if (pad > 0 && (n + pad) % 4 != 0) bad_base64(field, "invalid base64: misplaced '=' padding");
  std::string out;
  out.reserve(n / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const int8_t v = kTable[static_cast<unsigned char>(text[i])];
    if (v < 0) {
      bad_base64(field,
                 "invalid base64: " + describe(text[i]) + " at character " + std::to_string(i));
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<unsigned char>(bytes[i]) << 16) |
                       (static_cast<unsigned char>(bytes[i + 1]) << 8) |
                       static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace mmfuse::serve
