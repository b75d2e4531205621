#include "mmfuse/core/config.h"

#include <algorithm>
#include <map>

namespace mmfuse {
namespace {

// yaml-cpp keeps the last of two equal keys in a map; a config that says `batch_size` twice is
// almost always an edit gone wrong, so it is an error naming both lines.
// Also bounds the nesting depth (kConfigMaxDepth): no mmfuse config nests more than a few levels,
// so a deeper one is corrupt or hostile and would only make every later walk over it recursive.
void reject_duplicate_keys(const YAML::Node& node, const std::string& source,
                           const std::string& path, int depth = 0) {
  if (depth > kConfigMaxDepth) {
    throw ConfigError(source + ":" + std::to_string(node.Mark().line + 1) + ": " +
                      (path.empty() ? "<root>" : path) + ": nesting deeper than " +
                      std::to_string(kConfigMaxDepth) +
                      " levels (kConfigMaxDepth); configs nest a few levels, flatten this one");
  }
  if (node.IsSequence()) {
    for (std::size_t i = 0; i < node.size(); ++i)
      reject_duplicate_keys(node[i], source, path + "[" + std::to_string(i) + "]", depth + 1);
    return;
  }
  if (!node.IsMap()) return;
  std::map<std::string, int> first_line;
  for (const auto& kv : node) {
    const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
    const std::string child = path.empty() ? key : path + "." + key;
    if (!key.empty()) {
      const int line = kv.first.Mark().line + 1;
      auto [it, inserted] = first_line.emplace(key, line);
      if (!inserted)
        throw ConfigError(source + ":" + std::to_string(line) + ": key '" + child +
                          "' appears twice (first on line " + std::to_string(it->second) +
                          "); keep one of them");
    }
    reject_duplicate_keys(kv.second, source, child, depth + 1);
  }
}

}  // namespace

ConfigNode::ConfigNode(YAML::Node node, std::string path, std::string source)
    : node_(std::move(node)), path_(std::move(path)), source_(std::move(source)) {}

ConfigNode& ConfigNode::operator=(const ConfigNode& other) {
  if (this != &other) {
    node_.reset(other.node_);  // rebinds; YAML::Node::operator= would overwrite the shared data
    path_ = other.path_;
    source_ = other.source_;
  }
  return *this;
}

ConfigNode ConfigNode::load_file(const std::string& file) {
  try {
    YAML::Node root = YAML::LoadFile(file);
    reject_duplicate_keys(root, file, "");
    return ConfigNode(root, "", file);
  } catch (const YAML::BadFile&) {
    throw ConfigError(file + ": cannot open the config file; check the path");
  } catch (const YAML::Exception& e) {
    throw ConfigError(file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

ConfigNode ConfigNode::parse(const std::string& yaml_text, const std::string& source) {
  try {
    YAML::Node root = YAML::Load(yaml_text);
    reject_duplicate_keys(root, source, "");
    return ConfigNode(root, "", source);
  } catch (const YAML::Exception& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

bool ConfigNode::has(const std::string& key) const {
  return is_map() && node_[key] && !node_[key].IsNull();
}

std::size_t ConfigNode::size() const {
  return node_ ? node_.size() : 0;
}

std::vector<std::string> ConfigNode::keys() const {
  std::vector<std::string> out;
  if (!is_map()) return out;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) {
      fail(std::string("a key is ") +
           (kv.first.IsMap()        ? "a map"
            : kv.first.IsSequence() ? "a list"
                                    : "null") +
           "; keys must be plain names");
    }
    out.push_back(kv.first.Scalar());
  }
  return out;
}

ConfigNode ConfigNode::operator[](const std::string& key) const {
  std::string child_path = path_.empty() ? key : path_ + "." + key;
  if (!is_map()) return ConfigNode(YAML::Node(), child_path, source_);
  // Const lookup: does not insert into the underlying map. A missing key gives an undefined
  // (but valid) node rather than yaml-cpp's invalid "zombie", so copies stay safe to assign.
  const YAML::Node& cnode = node_;
  const YAML::Node found = cnode[key];
  return ConfigNode(found.IsDefined() ? found : YAML::Node(YAML::NodeType::Undefined), child_path,
                    source_);
}

ConfigNode ConfigNode::at(std::size_t i) const {
  std::string child_path = path_ + "[" + std::to_string(i) + "]";
  if (!is_sequence() || i >= node_.size()) return ConfigNode(YAML::Node(), child_path, source_);
  const YAML::Node& cnode = node_;
  return ConfigNode(cnode[i], child_path, source_);
}

void ConfigNode::check_keys(const std::vector<std::string>& allowed) const {
  for (const auto& k : keys()) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string known;
      for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
      (*this)[k].fail("unknown key; known keys here: " + known);
    }
  }
}

void ConfigNode::set_override(const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) {
    throw UsageError("override '" + assignment + "' is not of the form key.path=value");
  }
  std::string key = assignment.substr(0, eq);
  YAML::Node value;
  try {
    value = YAML::Load(assignment.substr(eq + 1));
  } catch (const YAML::Exception& e) {
    throw UsageError("override '" + assignment + "': value is not valid YAML: " + e.msg);
  }
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!node_ || node_.IsNull()) node_ = YAML::Node(YAML::NodeType::Map);
  // yaml-cpp nodes are handles: walking with operator[] on non-const nodes creates missing maps.
  std::vector<YAML::Node> chain{node_};
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (next.IsScalar() || next.IsSequence()) {
      throw UsageError("override '" + assignment + "': '" + parts[i] + "' is not a map");
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = value;
}

std::string ConfigNode::dump() const {
  YAML::Emitter out;
  out << node_;
  return out.c_str();
}

void ConfigNode::fail(const std::string& message) const {
  std::string where = source_.empty() ? "" : source_ + ": ";
  where += path_.empty() ? "<root>" : path_;
  throw ConfigError(where + ": " + message);
}

}  // namespace mmfuse
