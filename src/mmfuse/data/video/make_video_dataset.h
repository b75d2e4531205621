// `mmfuse data make-video`: a labelled video set made from AV-MNIST (../shared/data/avmnist).
// Each clip shows the sample's digit image moving and scaling over 1 s (H.264 in MP4, or MPEG-4
// part 2 when this FFmpeg has no libx264) with its spoken digit, mixed with the sample's noise
// at its SNR, as the AAC sound track; a fraction of clips get a subtitle file (`clip.srt`, the
// digit's word). The test split comes from AV-MNIST's test samples (test speakers' takes and
// noise clips), val from its val samples. Same seed, same clips.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace mmfuse::data::video {

struct VideoDatasetOptions {
  std::string avmnist_dir;  ///< folder holding AV-MNIST's train/val/test.jsonl
  uint64_t seed = 0;
  int64_t limit = 2000;            ///< training clips; val and test get limit / 5 each (at least 1)
  int fps = 20;                    ///< frames per second (the clips are 1 s long)
  int size = 48;                   ///< frame side in pixels (even)
  double subtitle_fraction = 0.3;  ///< share of clips with a subtitle file
  int threads = 2;
};

struct VideoDatasetSummary {
  std::array<int64_t, 3> clips{};  ///< train, val, test
  int64_t with_subtitles = 0;
  std::string video_encoder;  ///< "libx264" or "mpeg4"
  /// A few lines for the terminal.
  std::string format() const;
};

/// Writes `out_dir`/{train,val,test}.jsonl, clips/<split>/<id>.mp4 (+ .srt) and README.md.
/// Manifest lines: {"id", "video": "clips/train/train-00012.mp4", "label": 5}. Throws
/// InputError naming the AV-MNIST file for missing input and Error for encoder failures.
VideoDatasetSummary make_video_dataset(const std::string& out_dir,
                                       const VideoDatasetOptions& options);

}  // namespace mmfuse::data::video
