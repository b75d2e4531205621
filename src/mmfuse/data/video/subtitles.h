// Subtitles as text: SubRip (.srt) and WebVTT (.vtt) files, the sidecar file next to a video, and
// the markup stripped from cue text (<i>, {\an8}, ASS override blocks, \N line breaks).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mmfuse::data::video {

/// One cue: shown from start_s to end_s seconds.
struct SubtitleCue {
  double start_s = 0, end_s = 0;
  std::string text;  ///< UTF-8, markup stripped, lines joined by a space
};

/// Parses SubRip or WebVTT text (WebVTT when it starts with "WEBVTT"). Throws InputError naming
/// `path` and the line for a malformed timing line or invalid UTF-8.
std::vector<SubtitleCue> parse_subtitles(const std::string& text, const std::string& path);

/// parse_subtitles on a file's contents. Throws InputError when it cannot be read.
std::vector<SubtitleCue> read_subtitle_file(const std::string& path);

/// The cues' text in time order, joined by a space ("" when there are none).
std::string subtitle_text(const std::vector<SubtitleCue>& cues);

/// `clip.srt` or else `clip.vtt` beside `clip.mp4`, when one exists.
std::optional<std::string> find_sidecar_subtitles(const std::string& video_path);

/// Cue text without markup: HTML-like tags, ASS `{...}` override blocks, `\N`/`\n` -> space,
/// whitespace runs collapsed and trimmed.
std::string strip_subtitle_markup(const std::string& text);

}  // namespace mmfuse::data::video
