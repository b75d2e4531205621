#include "mmfuse/train/positives.h"

#include <sstream>
#include <variant>

namespace mmfuse::train {

std::string query_key(const data::Sample& sample, Modality query) {
  const auto& field = sample.field(query);
  if (!field) return "";
  std::ostringstream key;
  std::visit(
      [&key](const auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, std::string>) {
          key << "t:" << f;
        } else if constexpr (std::is_same_v<T, data::ImageRef>) {
          key << "i:" << f.path << '#' << f.index;
        } else if constexpr (std::is_same_v<T, data::AudioRef>) {
          key << "a:" << f.path;
          if (f.noise)
            key << '+' << f.noise->path << '@' << f.noise->offset_s << '/' << f.noise->snr_db;
        } else {
          key << "v:";
          for (float v : f) key << v << ',';
        }
      },
      *field);
  return key.str();
}

QueryGroups::QueryGroups(const data::SampleSet& samples, Modality query) {
  std::unordered_map<std::string, int64_t> by_key;
  for (const auto& s : samples.samples) {
    const auto [it, fresh] = by_key.emplace(query_key(s, query), groups_);
    if (fresh) ++groups_;
    group_of_[s.id] = it->second;
  }
}

torch::Tensor QueryGroups::labels(const std::vector<std::string>& ids) const {
  auto out = torch::empty({static_cast<int64_t>(ids.size())}, torch::kLong);
  auto* p = out.data_ptr<int64_t>();
  int64_t next = groups_;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const auto it = group_of_.find(ids[i]);
    p[i] = it == group_of_.end() ? next++ : it->second;
  }
  return out;
}

}  // namespace mmfuse::train
