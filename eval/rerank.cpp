#include "eval/rerank.h"

#include <algorithm>

#include "toolkit/error.h"

namespace embcomp {

size_t rerank_candidates(size_t k, size_t factor, size_t n) {
  EC_CHECK(factor == 0 || k <= SIZE_MAX / factor, kUsage,
           "--k " << k << " times --rerank-factor " << factor
                  << " candidates per query does not fit in 64 bits; use a factor of at most "
                  << SIZE_MAX / k);
  return std::min(n, k * factor);
}

KnnResult rerank(const KnnResult& candidates, const TableCompressor& fine,
                 MatrixView<float> queries, size_t k, Metric metric) {
  EC_CHECK(candidates.nq == queries.n, kRuntime,
           "rerank: candidates for " << candidates.nq << " queries, got " << queries.n);
  EC_CHECK(k >= 1 && k <= candidates.k, kBadInput,
           "rerank: k=" << k << " exceeds the " << candidates.k << " candidates");
  EC_CHECK(queries.d == fine.d(), kBadInput,
           "rerank: queries have d=" << queries.d << ", " << fine.spec() << " has d=" << fine.d());
  const size_t kc = candidates.k, d = queries.d;
  KnnResult out;
  out.nq = queries.n;
  out.k = k;
  out.ids.assign(queries.n * k, -1);
  out.scores.assign(queries.n * k, 0.0f);
  OmpExceptionGuard guard;
#pragma omp parallel
  {
    std::vector<int64_t> ids(kc);
    std::vector<float> rows(kc * d);
    std::vector<std::pair<float, int64_t>> scored(kc);
#pragma omp for schedule(dynamic, 16)
    for (size_t q = 0; q < queries.n; ++q) {
      guard.run([&] {
        size_t c = 0;
        for (size_t j = 0; j < kc; ++j)
          if (candidates.ids[q * kc + j] >= 0) ids[c++] = candidates.ids[q * kc + j];
        fine.decode_rows(ids.data(), c, rows.data());
        const float* x = queries.row(q);
        for (size_t j = 0; j < c; ++j) {
          const float* r = &rows[j * d];
          float s = 0;
          if (metric == Metric::kL2) {
            for (size_t t = 0; t < d; ++t) s += (x[t] - r[t]) * (x[t] - r[t]);
            s = -s;  // higher is better below
          } else {
            for (size_t t = 0; t < d; ++t) s += x[t] * r[t];
          }
          scored[j] = {s, ids[j]};
        }
        const size_t keep = std::min(k, c);
        std::partial_sort(scored.begin(), scored.begin() + keep, scored.begin() + c,
                          [](const auto& a, const auto& b) {
                            return a.first != b.first ? a.first > b.first : a.second < b.second;
                          });
        for (size_t j = 0; j < keep; ++j) {
          out.ids[q * k + j] = scored[j].second;
          out.scores[q * k + j] = metric == Metric::kL2 ? -scored[j].first : scored[j].first;
        }
      });
    }
  }
  guard.rethrow();
  return out;
}

}  // namespace embcomp
