#include "mmfuse/eval/svg_chart.h"

#include <gtest/gtest.h>

#include <regex>

namespace mmfuse::eval {
namespace {

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (auto p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

TEST(SvgChart, LineChartMapsExtremesToPlotCorners) {
  ChartOptions o;
  o.title = "loss <train>";
  o.width = 200, o.height = 100;
  auto svg = line_chart({{"train", {0, 1, 2}, {1.0, 0.5, 0.0}}}, o);
  EXPECT_EQ(count(svg, "<path class=\"series\""), 1);
  // x in [0,2] -> [56, 184]; y in [0,1] -> [54, 48] (bottom 100-46, top 34+14).
  EXPECT_NE(svg.find("d=\"M56.00,48.00 L120.00,51.00 L184.00,54.00\""), std::string::npos) << svg;
  EXPECT_NE(svg.find("loss &lt;train&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("<train>"), std::string::npos);
}

TEST(SvgChart, SkipsNonFinitePoints) {
  auto svg = line_chart({{"a", {0, 1, 2}, {1.0, NAN, 3.0}}}, ChartOptions{});
  std::smatch m;
  ASSERT_TRUE(std::regex_search(svg, m, std::regex("d=\"([^\"]*)\"")));
  EXPECT_EQ(count(m[1].str(), "L"), 1);  // two points drawn
}

TEST(SvgChart, BarChartDrawsOneBarPerSeriesAndCategory) {
  auto svg = bar_chart({"image", "audio", "both"},
                       {{"acc", {}, {0.5, 0.7, 0.9}}, {"f1", {}, {0.4, 0.6, 0.8}}}, ChartOptions{});
  EXPECT_EQ(count(svg, "<rect class=\"bar\""), 6);
}

TEST(SvgChart, HeatmapHasACellPerEntryWithValues) {
  auto svg = heatmap({{5, 1}, {0, 7}}, {"a", "b"}, {"a", "b"}, ChartOptions{});
  EXPECT_EQ(count(svg, "<rect class=\"cell\""), 4);
  EXPECT_NE(svg.find(">7</text>"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"#3737ff\""), std::string::npos);  // max value: 255 - 200 = 55
}

}  // namespace
}  // namespace mmfuse::eval
