// Unpredictable bytes from the kernel (getrandom(2)), for what must not be guessable: the
// names of AtomicFile's temporaries and the ground-truth cache's random spot checks. Never
// for results, which take a seed (toolkit/hash.h).
#pragma once

#include <cstddef>
#include <cstdint>

namespace embcomp {

/// Fills out with n random bytes; kRuntime when the kernel refuses.
void random_bytes(void* out, size_t n);

/// 64 random bits (random_bytes).
uint64_t random_u64();

}  // namespace embcomp
