// The image modality of the default dataset: real handwritten digits (the 8x8 UCI digits that
// Debian's python3-sklearn ships), upsampled to 28x28 and heavily distorted.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "mmfuse/data/default_dataset/common.h"

namespace mmfuse::data::default_dataset {

/// Where python3-sklearn installs the digits (1797 rows: 64 values 0..16, then the label).
inline constexpr const char* kSklearnDigitsCsv =
    "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

struct SourceDigit {
  std::array<uint8_t, 64> pixels{};  ///< row-major 8x8, values 0..16
  int label = 0;
  int row = 0;  ///< 0-based row in the CSV
};

/// Reads the gzipped CSV with zlib. Throws InputError naming the file and the bad line.
std::vector<SourceDigit> load_sklearn_digits(const std::string& csv_gz_path);

/// Source rows of each split: contiguous blocks of the CSV (train first 70%, val next 15%, test
/// last 15%). The rows are ordered by writer, so val/test digits mostly come from unseen writers.
std::array<std::vector<std::size_t>, kNumSplits> split_digit_rows(std::size_t rows);

struct ImageOptions {
  /// Rotation drawn from [-max, max] degrees.
  double max_rotation_deg = 20.0;
  /// Isotropic scale drawn from [min_scale, max_scale].
  double min_scale = 0.8;
  double max_scale = 1.1;
  /// Horizontal shear drawn from [-max, max] (x += shear * y).
  double max_shear = 0.25;
  /// Translation drawn from [-max, max] pixels on each axis.
  double max_shift_px = 2.5;
  /// Gaussian pixel noise: its standard deviation (intensities in [0, 1]) is drawn per image
  /// from [min_noise_std, max_noise_std].
  double min_noise_std = 0.1;
  double max_noise_std = 0.35;
  /// Probability of a Gaussian blur (sigma 0.8..1.8 px).
  double blur_prob = 0.25;
  /// Probability of an occluding bar (erased or painted, 3..7 px thick, across most of the digit).
  double occlusion_prob = 0.3;
};

/// A 28x28 CV_8UC1 rendering of `digit` (white on black, the digit in a 20x20 box before the
/// distortion, like MNIST).
cv::Mat render_digit(const SourceDigit& digit, const ImageOptions& options, Rng& rng);

/// PNG bytes of an 8-bit image (cv::imencode).
std::string encode_png(const cv::Mat& image);

}  // namespace mmfuse::data::default_dataset
