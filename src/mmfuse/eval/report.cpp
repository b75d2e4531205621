#include "mmfuse/eval/report.h"

#include <cstdio>

#include "mmfuse/core/fs.h"
#include "mmfuse/eval/svg_chart.h"

namespace mmfuse::eval {

namespace {

using nlohmann::json;

const char* const kStyle = R"(<style>
body{font-family:sans-serif;margin:24px;color:#222;max-width:1180px}
h1{font-size:22px}h2{font-size:17px;border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:28px}
.charts{display:flex;flex-wrap:wrap;gap:12px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
pre{background:#f7f7f7;padding:8px;font-size:12px;overflow:auto;max-height:300px}
figure{display:inline-block;margin:4px}figcaption{font-size:11px;text-align:center}
</style>)";

// Marks the page with how many charts the browser actually laid out (non-empty boxes); a test
// reads it back from the rendered DOM.
const char* const kCheckScript = R"(<script>
window.addEventListener('load',function(){var n=0;document.querySelectorAll('svg.chart').forEach(
function(s){var r=s.getBoundingClientRect();if(r.width>0&&r.height>0&&s.querySelector('path,rect'))n++;});
document.body.setAttribute('data-charts-rendered',String(n));});
</script>)";

std::string fmt(double v, int digits = 4) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string cell(const json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return fmt(v.get<double>());
  if (v.is_string()) return xml_escape(v.get<std::string>());
  return v.is_null() ? "" : xml_escape(v.dump());
}

std::string history_section(const json& s) {
  const json& h = s["history"];
  Series train{"train loss", {}, {}}, val{"val loss", {}, {}},
      metric{"val " + s.value("metric_name", std::string("metric")), {}, {}};
  for (const auto& e : h) {
    double epoch = e.value("epoch", 0.0);
    if (e.contains("train_loss")) train.x.push_back(epoch), train.y.push_back(e["train_loss"]);
    if (e.contains("val_loss")) val.x.push_back(epoch), val.y.push_back(e["val_loss"]);
    if (e.contains("val_metric")) metric.x.push_back(epoch), metric.y.push_back(e["val_metric"]);
  }
  std::string out = "<h2>Training</h2><div class=\"charts\">";
  std::vector<Series> losses;
  if (!train.y.empty()) losses.push_back(train);
  if (!val.y.empty()) losses.push_back(val);
  if (!losses.empty()) {
    ChartOptions o;
    o.title = "Loss", o.x_label = "epoch", o.y_label = "loss";
    out += line_chart(losses, o);
  }
  if (!metric.y.empty()) {
    ChartOptions o;
    o.title = metric.name, o.x_label = "epoch", o.y_label = s.value("metric_name", "metric");
    out += line_chart({metric}, o);
  }
  return out + "</div>";
}

std::string classification_section(const std::string& target, const json& t) {
  const json& r = t["report"];
  std::vector<std::string> names;
  if (t.contains("class_names")) names = t["class_names"].get<std::vector<std::string>>();
  std::string out = "<h3>" + xml_escape(target) +
                    " (classification)</h3><table><tr><th>metric</th><th>value</th></tr>";
  out += "<tr><td>accuracy</td><td>" + fmt(r.value("accuracy", 0.0)) + "</td></tr>";
  out += "<tr><td>top-" + std::to_string(r.value("top_k", 1)) + " accuracy</td><td>" +
         fmt(r.value("top_k_accuracy", 0.0)) + "</td></tr>";
  for (const char* avg : {"macro", "weighted"}) {
    if (!r.contains(avg)) continue;
    for (const char* m : {"precision", "recall", "f1"}) {
      out += std::string("<tr><td>") + avg + " " + m + "</td><td>" + fmt(r[avg].value(m, 0.0)) +
             "</td></tr>";
    }
  }
  out += "<tr><td>samples</td><td>" + std::to_string(r.value("count", 0)) + "</td></tr></table>";
  out += "<div class=\"charts\">";
  if (r.contains("confusion") && !r["confusion"].empty()) {
    auto conf = r["confusion"].get<std::vector<std::vector<double>>>();
    std::vector<std::string> labels = names;
    for (std::size_t i = labels.size(); i < conf.size(); ++i) labels.push_back(std::to_string(i));
    ChartOptions o;
    o.title = "Confusion matrix (" + target + ")", o.x_label = "predicted", o.y_label = "true";
    o.width = 420, o.height = 420;
    out += heatmap(conf, labels, labels, o);
  }
  if (r.contains("per_class")) {
    std::vector<std::string> cats;
    Series f1{"F1", {}, {}};
    for (const auto& c : r["per_class"]) {
      cats.push_back(c.value("class", std::string()));
      f1.y.push_back(c.value("f1", 0.0));
    }
    ChartOptions o;
    o.title = "Per-class F1 (" + target + ")", o.y_label = "F1", o.y_min = 0, o.y_max = 1;
    out += bar_chart(cats, {f1}, o);
  }
  return out + "</div>";
}

// A table of a target's (or a retrieval direction's, a translation's) numeric metrics.
std::string metrics_section(const std::string& target, const json& t) {
  const std::string kind = t.value("kind", std::string());
  std::string out = "<h3>" + xml_escape(target) + (kind == "regression" ? " (regression)" : "") +
                    "</h3><table><tr><th>metric</th><th>value</th></tr>";
  for (auto it = t["report"].begin(); it != t["report"].end(); ++it) {
    out += "<tr><td>" + xml_escape(it.key()) + "</td><td>" + cell(it.value()) + "</td></tr>";
  }
  return out + "</table>";
}

std::string robustness_section(const json& rb) {
  std::vector<Series> curves;
  auto levels = rb.value("levels", std::vector<double>{});
  for (auto it = rb["curves"].begin(); it != rb["curves"].end(); ++it) {
    curves.push_back({it.key(), levels, it.value().get<std::vector<double>>()});
  }
  ChartOptions o;
  o.title = "Accuracy vs noise level", o.x_label = "noise level", o.y_label = "accuracy";
  o.y_min = 0, o.y_max = 1;
  std::string out = "<h2>Robustness</h2><div class=\"charts\">" + line_chart(curves, o) + "</div>";
  if (rb.contains("auc")) {
    out += "<table><tr><th>modality</th><th>area under accuracy-vs-noise</th></tr>";
    for (auto it = rb["auc"].begin(); it != rb["auc"].end(); ++it) {
      out += "<tr><td>" + xml_escape(it.key()) + "</td><td>" + cell(it.value()) + "</td></tr>";
    }
    out += "</table>";
  }
  return out;
}

std::string ablation_section(const json& ab) {
  std::vector<std::string> cats;
  Series acc{"accuracy", {}, {}};
  for (const auto& e : ab) {
    cats.push_back(e.value("name", std::string()));
    acc.y.push_back(e.value("accuracy", 0.0));
  }
  ChartOptions o;
  o.title = "Modality ablation", o.y_label = "accuracy", o.y_min = 0, o.y_max = 1;
  o.width = 120 + 90 * static_cast<int>(cats.size());
  return "<h2>Modality ablation</h2><div class=\"charts\">" + bar_chart(cats, {acc}, o) + "</div>";
}

std::string table_section(const std::string& title, const json& rows) {
  std::vector<std::string> cols;
  for (const auto& row : rows) {
    for (auto it = row.begin(); it != row.end(); ++it) {
      if (std::find(cols.begin(), cols.end(), it.key()) == cols.end()) cols.push_back(it.key());
    }
  }
  std::string out = "<h2>" + xml_escape(title) + "</h2><table><tr>";
  for (const auto& c : cols) out += "<th>" + xml_escape(c) + "</th>";
  out += "</tr>";
  for (const auto& row : rows) {
    out += "<tr>";
    for (const auto& c : cols) out += "<td>" + (row.contains(c) ? cell(row[c]) : "") + "</td>";
    out += "</tr>";
  }
  return out + "</table>";
}

}  // namespace

std::string render_report(const json& s) {
  const std::string title = s.value("title", std::string("mmfuse run"));
  std::string html = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                     xml_escape(title) + "</title>" + kStyle + "</head><body><h1>" +
                     xml_escape(title) + "</h1>";
  if (s.contains("subtitle")) html += "<p>" + xml_escape(s["subtitle"].get<std::string>()) + "</p>";
  if (s.contains("history") && !s["history"].empty()) html += history_section(s);
  if (s.contains("test")) {
    html += "<h2>Test results</h2>";
    for (auto it = s["test"].begin(); it != s["test"].end(); ++it) {
      html += it.value().value("kind", std::string()) == "classification"
                  ? classification_section(it.key(), it.value())
                  : metrics_section(it.key(), it.value());
    }
  }
  if (s.contains("robustness") && s["robustness"].contains("curves"))
    html += robustness_section(s["robustness"]);
  if (s.contains("ablation") && !s["ablation"].empty()) html += ablation_section(s["ablation"]);
  if (s.contains("comparison") && !s["comparison"].empty()) {
    html += table_section("Comparison", s["comparison"]);
    std::vector<std::string> names;
    Series acc{"accuracy", {}, {}}, f1{"macro F1", {}, {}}, auc{"noise AUC", {}, {}};
    bool with_auc = false;
    for (const auto& row : s["comparison"]) {
      names.push_back(row.value("name", std::string()));
      acc.y.push_back(row.value("accuracy", 0.0));
      f1.y.push_back(row.value("macro_f1", 0.0));
      auc.y.push_back(row.value("robustness_auc", 0.0));
      with_auc = with_auc || row.contains("robustness_auc");
    }
    ChartOptions o;
    o.title = "Comparison", o.y_label = "score", o.y_min = 0, o.y_max = 1;
    o.width = std::max(420, 140 + 80 * static_cast<int>(names.size()));
    std::vector<Series> bars = {acc, f1};
    if (with_auc) bars.push_back(auc);
    html += "<div class=\"charts\">" + bar_chart(names, bars, o) + "</div>";
  }
  if (s.contains("images") && !s["images"].empty()) {
    html += "<h2>Samples</h2><div>";
    for (const auto& im : s["images"]) {
      html += "<figure><img alt=\"" + xml_escape(im.value("caption", std::string())) +
              "\" src=\"data:image/png;base64," + im.value("png_base64", std::string()) +
              "\"><figcaption>" + xml_escape(im.value("caption", std::string())) +
              "</figcaption></figure>";
    }
    html += "</div>";
  }
  if (s.contains("complexity")) html += table_section("Complexity", json::array({s["complexity"]}));
  if (s.contains("config"))
    html += "<h2>Configuration</h2><pre>" + xml_escape(s["config"].get<std::string>()) + "</pre>";
  return html + kCheckScript + "</body></html>";
}

void write_report(const std::string& path, const json& summary) {
  write_file_atomic(path, render_report(summary));
}

}  // namespace mmfuse::eval
