// The serve layer's parts without a server: base64, header caps, body parsing, metrics text,
// route names and keys, error statuses.
#include <gtest/gtest.h>

#include <random>

#include "mmfuse/core/error.h"
#include "mmfuse/runtime/batcher.h"
#include "mmfuse/serve/access.h"
#include "mmfuse/serve/base64.h"
#include "mmfuse/serve/errors.h"
#include "mmfuse/serve/json_input.h"
#include "mmfuse/serve/metrics.h"
#include "mmfuse/serve/payload_limits.h"
#include "serve/serve_fixture.h"

namespace mmfuse::serve {
namespace {

using nlohmann::json;
using testing::png_claiming;
using testing::wav_claiming;

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(Base64, RoundTripsEveryLengthAndTheRfcVectors) {
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_decode("Zm9vYg", "x"), "foob");  // padding optional
  EXPECT_EQ(base64_decode("data:image/png;base64,Zm9v", "x"), "foo");
  std::mt19937 rng(3);
  for (int n = 0; n < 40; ++n) {
    std::string bytes(n, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
    EXPECT_EQ(base64_decode(base64_encode(bytes), "x"), bytes) << n;
  }
}

TEST(Base64, GarbageNamesTheFieldAndTheCharacter) {
  const std::string e = error_of([] { base64_decode("Zm9v!mFy", "image"); });
  EXPECT_NE(e.find("field 'image'"), std::string::npos) << e;
  EXPECT_NE(e.find("'!' at character 4"), std::string::npos) << e;
  EXPECT_NE(error_of([] { base64_decode("Zm9vY", "audio"); }).find("truncated"), std::string::npos);
}

TEST(PayloadLimits, HeadersGiveTheSizeBeforeDecoding) {
  EXPECT_EQ(probe_image(png_claiming(640, 480), "image").width, 640);
  EXPECT_EQ(probe_image(png_claiming(640, 480), "image").height, 480);
  // JPEG: an APP0 segment, then a baseline frame header of 256 rows x 512 columns.
  std::string jpeg = "\xFF\xD8\xFF\xE0" + std::string("\x00\x10", 2) + std::string(14, 'j');
  jpeg += std::string("\xFF\xC0\x00\x11\x08\x01\x00\x02\x00\x03", 10) + std::string(16, '\0');
  const ImageHeader j = probe_image(jpeg, "image");
  EXPECT_EQ(j.format, "jpeg");
  EXPECT_EQ(j.width, 512);
  EXPECT_EQ(j.height, 256);
  const AudioHeader w = probe_audio(wav_claiming(16000), "audio");
  EXPECT_EQ(w.sample_rate, 8000);
  EXPECT_EQ(w.frames, 8000);  // 16000 bytes of 16-bit mono
  EXPECT_DOUBLE_EQ(w.seconds(), 1.0);
}

TEST(PayloadLimits, CapsRefuseBombsAndUnknownFormats) {
  Limits limits;
  EXPECT_THROW(check_image(png_claiming(100000, 100000), "image", limits), PayloadTooLarge);
  EXPECT_NO_THROW(check_image(png_claiming(28, 28), "image", limits));
  const std::string wav =
      error_of([&] { check_audio(wav_claiming(0xFFFFFFF0u), "audio", limits); });
  EXPECT_NE(wav.find("lasts 268435 s"), std::string::npos) << wav;  // 4 GB at 16 kB/s
  EXPECT_THROW(check_audio(wav_claiming(0xFFFFFFF0u), "audio", limits), PayloadTooLarge);
  EXPECT_NO_THROW(check_audio(wav_claiming(16000), "audio", limits));
  EXPECT_THROW(check_image("GIF89a....", "image", limits), InputError);
  EXPECT_THROW(check_audio("OggS....", "audio", limits), InputError);
  EXPECT_THROW(check_image(std::string("\x89PNG\r\n\x1a\n", 8), "image", limits), InputError);
  limits.max_text_bytes = 4;
  EXPECT_THROW(check_text("12345", "text", limits), PayloadTooLarge);
  EXPECT_NO_THROW(check_text("1234", "text", limits));
}

TEST(JsonInput, BodiesAreParsedWithBoundedNesting) {
  auto nested = [](int arrays) {
    return "{\"a\": " + std::string(arrays, '[') + std::string(arrays, ']') + "}";
  };
  EXPECT_NO_THROW(parse_body(nested(kMaxJsonDepth - 1)));  // the object plus 31 arrays: 32 levels
  EXPECT_THROW(parse_body(nested(kMaxJsonDepth)), InputError);
  const std::string deep =
      error_of([] { parse_body(std::string(10000, '[') + std::string(10000, ']')); });
  EXPECT_NE(deep.find("nested deeper than 32"), std::string::npos) << deep;
  EXPECT_NE(error_of([] { parse_body("{\"a\": [1, 2}"); }).find("malformed JSON at byte 12"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_body("\"[[[\""); }).find("expected a JSON object"),
            std::string::npos);
  // Brackets inside strings do not count.
  EXPECT_NO_THROW(parse_body("{\"text\": \"" + std::string(100, '[') + "\"}"));
}

TEST(JsonInput, SimpleRequestsTakeAnySubsetAndNameBadFields) {
  Limits limits;
  const runtime::Request r = simple_request(json{{"text", "sieben"}, {"id", "a1"}}, limits);
  EXPECT_EQ(r.modalities(), std::vector<Modality>{Modality::text});
  EXPECT_EQ(r.id, "a1");
  const runtime::Request img =
      simple_request(json{{"image", base64_encode(png_claiming(28, 28))}}, limits);
  ASSERT_TRUE(img.image.has_value());
  EXPECT_EQ(*img.image->bytes, png_claiming(28, 28));
  EXPECT_NE(error_of([&] {
              simple_request(json{{"imgae", "x"}}, limits);
            }).find("field 'imgae'"),
            std::string::npos);
  EXPECT_NE(error_of([&] { simple_request(json::object(), limits); }).find("no input"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              simple_request(json{{"tabular", {1, "x"}}}, limits);
            }).find("item 1"),
            std::string::npos);
}

TEST(JsonInput, V2TensorsBecomeOneRequestPerSample) {
  Limits limits;
  const json body = {
      {"inputs",
       {{{"name", "text"}, {"datatype", "BYTES"}, {"shape", {2}}, {"data", {"eins", "zwei"}}},
        {{"name", "tabular"},
         {"datatype", "FP32"},
         {"shape", {2, 3}},
         {"data", {{1, 2, 3}, {4, 5, 6}}}}}}};
  const auto rs = v2_requests(body, limits);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(*rs[1].text, "zwei");
  EXPECT_EQ(*rs[1].tabular, (std::vector<float>{4, 5, 6}));
  EXPECT_EQ(rs[0].id, "1");
  json mismatch = body;
  mismatch["inputs"][1]["shape"] = {3, 2};
  EXPECT_NE(error_of([&] { v2_requests(mismatch, limits); }).find("batch size 3"),
            std::string::npos);
  json dtype = body;
  dtype["inputs"][0]["datatype"] = "FP32";
  EXPECT_NE(error_of([&] { v2_requests(dtype, limits); }).find("text takes BYTES"),
            std::string::npos);
}

TEST(Metrics, RendersCumulativeHistogramsAndCounters) {
  Histogram h({1, 2, 4});
  for (double v : {1.0, 2.0, 3.0, 8.0}) h.observe(v);
  const std::string text = h.render("x", "m=\"a\"");
  EXPECT_NE(text.find("x_bucket{m=\"a\",le=\"1\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_bucket{m=\"a\",le=\"4\"} 3\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_bucket{m=\"a\",le=\"+Inf\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("x_sum{m=\"a\"} 14\n"), std::string::npos) << text;
  EXPECT_EQ(h.count_above(1), 3);
  Metrics m;
  m.observe_request("v1_predict", 200, 0.003);
  m.observe_request("v1_predict", 200, 0.004);
  m.observe_request("v1_predict", 400, 0.001);
  m.observe_batch("lf", 3, {0.001, 0.002, 0.003});
  const std::string all = m.render();
  EXPECT_NE(all.find("mmfuse_requests_total{route=\"v1_predict\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(all.find("mmfuse_batch_size_bucket{model=\"lf\",le=\"2\"} 0\n"), std::string::npos);
  EXPECT_NE(all.find("mmfuse_batch_size_bucket{model=\"lf\",le=\"4\"} 1\n"), std::string::npos);
  EXPECT_NE(all.find("mmfuse_queue_seconds_count{model=\"lf\"} 3\n"), std::string::npos);
  EXPECT_NE(all.find("mmfuse_ready 0\n"), std::string::npos);
}

TEST(Access, RoutesKeysAndLogSafePaths) {
  EXPECT_EQ(route_of("POST", "/v1/models/lf:predict"), "v1_predict");
  EXPECT_EQ(route_of("POST", "/v2/models/lf/infer"), "v2_infer");
  EXPECT_EQ(route_of("GET", "/v2/models/lf"), "model_metadata");
  EXPECT_EQ(route_of("GET", "/v2/models/lf/ready"), "model_ready");
  EXPECT_EQ(route_of("GET", "/anything/else"), "other");
  EXPECT_TRUE(key_matches("Bearer k1", "", "k1"));
  EXPECT_TRUE(key_matches("", "k1", "k1"));
  EXPECT_FALSE(key_matches("Bearer k2", "k", "k1"));
  EXPECT_FALSE(key_matches("", "", ""));
  EXPECT_TRUE(is_public("/v2/health/ready"));
  EXPECT_FALSE(is_public("/metrics"));
  EXPECT_EQ(printable("/a b\n\xff"), "/a\\x20b\\x0a\\xff");
}

TEST(Errors, ExceptionsMapToStatuses) {
  auto status = [](auto e) { return http_failure(std::make_exception_ptr(e)); };
  EXPECT_EQ(status(InputError("bad")).status, 400);
  EXPECT_EQ(status(Unauthorized("k")).status, 401);
  EXPECT_EQ(status(NotFound("m")).status, 404);
  EXPECT_EQ(status(PayloadTooLarge("b")).status, 413);
  const HttpFailure q = status(runtime::QueueFull("full"));
  EXPECT_EQ(q.status, 503);
  EXPECT_EQ(q.retry_after_seconds, 1);
  EXPECT_EQ(status(std::runtime_error("x")).status, 500);
  EXPECT_EQ(json::parse(error_body("caf\xc3\xa9 \xff"))["error"], "caf\xc3\xa9 \xef\xbf\xbd");
}

TEST(JsonInput, FormPartsGiveTheSameRequestAsJsonAndNameBadParts) {
  Limits limits;
  const std::string png = png_claiming(28, 28);
  json options;
  const runtime::Request form = form_request({{"image", "d.png", png},
                                              {"text", "", "sieben"},
                                              {"tabular", "", "1,2.5,-3"},
                                              {"k", "", "5"},
                                              {"thumbnails", "", "true"},
                                              {"id", "", "q1"}},
                                             limits, {"k", "thumbnails"}, &options);
  const runtime::Request body = simple_request(json{{"image", base64_encode(png)},
                                                    {"text", "sieben"},
                                                    {"tabular", {1, 2.5, -3}},
                                                    {"k", 5},
                                                    {"id", "q1"}},
                                               limits, {"k", "thumbnails"});
  ASSERT_TRUE(form.image.has_value());
  EXPECT_EQ(*form.image->bytes, *body.image->bytes);
  EXPECT_EQ(form.image->name, "d.png");
  EXPECT_EQ(form.text, body.text);
  EXPECT_EQ(form.tabular, body.tabular);
  EXPECT_EQ(form.id, "q1");
  EXPECT_EQ(options, json({{"k", 5}, {"thumbnails", true}}));
  // A JSON array is numbers too; an option that is not JSON stays text.
  options = json::object();
  EXPECT_EQ(*form_request({{"tabular", "", "[4, 5]"}, {"k", "", "many"}}, limits, {"k"}, &options)
                 .tabular,
            (std::vector<float>{4, 5}));
  EXPECT_EQ(options["k"], "many");
  auto form_error = [&](std::vector<FormPart> parts) {
    return error_of([&] { form_request(parts, limits, {"k"}, &options); });
  };
  EXPECT_NE(form_error({{"picture", "p.png", png}}).find("field 'picture'"), std::string::npos);
  EXPECT_NE(form_error({{"picture", "p.png", png}}).find("and id, k"), std::string::npos);
  EXPECT_NE(form_error({{"text", "", "a"}, {"text", "", "b"}}).find("given twice"),
            std::string::npos);
  EXPECT_NE(form_error({{"image", "p.png", png_claiming(100000, 100000)}}).find("pixels"),
            std::string::npos);
  EXPECT_NE(form_error({{"tabular", "", "1,x"}}).find("field 'tabular'"), std::string::npos);
  EXPECT_NE(form_error({{"k", "", std::string(100, '[')}}).find("nested deeper"),
            std::string::npos);
  EXPECT_NE(form_error({{"k", "", "3"}}).find("no input"), std::string::npos);
  // Option keys are only accepted where the route takes them.
  EXPECT_NE(error_of([&] {
              simple_request(json{{"text", "a"}, {"k", 3}}, limits);
            }).find("'k'"),
            std::string::npos);
}

TEST(Options, IndexesAttachToTheirModelByName) {
  std::vector<ModelSource> models = {parse_model_source("ret=runs/r"),
                                     parse_model_source("lf=runs/lf")};
  attach_index(models, "ret=indexes/images");
  EXPECT_EQ(models[0].index_dir, "indexes/images");
  EXPECT_EQ(models[1].index_dir, "");
  auto index_error = [&](const std::string& text) {
    return error_of([&] { attach_index(models, text); });
  };
  EXPECT_NE(index_error("ret=indexes/texts").find("two indexes"), std::string::npos);
  EXPECT_NE(index_error("nope=x").find("the --run names are: ret, lf"), std::string::npos);
  EXPECT_NE(index_error("indexes/x").find("2 models are served"), std::string::npos);
  EXPECT_NE(index_error("lf=").find("no index folder"), std::string::npos);
  std::vector<ModelSource> one = {parse_model_source("runs/r")};
  attach_index(one, "indexes/r");  // one model: the name may be left out
  EXPECT_EQ(one[0].index_dir, "indexes/r");
}

TEST(Options, ModelSourcesAreNamed) {
  EXPECT_EQ(parse_model_source("runs/lf").name, "lf");
  EXPECT_EQ(parse_model_source("runs/lf/").name, "lf");
  const ModelSource s = parse_model_source("digits=runs/x");
  EXPECT_EQ(s.name, "digits");
  EXPECT_EQ(s.dir, "runs/x");
  EXPECT_THROW(parse_model_source("a b=runs/x"), UsageError);
  EXPECT_THROW(parse_model_source("x="), UsageError);
}

}  // namespace
}  // namespace mmfuse::serve
