// Timing and small statistics shared by the benchmarks' records.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <vector>

namespace embcomp {

/// The q-quantile (q in [0, 1]) of v by nearest rank: the sorted value at index
/// round(q (n - 1)); 0 for an empty v. Used for latency p50/p95/p99.
inline double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * double(v.size() - 1) + 0.5));
  return v[i];
}

using Clock = std::chrono::steady_clock;

/// Seconds elapsed since t0 (steady clock).
inline double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

}  // namespace embcomp
