#include <algorithm>
#include <cstdio>

#include "mmfuse/eval/run_eval.h"

namespace mmfuse::eval {

using nlohmann::json;

namespace {

// One classification target's report: summary line, per-class table, confusion matrix.
std::string format_classification(const json& rep) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "  accuracy %.4f   top-%d %.4f   macro P/R/F1 %.4f %.4f %.4f   weighted F1 "
                "%.4f\n",
                rep.value("accuracy", 0.0), rep.value("top_k", 1), rep.value("top_k_accuracy", 0.0),
                rep["macro"].value("precision", 0.0), rep["macro"].value("recall", 0.0),
                rep["macro"].value("f1", 0.0), rep["weighted"].value("f1", 0.0));
  out += line;
  std::snprintf(line, sizeof line, "  %-14s %9s %9s %9s %8s\n", "class", "precision", "recall",
                "F1", "support");
  out += line;
  for (const auto& c : rep["per_class"]) {
    std::snprintf(line, sizeof line, "  %-14s %9.4f %9.4f %9.4f %8lld\n",
                  c.value("class", "").c_str(), c.value("precision", 0.0), c.value("recall", 0.0),
                  c.value("f1", 0.0), static_cast<long long>(c.value("support", 0)));
    out += line;
  }
  out += "  confusion (rows: true, columns: predicted)\n";
  for (const auto& row : rep["confusion"]) {
    out += "   ";
    for (const auto& v : row) {
      std::snprintf(line, sizeof line, " %5lld", static_cast<long long>(v.get<int64_t>()));
      out += line;
    }
    out += "\n";
  }
  return out;
}

// A regression target's report: one line per metric.
std::string format_regression(const json& rep) {
  std::string out;
  char line[256];
  for (auto k = rep.begin(); k != rep.end(); ++k) {
    if (k.value().is_number_integer()) {
      std::snprintf(line, sizeof line, "  %-22s %lld\n", k.key().c_str(),
                    static_cast<long long>(k.value().get<int64_t>()));
    } else {
      std::snprintf(line, sizeof line, "  %-22s %.4f\n", k.key().c_str(), k.value().get<double>());
    }
    out += line;
  }
  return out;
}

// "name value" lines of a JSON object (complexity) or array of {name, accuracy} (ablation).
std::string format_complexity_and_ablation(const json& r) {
  std::string out;
  char line[256];
  if (r.contains("complexity")) {
    out += "\ncomplexity\n";
    for (auto k = r["complexity"].begin(); k != r["complexity"].end(); ++k) {
      std::snprintf(line, sizeof line, "  %-22s %.6g\n", k.key().c_str(), k.value().get<double>());
      out += line;
    }
  }
  if (r.contains("ablation")) {
    out +=
        "\nmodality ablation (" + r["robustness"].value("target", std::string()) + " accuracy)\n";
    for (const auto& a : r["ablation"]) {
      std::snprintf(line, sizeof line, "  %-22s %.4f\n", a.value("name", "").c_str(),
                    a.value("accuracy", 0.0));
      out += line;
    }
  }
  return out;
}

// Accuracy per noise level and modality, then the AUC and effective-robustness rows.
std::string format_robustness(const json& rb) {
  std::string out;
  char line[256];
  std::vector<std::string> mods;  // Modality order, not the JSON object's key order
  for (Modality m : kAllModalities) {
    if (rb["curves"].contains(std::string(to_string(m)))) mods.emplace_back(to_string(m));
  }
  out += "\naccuracy vs noise level\n  level  ";
  for (const auto& m : mods) {
    std::snprintf(line, sizeof line, " %8s", m.c_str());
    out += line;
  }
  out += "\n";
  const auto levels = rb["levels"].get<std::vector<double>>();
  for (std::size_t i = 0; i < levels.size(); ++i) {
    std::snprintf(line, sizeof line, "  %5.2f  ", levels[i]);
    out += line;
    for (const auto& m : mods) {
      std::snprintf(line, sizeof line, " %8.4f", rb["curves"][m][i].get<double>());
      out += line;
    }
    out += "\n";
  }
  for (const char* row : {"auc", "effective"}) {
    std::snprintf(line, sizeof line, "  %-7s", row == std::string("auc") ? "AUC" : "eff.");
    out += line;
    for (const auto& m : mods) {
      std::snprintf(line, sizeof line, " %8.4f", rb[row][m].get<double>());
      out += line;
    }
    out += "\n";
  }
  std::snprintf(line, sizeof line, "  mean AUC over modalities: %.4f\n", rb.value("mean_auc", 0.0));
  out += line;
  return out;
}

std::string format_supervised(const json& r) {
  const json& m = r["metrics"];
  std::string out = "samples: " + std::to_string(m.value("samples", 0)) + "   (" +
                    r.value("manifest", std::string()) + ")\n";
  for (auto it = m["targets"].begin(); it != m["targets"].end(); ++it) {
    const json& t = it.value();
    out += "\ntarget " + it.key() + " (" + t.value("kind", std::string()) + ")\n";
    out += t.value("kind", "") == "classification" ? format_classification(t["report"])
                                                   : format_regression(t["report"]);
  }
  out += format_complexity_and_ablation(r);
  if (r.contains("robustness")) out += format_robustness(r["robustness"]);
  return out;
}

std::string format_retrieval(const json& result) {
  const auto& m = result.at("metrics");
  std::string out = "retrieval on " + result.value("manifest", std::string()) + " (" +
                    std::to_string(m.value("n", 0)) + " samples)\n";
  std::vector<std::string> cols;
  for (const auto& [direction, values] : m.items()) {
    if (!values.is_object()) continue;
    if (cols.empty()) {
      for (const char* prefix : {"R@", "P@"}) {  // by K, not in text order
        std::vector<std::pair<int, std::string>> ks;
        for (const auto& [k, v] : values.items()) {
          if (k.rfind(prefix, 0) == 0) ks.emplace_back(std::stoi(k.substr(2)), k);
        }
        std::sort(ks.begin(), ks.end());
        for (const auto& [k, name] : ks) cols.push_back(name);
      }
      cols.insert(cols.end(), {"median_rank", "mean_rank", "mAP"});
      char head[32];
      std::snprintf(head, sizeof head, "%-16s", "direction");
      out += head;
      for (const auto& c : cols) {
        std::snprintf(head, sizeof head, " %11s", c.c_str());
        out += head;
      }
      out += "\n";
    }
    char cell[48];
    std::snprintf(cell, sizeof cell, "%-16s", direction.c_str());
    out += cell;
    for (const auto& c : cols) {
      std::snprintf(cell, sizeof cell, " %11.4f", values.value(c, 0.0));
      out += cell;
    }
    out += "\n";
  }
  return out;
}

std::string format_translation(const json& r) {
  const json& m = r["metrics"];
  char line[256];
  std::snprintf(line, sizeof line, "translation on %s (%lld samples): MSE %.5f  BCE %.5f",
                r.value("manifest", std::string()).c_str(),
                static_cast<long long>(m.value("samples", int64_t{0})), m.value("mse", 0.0),
                m.value("bce", 0.0));
  std::string out = line;
  if (m.value("class_accuracy", -1.0) >= 0) {
    std::snprintf(line, sizeof line, "  class head accuracy %.4f", m.value("class_accuracy", 0.0));
    out += line;
  }
  if (m.value("aux_recognition", -1.0) >= 0) {
    std::snprintf(line, sizeof line, "  recognised %.4f", m.value("aux_recognition", 0.0));
    out += line;
  }
  return out + "\n";
}

}  // namespace

std::string format_run_eval(const json& result) {
  const std::string task = result.value("task", std::string("supervised"));
  std::string out = task == "retrieval"   ? format_retrieval(result)
                    : task == "translate" ? format_translation(result)
                                          : format_supervised(result);
  if (result.contains("frozen_memo")) {
    for (const auto& [modality, st] : result["frozen_memo"].items()) {
      out += "frozen " + modality + " encoder (memoized): " + st["read"].dump() + " rows read, " +
             st["computed"].dump() + " computed\n";
    }
  }
  if (result.contains("memory") && result["memory"].contains("peak_rss_mb")) {
    out += "peak memory: " + result["memory"]["peak_rss_mb"].dump() + " MB (VmHWM)\n";
  }
  return out;
}

}  // namespace mmfuse::eval
