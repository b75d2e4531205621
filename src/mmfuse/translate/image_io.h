// Writing generated features as files and as inline HTML images.
#pragma once

#include <string>

#include <torch/torch.h>

namespace mmfuse::translate {

/// [C, H, W] or [H, W] floats in [0, 1] (C = 1 or 3) -> PNG bytes, each pixel repeated `scale`
/// times in both directions.
std::string encode_png(const torch::Tensor& chw, int scale = 1);

/// Writes encode_png atomically; throws Error naming the file when it cannot be written.
void write_png(const std::string& path, const torch::Tensor& chw, int scale = 1);

/// RFC 4648 base64 (for data: URIs in the report).
std::string base64(const std::string& bytes);

}  // namespace mmfuse::translate
