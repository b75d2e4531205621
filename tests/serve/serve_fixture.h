// A live `mmfuse serve` child process on an ephemeral port for the serve tests, raw-socket
// helpers for requests no HTTP client would send, and the tiny run's test samples as bodies.
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/file.h>

#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/fs.h"
#include "mmfuse/serve/base64.h"
#include "test_util.h"
#include "tools/tiny_run.h"

extern char** environ;

namespace mmfuse::testing {

/// `mmfuse serve --port 0 ARGS` as a child process; the destructor kills it if still running.
class ServeProcess {
 public:
  explicit ServeProcess(const std::string& args) : log_(tmp_.file("serve.log")) {
    const std::string cmd =
        "exec " + std::string(MMFUSE_BINARY) + " serve --port 0 " + args + " > " + log_ + " 2>&1";
    const char* argv[] = {"/bin/sh", "-c", cmd.c_str(), nullptr};
    if (::posix_spawn(&pid_, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ) != 0) {
      pid_ = -1;
    }
  }
  ~ServeProcess() {
    if (running()) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  /// Waits (up to 60 s) for "listening on" and, with `ready`, for /v2/health/ready = 200.
  /// Returns "" or what went wrong (with the log).
  std::string wait_until_up(bool ready = true) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    const std::regex re("listening on http://[^:]+:([0-9]+)");
    while (std::chrono::steady_clock::now() < deadline) {
      if (!running()) return "mmfuse serve exited (" + std::to_string(exit_code_) + "): " + log();
      std::smatch m;
      const std::string text = log();
      if (port_ == 0 && std::regex_search(text, m, re)) port_ = std::stoi(m[1]);
      if (port_ != 0) {
        if (!ready) return "";
        auto r = client().Get("/v2/health/ready");
        if (r && r->status == 200) return "";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return "mmfuse serve did not come up within 60 s: " + log();
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const {
    std::ifstream in(log_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    c.set_write_timeout(60, 0);
    return c;
  }
  /// Whether the child still runs (reaps it when it has exited, keeping its exit code).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    pid_ = -1;
    return false;
  }
  /// Waits (up to `seconds`) for the child to exit; its exit code, or -1 if still running.
  int wait_exit(double seconds) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return running() ? -1 : exit_code_;
  }

 private:
  TempDir tmp_;
  std::string log_;
  pid_t pid_ = -1;
  int port_ = 0;
  int exit_code_ = -1;
};

/// A TCP connection to 127.0.0.1:port for hand-made requests; -1 when the connection fails.
inline int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

inline bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

/// Everything the server sends until it closes the connection or 10 s pass.
inline std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

/// The status of a raw HTTP answer ("HTTP/1.1 413 ..." -> 413), 0 when there is none.
inline int status_of(const std::string& answer) {
  if (answer.rfind("HTTP/1.1 ", 0) != 0 || answer.size() < 12) return 0;
  return std::atoi(answer.substr(9, 3).c_str());
}

/// A PNG header (signature and IHDR) declaring w x h pixels, followed by no pixel data.
inline std::string png_claiming(uint32_t w, uint32_t h) {
  std::string b = "\x89PNG\r\n\x1a\n";
  b += std::string("\0\0\0\x0dIHDR", 8);
  for (uint32_t v : {w, h}) {
    for (int s = 24; s >= 0; s -= 8) b += static_cast<char>((v >> s) & 0xff);
  }
  b += std::string("\x08\x00\x00\x00\x00", 5) + std::string(64, '\0');
  return b;
}

/// A WAV header (8 kHz, 16-bit mono) declaring `data_bytes` of samples, followed by 256 zero bytes.
inline std::string wav_claiming(uint32_t data_bytes) {
  auto le = [](uint32_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
    return s;
  };
  return "RIFF" + le(data_bytes + 36, 4) + "WAVEfmt " + le(16, 4) + le(1, 2) + le(1, 2) +
         le(8000, 4) + le(16000, 4) + le(2, 2) + le(16, 2) + "data" + le(data_bytes, 4) +
         std::string(256, '\0');
}

/// `text` as one single-quoted shell word.
inline std::string shell_quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// `s` percent-encoded for a URL fragment (letters, digits and -_. kept).
inline std::string url_fragment_encode(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// The DOM headless Chromium renders for `url` once its scripts have run, or
/// "chromium failed: <command>".
inline std::string rendered_dom(const std::string& url) {
  TempDir dir;
  const std::string cmd = std::string(kChromium) +
                          " --headless --no-sandbox --disable-gpu --no-first-run"
                          " --disable-background-networking --disable-component-update"
                          " --user-data-dir=" +
                          dir.file("profile") + " --virtual-time-budget=20000 --dump-dom '" + url +
                          "' > " + dir.file("dom.html") + " 2>/dev/null";
  if (std::system(cmd.c_str()) != 0) return "chromium failed: " + cmd;
  return read_file(dir.file("dom.html"));
}

/// One test sample of the tiny run: its files and text, and the body of :predict.
struct Sample {
  std::string image, audio, text;  ///< file paths and the text ("" when absent)
  nlohmann::json body(bool image_on = true, bool audio_on = true, bool text_on = true) const {
    nlohmann::json b = nlohmann::json::object();
    if (image_on && !image.empty()) b["image"] = serve::base64_encode(read_file(image));
    if (audio_on && !audio.empty()) b["audio"] = serve::base64_encode(read_file(audio));
    if (text_on && !text.empty()) b["text"] = text;
    return b;
  }
};

/// The tiny run's test lines that have image, audio and text.
inline std::vector<Sample> tiny_samples() {
  const std::string dir = tiny_run().data_dir;
  std::ifstream in(dir + "/test.jsonl");
  std::vector<Sample> out;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (!j.contains("image") || !j.contains("audio") || !j.contains("text")) continue;
    out.push_back({dir + "/" + j["image"].get<std::string>(),
                   dir + "/" + j["audio"]["file"].get<std::string>(),
                   j["text"].get<std::string>()});
  }
  return out;
}

}  // namespace mmfuse::testing
