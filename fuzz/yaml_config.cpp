// YAML configs: the generic parser (ConfigNode) and the dataset spec built on it (splits,
// modalities, targets, cache, limits, data_root), from any text.
#include <cstdint>
#include <string>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"
#include "mmfuse/data/dataset_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    mmfuse::ConfigNode root = mmfuse::ConfigNode::parse(text, "fuzz.yaml");
    for (const auto& k : root.keys()) (void)root[k].dump();
  } catch (const mmfuse::Error&) {
  }
  try {
    mmfuse::data::DatasetSpec spec =
        mmfuse::data::DatasetSpec::parse(text, "fuzz.yaml", "/nonexistent/specs");
    (void)spec.schema();
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
