// `mmfuse serve` over a retrieval run with its index and a translation run (serve/task_runs.h):
// :search equal to `mmfuse search`, :translate equal to the files `mmfuse translate` writes, and
// multipart/form-data uploads answered as the same fields sent as JSON; :search on an ensemble
// of retrieval runs.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include "serve/task_runs.h"

namespace mmfuse::testing {
namespace {

using nlohmann::json;

json post_task_json(const ServeProcess& s, const std::string& path, const json& body, int* status) {
  auto r = s.client().Post(path.c_str(), body.dump(), "application/json");
  *status = r ? r->status : 0;
  return r ? json::parse(r->body, nullptr, false) : json();
}

/// Every result of two search answers agrees: same ids and rows in the same order, same scores.
void expect_same_results(const json& served, const json& cli) {
  ASSERT_EQ(served["results"].size(), cli["results"].size()) << served << "\n" << cli;
  for (std::size_t i = 0; i < cli["results"].size(); ++i) {
    const json& a = served["results"][i];
    const json& b = cli["results"][i];
    EXPECT_EQ(a["id"], b["id"]) << i;
    EXPECT_EQ(a["row"], b["row"]) << i;
    EXPECT_EQ(a["rank"], b["rank"]) << i;
    EXPECT_NEAR(a["score"].get<double>(), b["score"].get<double>(), 1e-5) << i;
  }
}

std::string task_serve_args() {
  const TaskRuns& t = shared_task_runs();
  return "--run ret=" + t.retrieval_run + " --index ret=" + t.index_dir +
         " --run gen=" + t.translate_run + " --run tiny=" + tiny_run().run_dir;
}

/// `route` (a :search) asked for the top 5 of a text query, as JSON: answers 200 with the results
/// `mmfuse search --index index --run run` gives (returns the served answer).
json expect_text_search_as_cli(const ServeProcess& server, const std::string& route,
                               const std::string& text, const std::string& index,
                               const std::string& run) {
  int status = 0;
  const json served = post_task_json(server, route, {{"text", text}, {"k", 5}}, &status);
  EXPECT_EQ(status, 200) << served;
  const json cli = run_mmfuse_json("search --index " + index + " --run " + run + " --k 5 --text " +
                                   shell_quote(text));
  EXPECT_FALSE(cli.contains("error")) << cli;
  if (status == 200 && !cli.contains("error")) expect_same_results(served, cli);
  return served;
}

TEST(ServeHttp, SearchEqualsTheCliForTextAndImageQueries) {
  MMFUSE_REQUIRE_SHARED_TASK_RUNS();
  const TaskRuns& t = shared_task_runs();
  ServeProcess server(task_serve_args());
  ASSERT_EQ(server.wait_until_up(), "");
  const auto samples = tiny_samples();
  ASSERT_GE(samples.size(), 2u);
  int status = 0;
  // A text query, as JSON.
  const json text = expect_text_search_as_cli(server, "/v1/models/ret:search", samples[0].text,
                                              t.index_dir, t.retrieval_run);
  EXPECT_EQ(text["query"]["modality"], "text");
  // An image query of the collection, as a multipart upload with thumbnails: it finds itself
  // first (cosine 1), and each hit carries a PNG preview 64 pixels a side.
  const std::string image = read_file(samples[1].image);
  auto r = server.client().Post(
      "/v1/models/ret:search",
      httplib::MultipartFormDataItems{{"image", image, "query.png", "image/png"},
                                      {"k", "3", "", ""},
                                      {"thumbnails", "true", "", ""}});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json hits = json::parse(r->body);
  const json cli_image = run_mmfuse_json("search --index " + t.index_dir + " --run " +
                                         t.retrieval_run + " --k 3 --image " + samples[1].image);
  ASSERT_FALSE(cli_image.contains("error")) << cli_image;
  expect_same_results(hits, cli_image);
  EXPECT_NEAR(hits["results"][0]["score"].get<double>(), 1.0, 1e-4);
  const std::string uri = hits["results"][0].value("thumbnail", "");
  const std::string prefix = "data:image/png;base64,";
  ASSERT_EQ(uri.rfind(prefix, 0), 0u) << hits["results"][0];
  const std::string png = serve::base64_decode(uri.substr(prefix.size()), "thumbnail");
  const cv::Mat thumb = cv::imdecode(std::vector<uchar>(png.begin(), png.end()), cv::IMREAD_COLOR);
  EXPECT_EQ(thumb.rows, 64);
  EXPECT_EQ(thumb.cols, 64);

  // Two queries, a bad k, and runs of other tasks: 400 naming the field or the route to use.
  json err = post_task_json(server, "/v1/models/ret:search",
                            {{"text", "one"}, {"image", samples[0].body()["image"]}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(err["error"].get<std::string>().find("exactly one query"), std::string::npos) << err;
  err = post_task_json(server, "/v1/models/ret:search", {{"text", "one"}, {"k", 0}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(err["error"].get<std::string>().find("k"), std::string::npos) << err;
  err = post_task_json(server, "/v1/models/tiny:search", {{"text", "one"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(err["error"].get<std::string>().find(":predict"), std::string::npos) << err;
  err = post_task_json(server, "/v1/models/ret:predict", {{"text", "one"}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(err["error"].get<std::string>().find(":search"), std::string::npos) << err;
}

TEST(ServeHttp, SearchOnARetrievalEnsembleAnswersAsItsMember) {
  // An ensemble of the retrieval run with itself (`mmfuse ensemble`) scores every pair as the
  // run does: served with an index of its own, :search answers as `mmfuse search` on the run.
  MMFUSE_REQUIRE_SHARED_TASK_RUNS();
  const TaskRuns& t = shared_task_runs();
  TempDir d;
  auto made = run_mmfuse("-q ensemble --runs " + t.retrieval_run + " " + t.retrieval_run +
                         " --out " + d.file("ens"));
  ASSERT_EQ(made.exit_code, 0) << made.output;
  made = run_mmfuse("-q index build --run " + d.file("ens") + " --data " + t.test_manifest +
                    " --modality image --out " + d.file("idx") + " > /dev/null");
  ASSERT_EQ(made.exit_code, 0) << made.output;
  ServeProcess server("--run ens=" + d.file("ens") + " --index ens=" + d.file("idx"));
  ASSERT_EQ(server.wait_until_up(), "");
  const auto samples = tiny_samples();
  ASSERT_FALSE(samples.empty());
  expect_text_search_as_cli(server, "/v1/models/ens:search", samples[0].text, t.index_dir,
                            t.retrieval_run);
}

TEST(ServeHttp, AnIndexThatDoesNotFitItsRunStopsTheServerWithTheFix) {
  MMFUSE_REQUIRE_SHARED_TASK_RUNS();
  const TaskRuns& t = shared_task_runs();
  ServeProcess wrong_task("--run tiny=" + tiny_run().run_dir + " --index " + t.index_dir);
  EXPECT_EQ(wrong_task.wait_exit(60), 2);
  EXPECT_NE(wrong_task.log().find("indexes belong to retrieval runs"), std::string::npos)
      << wrong_task.log();
  ServeProcess unknown("--run ret=" + t.retrieval_run + " --index other=" + t.index_dir);
  EXPECT_EQ(unknown.wait_exit(60), 2);
  EXPECT_NE(unknown.log().find("no model 'other'"), std::string::npos) << unknown.log();
}

TEST(ServeHttp, TranslateAnswersThePngAndWavTheCliWrites) {
  MMFUSE_REQUIRE_SHARED_TASK_RUNS();
  const TaskRuns& t = shared_task_runs();
  ServeProcess server(task_serve_args());
  ASSERT_EQ(server.wait_until_up(), "");
  const Sample s = tiny_samples().front();
  TempDir tmp;
  const json cli =
      run_mmfuse_json("translate --run " + t.translate_run + " --image " + s.image + " --out " +
                      tmp.file("cli.png") + " --wav " + tmp.file("cli.wav"));
  ASSERT_FALSE(cli.contains("error")) << cli;
  const std::string png = read_file(tmp.file("cli.png")), wav = read_file(tmp.file("cli.wav"));
  // JSON: both files base64, byte for byte.
  int status = 0;
  const json answer =
      post_task_json(server, "/v1/models/gen:translate", {{"image", s.body()["image"]}}, &status);
  ASSERT_EQ(status, 200) << answer;
  EXPECT_EQ(answer["source"], "image");
  EXPECT_EQ(answer["target"], "audio");
  EXPECT_EQ(answer["shape"], cli["shape"]);
  EXPECT_TRUE(serve::base64_decode(answer["png"].get<std::string>(), "png") == png);
  EXPECT_TRUE(serve::base64_decode(answer["wav"].get<std::string>(), "wav") == wav);
  // Raw bytes when the client asks for them, as a multipart upload too.
  const httplib::MultipartFormDataItems form = {{"image", read_file(s.image), "x.png", ""}};
  auto raw_png = server.client().Post("/v1/models/gen:translate", {{"Accept", "image/png"}}, form);
  ASSERT_TRUE(raw_png);
  EXPECT_EQ(raw_png->status, 200);
  EXPECT_EQ(raw_png->get_header_value("Content-Type"), "image/png");
  EXPECT_TRUE(raw_png->body == png);
  auto raw_wav = server.client().Post("/v1/models/gen:translate", {{"Accept", "audio/wav"}}, form);
  ASSERT_TRUE(raw_wav);
  EXPECT_EQ(raw_wav->status, 200);
  EXPECT_EQ(raw_wav->get_header_value("Content-Type"), "audio/wav");
  EXPECT_TRUE(raw_wav->body == wav);
  // The wrong source modality names the one the run takes.
  const json err = post_task_json(server, "/v1/models/gen:translate", {{"text", s.text}}, &status);
  EXPECT_EQ(status, 400);
  EXPECT_NE(err["error"].get<std::string>().find("translates image to audio"), std::string::npos)
      << err;
}

TEST(ServeHttp, MultipartPredictAnswersAsTheJsonBody) {
  MMFUSE_REQUIRE_TINY_RUN();
  ServeProcess server("--run tiny=" + tiny_run().run_dir);
  ASSERT_EQ(server.wait_until_up(), "");
  for (const Sample& s : tiny_samples()) {
    int status = 0;
    const json via_json = post_task_json(server, "/v1/models/tiny:predict", s.body(), &status);
    ASSERT_EQ(status, 200) << via_json;
    auto r = server.client().Post(
        "/v1/models/tiny:predict",
        httplib::MultipartFormDataItems{{"image", read_file(s.image), "digit.png", "image/png"},
                                        {"audio", read_file(s.audio), "digit.wav", "audio/wav"},
                                        {"text", s.text, "", ""}});
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body), via_json);
  }
  auto bad =
      server.client().Post("/v1/models/tiny:predict",
                           httplib::MultipartFormDataItems{{"picture", "x", "x.png", "image/png"}});
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("picture"), std::string::npos) << bad->body;
  auto garbage = server.client().Post(
      "/v1/models/tiny:predict",
      httplib::MultipartFormDataItems{{"image", "not an image at all", "x.png", "image/png"}});
  ASSERT_TRUE(garbage);
  EXPECT_EQ(garbage->status, 400) << garbage->body;
}

/// The DOM headless Chromium renders for the page at `fragment` once its scripts have run.
std::string rendered_page(const ServeProcess& server, const std::string& fragment) {
  return rendered_dom("http://127.0.0.1:" + std::to_string(server.port()) + "/#" + fragment);
}

TEST(ServeHttp, WebPageShowsNeighboursAndTheGeneratedImageInChromium) {
  MMFUSE_REQUIRE_SHARED_TASK_RUNS();
  MMFUSE_REQUIRE(missing_chromium());
  ServeProcess server(task_serve_args());
  ASSERT_EQ(server.wait_until_up(), "");
  const Sample s = tiny_samples().front();
  int status = 0;
  // Retrieval: the page's neighbours are the API's, in its order, each with its thumbnail.
  const json api =
      post_task_json(server, "/v1/models/ret:search", {{"text", s.text}, {"k", 4}}, &status);
  ASSERT_EQ(status, 200) << api;
  std::string dom =
      rendered_page(server, "model=ret&k=4&run=1&text=" + url_fragment_encode(s.text));
  ASSERT_NE(dom.find("data-state=\"done\""), std::string::npos) << dom.substr(0, 4000);
  // Only the rendered results count (the page's script, further down, spells the markup too).
  const std::string results = dom.substr(0, dom.find("<script"));
  std::vector<std::string> shown;
  const std::regex hit("class=\"hit\" data-id=\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(results.begin(), results.end(), hit);
       it != std::sregex_iterator(); ++it) {
    shown.push_back((*it)[1]);
  }
  std::vector<std::string> expected;
  for (const auto& r : api["results"]) expected.push_back(r["id"].get<std::string>());
  EXPECT_EQ(shown, expected);
  EXPECT_NE(dom.find("class=\"thumb\" alt=\"\" src=\"data:image/png;base64,"), std::string::npos);
  // Translation: the page shows the PNG the API generates, and a player for its sound.
  const json gen =
      post_task_json(server, "/v1/models/gen:translate", {{"image", s.body()["image"]}}, &status);
  ASSERT_EQ(status, 200) << gen;
  dom = rendered_page(
      server, "model=gen&run=1&image=" + url_fragment_encode(s.body()["image"].get<std::string>()));
  std::smatch img;
  ASSERT_TRUE(std::regex_search(
      dom, img,
      std::regex("id=\"generated\" alt=\"generated\" src=\"data:image/png;base64,([^\"]*)\"")))
      << dom.substr(0, 4000);
  EXPECT_EQ(img[1].str(), gen["png"].get<std::string>());
  EXPECT_NE(dom.find("id=\"generated-sound\""), std::string::npos);
}

}  // namespace
}  // namespace mmfuse::testing
