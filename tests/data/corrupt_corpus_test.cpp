// The corrupt-input corpus (tests/corrupt/, listed with the error each file must give in
// tests/corrupt/expected.tsv): every file of every format is refused with an mmfuse error that
// names the file (for manifests also the line and field) and says what is wrong. Nothing crashes,
// nothing else is thrown.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/image/idx.h"
#include "mmfuse/data/image/image_io.h"
#include "mmfuse/data/manifest.h"
#include "mmfuse/data/text/text_decode.h"

namespace mmfuse::data {
namespace {

struct CorruptCase {
  std::string format, file, expect;
};

std::vector<CorruptCase> corrupt_cases(const std::string& dir) {
  std::ifstream in(dir + "/expected.tsv");
  std::vector<CorruptCase> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream row(line);
    CorruptCase c;
    std::getline(row, c.format, '\t');
    std::getline(row, c.file, '\t');
    std::getline(row, c.expect);
    out.push_back(c);
  }
  return out;
}

// The error message reading `path` as `format` gives, or "" when it was accepted.
std::string corrupt_file_error(const std::string& format, const std::string& path) {
  try {
    if (format == "manifest") {
      ManifestSchema schema = ManifestSchema::all_modalities();
      schema.targets = {{"label", "label", TargetKind::class_label, /*required=*/true}};
      read_manifest(path, schema, /*skip_bad=*/false);
    } else if (format == "image") {
      image::decode_image_file(path, image::ReadOptions{});
    } else if (format == "audio") {
      audio::read_audio(path);
    } else if (format == "idx") {
      image::IdxFile f = image::read_idx(path);
      if (f.items() > 0) f.item_image(0, path);
    } else if (format == "text") {
      decode_text(read_file(path), TextEncoding::utf8, InvalidBytes::error, path);
    } else if (format == "safetensors") {
      load_safetensors(path);
    } else if (format == "yaml") {
      DatasetSpec::load(path);
    } else {
      return "unknown format " + format;
    }
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(CorruptCorpus, EveryFileGivesAClearErrorNamingIt) {
  const std::string dir = std::string(MMFUSE_SOURCE_DIR) + "/tests/corrupt";
  const auto cases = corrupt_cases(dir);
  ASSERT_GE(cases.size(), 40u) << "the corpus lists fewer than 40 files";
  std::map<std::string, int> per_format;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    const std::string path = dir + "/" + c.file;
    const std::string error = corrupt_file_error(c.format, path);
    if (error.empty()) {
      ADD_FAILURE() << "accepted a corrupt file";
      continue;
    }
    EXPECT_NE(error.find(path), std::string::npos) << "error does not name the file: " << error;
    EXPECT_NE(error.find(c.expect), std::string::npos)
        << "expected '" << c.expect << "' in: " << error;
    ++per_format[c.format];
  }
  EXPECT_EQ(per_format.size(), 7u);  // manifest, image, audio, idx, text, safetensors, yaml
}

}  // namespace
}  // namespace mmfuse::data
