#include "mmfuse/runtime/request.h"

#include <cmath>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/utf8.h"

namespace mmfuse::runtime {

EncodedFile EncodedFile::read(const std::string& path) {
  return of(read_file(path), path);
}

EncodedFile EncodedFile::of(std::string bytes, std::string name) {
  return {std::make_shared<const std::string>(std::move(bytes)), std::move(name)};
}

bool Request::has(Modality m) const {
  switch (m) {
    case Modality::image:
      return image.has_value();
    case Modality::audio:
      return audio.has_value();
    case Modality::text:
      return text.has_value();
    case Modality::tabular:
      return tabular.has_value();
  }
  return false;
}

std::vector<Modality> Request::modalities() const {
  std::vector<Modality> out;
  for (Modality m : kAllModalities) {
    if (has(m)) out.push_back(m);
  }
  return out;
}

data::Field Request::field(Modality m) const {
  const std::string field_name(to_string(m));
  switch (m) {
    case Modality::image:
      return data::ImageRef{image->name, -1, image->bytes};
    case Modality::audio:
      return data::AudioRef{audio->name, std::nullopt, audio->bytes};
    case Modality::text:
      if (auto bad = utf8::find_invalid(*text)) {
        throw InputError("invalid UTF-8 at byte " + std::to_string(*bad) +
                         " of the text; send UTF-8 text")
            .at("", 0, field_name);
      }
      return *text;
    case Modality::tabular:
      for (std::size_t i = 0; i < tabular->size(); ++i) {
        if (!std::isfinite((*tabular)[i])) {
          throw InputError("value " + std::to_string(i) + " is not a finite number")
              .at("", 0, field_name);
        }
      }
      return *tabular;
  }
  throw Error("unknown modality");
}

std::vector<double> parse_numbers(const std::string& text) {
  std::vector<double> out;
  std::stringstream ss(text);
  for (std::string item; std::getline(ss, item, ',');) {
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    while (used < item.size() && std::isspace(static_cast<unsigned char>(item[used]))) ++used;
    if (used == 0 || used != item.size() || !std::isfinite(v)) {
      throw UsageError("expected comma-separated finite numbers, got '" + item + "' in '" + text +
                       "'");
    }
    out.push_back(v);
  }
  if (out.empty()) throw UsageError("expected comma-separated numbers, got '" + text + "'");
  return out;
}

}  // namespace mmfuse::runtime
