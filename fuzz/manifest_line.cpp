// Manifest lines: the first byte picks JSONL or CSV (and whether a data_root confines the paths);
// the rest is the manifest file. Bad lines are skipped and recorded (skip_bad), so every line of
// an input is parsed.
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "mmfuse/core/error.h"
#include "mmfuse/data/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmfuse::data;
  if (size < 1) return 0;
  const bool csv = data[0] & 1;
  ManifestSchema schema = ManifestSchema::all_modalities();
  schema.targets.push_back({"value", "value", TargetKind::regression, /*required=*/false});
  if (data[0] & 2) schema.data_root = mmfuse::fuzz::scratch_dir();
  schema.limits.max_manifest_line_bytes = 4096;
  schema.limits.max_text_bytes = 1024;
  const std::string path = mmfuse::fuzz::scratch_file(
      csv ? "m.csv" : "m.jsonl",
      std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1));
  try {
    ManifestData out = read_manifest(path, schema, /*skip_bad=*/true);
    for (const auto& b : out.bad) (void)b.message();
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
