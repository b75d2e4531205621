// A manifest's video field: one clip that expands into up to three modalities.
//
//   "video": "clip.mp4"
//   "video": {"file": "clip.mp4", "frames": 8, "fps": 4, "start_s": 0.5, "subtitles": "auto"}
//
// For modality image it is the clip's frames (an ImageRef with `video` set, decoded by the
// `video_frames` pipeline); for audio its sound track (an AudioRef on the clip: audio::read_audio
// decodes video containers with FFmpeg); for text the subtitles' text:
//   subtitles: auto (default)  a sidecar clip.srt / clip.vtt, else an embedded text stream, else
//                              none (the text modality is then absent for this sample)
//              none            never
//              embedded        the clip's text subtitle stream (an error when it has none)
//              "path.srt"      that file (.srt or .vtt; relative to the manifest)
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/data/sample.h"

namespace mmfuse::data::video {

/// The part of the clip `value` names that modality `m` takes; nullopt when the clip has none
/// (no subtitles). Throws InputError with the reason (the caller adds manifest, line, field).
std::optional<Field> video_field_from_json(Modality m, const nlohmann::json& value,
                                           const std::string& base_dir);

}  // namespace mmfuse::data::video
