#include "mmfuse/data/default_dataset/digit_images.h"

#include <zlib.h>

#include <cmath>
#include <sstream>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mmfuse/core/error.h"

namespace mmfuse::data::default_dataset {

namespace {

std::string read_gzip(const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "rb");
  if (!gz) {
    throw InputError(
        "cannot open the sklearn digits (expected the gzipped CSV that python3-sklearn installs; "
        "install it with `apt-get install python3-sklearn` or pass its path)",
        path);
  }
  std::string text;
  char buf[65536];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
  int err = 0;
  const char* message = gzerror(gz, &err);
  std::string reason = n < 0 ? std::string(message) : std::string();
  gzclose(gz);
  if (n < 0) throw InputError("cannot decompress: " + reason, path);
  return text;
}

}  // namespace

std::vector<SourceDigit> load_sklearn_digits(const std::string& csv_gz_path) {
  std::istringstream lines(read_gzip(csv_gz_path));
  std::vector<SourceDigit> digits;
  std::string line;
  for (int line_no = 1; std::getline(lines, line); ++line_no) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string field;
    std::vector<int> values;
    while (std::getline(fields, field, ',')) {
      try {
        values.push_back(static_cast<int>(std::lround(std::stod(field))));
      } catch (const std::exception&) {
        throw InputError(
            "line " + std::to_string(line_no) + ": expected a number, got '" + field + "'",
            csv_gz_path);
      }
    }
    if (values.size() != 65 || values[64] < 0 || values[64] > 9) {
      throw InputError("line " + std::to_string(line_no) +
                           ": expected 64 pixel values 0..16 and a label 0..9, got " +
                           std::to_string(values.size()) + " values",
                       csv_gz_path);
    }
    SourceDigit d;
    for (int i = 0; i < 64; ++i) d.pixels[i] = static_cast<uint8_t>(std::clamp(values[i], 0, 16));
    d.label = values[64];
    d.row = static_cast<int>(digits.size());
    digits.push_back(d);
  }
  if (digits.size() < 100) {
    throw InputError(
        "expected the 1797 sklearn digits, got " + std::to_string(digits.size()) + " rows",
        csv_gz_path);
  }
  return digits;
}

std::array<std::vector<std::size_t>, kNumSplits> split_digit_rows(std::size_t rows) {
  const std::size_t val_begin = rows * 70 / 100, test_begin = rows * 85 / 100;
  std::array<std::vector<std::size_t>, kNumSplits> out;
  for (std::size_t r = 0; r < rows; ++r) {
    Split s = r < val_begin ? Split::train : (r < test_begin ? Split::val : Split::test);
    out[index_of(s)].push_back(r);
  }
  return out;
}

cv::Mat render_digit(const SourceDigit& digit, const ImageOptions& o, Rng& rng) {
  cv::Mat small(8, 8, CV_32F);
  for (int i = 0; i < 64; ++i) small.at<float>(i / 8, i % 8) = digit.pixels[i] / 16.0f;
  cv::Mat box;
  cv::resize(small, box, cv::Size(20, 20), 0, 0, cv::INTER_CUBIC);
  cv::Mat canvas = cv::Mat::zeros(28, 28, CV_32F);
  box.copyTo(canvas(cv::Rect(4, 4, 20, 20)));

  // Affine about the centre: translate * rotate * shear * scale.
  const double angle = uniform(rng, -o.max_rotation_deg, o.max_rotation_deg) * M_PI / 180.0;
  const double scale = uniform(rng, o.min_scale, o.max_scale);
  const double shear = uniform(rng, -o.max_shear, o.max_shear);
  const double tx = uniform(rng, -o.max_shift_px, o.max_shift_px);
  const double ty = uniform(rng, -o.max_shift_px, o.max_shift_px);
  const double c = std::cos(angle), s = std::sin(angle);
  // A = R * Sh * S with Sh = [[1, shear], [0, 1]].
  const double a00 = scale * c, a01 = scale * (c * shear - s);
  const double a10 = scale * s, a11 = scale * (s * shear + c);
  const double cx = 13.5, cy = 13.5;
  cv::Mat m = (cv::Mat_<double>(2, 3) << a00, a01, cx + tx - a00 * cx - a01 * cy,  //
               a10, a11, cy + ty - a10 * cx - a11 * cy);
  cv::Mat image;
  cv::warpAffine(canvas, image, m, canvas.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);

  if (bernoulli(rng, o.blur_prob)) {
    const double sigma = uniform(rng, 0.8, 1.8);
    cv::GaussianBlur(image, image, cv::Size(0, 0), sigma);
  }
  if (bernoulli(rng, o.occlusion_prob)) {
    const bool vertical = bernoulli(rng, 0.5);
    const int thick = uniform_int(rng, 3, 7), length = uniform_int(rng, 14, 24);
    const int along = uniform_int(rng, 2, 26 - length + 2),
              across = uniform_int(rng, 6, 22 - thick);
    cv::Rect bar =
        vertical ? cv::Rect(across, along, thick, length) : cv::Rect(along, across, length, thick);
    bar &= cv::Rect(0, 0, 28, 28);
    image(bar).setTo(bernoulli(rng, 0.5) ? 0.0 : 1.0);
  }
  const double noise_std = uniform(rng, o.min_noise_std, o.max_noise_std);
  std::normal_distribution<float> noise(0.0f, static_cast<float>(noise_std));
  cv::Mat out(28, 28, CV_8U);
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      float v = std::clamp(image.at<float>(y, x) + noise(rng), 0.0f, 1.0f);
      out.at<uint8_t>(y, x) = static_cast<uint8_t>(std::lround(v * 255.0f));
    }
  }
  return out;
}

std::string encode_png(const cv::Mat& image) {
  std::vector<uchar> bytes;
  if (!cv::imencode(".png", image, bytes)) throw Error("OpenCV cannot encode a PNG");
  return std::string(bytes.begin(), bytes.end());
}

}  // namespace mmfuse::data::default_dataset
