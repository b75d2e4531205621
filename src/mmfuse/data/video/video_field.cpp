#include "mmfuse/data/video/video_field.h"

#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/field.h"
#include "mmfuse/data/video/subtitles.h"
#include "mmfuse/data/video/video_reader.h"

namespace mmfuse::data::video {

namespace {

using nlohmann::json;

struct ParsedVideoValue {
  std::string path;
  VideoSampling sampling;
  std::string subtitles = "auto";  ///< auto | none | embedded | a resolved path
};

double video_number(const json& v, const char* key, double min) {
  if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() < min) {
    throw InputError(std::string("\"") + key + "\": expected a number >= " +
                     std::to_string(static_cast<int>(min)) + ", got " + v.dump());
  }
  return v.get<double>();
}

ParsedVideoValue parse_video_value(const json& v, const std::string& base_dir) {
  ParsedVideoValue out;
  if (v.is_string() && !v.get_ref<const std::string&>().empty()) {
    out.path = resolve_path(base_dir, v.get<std::string>());
    return out;
  }
  if (!v.is_object() || !v.contains("file") || !v["file"].is_string()) {
    throw InputError(
        "expected a video path string or {\"file\", \"frames\", \"fps\", "
        "\"start_s\", \"subtitles\"}, got " +
        json_kind(v));
  }
  for (const auto& [key, value] : v.items()) {
    if (key != "file" && key != "frames" && key != "fps" && key != "start_s" &&
        key != "subtitles") {
      throw InputError("unknown key '" + key +
                       "' in a video object; known: file, frames, fps, start_s, subtitles");
    }
  }
  out.path = resolve_path(base_dir, v["file"].get<std::string>());
  if (v.contains("frames")) {
    if (!v["frames"].is_number_integer() || v["frames"].get<int64_t>() < 1) {
      throw InputError("\"frames\": expected a positive integer, got " + v["frames"].dump());
    }
    out.sampling.frames = static_cast<int>(v["frames"].get<int64_t>());
  }
  if (v.contains("fps")) out.sampling.fps = video_number(v["fps"], "fps", 0);
  if (v.contains("start_s")) out.sampling.start_s = video_number(v["start_s"], "start_s", 0);
  if (v.contains("subtitles")) {
    if (!v["subtitles"].is_string() || v["subtitles"].get<std::string>().empty()) {
      throw InputError("\"subtitles\": expected auto, none, embedded or a .srt/.vtt path, got " +
                       v["subtitles"].dump());
    }
    const std::string s = v["subtitles"].get<std::string>();
    out.subtitles = (s == "auto" || s == "none" || s == "embedded") ? s : resolve_path(base_dir, s);
  }
  return out;
}

std::optional<Field> clip_subtitles(const ParsedVideoValue& v) {
  if (v.subtitles == "none") return std::nullopt;
  std::vector<SubtitleCue> cues;
  if (v.subtitles == "embedded") {
    cues = VideoReader(v.path).read_embedded_subtitles();
  } else if (v.subtitles != "auto") {
    cues = read_subtitle_file(v.subtitles);
  } else if (auto sidecar = find_sidecar_subtitles(v.path)) {
    cues = read_subtitle_file(*sidecar);
  } else {
    VideoReader reader(v.path);
    if (reader.info().subtitle_stream < 0) return std::nullopt;
    cues = reader.read_embedded_subtitles();
  }
  return Field(subtitle_text(cues));
}

}  // namespace

std::optional<Field> video_field_from_json(Modality m, const json& value,
                                           const std::string& base_dir) {
  const ParsedVideoValue v = parse_video_value(value, base_dir);
  switch (m) {
    case Modality::image: {
      ImageRef ref;
      ref.path = v.path;
      ref.video = v.sampling;
      return Field(ref);
    }
    case Modality::audio:
      return Field(AudioRef{v.path, std::nullopt, nullptr});
    case Modality::text:
      return clip_subtitles(v);
    case Modality::tabular:
      break;
  }
  throw InputError(
      "a video clip has no tabular part; map only image (frames), audio and text "
      "to the video field");
}

}  // namespace mmfuse::data::video
