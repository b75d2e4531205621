// Registry<T, Context>: named factories for one family of products (encoders, fusions, heads,
// data pipelines). Entries are added in one explicit register_builtin_*() function per family,
// one line each:  r.add<TensorFusionImpl>();  // uses Impl::kName, Impl::kDescription, Impl::create
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"

namespace mmfuse {

template <class T, class Context>
class Registry {
 public:
  using Factory = std::function<std::shared_ptr<T>(const Context&, const ConfigNode&)>;
  struct Entry {
    std::string name;
    std::string description;
    Factory make;
  };

  explicit Registry(std::string family) : family_(std::move(family)) {}

  /// Registers Impl under Impl::kName with Impl::kDescription, built by
  /// `static std::shared_ptr<Impl> Impl::create(const Context&, const ConfigNode&)`.
  template <class Impl>
  void add() {
    add(Impl::kName, Impl::kDescription, [](const Context& ctx, const ConfigNode& cfg) {
      return std::static_pointer_cast<T>(Impl::create(ctx, cfg));
    });
  }

  void add(std::string name, std::string description, Factory make) {
    if (find(name)) throw Error(family_ + " '" + name + "' is registered twice");
    entries_.push_back({std::move(name), std::move(description), std::move(make)});
  }

  const Entry* find(const std::string& name) const {
    for (const auto& e : entries_) {
      if (e.name == name) return &e;
    }
    return nullptr;
  }

  /// Builds `name` from `cfg`; an unknown name fails at `cfg`'s path listing the known ones.
  std::shared_ptr<T> create(const std::string& name, const Context& ctx,
                            const ConfigNode& cfg) const {
    const Entry* e = find(name);
    if (!e) cfg.fail("unknown " + family_ + " '" + name + "'; known: " + known_names());
    return e->make(ctx, cfg);
  }

  std::string known_names() const {
    std::string out;
    for (const auto& e : entries_) out += (out.empty() ? "" : ", ") + e.name;
    return out;
  }

  const std::vector<Entry>& entries() const { return entries_; }
  const std::string& family() const { return family_; }

 private:
  std::string family_;
  std::vector<Entry> entries_;
};

}  // namespace mmfuse
