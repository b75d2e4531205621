// Small PNG previews of the images a search returns, for the web page: each image hit of an index
// (its metadata names the file, or an item of an IDX file) is read with the data layer, scaled so
// that its longer side is kThumbnailSide pixels and sent inline as a data: URI.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/data/image/idx.h"

namespace mmfuse::serve {

/// Longer side of a thumbnail in pixels.
inline constexpr int kThumbnailSide = 64;

/// "data:image/png;base64,..." of the image a metadata line names in its "image" field (a path, or
/// {"file", "index"} for an IDX item); "" when the line has none or the file cannot be read (a
/// missing preview never fails a search).
std::string thumbnail_data_uri(const nlohmann::json& metadata, data::image::IdxCache& idx);

}  // namespace mmfuse::serve
