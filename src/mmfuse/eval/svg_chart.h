// Self-contained SVG charts for the HTML reports (no scripts, no network): line charts (loss and
// metric curves, robustness curves), heat maps (confusion matrices) and grouped bar charts
// (per-class F1, modality ablations).
#pragma once

#include <string>
#include <vector>

namespace mmfuse::eval {

struct Series {
  std::string name;
  std::vector<double> x;  ///< for line charts; ignored by bar charts
  std::vector<double> y;
};

struct ChartOptions {
  std::string title;
  std::string x_label;
  std::string y_label;
  int width = 520;
  int height = 320;
  /// Fixed y range when y_min < y_max; otherwise fitted to the data.
  double y_min = 0.0, y_max = 0.0;
};

/// One polyline per series with axes, ticks and a legend. Non-finite points are skipped.
std::string line_chart(const std::vector<Series>& series, const ChartOptions& options);

/// Grouped bars: `categories` along x, one bar per series in each group.
std::string bar_chart(const std::vector<std::string>& categories, const std::vector<Series>& series,
                      const ChartOptions& options);

/// Heat map of `values` (rows × cols) with the numbers printed in the cells.
std::string heatmap(const std::vector<std::vector<double>>& values,
                    const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& col_labels, const ChartOptions& options);

/// Escapes text for XML/HTML (& < > " ').
std::string xml_escape(const std::string& text);

}  // namespace mmfuse::eval
