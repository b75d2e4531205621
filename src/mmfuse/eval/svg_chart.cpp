#include "mmfuse/eval/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace mmfuse::eval {

namespace {

constexpr int kLeft = 56, kRight = 16, kTop = 34, kBottom = 46;
const char* const kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

std::string tick_label(double v) {
  char buf[32];
  if (std::abs(v) >= 1000 || (std::abs(v) < 0.01 && v != 0.0)) {
    std::snprintf(buf, sizeof buf, "%.2g", v);
  } else {
    std::snprintf(buf, sizeof buf, "%.3g", v);
  }
  return buf;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity();
  double hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (!std::isfinite(v)) return;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  void finish() {
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (lo == hi) lo -= 0.5, hi += 0.5;
  }
};

std::string open_svg(const ChartOptions& o) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"" +
                  std::to_string(o.width) + "\" height=\"" + std::to_string(o.height) +
                  "\" viewBox=\"0 0 " + std::to_string(o.width) + " " + std::to_string(o.height) +
                  "\" font-family=\"sans-serif\" font-size=\"11\">";
  s += "<title>" + xml_escape(o.title) + "</title>";
  s += "<text x=\"" + std::to_string(o.width / 2) +
       "\" y=\"18\" text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\">" +
       xml_escape(o.title) + "</text>";
  return s;
}

// Axes with 5 y ticks over [lo, hi]; returns the SVG.
std::string axes(const ChartOptions& o, const Range& y) {
  const int x0 = kLeft, x1 = o.width - kRight, y0 = o.height - kBottom, y1 = kTop;
  std::string s = "<g class=\"axes\" stroke=\"#444\">";
  s += "<line x1=\"" + std::to_string(x0) + "\" y1=\"" + std::to_string(y0) + "\" x2=\"" +
       std::to_string(x1) + "\" y2=\"" + std::to_string(y0) + "\"/>";
  s += "<line x1=\"" + std::to_string(x0) + "\" y1=\"" + std::to_string(y0) + "\" x2=\"" +
       std::to_string(x0) + "\" y2=\"" + std::to_string(y1) + "\"/></g>";
  for (int i = 0; i <= 4; ++i) {
    double v = y.lo + (y.hi - y.lo) * i / 4.0;
    double py = y0 - (y0 - y1) * i / 4.0;
    s += "<line stroke=\"#ddd\" x1=\"" + std::to_string(x0 + 1) + "\" x2=\"" + std::to_string(x1) +
         "\" y1=\"" + num(py) + "\" y2=\"" + num(py) + "\"/>";
    s += "<text x=\"" + std::to_string(x0 - 4) + "\" y=\"" + num(py + 4) +
         "\" text-anchor=\"end\">" + tick_label(v) + "</text>";
  }
  s += "<text x=\"" + std::to_string((x0 + x1) / 2) + "\" y=\"" + std::to_string(o.height - 8) +
       "\" text-anchor=\"middle\">" + xml_escape(o.x_label) + "</text>";
  s += "<text transform=\"translate(14," + std::to_string((y0 + y1) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(o.y_label) + "</text>";
  return s;
}

std::string legend(const std::vector<Series>& series, const ChartOptions& o) {
  std::string s = "<g class=\"legend\">";
  int x = kLeft + 8;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const char* color = kPalette[i % 10];
    s += "<rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(kTop - 2) +
         "\" width=\"10\" height=\"10\" fill=\"" + color + "\"/>";
    s += "<text x=\"" + std::to_string(x + 13) + "\" y=\"" + std::to_string(kTop + 7) + "\">" +
         xml_escape(series[i].name) + "</text>";
    x += 24 + 7 * static_cast<int>(series[i].name.size());
  }
  return s + "</g>";
}

Range y_range(const std::vector<Series>& series, const ChartOptions& o, bool include_zero) {
  Range y;
  if (o.y_min < o.y_max) {
    y.lo = o.y_min, y.hi = o.y_max;
    return y;
  }
  for (const auto& s : series) {
    for (double v : s.y) y.add(v);
  }
  if (include_zero) y.add(0.0);
  y.finish();
  return y;
}

}  // namespace

std::string xml_escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string line_chart(const std::vector<Series>& series, const ChartOptions& o) {
  Range x;
  for (const auto& s : series) {
    for (double v : s.x) x.add(v);
  }
  x.finish();
  const Range y = y_range(series, o, false);
  const double x0 = kLeft, x1 = o.width - kRight, y0 = o.height - kBottom, y1 = kTop + 14;
  std::string svg = open_svg(o) + axes(o, y);
  for (int i = 0; i <= 4; ++i) {
    double v = x.lo + (x.hi - x.lo) * i / 4.0;
    svg += "<text x=\"" + num(x0 + (x1 - x0) * i / 4.0) + "\" y=\"" + num(y0 + 14) +
           "\" text-anchor=\"middle\">" + tick_label(v) + "</text>";
  }
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    std::string d;
    for (std::size_t i = 0; i < std::min(s.x.size(), s.y.size()); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      double px = x0 + (s.x[i] - x.lo) / (x.hi - x.lo) * (x1 - x0);
      double py = y0 - (s.y[i] - y.lo) / (y.hi - y.lo) * (y0 - y1);
      d += (d.empty() ? "M" : " L") + num(px) + "," + num(py);
    }
    if (d.empty()) continue;
    svg += "<path class=\"series\" fill=\"none\" stroke-width=\"2\" stroke=\"" +
           std::string(kPalette[k % 10]) + "\" d=\"" + d + "\"><title>" + xml_escape(s.name) +
           "</title></path>";
  }
  return svg + legend(series, o) + "</svg>";
}

std::string bar_chart(const std::vector<std::string>& categories, const std::vector<Series>& series,
                      const ChartOptions& o) {
  const Range y = y_range(series, o, true);
  const double x0 = kLeft, x1 = o.width - kRight, y0 = o.height - kBottom, y1 = kTop + 14;
  std::string svg = open_svg(o) + axes(o, y);
  const double group = (x1 - x0) / std::max<std::size_t>(1, categories.size());
  const double bar = group * 0.8 / std::max<std::size_t>(1, series.size());
  auto to_py = [&](double v) { return y0 - (v - y.lo) / (y.hi - y.lo) * (y0 - y1); };
  for (std::size_t c = 0; c < categories.size(); ++c) {
    svg += "<text x=\"" + num(x0 + group * (c + 0.5)) + "\" y=\"" + num(y0 + 14) +
           "\" text-anchor=\"middle\">" + xml_escape(categories[c]) + "</text>";
    for (std::size_t k = 0; k < series.size(); ++k) {
      if (c >= series[k].y.size() || !std::isfinite(series[k].y[c])) continue;
      double v = series[k].y[c];
      double top = std::min(to_py(v), to_py(0.0)), bottom = std::max(to_py(v), to_py(0.0));
      svg += "<rect class=\"bar\" x=\"" + num(x0 + group * c + group * 0.1 + bar * k) + "\" y=\"" +
             num(top) + "\" width=\"" + num(bar) + "\" height=\"" + num(bottom - top) +
             "\" fill=\"" + kPalette[k % 10] + "\"><title>" +
             xml_escape(series[k].name + " / " + categories[c] + ": " + tick_label(v)) +
             "</title></rect>";
    }
  }
  return svg + legend(series, o) + "</svg>";
}

std::string heatmap(const std::vector<std::vector<double>>& values,
                    const std::vector<std::string>& row_labels,
                    const std::vector<std::string>& col_labels, const ChartOptions& o) {
  double hi = 0.0;
  for (const auto& row : values) {
    for (double v : row) hi = std::max(hi, std::isfinite(v) ? v : 0.0);
  }
  const std::size_t rows = values.size(), cols = rows ? values[0].size() : 0;
  const double x0 = kLeft, y0 = kTop;
  const double cw = (o.width - kLeft - kRight) / std::max<double>(1, cols);
  const double ch = (o.height - kTop - kBottom) / std::max<double>(1, rows);
  std::string svg = open_svg(o);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t c = 0; c < cols; ++c) {
      double v = values[r][c];
      double t = hi > 0 ? v / hi : 0.0;
      int shade = static_cast<int>(255 - 200 * t);
      char color[16];
      std::snprintf(color, sizeof color, "#%02x%02xff", shade, shade);
      svg += "<rect class=\"cell\" x=\"" + num(x0 + c * cw) + "\" y=\"" + num(y0 + r * ch) +
             "\" width=\"" + num(cw) + "\" height=\"" + num(ch) + "\" fill=\"" + color +
             "\" stroke=\"#fff\"/>";
      svg += "<text x=\"" + num(x0 + (c + 0.5) * cw) + "\" y=\"" + num(y0 + (r + 0.5) * ch + 4) +
             "\" text-anchor=\"middle\" fill=\"" + (t > 0.6 ? "#fff" : "#000") + "\">" +
             tick_label(v) + "</text>";
    }
    if (r < row_labels.size()) {
      svg += "<text x=\"" + num(x0 - 4) + "\" y=\"" + num(y0 + (r + 0.5) * ch + 4) +
             "\" text-anchor=\"end\">" + xml_escape(row_labels[r]) + "</text>";
    }
  }
  for (std::size_t c = 0; c < cols && c < col_labels.size(); ++c) {
    svg += "<text x=\"" + num(x0 + (c + 0.5) * cw) + "\" y=\"" + num(y0 + rows * ch + 14) +
           "\" text-anchor=\"middle\">" + xml_escape(col_labels[c]) + "</text>";
  }
  svg += "<text x=\"" + num(x0 + cols * cw / 2) + "\" y=\"" + std::to_string(o.height - 8) +
         "\" text-anchor=\"middle\">" + xml_escape(o.x_label) + "</text>";
  svg += "<text transform=\"translate(14," + num(y0 + rows * ch / 2) +
         ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(o.y_label) + "</text>";
  return svg + "</svg>";
}

}  // namespace mmfuse::eval
