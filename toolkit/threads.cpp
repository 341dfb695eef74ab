#include "toolkit/threads.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "toolkit/error.h"

// Weak: resolved when the BLAS is OpenBLAS, null otherwise (reference BLAS, BLIS, ...).
extern "C" {
void openblas_set_num_threads(int) __attribute__((weak));
int openblas_get_num_threads(void) __attribute__((weak));
}

namespace embcomp {

int max_threads_option() {
  return std::max(64, 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
}

void set_omp_threads(long long threads) {
  EC_CHECK(threads >= 0 && threads <= max_threads_option(), kUsage,
           "--threads=" << threads << " is outside [0, " << max_threads_option()
                        << "] (0 = all cores)");
  if (threads > 0) omp_set_num_threads(static_cast<int>(threads));
}

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
