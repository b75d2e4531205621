// What a client can do wrong against a live `mmfuse serve`: the JSON errors with their statuses
// (401, 400 naming the field, 404, 413 before decoding, 503 with Retry-After), a malformed-request
// corpus that must never crash the server, and SIGTERM draining a request in flight.
#include <gtest/gtest.h>

#include "serve/serve_fixture.h"

namespace mmfuse::testing {
namespace {

using nlohmann::json;

std::string raw_request(const std::string& path, const std::string& body,
                        const std::string& headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
         "Content-Length: " + std::to_string(body.size()) + "\r\n" + headers + "\r\n" + body;
}

/// A multipart/form-data POST of `body` (parts separated by --XB) to `path`.
std::string raw_form_request(const std::string& path, const std::string& body,
                             const std::string& content_type = "multipart/form-data; boundary=XB") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// One multipart part named `name` holding `content`.
std::string form_part(const std::string& name, const std::string& content) {
  return "--XB\r\nContent-Disposition: form-data; name=\"" + name + "\"; filename=\"f\"\r\n\r\n" +
         content + "\r\n";
}

/// One answer read from `fd`: headers, then Content-Length bytes of body (or until closed).
std::string read_response(int fd) {
  std::string out;
  char buf[4096];
  std::size_t need = std::string::npos;
  while (need == std::string::npos || out.size() < need) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    const auto end = out.find("\r\n\r\n");
    if (need == std::string::npos && end != std::string::npos) {
      std::smatch m;
      const std::string head = out.substr(0, end);
      need = std::regex_search(head, m, std::regex("Content-Length: (\\d+)", std::regex::icase))
                 ? end + 4 + std::stoul(m[1])
                 : std::string::npos;
      if (need == std::string::npos) break;
    }
  }
  return out;
}

/// Sends `bytes` on a fresh connection and returns the answer (empty when none came).
std::string exchange(int port, const std::string& bytes) {
  const int fd = connect_to(port);
  if (fd < 0) return "";
  send_all(fd, bytes);
  std::string answer = read_response(fd);
  ::close(fd);
  return answer;
}

std::string body_of(const std::string& answer) {
  const auto end = answer.find("\r\n\r\n");
  return end == std::string::npos ? "" : answer.substr(end + 4);
}

const std::string kPredict = "/v1/models/tiny:predict";

std::string args_for(const std::string& extra) {
  return "--run tiny=" + tiny_run().run_dir + " " + extra;
}

struct Case {
  std::string name;
  std::string bytes;
  int status;  ///< expected; 0: any answer or none (but the server lives on)
  std::string mentions;
};

std::vector<Case> corpus(const Sample& s) {
  const std::string image = serve::base64_encode(read_file(s.image));
  std::vector<Case> c;
  c.push_back({"truncated JSON", raw_request(kPredict, "{\"image\": \"" + image.substr(0, 40)), 400,
               "malformed JSON"});
  c.push_back({"10,000-level arrays",
               raw_request(kPredict, std::string(10000, '[') + std::string(10000, ']')), 400,
               "nested deeper"});
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  c.push_back({"10,000-level objects",
               raw_request(kPredict, objects + "1" + std::string(10000, '}')), 400,
               "nested deeper"});
  c.push_back({"base64 garbage", raw_request(kPredict, R"({"image": "!!!!####%%%%"})"), 400,
               "field 'image'"});
  c.push_back(
      {"PNG claiming 100000 x 100000",
       raw_request(kPredict,
                   json{{"image", serve::base64_encode(png_claiming(100000, 100000))}}.dump()),
       413, "100000 x 100000"});
  c.push_back({"WAV claiming 4 GB",
               raw_request(kPredict,
                           json{{"audio", serve::base64_encode(wav_claiming(0xFFFFFFF0u))}}.dump()),
               413, "field 'audio'"});
  c.push_back(
      {"PNG header, no pixels",
       raw_request(kPredict, json{{"image", serve::base64_encode(png_claiming(28, 28))}}.dump()),
       400, "field 'image'"});
  c.push_back(
      {"WAV header, no samples",
       raw_request(kPredict, json{{"audio", serve::base64_encode(wav_claiming(16000))}}.dump()),
       400, "field 'audio'"});
  c.push_back({"not an object", raw_request(kPredict, "[1, 2, 3]"), 400, "JSON object"});
  c.push_back(
      {"image is a number", raw_request(kPredict, R"({"image": 42})"), 400, "field 'image'"});
  c.push_back(
      {"text is an array", raw_request(kPredict, R"({"text": ["a"]})"), 400, "field 'text'"});
  c.push_back({"unknown field", raw_request(kPredict, R"({"imgae": "x"})"), 400, "imgae"});
  c.push_back(
      {"modality the run lacks", raw_request(kPredict, R"({"tabular": [1, 2]})"), 400, "tabular"});
  c.push_back({"empty body", raw_request(kPredict, ""), 400, "empty body"});
  c.push_back(
      {"invalid UTF-8", raw_request(kPredict, "{\"text\": \"\xff\xfe\"}"), 400, "malformed JSON"});
  c.push_back({"text above the cap",
               raw_request(kPredict, json{{"text", std::string(100000, 'a')}}.dump()), 413,
               "field 'text'"});
  c.push_back(
      {"v2 huge shape",
       raw_request(
           "/v2/models/tiny/infer",
           R"({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1000000000], "data": ["a"]}]})"),
       400, "at most"});
  c.push_back(
      {"v2 shape and data disagree",
       raw_request(
           "/v2/models/tiny/infer",
           R"({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": ["a"]}]})"),
       400, "shape"});
  c.push_back(
      {"v2 negative shape",
       raw_request(
           "/v2/models/tiny/infer",
           R"({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [-1], "data": []}]})"),
       400, "shape"});
  c.push_back(
      {"chunked body",
       "POST " + kPredict +
           " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
       400, "chunked"});
  c.push_back({"gzip body", raw_request(kPredict, "\x1f\x8b garbage", "Content-Encoding: gzip\r\n"),
               400, "Content-Encoding"});
  c.push_back({"bad Content-Length",
               "POST " + kPredict + " HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", 413, ""});
  c.push_back({"garbage request line", "GARBAGE\r\n\r\n", 400, ""});
  c.push_back({"100 KB header",
               "GET /v2 HTTP/1.1\r\nX-Big: " + std::string(100000, 'x') + "\r\n\r\n", 0, ""});
  c.push_back({"no route", "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n", 404, "no route"});
  c.push_back(
      {"multipart without boundary",
       raw_form_request(kPredict, form_part("text", "a") + "--XB--\r\n", "multipart/form-data"),
       400, ""});
  c.push_back({"truncated multipart",
               raw_form_request(kPredict, "--XB\r\nContent-Disposition: form-data; name=\"te"), 400,
               ""});
  c.push_back({"multipart garbage image",
               raw_form_request(kPredict, form_part("image", "garbage") + "--XB--\r\n"), 400,
               "field 'image'"});
  c.push_back(
      {"multipart PNG claiming 100000 x 100000",
       raw_form_request(kPredict, form_part("image", png_claiming(100000, 100000)) + "--XB--\r\n"),
       413, "100000 x 100000"});
  c.push_back({"multipart unknown part",
               raw_form_request(kPredict, form_part("picture", "x") + "--XB--\r\n"), 400,
               "picture"});
  c.push_back({"search without a query", raw_request("/v1/models/tiny:search", R"({"k": 3})"), 400,
               "no input"});
  return c;
}

TEST(ServeHttp, MalformedRequestCorpusNeverCrashesTheServer) {
  MMFUSE_REQUIRE_TINY_RUN();
  ServeProcess server(args_for("--no-access-log"));
  ASSERT_EQ(server.wait_until_up(), "");
  const Sample sample = tiny_samples().front();
  for (const Case& c : corpus(sample)) {
    const std::string answer = exchange(server.port(), c.bytes);
    ASSERT_TRUE(server.running()) << c.name << " crashed the server:\n" << server.log();
    if (c.status == 0) continue;
    EXPECT_EQ(status_of(answer), c.status) << c.name << ":\n" << answer.substr(0, 400);
    const json err = json::parse(body_of(answer), nullptr, false);
    ASSERT_TRUE(err.is_object() && err.contains("error"))
        << c.name << ": " << answer.substr(0, 400);
    EXPECT_NE(err["error"].get<std::string>().find(c.mentions), std::string::npos)
        << c.name << ": " << err["error"];
  }
  // A 50 MB body: refused from its Content-Length, before it is read; the rest of it goes
  // nowhere.
  {
    const int fd = connect_to(server.port());
    ASSERT_GE(fd, 0);
    send_all(fd, "POST " + kPredict + " HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n");
    const std::string answer = read_response(fd);
    send_all(fd, std::string(1 << 20, '{'));
    ::close(fd);
    EXPECT_EQ(status_of(answer), 413) << answer.substr(0, 300);
  }
  // Slow headers and a half-closed connection stay open while others are served.
  const int slow = connect_to(server.port());
  ASSERT_GE(slow, 0);
  send_all(slow, "POST " + kPredict + " HTTP/1.1\r\nHost: x\r\nContent-Le");
  const int half = connect_to(server.port());
  ASSERT_GE(half, 0);
  send_all(half, raw_request(kPredict, sample.body().dump()).substr(0, 100));
  ::shutdown(half, SHUT_WR);
  auto r = server.client().Post(kPredict.c_str(), sample.body().dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_TRUE(json::parse(r->body)["targets"].contains("digit"));
  read_all(half);  // the server closes it
  ::close(half);
  ::close(slow);
  EXPECT_TRUE(server.running()) << server.log();
}

TEST(ServeHttp, ErrorsAreJsonWithTheirStatus) {
  MMFUSE_REQUIRE_TINY_RUN();
  TempDir tmp;
  std::ofstream(tmp.file("key")) << "s3cret-key\n";
  ServeProcess server(args_for("--api-key-file " + tmp.file("key") + " --max-body-mb 1"));
  ASSERT_EQ(server.wait_until_up(), "");
  const std::string body = tiny_samples().front().body().dump();
  auto c = server.client();
  // 401 without the key or with a wrong one; health stays public; both header forms work.
  auto r = c.Post(kPredict.c_str(), body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("API key"), std::string::npos);
  r = c.Post(kPredict.c_str(), {{"Authorization", "Bearer wrong"}}, body, "application/json");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(c.Get("/metrics")->status, 401);
  EXPECT_EQ(c.Get("/v2/health/live")->status, 200);
  EXPECT_EQ(c.Get("/v2/health/ready")->status, 200);
  r = c.Post(kPredict.c_str(), {{"Authorization", "Bearer s3cret-key"}}, body, "application/json");
  EXPECT_EQ(r->status, 200) << r->body;
  r = c.Post(kPredict.c_str(), {{"X-Api-Key", "s3cret-key"}}, body, "application/json");
  EXPECT_EQ(r->status, 200) << r->body;
  const httplib::Headers key = {{"X-Api-Key", "s3cret-key"}};
  // 413 from the Content-Length alone (the cap is 1 MB).
  const std::string answer = exchange(
      server.port(), "POST " + kPredict + " HTTP/1.1\r\nHost: x\r\nX-Api-Key: s3cret-key\r\n" +
                         "Content-Length: 2000000\r\n\r\n");
  EXPECT_EQ(status_of(answer), 413) << answer;
  EXPECT_NE(body_of(answer).find("--max-body-mb"), std::string::npos) << answer;
  // 400 naming the field; 404 for an unknown model and route.
  r = c.Post(kPredict.c_str(), key, R"({"audio": "not base64!"})", "application/json");
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("field 'audio'"), std::string::npos) << r->body;
  r = c.Post("/v1/models/other:predict", key, body, "application/json");
  EXPECT_EQ(r->status, 404);
  EXPECT_NE(r->body.find("serves: tiny"), std::string::npos) << r->body;
  r = c.Get("/v3/nothing", key);
  EXPECT_EQ(r->status, 404);
  EXPECT_TRUE(json::parse(r->body).contains("error")) << r->body;

  // 503 with Retry-After when the queue is full (here it holds nothing).
  ServeProcess full(args_for("--max-queue 0"));
  ASSERT_EQ(full.wait_until_up(), "");
  r = full.client().Post(kPredict.c_str(), body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("queue is full"),
            std::string::npos);
}

TEST(ServeHttp, SigtermDrainsTheRequestInFlightAndExitsZero) {
  MMFUSE_REQUIRE_TINY_RUN();
  ServeProcess server(args_for(""));
  ASSERT_EQ(server.wait_until_up(), "");
  const std::string request = raw_request(kPredict, tiny_samples().front().body().dump());
  const int fd = connect_to(server.port());
  ASSERT_GE(fd, 0);
  const std::size_t half = request.size() / 2;
  ASSERT_TRUE(send_all(fd, request.substr(0, half)));  // in flight: headers and half the body
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_EQ(::kill(server.pid(), SIGTERM), 0);
  // New connections are refused once the signal is handled ...
  bool refused = false;
  for (int i = 0; i < 500 && !refused; ++i) {
    const int other = connect_to(server.port());
    refused = other < 0;
    if (other >= 0) ::close(other);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(refused);
  // ... while the request in flight is still answered, then the server exits 0.
  ASSERT_TRUE(send_all(fd, request.substr(half)));
  const std::string answer = read_response(fd);
  ::close(fd);
  EXPECT_EQ(status_of(answer), 200) << answer;
  EXPECT_TRUE(json::parse(body_of(answer), nullptr, false).contains("targets")) << answer;
  EXPECT_EQ(server.wait_exit(30), 0) << server.log();
  EXPECT_NE(server.log().find("draining"), std::string::npos);
}

}  // namespace
}  // namespace mmfuse::testing
