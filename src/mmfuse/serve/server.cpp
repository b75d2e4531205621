#include "mmfuse/serve/server.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <httplib.h>
#include <chrono>

#include "mmfuse/core/error.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/serve/access.h"
#include "mmfuse/serve/errors.h"
#include "mmfuse/serve/web_page.h"

namespace mmfuse::serve {

using Clock = std::chrono::steady_clock;

/// httplib's server with a listen backlog fit for many clients (the packaged library listens
/// with a backlog of 5: bursts of connections would wait for SYN retries).
class HttpServer : public httplib::Server {
 public:
  void raise_backlog(int n) { ::listen(svr_sock_, n); }
};

namespace {

constexpr const char* kName = "([A-Za-z0-9_.-]+)";

/// When the current worker thread's request started (set before its body is read).
thread_local Clock::time_point t_request_start;
thread_local bool t_started = false;

void write_reply(httplib::Response& res, const Reply& reply) {
  res.status = reply.status;
  res.set_content(reply.body, reply.content_type.c_str());
}

void write_failure(httplib::Response& res, std::exception_ptr error) {
  const HttpFailure f = http_failure(error);
  write_reply(res, {f.status, "application/json", error_body(f.message)});
  if (f.retry_after_seconds > 0)
    res.set_header("Retry-After", std::to_string(f.retry_after_seconds));
}

void check_key(const httplib::Request& req, const ServerOptions& o) {
  if (is_public(req.path) || o.api_key.empty()) return;
  if (!key_matches(req.get_header_value("Authorization"), req.get_header_value("X-Api-Key"),
                   o.api_key)) {
    throw Unauthorized(
        "missing or wrong API key; send it as 'Authorization: Bearer KEY' or 'X-Api-Key: KEY'");
  }
}

/// Reasons to refuse a body from the headers alone, before it is read.
void check_body_headers(const httplib::Request& req, const ServerOptions& o) {
  if (req.method != "POST" && req.method != "PUT") return;
  if (req.has_header("Transfer-Encoding")) {
    throw InputError("chunked bodies are not accepted; send Content-Length").at("", 0, "body");
  }
  const std::string enc = req.get_header_value("Content-Encoding");
  if (!enc.empty() && enc != "identity") {
    throw InputError("Content-Encoding '" + enc + "' is not accepted; send the body uncompressed")
        .at("", 0, "body");
  }
  const std::string length = req.get_header_value("Content-Length");
  if (!length.empty()) {
    errno = 0;
    char* end = nullptr;
    const unsigned long long n = std::strtoull(length.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || length[0] == '-' ||
        static_cast<double>(n) > static_cast<double>(o.limits.max_body_bytes)) {
      throw PayloadTooLarge("body of " + printable(length) + " bytes, above the cap of " +
                            std::to_string(o.limits.max_body_bytes) + " bytes (--max-body-mb)");
    }
  }
}

/// A /v1 POST as the handlers take it: the JSON body, or the multipart/form-data parts.
PostInput post_input_of(const httplib::Request& req) {
  PostInput in;
  in.accept = req.get_header_value("Accept");
  in.is_form = req.is_multipart_form_data();
  if (!in.is_form) {
    in.body = req.body;
    return in;
  }
  for (const auto& [name, part] : req.files) in.form.push_back({name, part.filename, part.content});
  return in;
}

}  // namespace

Server::Server(ServerOptions options)
    : options_(std::move(options)),
      state_(options_, metrics_),
      http_(std::make_unique<HttpServer>()) {
  add_routes();
}

Server::~Server() {
  stop();
  wait();
}

void Server::add_routes() {
  HttpServer& h = *http_;
  const ServeState& s = state_;
  auto wrap = [this](auto fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) {
      metrics_.add_in_flight(1);
      try {
        check_key(req, options_);  // here, not before the body is read: the connection stays usable
        write_reply(res, fn(req));
      } catch (...) {
        write_failure(res, std::current_exception());
      }
      metrics_.add_in_flight(-1);
    };
  };
  const std::string name = kName;
  h.Get("/v2/health/live", wrap([](const httplib::Request&) { return live(); }));
  h.Get("/v2/health/ready", wrap([&s](const httplib::Request&) { return serve::ready(s); }));
  h.Get("/v2", wrap([](const httplib::Request&) { return server_metadata(); }));
  h.Get("/v2/models/" + name,
        wrap([&s](const httplib::Request& r) { return model_metadata(s, r.matches[1]); }));
  h.Get("/v2/models/" + name + "/ready",
        wrap([&s](const httplib::Request& r) { return model_ready(s, r.matches[1]); }));
  h.Post("/v2/models/" + name + "/infer",
         wrap([&s](const httplib::Request& r) { return v2_infer(s, r.matches[1], r.body); }));
  h.Post("/v1/models/" + name + ":predict", wrap([&s](const httplib::Request& r) {
           return v1_predict(s, r.matches[1], post_input_of(r));
         }));
  h.Post("/v1/models/" + name + ":search", wrap([&s](const httplib::Request& r) {
           return v1_search(s, r.matches[1], post_input_of(r));
         }));
  h.Post("/v1/models/" + name + ":translate", wrap([&s](const httplib::Request& r) {
           return v1_translate(s, r.matches[1], post_input_of(r));
         }));
  h.Get("/v1/models", wrap([&s](const httplib::Request&) { return model_list(s); }));
  h.Get("/metrics", wrap([&s](const httplib::Request&) { return metrics_text(s); }));
  h.Get("/", wrap([](const httplib::Request&) { return web_page(); }));

  h.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = Clock::now();
    t_started = true;
    try {
      check_body_headers(req, options_);
      return httplib::Server::HandlerResponse::Unhandled;
    } catch (...) {
      write_failure(res, std::current_exception());
      res.set_header("Connection", "close");  // the body was not read
      return httplib::Server::HandlerResponse::Handled;
    }
  });
  // Statuses httplib sets itself (no route, bad request line, body over the cap): a JSON body.
  h.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        write_reply(res, {res.status, "application/json",
                          error_body(status_message(res.status, req.method, req.path))});
        return httplib::Server::HandlerResponse::Handled;
      }));
  h.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    const double seconds =
        t_started ? std::chrono::duration<double>(Clock::now() - t_request_start).count() : 0.0;
    t_started = false;
    const std::string route = route_of(req.method, req.path);
    metrics_.observe_request(route, res.status, seconds);
    if (options_.access_log) {
      log_access({req.method, req.path, route, req.remote_addr, res.status, req.body.size(),
                  res.body.size(), seconds});
    }
  });
}

void Server::start() {
  HttpServer& h = *http_;
  h.new_task_queue = [n = options_.connections] { return new httplib::ThreadPool(n); };
  h.set_socket_options([](socket_t sock) {  // no SO_REUSEPORT: a port in use is an error
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  h.set_tcp_nodelay(true);
  h.set_keep_alive_max_count(100000);
  h.set_keep_alive_timeout(5);
  h.set_read_timeout(options_.read_timeout_seconds, 0);
  h.set_write_timeout(options_.read_timeout_seconds, 0);
  h.set_payload_max_length(static_cast<size_t>(options_.limits.max_body_bytes));
  if (options_.port == 0) {
    port_ = h.bind_to_any_port(options_.host);
  } else {
    port_ = h.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    throw Error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                " (port in use, or not an address of this machine); choose another --port or "
                "--host");
  }
  h.raise_backlog(1024);
  listener_ = std::thread([this] { http_->listen_after_bind(); });
  while (!http_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  spdlog::info("listening on http://{}:{} (not ready until the models are loaded)", options_.host,
               port_);
}

void Server::load_models() {
  auto models = std::make_shared<ModelMap>();
  for (const ModelSource& src : options_.models) {
    const auto t0 = Clock::now();
    std::shared_ptr<const runtime::Run> run;
    try {
      run = runtime::load_run(src.dir);
      (*models)[src.name] =
          std::make_unique<ServedModel>(src.name, run, options_, metrics_, src.index_dir);
    } catch (const UsageError& e) {
      throw UsageError("model '" + src.name + "': " + e.what());
    } catch (const std::exception& e) {
      throw Error("model '" + src.name + "': " + e.what());
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    metrics_.set_model_load_seconds(src.name, seconds);
    spdlog::info("model '{}' loaded from {} in {:.2f} s ({} run{})", src.name, src.dir, seconds,
                 models::to_string(run->task.kind),
                 src.index_dir.empty() ? "" : ", index " + src.index_dir);
  }
  state_.set_models(std::move(models));
  spdlog::info("ready: {} model(s)", options_.models.size());
}

void Server::stop() {
  state_.set_draining();
  if (http_ && http_->is_running()) http_->stop();
}

void Server::wait() {
  if (listener_.joinable()) listener_.join();
}

}  // namespace mmfuse::serve
