// Confinement of the files a manifest names to a dataset's `data_root` (dataset_spec.h): a path
// such as `../../etc/passwd`, an absolute path elsewhere, or a symlink whose target lies outside
// the root is refused with an InputError (the manifest layer adds the line and field).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/core/modality.h"

namespace mmfuse::data {

/// Throws InputError unless `path` (already resolved against the manifest's folder), with every
/// symlink along it followed, lies inside `root`. `shown` is the path as the manifest wrote it.
void check_inside_data_root(const std::string& path, const std::string& shown,
                            const std::string& root);

/// Every file path in one manifest value of modality `m` (a path string, {"file": ...} and an
/// audio {"noise": {"file": ...}}), resolved against `base_dir`, checked with
/// check_inside_data_root. Values of other shapes are left to the field parser to reject.
void check_field_paths_in_root(Modality m, const nlohmann::json& value, const std::string& base_dir,
                               const std::string& root);

}  // namespace mmfuse::data
