// Pruning of a trained run into a new run folder: `mmfuse prune --run R --out R2 --amount A
// [--structured] [--finetune-epochs E]`.
//
//   unstructured (magnitude): the smallest |w| of every Linear/Conv weight set to zero, exactly
//     llround(amount * n) per layer (or over all layers: scope global); the dense shapes stay,
//     so the gain is compressibility, not speed.
//   structured: whole output channels/units removed by L1 (or L2) norm, the next layer and the
//     batch norm sliced to match (prune_structured.h); the kernels shrink and the config records
//     the new widths, so load_run (and eval, predict, serve, bench) rebuild the smaller model.
//
// Then `finetune_epochs` epochs through the one training loop (train/trainer.h) with the source
// run's config and fitted preprocessing, masks re-applied after every optimizer step
// (unstructured), and the run's evaluation. The source run is never modified.
// The pruned run folder is an ordinary run plus prune.json (PruneReport::to_json).
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/optimize/prune_magnitude.h"
#include "mmfuse/optimize/prune_structured.h"

namespace mmfuse::optimize {

struct PruneOptions {
  std::string run;  ///< the trained run to prune (read only)
  std::string out;  ///< the pruned run's folder; must not hold a run already
  /// Fraction pruned, in [0, 1): of the weights' entries (unstructured) or of each prunable
  /// layer's output channels/units (structured).
  double amount = 0.5;
  bool structured = false;
  PruneScope scope = PruneScope::layer;  ///< unstructured: per layer or global
  ChannelNorm norm = ChannelNorm::l1;    ///< structured: channel score
  int64_t finetune_epochs = 0;           ///< 0: the pruned weights as they are (still evaluated)
  /// Config overrides of the fine-tuning ("train.optimizer.lr=0.001"), after the source run's
  /// settings; a key the config does not take fails as `mmfuse train`'s overrides do.
  std::vector<std::string> finetune_overrides;
  std::optional<int> threads;  ///< intra-op threads (default: the run's train.threads)
  bool progress = true;        ///< training progress on stderr
  /// Latency before/after (batch 1 and `latency_batch`) on the validation split; off in tests.
  bool measure_latency = true;
  int64_t latency_batch = 40;
  int latency_repeats = 30;  ///< timed forwards per batch size (median kept)
};

/// One side (the source run or the pruned one) of the comparison. NaN when unknown.
struct PruneSide {
  int64_t params = 0;
  int64_t weights_bytes = 0;  ///< model.safetensors on disk
  double val_accuracy = NAN, val_macro_f1 = NAN, test_accuracy = NAN, test_macro_f1 = NAN;
  double latency_ms_batch1 = NAN, latency_ms_batchn = NAN;
  nlohmann::json to_json() const;
};

struct PruneReport {
  PruneOptions options;
  std::vector<LayerSparsity> sparsity;  ///< of the pruned run's weights; the last is overall
  std::vector<PrunedLayer> layers;      ///< structured: layers whose outputs shrank
  std::vector<std::string> kept;        ///< structured: what kept its width, and why
  std::vector<std::pair<std::string, std::string>> shapes;  ///< structured: "name" -> "a -> b"
  PruneSide before, after;
  std::string class_target;  ///< whose accuracy and macro F1 are reported

  nlohmann::json to_json() const;
  /// The human-readable comparison the command prints.
  std::string table() const;
};

/// Prunes `options.run` into `options.out` (fine-tuned when asked), evaluates it and writes
/// prune.json there. Throws UsageError for a bad amount, a missing --out or an --out that
/// already holds a run; Error for an unsupported block (structured) or task.
PruneReport run_prune(const PruneOptions& options);

/// Accuracy and macro F1 of `target` in a summary.json split ("val" or "test"); NaN when absent.
std::pair<double, double> summary_accuracy_f1(const nlohmann::json& summary,
                                              const std::string& split, const std::string& target);

}  // namespace mmfuse::optimize
