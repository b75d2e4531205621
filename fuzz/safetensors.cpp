// Safetensors files (the weights a user downloads): header + tensors, then a re-serialisation
// that must parse back to the same tensors.
#include <cstdint>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    mmfuse::SafetensorsData d = mmfuse::parse_safetensors(bytes, "fuzz.safetensors");
    const std::string again = mmfuse::serialize_safetensors(d.tensors, d.metadata);
    mmfuse::SafetensorsData back = mmfuse::parse_safetensors(again, "again.safetensors");
    if (back.tensors.size() != d.tensors.size()) __builtin_trap();
    for (const auto& [name, t] : d.tensors) {
      const auto& u = back.tensors.at(name);
      if (t.sizes() != u.sizes() || t.scalar_type() != u.scalar_type()) __builtin_trap();
      if (t.numel() > 0 && t.nbytes() != u.nbytes()) __builtin_trap();
    }
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
