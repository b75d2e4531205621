// Who may call what, how a request is named in metrics and logs: API keys, public routes, route
// names of bounded cardinality (never the raw path) and the access-log line.
#pragma once

#include <string>

namespace mmfuse::serve {

/// Routes reachable without the API key: health probes and the web page (which asks for a key).
bool is_public(const std::string& path);

/// Whether `authorization` is "Bearer KEY" or `x_api_key` is "KEY" (compared in constant time).
bool key_matches(const std::string& authorization, const std::string& x_api_key,
                 const std::string& key);

/// The route a request reached, for metrics labels: "health_live", "health_ready",
/// "server_metadata", "model_metadata", "model_ready", "v2_infer", "v1_predict", "v1_search",
/// "v1_translate", "model_list",
/// "metrics", "page" or "other".
std::string route_of(const std::string& method, const std::string& path);

/// The message of an error status httplib set itself (404 no route, 400 bad request, 413 ...).
std::string status_message(int status, const std::string& method, const std::string& path);

/// `path` made safe for a log line: printable ASCII kept, other bytes as \xNN, at most 200 bytes.
std::string printable(const std::string& path);

struct AccessRecord {
  std::string method, path, route, remote;
  int status = 0;
  std::size_t bytes_in = 0, bytes_out = 0;
  double seconds = 0;
};

/// One structured line at info level:
/// `access method=POST route=v1_predict status=200 ms=3.10 in=1234 out=456 remote=127.0.0.1
///  path=/v1/models/lf:predict`.
void log_access(const AccessRecord& r);

}  // namespace mmfuse::serve
