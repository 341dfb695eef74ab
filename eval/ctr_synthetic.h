// Synthetic Criteo-like CTR data with a hidden planted model (issue 7), written by
// `embcomp ctr-gen` and read back as "synthetic:PATH" (eval/ctr_data.h).
//
// Each row has 13 dense count features and 26 categorical ids. Field f has K_f ids: Criteo
// Kaggle's cardinality divided by the scale S (at least 2). Ids are Zipf-distributed:
//   r_f ~ Zipf(K_f, s)  (rank 1 most frequent; rejection-inversion sampling, no tables)
//   id_f = pi_f(r_f - 1) (pi_f a seeded Feistel permutation of [0, K_f), no tables)
// Dense counts: x_j = max(0, floor(exp(mu_j + sigma_j * z_j)) - 1), z_j ~ N(0, 1), and the
// model sees d_j = log(1 + x_j), exactly what the loader hands to a CTR model.
// The planted click logit, from values hashed on the fly from (seed, field, rank):
//   a(r)      = (1 - t) / (1 + (r - 1) / r0) + t           magnitude: a head of about r0
//                                                          ids, and a floor t on every id
//                                                          (t = 0: signal on frequent ids
//                                                          only; t = 1: the same on all)
//   w_f(r)    = g_f * a(r) * U(-sqrt3, sqrt3)              per-id weight
//   v_f(r)    = g_f * a(r) * U(-sqrt3, sqrt3)^k / sqrt(k)  per-id latent vector, rank k
//   L = sum_f w_f(r_f)        I = sum_{f<g} <v_f(r_f), v_g(r_g)>        D = sum_j beta_j d_j
//   logit = b + s * (cL * L / sd(L) + cI * I / sd(I) + cD * (D - mean(D)) / sd(D))
//   p = sigmoid(logit),  label ~ Bernoulli(p)
// with variance shares cL^2 = 0.35, cI^2 = 0.45, cD^2 = 0.20. b and s are calibrated on the
// first rows so that the mean of p is target_ctr and the expected AUC of p (labels drawn from
// p) is target_auc. Every random choice is a hash of (seed, row) or (seed, field, rank):
// the file does not depend on the thread count.
//
// File format (little endian), written atomically:
//   header  char magic[8] "ECCTRSYN", u32 version, u32 num_dense, u32 num_fields, u32 rank,
//           i64 rows, u64 seed, f64 scale, zipf_s, r0, tail, target_ctr, target_auc, bias,
//           logit_scale, mean_ctr (realized mean of p), expected_auc, char like[16],
//           i64 cardinality[num_fields]
//   rows    rows records of (4 * (num_dense + num_fields + 2)) bytes:
//           f32 dense[num_dense] (raw counts), i32 id[num_fields] (local, in [0, K_f)),
//           f32 p (planted click probability), u32 label (0 or 1)
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace embcomp::ctr {

struct CtrSynthParams {
  std::string like = "criteo";  ///< the dataset to imitate (only "criteo")
  int64_t rows = 0;             ///< rows to generate, "N" of --rows
  double scale = 100;           ///< S: cardinalities are divided by S (at least 2 each)
  double zipf_s = 1.1;          ///< Zipf exponent "s" of the id distribution
  int rank = 4;                 ///< latent rank "k" of the planted FM interactions
  double r0 = 30;               ///< head size "r0": id rank r has magnitude 1 / (1 + (r-1)/r0)
  double tail = 0;              ///< tail signal "t" in [0, 1]: the magnitude's floor on every id
  double target_ctr = 0.25;     ///< calibrated mean click probability
  double target_auc = 0.78;     ///< calibrated expected AUC of the planted probabilities
  uint64_t seed = 1;            ///< seed of every random choice
  /// Throws kUsage naming the bad value.
  void validate() const;
};

/// Criteo Kaggle's 26 per-field cardinalities divided by scale (floor, at least 2 each).
std::vector<int64_t> synthetic_cardinalities(const std::string& like, double scale);

/// What a synthetic file's header says.
struct CtrSynthHeader {
  uint32_t version = 0;
  int num_dense = 0;
  int num_fields = 0;
  CtrSynthParams params;             ///< as generated (rows, seed, scale, ...)
  double bias = 0;                   ///< b of the planted logit
  double logit_scale = 0;            ///< s of the planted logit
  double mean_ctr = 0;               ///< realized mean of p over all rows
  double expected_auc = 0;           ///< expected AUC of p on the calibration rows
  std::vector<int64_t> cardinality;  ///< K_f, num_fields
  size_t record_bytes() const { return 4 * size_t(num_dense + num_fields + 2); }
};

/// Generates params.rows rows into path (atomically; OpenMP over rows) and returns the header
/// it wrote. Throws kUsage for bad params, kBadInput for an unwritable path.
CtrSynthHeader generate_ctr_synthetic(const CtrSynthParams& params, const std::string& path);

/// Sequential reader of a synthetic file: the header and the file size are checked on open,
/// every id, label and probability as it is read (kBadInput naming the file and the row).
class CtrSynthReader {
 public:
  explicit CtrSynthReader(const std::string& path);
  ~CtrSynthReader();
  CtrSynthReader(const CtrSynthReader&) = delete;
  CtrSynthReader& operator=(const CtrSynthReader&) = delete;
  const CtrSynthHeader& header() const { return header_; }
  /// Reads the next n rows: dense n x num_dense raw counts, cat n x num_fields local ids,
  /// label and p n each (any pointer may be null to skip that part).
  void read(int64_t n, float* dense, int32_t* cat, float* label, float* p);

 private:
  std::string path_;
  std::FILE* f_ = nullptr;
  CtrSynthHeader header_;
  int64_t next_row_ = 0;
  std::vector<char> buf_;
};

/// Zipf(K, s) sampler over ranks 1..K by rejection-inversion (Hoermann & Derflinger 1996):
/// O(1) expected time and no tables. Exposed for its distribution test.
class ZipfSampler {
 public:
  ZipfSampler(int64_t K, double s);
  /// A rank in [1, K] from uniforms drawn by next_u01() (called one or more times).
  template <class U01>
  int64_t sample(U01&& next_u01) const;
  /// P(rank = r) exactly: r^-s / H_{K,s}.
  double probability(int64_t r) const;

 private:
  double h(double x) const;
  double h_integral(double x) const;
  double h_integral_inverse(double x) const;
  int64_t K_;
  double s_;
  double h_integral_x1_, h_integral_K_, s_const_;
  double harmonic_;  ///< H_{K,s}, for probability()
};

template <class U01>
int64_t ZipfSampler::sample(U01&& next_u01) const {
  for (;;) {
    const double u = h_integral_K_ + next_u01() * (h_integral_x1_ - h_integral_K_);
    const double x = h_integral_inverse(u);
    int64_t k = int64_t(x + 0.5);
    if (k < 1) k = 1;
    if (k > K_) k = K_;
    if (double(k) - x <= s_const_ || u >= h_integral(double(k) + 0.5) - h(double(k))) return k;
  }
}

}  // namespace embcomp::ctr
