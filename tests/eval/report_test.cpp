// Renders a report in headless Chromium and checks that the browser lays out every chart.
#include "mmfuse/eval/report.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <regex>

#include "mmfuse/core/fs.h"
#include "mmfuse/eval/classification_metrics.h"
#include "test_util.h"

namespace mmfuse::eval {
namespace {

nlohmann::json sample_summary() {
  ClassificationMetrics m(3);
  m.add(torch::tensor({{2.f, 0.f, 0.f}, {0.f, 2.f, 0.f}, {0.f, 2.f, 0.f}, {0.f, 0.f, 2.f}}),
        torch::tensor({0, 1, 2, 2}));
  nlohmann::json s;
  s["title"] = "test run <7>";
  s["metric_name"] = "accuracy";
  for (int e = 1; e <= 4; ++e) {
    s["history"].push_back({{"epoch", e},
                            {"train_loss", 2.0 / e},
                            {"val_loss", 2.2 / e},
                            {"val_metric", 0.5 + 0.1 * e}});
  }
  s["test"]["digit"] = {{"kind", "classification"},
                        {"class_names", {"zero", "one", "two"}},
                        {"report", m.report().to_json({"zero", "one", "two"})}};
  s["robustness"] = {{"levels", {0.0, 0.5, 0.9}},
                     {"curves", {{"image", {0.9, 0.7, 0.4}}, {"audio", {0.9, 0.8, 0.6}}}},
                     {"auc", {{"image", 0.68}, {"audio", 0.77}}}};
  s["ablation"] = {{{"name", "all"}, {"accuracy", 0.9}},
                   {{"name", "without image"}, {"accuracy", 0.7}}};
  s["comparison"] = {{{"name", "concat"}, {"accuracy", 0.9}, {"macro_f1", 0.88}},
                     {{"name", "tensor"}, {"accuracy", 0.91}, {"macro_f1", 0.9}}};
  s["config"] = "model: {fusion: concat}";
  return s;
}

TEST(Report, ContainsEverySectionAndEscapesText) {
  auto html = render_report(sample_summary());
  int charts = 0;
  for (auto p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++charts;
  EXPECT_EQ(charts, 7);  // loss, metric, confusion, per-class F1, robustness, ablation, comparison
  EXPECT_NE(html.find("test run &lt;7&gt;"), std::string::npos);
  EXPECT_NE(html.find("0.7500"), std::string::npos);                         // accuracy 3/4
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // no external URL
}

TEST(Report, RendersItsPlotsInChromium) {
  MMFUSE_REQUIRE(testing::missing_chromium());
  const std::string chromium = testing::kChromium;
  testing::TempDir dir;
  const std::string page = dir.file("report.html");
  write_report(page, sample_summary());
  const std::string flags =
      " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
      " --disable-background-networking --disable-component-update --disable-sync"
      " --user-data-dir=" +
      dir.file("profile") + " --virtual-time-budget=3000";
  const std::string dom_file = dir.file("dom.html");
  std::string cmd =
      chromium + flags + " --dump-dom file://" + page + " > " + dom_file + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::string dom = read_file(dom_file);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex("data-charts-rendered=\"(\\d+)\"")))
      << dom.substr(0, 500);
  EXPECT_EQ(std::stoi(m[1].str()), 7);

  // And the screenshot really shows coloured plot pixels (the palette's blue #1f77b4).
  const std::string png = dir.file("shot.png");
  cmd = chromium + flags + " --window-size=1200,2400 --screenshot=" + png + " file://" + page +
        " > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  cv::Mat img = cv::imread(png, cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  int blue = 0;
  for (int y = 0; y < img.rows; ++y) {
    for (int x = 0; x < img.cols; ++x) {
      auto px = img.at<cv::Vec3b>(y, x);  // BGR
      blue +=
          std::abs(px[0] - 0xb4) < 12 && std::abs(px[1] - 0x77) < 12 && std::abs(px[2] - 0x1f) < 12;
    }
  }
  EXPECT_GT(blue, 500);
}

}  // namespace
}  // namespace mmfuse::eval
