#include "toolkit/random.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "toolkit/error.h"

namespace embcomp {

void random_bytes(void* out, size_t n) {
  auto* p = static_cast<unsigned char*>(out);
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::getrandom(p + got, n - got, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      EC_THROW(kRuntime, "getrandom failed: " << std::strerror(err));
    }
    got += static_cast<size_t>(r);
  }
}

uint64_t random_u64() {
  uint64_t v = 0;
  random_bytes(&v, sizeof v);
  return v;
}

}  // namespace embcomp
