// The figures `mmfuse optimize` reports for a run: accuracy and macro F1 on the validation and
// test splits (eval::evaluate, as `mmfuse eval` computes them), batch-1 and batch-B forward
// latency (median of timed forwards in eval mode without autograd, as `mmfuse bench`), and the
// weights file's size.
#pragma once

#include "mmfuse/optimize/optimize.h"

namespace mmfuse::optimize {

ModelFigures measure_run(const runtime::Run& run, const OptimizeOptions& options);

/// Median milliseconds of `steps` forwards of `batch` (after 10 untimed ones).
double p50_forward_ms(models::MultimodalModel& model, const data::Batch& batch, int64_t steps);

}  // namespace mmfuse::optimize
