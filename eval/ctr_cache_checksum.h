// The checksum of the CTR binary cache (eval/ctr_data.cpp), shared with the cache fuzz
// harness (tests/fuzz/ctr_cache_fuzz.cpp), which writes valid caches and must checksum them
// the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace embcomp::ctr {

/// Checksum over everything written: 8 bytes per step, then the tail byte by byte. Reader and
/// writer make the same calls with the same sizes, so the tails line up.
struct CacheChecksum {
  uint64_t h = 0x6a09e667f3bcc909ULL;
  void update(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, c + i, 8);
      h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 29;
    }
    for (; i < n; ++i) h = (h ^ uint8_t(c[i])) * 0x100000001b3ULL;
  }
};

}  // namespace embcomp::ctr
