// A small on-disk dataset for the data-layer tests: numbers files as images, short texts,
// a class target (labels 1, 2, 10) and a 2-wide regression target.
#pragma once

#include <string>

#include "data/fake_pipelines.h"
#include "mmfuse/data/dataset.h"
#include "test_util.h"

namespace mmfuse::testing {

/// Sample i: image file "i 2i 3i" (scaled by 0.1 in the file), text "w<i%4> common" (every 5th
/// sample has none), label {1, 2, 10}[i % 3], value [i, -i] (every 4th has none).
inline std::string write_split(const TempDir& dir, const std::string& split, int n) {
  std::filesystem::create_directories(dir.file("files"));
  std::string lines;
  for (int i = 0; i < n; ++i) {
    std::string id = split + std::to_string(i);
    write_text(dir.file("files/" + id + ".txt"), std::to_string(0.1 * i) + " " +
                                                     std::to_string(0.2 * i) + " " +
                                                     std::to_string(0.3 * i) + "\n");
    static const char* kLabels[] = {"1", "2", "10"};
    lines += "{\"id\": \"" + id + "\", \"image\": \"files/" + id +
             ".txt\", \"label\": " + kLabels[i % 3];
    if (i % 5 != 4) lines += ", \"text\": \"w" + std::to_string(i % 4) + " common\"";
    if (i % 4 != 3) lines += ", \"value\": [" + std::to_string(i) + ", " + std::to_string(-i) + "]";
    lines += "}\n";
  }
  std::string path = dir.file(split + ".jsonl");
  write_text(path, lines);
  return path;
}

/// Writes train (n_train) and val (n_val) splits and spec.yaml; returns the spec's path.
inline std::string write_dataset(const TempDir& dir, int n_train, int n_val,
                                 const std::string& extra_yaml = "") {
  write_split(dir, "train", n_train);
  write_split(dir, "val", n_val);
  std::string spec = dir.file("spec.yaml");
  write_text(spec,
             "splits: {train: [train.jsonl], val: [val.jsonl]}\n"
             "modalities:\n"
             "  image: {field: image, pipeline: image, dim: 3}\n"
             "  text: {}\n"
             "targets:\n"
             "  digit: {field: label, type: class}\n"
             "  value: {type: regression, required: false}\n"
             "cache: {dir: cache, ram_mb: 16}\n" +
                 extra_yaml);
  return spec;
}

struct TestData {
  std::shared_ptr<CallCounter> calls = std::make_shared<CallCounter>();
  data::PipelineRegistry registry = make_test_registry(calls);
  data::DatasetOptions options(int threads = 2) {
    data::DatasetOptions o;
    o.registry = &registry;
    o.threads = threads;
    return o;
  }
};

}  // namespace mmfuse::testing
