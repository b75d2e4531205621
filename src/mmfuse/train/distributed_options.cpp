#include "mmfuse/train/distributed_options.h"

#include <charconv>
#include <optional>

#include "mmfuse/core/error.h"

namespace mmfuse::train {
namespace {

std::string in_quotes(const std::string& s) {
  return "'" + s + "'";
}

/// The variable's value; nullopt when unset or empty (torch treats both as unset).
std::optional<std::string> lookup(const std::function<const char*(const char*)>& getenv_fn,
                                  const char* name) {
  const char* v = getenv_fn(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int parse_int(const std::string& name, const std::string& value, long lo, long hi,
              const std::string& range) {
  long out = 0;
  const char* first = value.data();
  const char* last = value.data() + value.size();
  auto [ptr, ec] = std::from_chars(first, last, out);
  if (ec != std::errc() || ptr != last || out < lo || out > hi) {
    throw UsageError("environment variable " + name + ": expected " + range + ", got " +
                     in_quotes(value) + " (set by torchrun; check the launch command)");
  }
  return static_cast<int>(out);
}

}  // namespace

void DistributedOptions::validate() const {
  auto fail = [](const std::string& what) { throw UsageError("distributed options: " + what); };
  if (world_size < 1) fail("world_size must be >= 1, got " + std::to_string(world_size));
  if (rank < 0 || rank >= world_size) {
    fail("rank must be in [0, " + std::to_string(world_size) + "), got " + std::to_string(rank));
  }
  if (local_rank < 0) fail("local_rank must be >= 0, got " + std::to_string(local_rank));
  if (master_port <= 0 || master_port > 65535) {
    fail("master_port must be in [1, 65535], got " + std::to_string(master_port));
  }
  if (restart_count < 0) fail("restart_count must be >= 0, got " + std::to_string(restart_count));
  if (timeout.count() <= 0) fail("timeout must be > 0 ms, got " + std::to_string(timeout.count()));
  if (world_size > 1 && master_addr.empty()) fail("master_addr is empty");
}

DistributedOptions DistributedOptions::from_environment(
    const std::function<const char*(const char*)>& getenv_fn) {
  DistributedOptions o;
  const auto world = lookup(getenv_fn, "WORLD_SIZE");
  if (!world) return o;
  o.world_size = parse_int("WORLD_SIZE", *world, 1, 1 << 20, "an integer >= 1");

  const auto rank = lookup(getenv_fn, "RANK");
  if (!rank) {
    throw UsageError(
        "environment variable RANK: expected the process's rank, but it is not set "
        "while WORLD_SIZE is " +
        in_quotes(*world) + " (launch with torchrun, or set both)");
  }
  o.rank = parse_int("RANK", *rank, 0, o.world_size - 1,
                     "an integer in [0, WORLD_SIZE = " + std::to_string(o.world_size) + ")");
  if (auto v = lookup(getenv_fn, "LOCAL_RANK")) {
    o.local_rank = parse_int("LOCAL_RANK", *v, 0, 1 << 20, "an integer >= 0");
  }
  if (auto v = lookup(getenv_fn, "TORCHELASTIC_RESTART_COUNT")) {
    o.restart_count = parse_int("TORCHELASTIC_RESTART_COUNT", *v, 0, 1 << 30, "an integer >= 0");
  }
  if (auto v = lookup(getenv_fn, "TORCHELASTIC_USE_AGENT_STORE")) {
    if (*v != "True" && *v != "False") {
      throw UsageError(
          "environment variable TORCHELASTIC_USE_AGENT_STORE: expected 'True' or "
          "'False' (as torchrun sets it), got " +
          in_quotes(*v));
    }
    o.use_agent_store = *v == "True";
  }
  if (auto v = lookup(getenv_fn, "GLOO_SOCKET_IFNAME")) {
    std::size_t start = 0;
    while (start <= v->size()) {
      const std::size_t comma = std::min(v->find(',', start), v->size());
      if (comma > start) o.gloo_interfaces.push_back(v->substr(start, comma - start));
      start = comma + 1;
    }
  }

  const auto addr = lookup(getenv_fn, "MASTER_ADDR");
  const auto port = lookup(getenv_fn, "MASTER_PORT");
  if (o.world_size > 1) {
    for (const char* name : {"MASTER_ADDR", "MASTER_PORT"}) {
      if (!lookup(getenv_fn, name)) {
        throw UsageError(std::string("environment variable ") + name +
                         ": expected the rendezvous address, but it is not set while WORLD_SIZE "
                         "is " +
                         in_quotes(*world) + " (launch with torchrun, or set MASTER_ADDR and " +
                         "MASTER_PORT)");
      }
    }
  }
  if (addr) o.master_addr = *addr;
  if (port) o.master_port = parse_int("MASTER_PORT", *port, 1, 65535, "a port in [1, 65535]");
  o.validate();
  return o;
}

}  // namespace mmfuse::train
