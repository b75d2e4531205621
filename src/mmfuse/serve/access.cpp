#include "mmfuse/serve/access.h"

#include <spdlog/spdlog.h>

namespace mmfuse::serve {

namespace {

bool starts_with(const std::string& s, const std::string& p) {
  return s.rfind(p, 0) == 0;
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

bool equal_constant_time(const std::string& a, const std::string& b) {
  if (b.empty() || a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

bool is_public(const std::string& path) {
  return path == "/" || path == "/v2/health/live" || path == "/v2/health/ready";
}

bool key_matches(const std::string& authorization, const std::string& x_api_key,
                 const std::string& key) {
  const std::string bearer = "Bearer ";
  const bool by_bearer = starts_with(authorization, bearer) &&
                         equal_constant_time(authorization.substr(bearer.size()), key);
  const bool by_header = equal_constant_time(x_api_key, key);
  return by_bearer || by_header;
}

std::string route_of(const std::string& method, const std::string& path) {
  if (path == "/v2/health/live") return "health_live";
  if (path == "/v2/health/ready") return "health_ready";
  if (path == "/v2") return "server_metadata";
  if (path == "/metrics") return "metrics";
  if (path == "/") return "page";
  if (path == "/v1/models") return "model_list";
  if (starts_with(path, "/v2/models/")) {
    if (method == "POST" && ends_with(path, "/infer")) return "v2_infer";
    if (ends_with(path, "/ready")) return "model_ready";
    return "model_metadata";
  }
  if (starts_with(path, "/v1/models/") && ends_with(path, ":predict")) return "v1_predict";
  if (starts_with(path, "/v1/models/") && ends_with(path, ":search")) return "v1_search";
  if (starts_with(path, "/v1/models/") && ends_with(path, ":translate")) return "v1_translate";
  return "other";
}

std::string status_message(int status, const std::string& method, const std::string& path) {
  switch (status) {
    case 400:
      return "malformed HTTP request";
    case 404:
      return "no route " + method + " " + printable(path) +
             "; see GET /v2 (KServe v2) and POST /v1/models/{name}:predict (:search, :translate)";
    case 405:
      return "method " + method + " not allowed on " + printable(path);
    case 413:
      return "body above the cap (--max-body-mb)";
    case 414:
      return "request URI too long";
    default:
      return "HTTP status " + std::to_string(status);
  }
}

std::string printable(const std::string& path) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (char c : path) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x21 && u < 0x7f && c != '\\') {
      out += c;
    } else {
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  return out;
}

void log_access(const AccessRecord& r) {
  spdlog::info("access method={} route={} status={} ms={:.2f} in={} out={} remote={} path={}",
               printable(r.method), r.route, r.status, r.seconds * 1000, r.bytes_in, r.bytes_out,
               r.remote, printable(r.path));
}

}  // namespace mmfuse::serve
