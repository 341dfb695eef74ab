#include "toolkit/threads.h"

#include <cstdlib>

// Weak: resolved when the BLAS is OpenBLAS, null otherwise (reference BLAS, BLIS, ...).
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
}

namespace embcomp {

int blas_threads() { return openblas_get_num_threads ? openblas_get_num_threads() : 1; }

void set_blas_threads(int n) {
  if (openblas_set_num_threads) openblas_set_num_threads(n);
}

namespace {
struct SingleThreadedBlasAtLoad {
  SingleThreadedBlasAtLoad() {
    if (std::getenv("OPENBLAS_NUM_THREADS") == nullptr) set_blas_threads(1);
  }
} single_threaded_blas_at_load;
}  // namespace

}  // namespace embcomp
