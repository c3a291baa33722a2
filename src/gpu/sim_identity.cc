// Deterministic identities of simulated GPUs, shared by nvmlsim and SimulatedInventory (kept apart
// from inventory.cc so that nvmlsim links without the NVML loader).
#include <cstdio>
#include <string>
#include <string_view>

#include "gpu/inventory.h"

namespace migdra::gpu {

namespace {

// A stable 32-bit hash (FNV-1a) for deterministic simulated UUIDs.
uint32_t Fnv1a(std::string_view text, uint32_t seed) {
  uint32_t h = 2166136261u ^ seed;
  for (unsigned char c : text) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

}  // namespace

std::string SimulatedGpuUuid(std::string_view model_key, uint32_t index) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "GPU-%08x-%04x-%04x-%04x-%012x", Fnv1a(model_key, 1),
                index & 0xffff, Fnv1a(model_key, 2) & 0xffff, 0x5157 /* "SIM" */, 0x5e0000 + index);
  return buffer;
}

std::string SimulatedPciBusId(uint32_t index) {
  // Bus numbers as on an 8-GPU HGX board: 0x18 + 0x10 per GPU.
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "00000000:%02X:00.0", (0x18 + 0x10 * index) & 0xff);
  return buffer;
}

}  // namespace migdra::gpu
