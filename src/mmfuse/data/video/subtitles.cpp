#include "mmfuse/data/video/subtitles.h"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/utf8.h"

namespace mmfuse::data::video {

namespace {

// "HH:MM:SS,mmm", "HH:MM:SS.mmm" or (WebVTT) "MM:SS.mmm" -> seconds; false when malformed.
bool parse_cue_clock(const std::string& s, double* out) {
  static const std::regex re(R"(^(?:(\d+):)?(\d{1,2}):(\d{2})[,.](\d{1,3})$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) return false;
  const double h = m[1].matched ? std::stod(m[1].str()) : 0.0;
  std::string ms = m[4].str();
  ms.resize(3, '0');
  *out = h * 3600 + std::stod(m[2].str()) * 60 + std::stod(m[3].str()) + std::stod(ms) / 1000;
  return true;
}

std::string trim_subtitle_space(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

// "00:00:01,000 --> 00:00:02,500 [settings]" -> the cue's times.
bool parse_timing_line(const std::string& line, SubtitleCue* cue) {
  const auto arrow = line.find("-->");
  if (arrow == std::string::npos) return false;
  const std::string a = trim_subtitle_space(line.substr(0, arrow));
  std::string b = trim_subtitle_space(line.substr(arrow + 3));
  b = b.substr(0, b.find_first_of(" \t"));  // WebVTT cue settings follow the end time
  return parse_cue_clock(a, &cue->start_s) && parse_cue_clock(b, &cue->end_s);
}

}  // namespace

std::string strip_subtitle_markup(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<' || c == '{') {  // <i>, </font>, {\an8}: skip to the closing bracket
      const auto close = text.find(c == '<' ? '>' : '}', i);
      if (close != std::string::npos) {
        i = close;
        continue;
      }
    }
    if (c == '\\' && i + 1 < text.size() && (text[i + 1] == 'N' || text[i + 1] == 'n')) {
      out += ' ';
      ++i;
      continue;
    }
    out += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
  }
  std::string collapsed;
  for (char c : out) {
    if (c == ' ' && (collapsed.empty() || collapsed.back() == ' ')) continue;
    collapsed += c;
  }
  if (!collapsed.empty() && collapsed.back() == ' ') collapsed.pop_back();
  return collapsed;
}

std::vector<SubtitleCue> parse_subtitles(const std::string& text, const std::string& path) {
  if (auto bad = utf8::find_invalid(text)) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(*bad) +
                         " of the subtitles; re-encode the file as UTF-8",
                     path);
  }
  std::vector<std::string> lines;
  std::size_t pos = text.compare(0, 3, "\xEF\xBB\xBF") == 0 ? 3 : 0;  // skip a BOM
  while (pos <= text.size()) {
    auto end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    pos = end + 1;
  }
  std::vector<SubtitleCue> cues;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find("-->") == std::string::npos) continue;  // numbers, headers, NOTE blocks
    SubtitleCue cue;
    if (!parse_timing_line(lines[i], &cue)) {
      throw InputError("line " + std::to_string(i + 1) +
                           ": expected a timing line like '00:00:01,000 --> 00:00:02,500', got '" +
                           lines[i] + "'",
                       path);
    }
    std::string body;
    for (++i; i < lines.size() && !trim_subtitle_space(lines[i]).empty(); ++i) {
      body += (body.empty() ? "" : "\n") + lines[i];
    }
    cue.text = strip_subtitle_markup(body);
    if (!cue.text.empty()) cues.push_back(std::move(cue));
  }
  std::stable_sort(cues.begin(), cues.end(), [](const SubtitleCue& a, const SubtitleCue& b) {
    return a.start_s < b.start_s;
  });
  return cues;
}

std::vector<SubtitleCue> read_subtitle_file(const std::string& path) {
  return parse_subtitles(read_file(path), path);
}

std::string subtitle_text(const std::vector<SubtitleCue>& cues) {
  std::string out;
  for (const auto& c : cues) out += (out.empty() ? "" : " ") + c.text;
  return out;
}

std::optional<std::string> find_sidecar_subtitles(const std::string& video_path) {
  for (const char* ext : {".srt", ".vtt"}) {
    std::filesystem::path p(video_path);
    p.replace_extension(ext);
    std::error_code ec;
    if (std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  return std::nullopt;
}

}  // namespace mmfuse::data::video
