#include "eval/knn.h"

#include <faiss/IndexBinaryFlat.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>

#include "compressors/int8.h"
#include "compressors/sq.h"
#include "index/scan_kernels.h"
#include "toolkit/error.h"

namespace embcomp {

namespace {

bool higher_is_better(Metric m) { return m != Metric::kL2; }

/// Merges a block's top-k (ids offset by `offset`) into the running top-k.
void merge_topk(KnnResult& acc, const KnnResult& block, int64_t offset, bool higher_better) {
  const size_t k = acc.k;
  std::vector<std::pair<float, int64_t>> cand(2 * k);
#pragma omp parallel for if (acc.nq > 64) firstprivate(cand) schedule(static)
  for (size_t q = 0; q < acc.nq; ++q) {
    size_t c = 0;
    for (size_t j = 0; j < k; ++j) {
      if (acc.ids[q * k + j] >= 0) cand[c++] = {acc.scores[q * k + j], acc.ids[q * k + j]};
      if (block.ids[q * k + j] >= 0)
        cand[c++] = {block.scores[q * k + j], block.ids[q * k + j] + offset};
    }
    auto better = [higher_better](const auto& a, const auto& b) {
      if (a.first != b.first) return higher_better ? a.first > b.first : a.first < b.first;
      return a.second < b.second;
    };
    size_t keep = std::min(k, c);
    std::partial_sort(cand.begin(), cand.begin() + keep, cand.begin() + c, better);
    for (size_t j = 0; j < k; ++j) {
      acc.ids[q * k + j] = j < keep ? cand[j].second : -1;
      acc.scores[q * k + j] = j < keep ? cand[j].first : 0.0f;
    }
  }
}

}  // namespace

KnnResult blocked_decoded_search(size_t n, size_t d, MatrixView<float> queries, size_t k,
                                 Metric metric, size_t block_rows,
                                 const std::function<void(size_t, size_t, float*)>& decode);

KnnResult exact_knn(MatrixView<float> base, MatrixView<float> queries, size_t k, Metric metric) {
  EC_CHECK(base.d == queries.d, kBadInput,
           "base has d=" << base.d << " but queries have d=" << queries.d);
  EC_CHECK(k >= 1 && k <= base.n, kBadInput, "k=" << k << " must be in [1, n=" << base.n << "]");
  KnnResult r;
  r.nq = queries.n;
  r.k = k;
  r.ids.assign(checked_mul(queries.n, k), -1);
  r.scores.assign(queries.n * k, 0.0f);
  // BLAS is single-threaded (toolkit/threads.h): split the queries over the OpenMP
  // threads, each chunk searched by FAISS's blocked BLAS kernel.
  const size_t threads = static_cast<size_t>(omp_get_max_threads());
  const size_t chunk = std::max<size_t>(64, (queries.n + threads - 1) / threads);
  const size_t nchunks = (queries.n + chunk - 1) / chunk;
  OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic) if (nchunks > 1)
  for (size_t c = 0; c < nchunks; ++c) {
    guard.run([&] {
      const size_t q0 = c * chunk, nq = std::min(chunk, queries.n - q0);
      if (metric == Metric::kL2) {
        faiss::knn_L2sqr(queries.row(q0), base.data, base.d, nq, base.n, k,
                         r.scores.data() + q0 * k, r.ids.data() + q0 * k);
      } else {
        faiss::knn_inner_product(queries.row(q0), base.data, base.d, nq, base.n, k,
                                 r.scores.data() + q0 * k, r.ids.data() + q0 * k);
      }
    });
  }
  guard.rethrow();
  return r;
}

KnnResult search_codes(const Codec& codec, const uint8_t* codes, size_t n,
                       MatrixView<float> queries, size_t k, Metric metric, size_t block_rows) {
  EC_CHECK(queries.d == codec.d(), kBadInput,
           "queries have d=" << queries.d << " but " << codec.spec() << " has d=" << codec.d());
  EC_CHECK(k >= 1 && k <= n, kBadInput, "k=" << k << " must be in [1, n=" << n << "]");
  const size_t cs = codec.code_size();
  // Own SIMD scans (index/scan_kernels.h) where the codes allow them: they score the codes
  // directly instead of decoding them first.
  KnnResult r;
  r.nq = queries.n;
  r.k = k;
  r.ids.assign(checked_mul(queries.n, k), -1);
  r.scores.assign(queries.n * k, 0.0f);
  const ScanMetric sm = metric == Metric::kL2 ? ScanMetric::kL2 : ScanMetric::kInnerProduct;
  if (codec.search_kind() == SearchKind::kHamming) {
    std::vector<uint8_t> qcodes(checked_mul(queries.n, cs));
    codec.encode(queries, qcodes.data());
    std::vector<int32_t> dist(queries.n * k);
    scan_binary_topk(qcodes.data(), queries.n, codes, n, cs, k, r.ids.data(), dist.data());
    r.scores.assign(dist.begin(), dist.end());
    return r;
  }
  // Many queries at once are faster as one decoded block times a query matrix (BLAS
  // GEMM); few queries (latency) are faster scanned directly.
  const bool few_queries = queries.n < kScanKernelMaxQueries;
  if (auto* sq = dynamic_cast<const SqCodec*>(&codec); few_queries && sq && sq->spec() == "SQ8") {
    const auto& t = sq->faiss_sq().trained;  // vmin then vdiff
    scan_sq8_topk(queries.data, queries.n, codes, n, codec.d(), t.data(), t.data() + codec.d(), sm,
                  k, r.ids.data(), r.scores.data());
    return r;
  }
  if (auto* i8 = dynamic_cast<const Int8Codec*>(&codec); few_queries && i8) {
    scan_int8_topk(queries.data, queries.n, reinterpret_cast<const int8_t*>(codes), n, codec.d(),
                   i8->scales().data(), sm, k, r.ids.data(), r.scores.data());
    return r;
  }
  return blocked_decoded_search(
      n, codec.d(), queries, k, metric, block_rows,
      [&](size_t start, size_t nb, float* out) { codec.decode(codes + start * cs, nb, out); });
}

KnnResult search_table(const TableCompressor& table, MatrixView<float> queries, size_t k,
                       Metric metric, size_t block_rows, bool asymmetric) {
  EC_CHECK(queries.d == table.d(), kBadInput,
           "queries have d=" << queries.d << " but " << table.spec() << " has d=" << table.d());
  const Codec* codec = table.codec();
  if (codec && codec->search_kind() == SearchKind::kHamming && asymmetric) {
    EC_CHECK(k >= 1 && k <= table.n(), kBadInput,
             "k=" << k << " must be in [1, n=" << table.n() << "]");
    const size_t cs = codec->code_size();
    if (metric == Metric::kL2) {
      // For L2 the +-1 rows would rank by <q, sign pattern>, which on non-negative data
      // (SIFT) favours rows with many set bits: rank by L2 to the decoded rows (each
      // dimension at its least-squares level) instead.
      return blocked_decoded_search(table.n(), table.d(), queries, k, Metric::kL2, block_rows,
                                    [&](size_t start, size_t nb, float* out) {
                                      codec->decode(table.codes() + start * cs, nb, out);
                                    });
    }
    return blocked_decoded_search(table.n(), table.d(), queries, k, Metric::kIP, block_rows,
                                  [&](size_t start, size_t nb, float* out) {
                                    codec->decode_for_scan(table.codes() + start * cs, nb, out);
                                  });
  }
  if (table.codec() && table.codec()->search_kind() == SearchKind::kHamming) {
    return search_codes(*table.codec(), table.codes(), table.n(), queries, k, metric, block_rows);
  }
  EC_CHECK(k >= 1 && k <= table.n(), kBadInput,
           "k=" << k << " must be in [1, n=" << table.n() << "]");
  return blocked_decoded_search(
      table.n(), table.d(), queries, k, metric, block_rows,
      [&](size_t start, size_t nb, float* out) { table.decode_range(start, nb, out); });
}

KnnResult blocked_decoded_search(size_t n, size_t d, MatrixView<float> queries, size_t k,
                                 Metric metric, size_t block_rows,
                                 const std::function<void(size_t, size_t, float*)>& decode) {
  KnnResult acc;
  acc.nq = queries.n;
  acc.k = k;
  acc.ids.assign(checked_mul(queries.n, k), -1);
  acc.scores.assign(queries.n * k, 0.0f);
  block_rows = std::max<size_t>(block_rows, k);
  FloatMatrix block(std::min(block_rows, n), d);
  for (size_t start = 0; start < n; start += block_rows) {
    const size_t nb = std::min(block_rows, n - start);
    decode(start, nb, block.data());
    const size_t kb = std::min(k, nb);
    KnnResult part = exact_knn({block.data(), nb, block.d}, queries, kb, metric);
    if (kb < k) {  // pad to k columns so that merge_topk sees the same shape
      KnnResult padded;
      padded.nq = part.nq;
      padded.k = k;
      padded.ids.assign(part.nq * k, -1);
      padded.scores.assign(part.nq * k, 0.0f);
      for (size_t q = 0; q < part.nq; ++q)
        for (size_t j = 0; j < kb; ++j) {
          padded.ids[q * k + j] = part.ids[q * kb + j];
          padded.scores[q * k + j] = part.scores[q * kb + j];
        }
      part = std::move(padded);
    }
    merge_topk(acc, part, static_cast<int64_t>(start), higher_is_better(metric));
  }
  return acc;
}

double recall_at_k(const KnnResult& found, const IdMatrix& truth, size_t k) {
  EC_CHECK(truth.d >= k, kBadInput,
           "ground truth has " << truth.d << " neighbours per query, "
                               << "fewer than k=" << k);
  EC_CHECK(truth.n == found.nq, kBadInput,
           "ground truth has " << truth.n << " queries, the search " << found.nq);
  EC_CHECK(found.k >= k, kRuntime, "search returned " << found.k << " < k=" << k);
  if (found.nq == 0) return 0.0;
  size_t total = 0;
  std::vector<int64_t> t(k);
  for (size_t q = 0; q < found.nq; ++q) {
    std::copy(truth.row(q), truth.row(q) + k, t.begin());
    std::sort(t.begin(), t.end());
    size_t hit = 0;
    for (size_t j = 0; j < k; ++j) {
      int64_t id = found.ids[q * found.k + j];
      if (id >= 0 && std::binary_search(t.begin(), t.end(), id)) ++hit;
    }
    total += hit;
  }
  return double(total) / (double(found.nq) * double(k));
}

double recall_at_k_tie_aware(const KnnResult& found, const IdMatrix& truth, size_t k,
                             MatrixView<float> base, MatrixView<float> queries, Metric metric) {
  EC_CHECK(truth.d >= k && truth.n == found.nq && found.k >= k && queries.n == found.nq,
           kRuntime, "recall_at_k_tie_aware: shapes do not agree");
  auto score = [&](size_t q, int64_t id) {
    const float* x = queries.row(q);
    const float* y = base.row(size_t(id));
    double s = 0;
    for (size_t j = 0; j < base.d; ++j)
      s += metric == Metric::kL2 ? (double(x[j]) - y[j]) * (double(x[j]) - y[j]) : double(x[j]) * y[j];
    return metric == Metric::kL2 ? -s : s;  // higher is better
  };
  size_t total = 0;
#pragma omp parallel for reduction(+ : total) schedule(static)
  for (size_t q = 0; q < found.nq; ++q) {
    const double kth = score(q, truth.row(q)[k - 1]);
    const double eps = 1e-5 * std::max(1.0, std::fabs(kth));
    std::vector<int64_t> seen;
    for (size_t j = 0; j < k; ++j) {
      const int64_t id = found.ids[q * found.k + j];
      if (id < 0 || std::find(seen.begin(), seen.end(), id) != seen.end()) continue;
      seen.push_back(id);
      if (score(q, id) >= kth - eps) ++total;
    }
  }
  return found.nq ? double(total) / (double(found.nq) * double(k)) : 0.0;
}

}  // namespace embcomp
