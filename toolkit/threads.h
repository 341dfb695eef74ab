// Threading policy: OpenMP for our loops and FAISS's, single-threaded BLAS.
//
// OpenBLAS here is the pthread build. Its threads and OpenMP's spinning threads fight
// over the cores: measured on the 2-core machine, FAISS OPQ training took 9.4 s with
// OpenBLAS threads on and 2.1 s with them off (3000 x 64, OPQ16). So embcomp sets
// OpenBLAS to one thread when the library loads (unless OPENBLAS_NUM_THREADS is set in
// the environment) and parallelizes around BLAS calls with OpenMP instead.
#pragma once

namespace embcomp {

/// Largest --threads value any command accepts: max(64, 4 x the cores). libgomp crashed
/// creating 100000 threads (reliability review #8).
int max_threads_option();
/// Applies a --threads option: 0 keeps OpenMP's default (all cores), 1..max_threads_option()
/// sets it; anything else throws kUsage naming the value and the range.
void set_omp_threads(long long threads);

/// OpenBLAS's thread count; 1 when the BLAS in use is not OpenBLAS.
int blas_threads();
/// Sets OpenBLAS's thread count (no-op for other BLAS libraries).
void set_blas_threads(int n);

}  // namespace embcomp
