// Pretrained word vectors (word2vec text format or GloVe) for initialising embedding tables.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace mmfuse::encoders {

/// Copies the vectors of `path` into the rows of `weight` [V, D] whose token (id_to_token[id])
/// the file holds; other rows keep their values. The file has one `token v_1 ... v_D` line per
/// word, optionally preceded by a word2vec header `count D`; values are parsed only on the lines of
/// vocabulary tokens (large files stay fast). Returns how many vocabulary ids received a vector.
/// Requires: weight is [id_to_token.size(), D], floating point.
/// Throws InputError naming the file and line for a missing file, a line with another number of
/// values than D, or a value that is not a number.
int64_t load_word_vectors(const std::string& path, const std::vector<std::string>& id_to_token,
                          torch::Tensor& weight);

}  // namespace mmfuse::encoders
