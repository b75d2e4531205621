#include "mmfuse/translate/evaluate.h"

#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/eval/translation_metrics.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/translate/image_io.h"

namespace mmfuse::translate {

using nlohmann::json;
namespace F = torch::nn::functional;

namespace {

// The classifier's logits for target-modality features [N, C, H, W]; its other modalities are
// given as absent.
torch::Tensor classify(const runtime::Run& cls, Modality target, const std::string& head,
                       const torch::Tensor& x) {
  data::Batch b;
  const int64_t n = x.size(0);
  b.ids.assign(static_cast<std::size_t>(n), "generated");
  for (Modality m : cls.dataset->modalities()) {
    data::ModalityBatch mb;
    if (m == target) {
      mb.data = x;
      mb.present = torch::ones({n}, torch::kBool);
    } else {
      auto shape = cls.dataset->item_shape(m);
      for (auto& d : shape) d = std::max<int64_t>(d, 1);
      shape.insert(shape.begin(), n);
      mb.data = torch::zeros(shape);
      mb.present = torch::zeros({n}, torch::kBool);
    }
    b.inputs[index_of(m)] = mb;
  }
  return cls.heads()->forward(b).outputs.at(head);
}

std::string img_tag(const torch::Tensor& chw) {
  const int scale = chw.size(-1) <= 32 ? 3 : 1;
  return "<img src=\"data:image/png;base64," + base64(encode_png(chw, scale)) + "\">";
}

// The classifier that judges generated samples (`--classifier`): its run, the head for the
// translation data's class target, and translator class index -> classifier class index.
struct Recognizer {
  std::shared_ptr<const runtime::Run> run;
  std::string head;
  std::vector<int64_t> to_cls;
};

Recognizer load_recognizer(const std::string& dir, const runtime::Run& run, Modality target,
                           const std::string& label) {
  Recognizer r;
  r.run = runtime::load_run(dir);
  if (!r.run->dataset->uses(target)) {
    throw Error(dir + ": the classifier does not read " + std::string(to_string(target)) +
                "; train one on the target modality");
  }
  for (const auto& h : r.run->heads()->heads()) {
    if (h.spec.kind == heads::TaskKind::classification && h.target == label) r.head = h.target;
  }
  if (r.head.empty() || label.empty()) {
    throw Error(dir + ": no classification head for the target '" + label +
                "' of the translation data");
  }
  const auto& names = r.run->dataset->label_map(r.head).names();
  for (const auto& n : run.dataset->label_map(label).names()) {
    auto it = std::find(names.begin(), names.end(), n);
    r.to_cls.push_back(it == names.end() ? -1 : it - names.begin());
  }
  return r;
}

// What evaluate_translation sums over the batches.
struct Tally {
  double se = 0, elements = 0, bce = 0;
  int64_t n = 0, hits = 0, real_hits = 0, labelled = 0;
  std::map<int64_t, std::pair<int64_t, int64_t>> per_class;           // class -> (hits, count)
  std::map<int64_t, std::vector<std::array<torch::Tensor, 3>>> grid;  // source, real, generated
};

// Recognition hits and grid samples of one batch's labelled rows.
void tally_labels(const torch::Tensor& y, const eval::Paired& p, const torch::Tensor& gen,
                  const Recognizer* rec, Modality target, int64_t grid_per_class, Tally& t) {
  torch::Tensor pred, real_pred;
  if (rec) {
    pred = classify(*rec->run, target, rec->head, gen).argmax(1);
    real_pred = classify(*rec->run, target, rec->head, p.target).argmax(1);
  }
  for (int64_t i = 0; i < y.size(0); ++i) {
    const int64_t c = y[i].item<int64_t>();
    if (c < 0) continue;
    if (rec) {
      const int64_t want = rec->to_cls[static_cast<std::size_t>(c)];
      const bool hit = pred[i].item<int64_t>() == want;
      t.hits += hit;
      t.real_hits += real_pred[i].item<int64_t>() == want;
      ++t.labelled;
      t.per_class[c].first += hit;
      ++t.per_class[c].second;
    }
    auto& g = t.grid[c];
    if (static_cast<int64_t>(g.size()) < grid_per_class) {
      g.push_back({p.source.data[i], p.target[i], gen[i]});
    }
  }
}

// The HTML page of `mmfuse translate eval --report`: source, real and generated samples per class.
std::string report_html(const json& out, const Tally& t, const TranslateEvalRequest& req,
                        const models::TranslateConfig& cfg, const std::vector<std::string>& names) {
  std::ostringstream h;
  h << "<!doctype html><html><head><meta charset=\"utf-8\"><title>mmfuse translation</title>"
    << "<style>body{font-family:sans-serif}td{padding:4px;text-align:center}"
    << "img{image-rendering:pixelated;max-width:112px}</style></head><body>"
    << "<h1>" << to_string(cfg.source) << " &rarr; " << to_string(cfg.target) << " ("
    << to_string(cfg.objective) << ")</h1><p>" << req.data << ": " << t.n << " samples, MSE "
    << out["mse"].get<double>();
  if (out.contains("recognition")) {
    h << ", recognised by the classifier in " << out["recognition"]["accuracy"].get<double>() * 100
      << "% of generated samples (" << out["recognition"]["real_accuracy"].get<double>() * 100
      << "% of real ones)";
  }
  h << "</p><table><tr><th>class</th><th>source</th><th>real</th><th>generated</th></tr>";
  for (const auto& [c, items] : t.grid) {
    for (const auto& it : items) {
      h << "<tr><td>" << names[static_cast<std::size_t>(c)] << "</td><td>"
        << (it[0].dim() == 3 ? img_tag(it[0]) : "") << "</td><td>" << img_tag(it[1])
        << "</td><td class=\"generated\">" << img_tag(it[2]) << "</td></tr>";
    }
  }
  h << "</table></body></html>\n";
  return h.str();
}

}  // namespace

json evaluate_translation(const TranslateEvalRequest& req) {
  const auto loaded = runtime::load_run(req.run_dir);
  const runtime::Run& run = *loaded;
  models::Translator translator = run.translator();
  const auto& cfg = translator->config();
  auto set = run.dataset->read_manifest_file(req.data, run.dataset->skip_bad());
  if (req.limit > 0 && req.limit < static_cast<int64_t>(set->samples.size())) {
    auto copy = std::make_shared<data::SampleSet>(*set);
    copy->samples.resize(static_cast<std::size_t>(req.limit));
    set = copy;
  }
  const std::string label = run.class_target;
  std::optional<Recognizer> rec;
  if (!req.classifier.empty()) rec = load_recognizer(req.classifier, run, cfg.target, label);
  data::LoaderOptions lo;
  lo.batch_size = 256;
  lo.shuffle = false;
  lo.threads = 2;
  data::Loader loader(run.dataset, set, lo);
  torch::NoGradGuard no_grad;
  Tally t;
  while (auto batch = loader.next()) {
    auto p = eval::paired(*batch, cfg.source, cfg.target, torch::kCPU);
    if (!p) continue;
    auto logits = translator->forward(p->source).logits;
    auto gen = torch::sigmoid(logits);
    t.se += (gen - p->target).pow(2).sum().item<double>();
    t.bce +=
        F::binary_cross_entropy_with_logits(
            logits, p->target, F::BinaryCrossEntropyWithLogitsFuncOptions().reduction(torch::kSum))
            .item<double>();
    t.elements += static_cast<double>(p->target.numel());
    t.n += p->target.size(0);
    if (label.empty()) continue;
    const torch::Tensor y = batch->targets.at(label).index_select(0, p->rows);  // [N]
    tally_labels(y, *p, gen, rec ? &*rec : nullptr, cfg.target, req.grid_per_class, t);
  }
  if (t.n == 0)
    throw Error(req.data + ": no sample has both " + std::string(to_string(cfg.source)) + " and " +
                std::string(to_string(cfg.target)));
  json out = {{"objective", to_string(cfg.objective)},
              {"source", std::string(to_string(cfg.source))},
              {"target", std::string(to_string(cfg.target))},
              {"samples", t.n},
              {"mse", t.se / t.elements},
              {"bce", t.bce / t.elements}};
  const auto names =
      label.empty() ? std::vector<std::string>{} : run.dataset->label_map(label).names();
  if (rec && t.labelled > 0) {
    json pc = json::object();
    for (const auto& [c, hc] : t.per_class) {
      pc[names[static_cast<std::size_t>(c)]] = static_cast<double>(hc.first) / hc.second;
    }
    out["recognition"] = {{"classifier", req.classifier},
                          {"accuracy", static_cast<double>(t.hits) / t.labelled},
                          {"real_accuracy", static_cast<double>(t.real_hits) / t.labelled},
                          {"per_class", pc}};
  }
  if (!req.report.empty()) write_file_atomic(req.report, report_html(out, t, req, cfg, names));
  return out;
}

}  // namespace mmfuse::translate
