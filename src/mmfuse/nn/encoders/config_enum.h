// Enums chosen by name in block configs: each enum has one table of names, read through
// read_enum, so an unknown name fails at its config path listing the known ones.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mmfuse/core/config.h"

namespace mmfuse::encoders {

template <class E>
using EnumNames = std::vector<std::pair<E, std::string>>;

/// The name of `value` in `names` ("?" when absent).
template <class E>
std::string enum_name(E value, const EnumNames<E>& names) {
  for (const auto& [v, name] : names) {
    if (v == value) return name;
  }
  return "?";
}

/// Reads `cfg[key]` as one of `names` (`fallback` when the key is absent).
template <class E>
E read_enum(const ConfigNode& cfg, const std::string& key, E fallback, const EnumNames<E>& names) {
  ConfigNode node = cfg[key];
  if (node.is_null()) return fallback;
  std::string name = node.as<std::string>(), known;
  for (const auto& [v, n] : names) {
    if (n == name) return v;
    known += (known.empty() ? "" : ", ") + n;
  }
  node.fail("unknown " + key + " '" + name + "'; known: " + known);
}

}  // namespace mmfuse::encoders
