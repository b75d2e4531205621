// Typed, path-aware access to YAML configuration. Every error names the config path it is about,
// e.g. `configs/default.yaml: model.fusion.rank: expected an integer, got 'high'`.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "mmfuse/core/error.h"

namespace mmfuse {

/// Deepest nesting of maps and sequences a config may have; parse/load_file refuse deeper ones
/// with a ConfigError naming the line (yaml-cpp itself stops at 2000 levels).
inline constexpr int kConfigMaxDepth = 64;

class ConfigNode {
 public:
  ConfigNode() = default;
  /// `source` names the file (or "<string>") for messages; `path` is the dotted key of `node`.
  ConfigNode(YAML::Node node, std::string path, std::string source = {});

  /// Copies refer to the same YAML data (yaml-cpp nodes are handles). Assignment rebinds this
  /// node to the other's data; it never writes into the data this node referred to before.
  ConfigNode(const ConfigNode&) = default;
  ConfigNode& operator=(const ConfigNode& other);

  static ConfigNode load_file(const std::string& file);
  static ConfigNode parse(const std::string& yaml_text, const std::string& source = "<string>");

  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }
  const YAML::Node& yaml() const { return node_; }

  bool is_null() const { return !node_ || node_.IsNull(); }
  bool is_map() const { return node_ && node_.IsMap(); }
  bool is_sequence() const { return node_ && node_.IsSequence(); }
  bool is_scalar() const { return node_ && node_.IsScalar(); }
  bool has(const std::string& key) const;
  std::size_t size() const;
  /// Keys of a map, in file order.
  std::vector<std::string> keys() const;

  /// Child by key (a null node when absent; `get` on it reports the full path).
  ConfigNode operator[](const std::string& key) const;
  /// Element of a sequence.
  ConfigNode at(std::size_t i) const;

  /// This node converted to T; throws ConfigError naming the path and the expected type.
  template <class T>
  T as() const;
  /// Required child value.
  template <class T>
  T get(const std::string& key) const {
    ConfigNode c = (*this)[key];
    if (c.is_null()) c.fail("missing required value");
    return c.as<T>();
  }
  /// Optional child value.
  template <class T>
  T get(const std::string& key, const T& fallback) const {
    ConfigNode c = (*this)[key];
    return c.is_null() ? fallback : c.as<T>();
  }

  /// Throws ConfigError if the map has keys outside `allowed` (catches typos such as `rnak: 4`).
  void check_keys(const std::vector<std::string>& allowed) const;

  /// Applies a command-line override `a.b.c=value` (value parsed as YAML) to this (root) node.
  void set_override(const std::string& assignment);

  /// YAML text of this node.
  std::string dump() const;

  [[noreturn]] void fail(const std::string& message) const;

 private:
  YAML::Node node_;
  std::string path_;
  std::string source_;
};

template <class T>
T ConfigNode::as() const {
  if (is_null()) fail("missing required value");
  try {
    return node_.as<T>();
  } catch (const YAML::Exception&) {
    std::string got = is_scalar() ? "'" + node_.Scalar() + "'" : (is_map() ? "a map" : "a list");
    fail("cannot read " + got + " as the expected type");
  }
}

}  // namespace mmfuse
