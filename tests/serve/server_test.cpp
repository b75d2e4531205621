// `mmfuse serve` as a child process on an ephemeral port, over the tiny trained run of the
// built-in dataset: probes and metadata, :predict equal to `mmfuse predict`, missing modalities,
// KServe v2 infer, 100 concurrent clients batched together, the error statuses, SIGTERM drain.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "mmfuse/runtime/predictor.h"
#include "serve/serve_fixture.h"

namespace mmfuse::testing {
namespace {

using nlohmann::json;

std::string serve_args(const std::string& extra = "") {
  return "--run tiny=" + tiny_run().run_dir + " --max-delay-ms 50 " + extra;
}

json post_json(const ServeProcess& s, const std::string& path, const json& body,
               int* status = nullptr, const httplib::Headers& headers = {}) {
  auto r = s.client().Post(path.c_str(), headers, body.dump(), "application/json");
  if (!r) {
    if (status) *status = 0;
    return json();
  }
  if (status) *status = r->status;
  return json::parse(r->body, nullptr, false);
}

json get_json(const ServeProcess& s, const std::string& path, int* status = nullptr) {
  auto r = s.client().Get(path.c_str());
  if (status) *status = r ? r->status : 0;
  return r ? json::parse(r->body, nullptr, false) : json();
}

/// The largest difference between two prediction JSONs (classes must agree).
double prediction_diff(const json& a, const json& b) {
  EXPECT_EQ(a["modalities"], b["modalities"]);
  double d = 0;
  for (const auto& [target, pa] : a["targets"].items()) {
    const json& pb = b["targets"][target];
    if (pa["kind"] == "classification") {
      EXPECT_EQ(pa["class"], pb["class"]) << target;
      for (const auto& [c, p] : pa["probabilities"].items()) {
        d = std::max(d, std::abs(p.get<double>() - pb["probabilities"][c].get<double>()));
      }
    } else {
      for (std::size_t i = 0; i < pa["value"].size(); ++i) {
        d = std::max(d, std::abs(pa["value"][i].get<double>() - pb["value"][i].get<double>()));
      }
    }
  }
  return d;
}

json cli_predict(const Sample& s, bool image, bool audio, bool text) {
  std::string args = "predict --run " + tiny_run().run_dir;
  if (image) args += " --image " + s.image;
  if (audio) args += " --audio " + s.audio;
  if (text) args += " --text " + shell_quote(s.text);
  return run_mmfuse_json(args);
}

TEST(ServeHttp, ProbesMetadataAndPredictionsEqualToTheCli) {
  MMFUSE_REQUIRE_TINY_RUN();
  ServeProcess server(serve_args());
  ASSERT_EQ(server.wait_until_up(), "");
  int status = 0;
  EXPECT_EQ(get_json(server, "/v2/health/live", &status)["live"], true);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(get_json(server, "/v2/health/ready", &status)["ready"], true);
  EXPECT_EQ(get_json(server, "/v2", &status)["name"], "mmfuse");

  const json meta = get_json(server, "/v2/models/tiny", &status);
  ASSERT_EQ(status, 200) << meta;
  std::vector<std::string> inputs, outputs;
  for (const auto& i : meta["inputs"]) inputs.push_back(i["name"]);
  for (const auto& o : meta["outputs"]) outputs.push_back(o["name"]);
  EXPECT_EQ(inputs, (std::vector<std::string>{"image", "audio", "text"}));
  EXPECT_EQ(outputs, (std::vector<std::string>{"digit", "digit_class", "value"}));
  EXPECT_EQ(meta["outputs"][0]["shape"], json({-1, 10}));
  EXPECT_EQ(meta["inputs"][0]["datatype"], "BYTES");

  const json missing = get_json(server, "/v2/models/nope", &status);
  EXPECT_EQ(status, 404);
  EXPECT_NE(missing["error"].get<std::string>().find("serves: tiny"), std::string::npos);

  // :predict equals `mmfuse predict` on the same files, with every modality and with some left out.
  const auto samples = tiny_samples();
  ASSERT_GE(samples.size(), 2u);
  const std::vector<std::array<bool, 3>> subsets = {
      {true, true, true}, {true, false, false}, {false, true, true}, {false, false, true}};
  std::set<std::string> classes;
  for (std::size_t k = 0; k < subsets.size(); ++k) {
    const Sample& s = samples[k % samples.size()];
    const auto [im, au, tx] = subsets[k];
    const json served = post_json(server, "/v1/models/tiny:predict", s.body(im, au, tx), &status);
    ASSERT_EQ(status, 200) << served;
    const json cli = cli_predict(s, im, au, tx);
    ASSERT_FALSE(cli.contains("error")) << cli;
    EXPECT_LE(prediction_diff(served, cli), 1e-6) << served << "\n" << cli;
    classes.insert(served["targets"]["digit"]["class"].get<std::string>());
  }

  // KServe v2 infer: a batch of two in one request, each equal to its :predict answer.
  const json one = samples[0].body(), two = samples[1].body(true, false, true);
  const json v2 = {{"id", "req-7"},
                   {"inputs",
                    {{{"name", "image"},
                      {"datatype", "BYTES"},
                      {"shape", {2}},
                      {"data", {one["image"], two["image"]}}},
                     {{"name", "text"},
                      {"datatype", "BYTES"},
                      {"shape", {2}},
                      {"data", {one["text"], two["text"]}}}}}};
  const json answer = post_json(server, "/v2/models/tiny/infer", v2, &status);
  ASSERT_EQ(status, 200) << answer;
  EXPECT_EQ(answer["id"], "req-7");
  const json p0 = post_json(server, "/v1/models/tiny:predict",
                            {{"image", one["image"]}, {"text", one["text"]}});
  const json p1 = post_json(server, "/v1/models/tiny:predict",
                            {{"image", two["image"]}, {"text", two["text"]}});
  ASSERT_EQ(answer["outputs"][0]["name"], "digit");
  ASSERT_EQ(answer["outputs"][0]["shape"], json({2, 10}));
  ASSERT_EQ(answer["outputs"][1]["data"],
            json({p0["targets"]["digit"]["class"], p1["targets"]["digit"]["class"]}));
  const json& probs = answer["outputs"][0]["data"];
  for (int c = 0; c < 10; ++c) {
    EXPECT_NEAR(probs[c].get<double>(),
                p0["targets"]["digit"]["probabilities"][std::to_string(c)].get<double>(), 1e-5);
    EXPECT_NEAR(probs[10 + c].get<double>(),
                p1["targets"]["digit"]["probabilities"][std::to_string(c)].get<double>(), 1e-5);
  }
}

TEST(ServeHttp, HundredConcurrentClientsGetTheirOwnAnswersFromSharedBatches) {
  MMFUSE_REQUIRE_TINY_RUN();
  ServeProcess server(serve_args());
  ASSERT_EQ(server.wait_until_up(), "");
  const auto samples = tiny_samples();
  ASSERT_GE(samples.size(), 3u);
  // Each client sends its own sample and modality subset; the expected answer is that request
  // predicted alone, in this process.
  const runtime::Predictor predictor(runtime::load_run(tiny_run().run_dir));
  constexpr int kClients = 100;
  std::vector<json> bodies(kClients), expected(kClients), got(kClients);
  std::set<std::string> distinct;
  for (int i = 0; i < kClients; ++i) {
    const int subset = 1 + i % 7;  // bit 0 image, 1 audio, 2 text
    const Sample& s = samples[i % samples.size()];
    bodies[i] = s.body(subset & 1, subset & 2, subset & 4);
    runtime::Request r;
    if (subset & 1) r.image = runtime::EncodedFile::read(s.image);
    if (subset & 2) r.audio = runtime::EncodedFile::read(s.audio);
    if (subset & 4) r.text = s.text;
    expected[i] = predictor.predict(std::vector<runtime::Request>{r}).front().to_json();
    distinct.insert(expected[i].dump());
  }
  EXPECT_GT(distinct.size(), 20u);
  std::atomic<int> waiting{kClients};
  std::vector<int> status(kClients, 0);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      --waiting;
      while (waiting > 0) std::this_thread::yield();
      got[i] = post_json(server, "/v1/models/tiny:predict", bodies[i], &status[i]);
    });
  }
  for (auto& t : clients) t.join();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_EQ(status[i], 200) << "client " << i << ": " << got[i];
    EXPECT_LE(prediction_diff(got[i], expected[i]), 1e-5) << "client " << i;
  }
  // Batching is real: some forwards ran more than one request. A request is counted once its
  // response is written, after its client may already have read it: wait for the hundredth.
  const std::regex ok_re(R"(mmfuse_requests_total\{route="v1_predict",status="200"\} (\d+))");
  std::string m;
  std::smatch ok;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  do {
    auto r = server.client().Get("/metrics");
    ASSERT_TRUE(r);
    m = r->body;
    if (std::regex_search(m, ok, ok_re) && std::stoi(ok[1]) >= kClients) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  } while (std::chrono::steady_clock::now() < deadline);
  ASSERT_TRUE(std::regex_search(m, ok, ok_re)) << m;
  EXPECT_EQ(std::stoi(ok[1]), kClients);
  std::smatch one, count;
  ASSERT_TRUE(std::regex_search(
      m, one, std::regex(R"(mmfuse_batch_size_bucket\{model="tiny",le="1"\} (\d+))")));
  ASSERT_TRUE(
      std::regex_search(m, count, std::regex(R"(mmfuse_batch_size_count\{model="tiny"\} (\d+))")));
  EXPECT_LT(std::stoi(one[1]), std::stoi(count[1])) << m;
  std::smatch sum;
  ASSERT_TRUE(
      std::regex_search(m, sum, std::regex(R"(mmfuse_batch_size_sum\{model="tiny"\} (\d+))")));
  EXPECT_EQ(std::stoi(sum[1]), kClients);  // every request ran in exactly one forward
}

}  // namespace
}  // namespace mmfuse::testing

namespace mmfuse::testing {
namespace {

TEST(ServeHttp, WebPageShowsTheApisPredictionInChromium) {
  MMFUSE_REQUIRE_TINY_RUN();
  MMFUSE_REQUIRE(missing_chromium());
  ServeProcess server(serve_args());
  ASSERT_EQ(server.wait_until_up(), "");
  auto page = server.client().Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->body.find("src=\"http"), std::string::npos);  // nothing fetched from elsewhere
  const Sample s = tiny_samples().back();
  const json body = s.body(true, true, false);  // image and audio
  const json api = post_json(server, "/v1/models/tiny:predict", body);
  ASSERT_TRUE(api.contains("targets")) << api;
  const std::string dom = rendered_dom("http://127.0.0.1:" + std::to_string(server.port()) +
                                       "/#model=tiny&image=" + url_fragment_encode(body["image"]) +
                                       "&audio=" + url_fragment_encode(body["audio"]) + "&run=1");
  ASSERT_EQ(dom.rfind("chromium failed", 0), std::string::npos) << dom;
  std::smatch state, shown;
  ASSERT_TRUE(std::regex_search(dom, state, std::regex("id=\"result\" data-state=\"(\\w+)\"")))
      << dom.substr(0, 2000);
  ASSERT_EQ(state[1], "done") << dom.substr(0, 4000);
  ASSERT_TRUE(std::regex_search(dom, shown,
                                std::regex("data-target=\"digit\" class=\"prediction\">([^<]*)<")));
  EXPECT_EQ(shown[1].str(), api["targets"]["digit"]["class"].get<std::string>());
  // The page also shows the prediction with each modality left out.
  EXPECT_NE(dom.find("without image"), std::string::npos);
  EXPECT_NE(dom.find("without audio"), std::string::npos);
}

}  // namespace
}  // namespace mmfuse::testing
