// splitmix64 (Steele, Lea, Flood 2014): a counter-based 64-bit mix. Hashing (seed, index)
// with it gives random values fixed by position and seed, independent of thread count and
// visiting order (quantization noise, table init, hash seeds).
#pragma once

#include <cstdint>

namespace embcomp {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace embcomp
