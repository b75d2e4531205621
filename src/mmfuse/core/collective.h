// How the processes of a data-parallel run combine what each computed on its shard of the data
// (validation and test outputs, sums). The default is one process: every operation is the
// identity. train/distributed.h implements it on c10d; lower layers (evaluation) only see this
// interface.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace mmfuse {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int rank() const { return 0; }
  virtual int world_size() const { return 1; }
  /// `local` [n_r, ...] of every process concatenated along dim 0 in rank order (n_r may
  /// differ between processes). Every process must call it the same number of times.
  virtual torch::Tensor gather(const torch::Tensor& local) const { return local; }
  /// Sums `values` element-wise over the processes, in place.
  virtual void sum(std::vector<double>& values) const {}
};

/// The one-process collective.
inline const Collective& single_process() {
  static const Collective one;
  return one;
}

}  // namespace mmfuse
