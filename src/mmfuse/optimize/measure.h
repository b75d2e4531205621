// The figures `mmfuse optimize` reports for a run: accuracy and macro F1 on the validation and
// test splits (eval::evaluate, as `mmfuse eval` computes them), batch-1 and batch-B forward
// latency (median of timed forwards in eval mode without autograd, as `mmfuse bench`), and the
// weights file's size. Both run the model as eval, predict and serve do: through the run's
// inference plan when it has one (float runs), else the module path (int8 runs).
#pragma once

#include "mmfuse/optimize/optimize.h"

namespace mmfuse::optimize {

ModelFigures measure_run(const runtime::Run& run, const OptimizeOptions& options);

}  // namespace mmfuse::optimize
