#include "mmfuse/data/data_root.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse::data {

namespace fs = std::filesystem;

void check_inside_data_root(const std::string& path, const std::string& shown,
                            const std::string& root) {
  std::error_code ec;
  const fs::path real_root = fs::weakly_canonical(fs::absolute(root, ec), ec);
  const fs::path real = fs::weakly_canonical(fs::absolute(path, ec), ec);
  if (ec) throw InputError("cannot resolve path '" + shown + "': " + ec.message());
  // Inside: the root's components are a prefix of the path's.
  auto r = real_root.begin();
  auto p = real.begin();
  for (; r != real_root.end() && !r->empty(); ++r, ++p) {
    if (p == real.end() || *p != *r) {
      throw InputError("path '" + shown + "' resolves to " + real.string() +
                       ", outside the dataset's data_root " + real_root.string() +
                       " (symlinks followed); move the file under data_root or change "
                       "`data_root` in the dataset spec");
    }
  }
}

void check_field_paths_in_root(Modality m, const nlohmann::json& value, const std::string& base_dir,
                               const std::string& root) {
  const auto check = [&](const nlohmann::json& v) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) return;
    const auto& shown = v.get_ref<const std::string&>();
    check_inside_data_root(resolve_path(base_dir, shown), shown, root);
  };
  if (m == Modality::tabular) return;
  if (value.is_string() && m != Modality::text) check(value);  // inline text is not a path
  if (!value.is_object()) return;
  if (auto f = value.find("file"); f != value.end()) check(*f);
  if (auto n = value.find("noise"); m == Modality::audio && n != value.end() && n->is_object()) {
    if (auto f = n->find("file"); f != n->end()) check(*f);
  }
}

}  // namespace mmfuse::data
