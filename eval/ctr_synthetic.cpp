// Synthetic Criteo-like CTR data: generator, file format and reader (see ctr_synthetic.h).
#include "eval/ctr_synthetic.h"

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>

#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp::ctr {

static_assert(std::endian::native == std::endian::little, "synthetic files are little endian");

namespace {

constexpr char kMagic[8] = {'E', 'C', 'C', 'T', 'R', 'S', 'Y', 'N'};
constexpr uint32_t kVersion = 2;  // 2: f64 tail after r0
constexpr int kNumDense = 13;
constexpr int kMaxRank = 8;
/// Largest total cardinality a synthetic file may claim regardless of its rows (2^26; Criteo
/// at S = 1 has 33,762,577 ids).
constexpr int64_t kMaxSynthIds = int64_t{1} << 26;
/// Rows of the calibration sample (the first rows of the file).
constexpr int64_t kCalibrationRows = 20000;
/// Rows generated per block: the block buffer is kBlockRows * record_bytes (~10 MB).
constexpr int64_t kBlockRows = 65536;
/// Variance shares of the linear, interaction and dense parts of the planted logit.
constexpr double kShareL = 0.35, kShareI = 0.45, kShareD = 0.20;

const std::array<int64_t, 26> kCriteoCardinality = {
    1460, 583,   10131227, 2202608, 305,  24,   12517, 633,     3,  93145, 5683,   8351593, 3194,
    27,   14992, 5461306,  10,      5652, 2173, 4,     7046547, 18, 15,    286181, 105,     142572};

/// splitmix64's finalizer: a bijective 64-bit mix.
inline uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
inline uint64_t hash3(uint64_t a, uint64_t b, uint64_t c) { return mix(mix(mix(a) ^ b) ^ c); }
inline uint64_t hash4(uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
  return mix(hash3(a, b, c) ^ d);
}
/// Uniform in [0, 1) from the top 53 bits.
inline double u01(uint64_t h) { return double(h >> 11) * 0x1.0p-53; }

/// A splitmix64 stream: the per-row generator (cheap to seed, unlike mt19937_64).
struct RowRng {
  uint64_t state;
  uint64_t next() {
    state += 0x9e3779b97f4a7c15ULL;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return u01(next()); }
  /// Two independent standard normals (Marsaglia's polar method: no trigonometry).
  void normal_pair(double* z0, double* z1) {
    double a, b, q;
    do {
      a = 2.0 * uniform() - 1.0;
      b = 2.0 * uniform() - 1.0;
      q = a * a + b * b;
    } while (q >= 1.0 || q == 0.0);
    const double m = std::sqrt(-2.0 * std::log(q) / q);
    *z0 = a * m;
    *z1 = b * m;
  }
};

/// Seeded permutation of [0, K) without tables: a 4-round Feistel network on 2*half bits
/// (2^(2*half) >= K) with cycle walking, so it is a bijection of [0, K).
class FeistelPermutation {
 public:
  FeistelPermutation(int64_t K, uint64_t key) : K_(uint64_t(K)) {
    int bits = 1;
    while ((uint64_t{1} << bits) < K_) ++bits;
    half_ = (bits + 1) / 2;
    mask_ = (uint64_t{1} << half_) - 1;
    for (int i = 0; i < 4; ++i) keys_[i] = hash3(key, 0xfe15, uint64_t(i));
  }
  int64_t operator()(int64_t x) const {
    uint64_t v = uint64_t(x);
    do {
      uint64_t l = v >> half_, r = v & mask_;
      for (int i = 0; i < 4; ++i) {
        const uint64_t t = r;
        // Round function: one multiply, high bits (a full mix per round cost a third of
        // the generator's time; a Feistel network is a bijection whatever the round function).
        r = l ^ ((((r ^ keys_[i]) * 0x9e3779b97f4a7c15ULL) >> 29) & mask_);
        l = t;
      }
      v = (l << half_) | r;
    } while (v >= K_);
    return int64_t(v);
  }

 private:
  uint64_t K_;
  int half_ = 1;
  uint64_t mask_ = 1;
  std::array<uint64_t, 4> keys_{};
};

/// Everything the planted model needs, derived from the params and the seed.
struct PlantedModel {
  CtrSynthParams p;
  std::vector<int64_t> card;
  std::vector<ZipfSampler> zipf;
  std::vector<FeistelPermutation> perm;
  std::vector<double> field_gain;  ///< g_f in [0.5, 1.5]
  std::array<double, kNumDense> mu{}, sigma{}, beta{};
  // Calibrated: logit = bias + cl * L + ci * I + cd * (D - d_mean).
  double bias = 0, cl = 0, ci = 0, cd = 0, d_mean = 0, scale = 0, expected_auc = 0;

  explicit PlantedModel(const CtrSynthParams& params) : p(params) {
    card = synthetic_cardinalities(p.like, p.scale);
    for (size_t f = 0; f < card.size(); ++f) {
      zipf.emplace_back(card[f], p.zipf_s);
      perm.emplace_back(card[f], hash3(p.seed, 0x9e73, f));
      field_gain.push_back(0.5 + u01(hash3(p.seed, 0x6a17, f)));
    }
    for (int j = 0; j < kNumDense; ++j) {
      mu[j] = 0.5 + 2.5 * u01(hash3(p.seed, 0xde45, uint64_t(j)));
      sigma[j] = 0.8 + 0.7 * u01(hash3(p.seed, 0x519a, uint64_t(j)));
      beta[j] = 2.0 * u01(hash3(p.seed, 0xbe7a, uint64_t(j))) - 1.0;
    }
  }

  /// Unit-variance uniform in [-sqrt3, sqrt3] from 16 bits.
  static double unit16(uint64_t h, int slot) {
    return (double((h >> (16 * slot)) & 0xffff) + 0.5) * (2.0 * std::sqrt(3.0) / 65536.0) -
           std::sqrt(3.0);
  }

  /// One row: fills dense[13] raw counts, ids[26] local ids and the three logit parts.
  void row(int64_t i, float* dense, int32_t* ids, double* L, double* I, double* D) const {
    RowRng rng{hash3(p.seed, 0x70a5, uint64_t(i))};
    const int k = p.rank;
    double l = 0, d = 0;
    double vsum[kMaxRank] = {0}, vsq = 0;
    for (size_t f = 0; f < card.size(); ++f) {
      const int64_t r = zipf[f].sample([&] { return rng.uniform(); });
      ids[f] = int32_t(perm[f](r - 1));
      const double a = field_gain[f] * ((1.0 - p.tail) / (1.0 + double(r - 1) / p.r0) + p.tail);
      l += a * unit16(hash4(p.seed, 0x3e16, f, uint64_t(r)), 0);
      const uint64_t h0 = hash4(p.seed, 0x1a7e, f, uint64_t(r));
      const uint64_t h1 = mix(h0);
      const double av = a / std::sqrt(double(k));
      for (int c = 0; c < k; ++c) {
        const double v = av * unit16(c < 4 ? h0 : h1, c & 3);
        vsum[c] += v;
        vsq += v * v;
      }
    }
    double ssum = 0;
    for (int c = 0; c < k; ++c) ssum += vsum[c] * vsum[c];
    double z[kNumDense + 1];
    for (int j = 0; j < kNumDense; j += 2) rng.normal_pair(&z[j], &z[j + 1]);
    for (int j = 0; j < kNumDense; ++j) {
      const double x = std::max(0.0, std::floor(std::exp(mu[j] + sigma[j] * z[j])) - 1.0);
      dense[j] = float(x);
      d += beta[j] * std::log1p(x);
    }
    *L = l;
    *I = 0.5 * (ssum - vsq);  // sum_{f<g} <v_f, v_g>
    *D = d;
  }

  /// The label's uniform: its own hash so it does not depend on how many draws row() used.
  double label_u(int64_t i) const { return u01(hash3(p.seed, 0x1abe, uint64_t(i))); }

  double logit(double L, double I, double D) const {
    return bias + cl * L + ci * I + cd * (D - d_mean);
  }

  void calibrate();
};

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double mean_sd(const std::vector<double>& v, double* mean) {
  double m = std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  *mean = m;
  return std::sqrt(s / double(v.size()));
}

/// Calibrates bias and scale on the first kCalibrationRows rows: for each scale s the bias
/// is bisected to the target mean CTR, and s is bisected to the target expected AUC
/// E[AUC] = sum_i p_i * sum_{j ranked below i} (1 - p_j) / (sum p * sum (1 - p)), ties half.
void PlantedModel::calibrate() {
  const int64_t m = std::min<int64_t>(std::max<int64_t>(p.rows, 1000), kCalibrationRows);
  std::vector<double> L(m), I(m), D(m);
  std::vector<float> dense(kNumDense);
  std::vector<int32_t> ids(card.size());
  for (int64_t i = 0; i < m; ++i) row(i, dense.data(), ids.data(), &L[i], &I[i], &D[i]);
  double ml, mi;
  const double sl = mean_sd(L, &ml), si = mean_sd(I, &mi), sd = mean_sd(D, &d_mean);
  // A part with no spread (cannot happen with the Criteo fields, but keep it finite).
  const double wl = sl > 0 ? std::sqrt(kShareL) / sl : 0, wi = si > 0 ? std::sqrt(kShareI) / si : 0,
               wd = sd > 0 ? std::sqrt(kShareD) / sd : 0;
  std::vector<double> z(m);
  for (int64_t i = 0; i < m; ++i) z[i] = wl * L[i] + wi * I[i] + wd * (D[i] - d_mean);
  std::vector<int64_t> order(m);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return z[a] < z[b]; });
  auto bias_for = [&](double s) {
    // Newton on mean(sigmoid(b + s z)) = target (increasing and smooth in b), steps clipped.
    double b = std::log(p.target_ctr / (1 - p.target_ctr));
    for (int it = 0; it < 100; ++it) {
      double mean = 0, slope = 0;
      for (int64_t i = 0; i < m; ++i) {
        const double q = sigmoid(b + s * z[i]);
        mean += q;
        slope += q * (1 - q);
      }
      mean /= double(m);
      slope /= double(m);
      if (std::abs(mean - p.target_ctr) < 1e-9) break;
      b -= std::clamp((mean - p.target_ctr) / std::max(slope, 1e-12), -2.0, 2.0);
    }
    return b;
  };
  auto expected_auc_for = [&](double s, double b) {
    double neg_below = 0, num = 0, pos = 0, neg = 0;
    for (int64_t a = 0; a < m;) {
      int64_t e = a;
      double tp = 0, tn = 0;
      while (e < m && z[order[e]] == z[order[a]]) {
        const double pi = sigmoid(b + s * z[order[e]]);
        tp += pi;
        tn += 1 - pi;
        ++e;
      }
      num += tp * (neg_below + 0.5 * tn);
      neg_below += tn;
      pos += tp;
      neg += tn;
      a = e;
    }
    return num / (pos * neg);
  };
  double lo = 0.01, hi = 20;
  for (int it = 0; it < 40; ++it) {
    const double s = 0.5 * (lo + hi);
    (expected_auc_for(s, bias_for(s)) < p.target_auc ? lo : hi) = s;
  }
  scale = 0.5 * (lo + hi);
  bias = bias_for(scale);
  expected_auc = expected_auc_for(scale, bias);
  cl = scale * wl;
  ci = scale * wi;
  cd = scale * wd;
}

/// Appends values to a byte buffer sized up front (memcpy at a cursor: no vector growth).
struct Encoder {
  std::vector<char> b;
  size_t at = 0;
  explicit Encoder(size_t n) : b(n) {}
  void bytes(const void* p, size_t n) {
    std::memcpy(b.data() + at, p, n);
    at += n;
  }
  template <class T>
  void put(const T& v) {
    bytes(&v, sizeof v);
  }
};
template <class T>
T get(const char*& c) {
  T v;
  std::memcpy(&v, c, sizeof(T));
  c += sizeof(T);
  return v;
}

constexpr size_t kFixedHeaderBytes = 8 + 4 * 4 + 8 + 8 + 10 * 8 + 16;

std::vector<char> encode_header(const CtrSynthHeader& h) {
  Encoder e(kFixedHeaderBytes + 8 * h.cardinality.size());
  e.bytes(kMagic, 8);
  e.put(kVersion);
  e.put(uint32_t(h.num_dense));
  e.put(uint32_t(h.num_fields));
  e.put(uint32_t(h.params.rank));
  e.put(int64_t(h.params.rows));
  e.put(uint64_t(h.params.seed));
  for (double v : {h.params.scale, h.params.zipf_s, h.params.r0, h.params.tail, h.params.target_ctr,
                   h.params.target_auc, h.bias, h.logit_scale, h.mean_ctr, h.expected_auc})
    e.put(v);
  char like[16] = {0};
  std::memcpy(like, h.params.like.data(), std::min<size_t>(15, h.params.like.size()));
  e.bytes(like, 16);
  for (int64_t c : h.cardinality) e.put(c);
  return e.b;
}

}  // namespace

void CtrSynthParams::validate() const {
  EC_CHECK(like == "criteo", kUsage, "--like '" << like << "' is not supported (only criteo)");
  EC_CHECK(rows >= 1 && rows <= (int64_t{1} << 40), kUsage, "--rows " << rows << " must be >= 1");
  EC_CHECK(std::isfinite(scale) && scale >= 1, kUsage, "--scale " << scale << " must be >= 1");
  EC_CHECK(std::isfinite(zipf_s) && zipf_s > 0 && zipf_s <= 4, kUsage,
           "zipf exponent " << zipf_s << " must be in (0, 4]");
  EC_CHECK(rank >= 1 && rank <= kMaxRank, kUsage,
           "latent rank " << rank << " must be in [1, " << kMaxRank << "]");
  EC_CHECK(std::isfinite(r0) && r0 > 0, kUsage, "head size r0=" << r0 << " must be > 0");
  EC_CHECK(tail >= 0 && tail <= 1, kUsage, "--tail-signal " << tail << " must be in [0, 1]");
  EC_CHECK(target_ctr > 0.01 && target_ctr < 0.99, kUsage,
           "target CTR " << target_ctr << " must be in (0.01, 0.99)");
  EC_CHECK(target_auc > 0.5 && target_auc < 0.99, kUsage,
           "target AUC " << target_auc << " must be in (0.5, 0.99)");
}

std::vector<int64_t> synthetic_cardinalities(const std::string& like, double scale) {
  EC_CHECK(like == "criteo", kUsage, "--like '" << like << "' is not supported (only criteo)");
  EC_CHECK(std::isfinite(scale) && scale >= 1, kUsage, "--scale " << scale << " must be >= 1");
  std::vector<int64_t> c;
  for (int64_t k : kCriteoCardinality)
    c.push_back(std::max<int64_t>(2, int64_t(double(k) / scale)));
  return c;
}

// ---- Zipf -------------------------------------------------------------------------------------

ZipfSampler::ZipfSampler(int64_t K, double s) : K_(K), s_(s) {
  EC_CHECK(K >= 1 && s > 0, kUsage, "Zipf needs K >= 1 and s > 0, got K=" << K << " s=" << s);
  h_integral_x1_ = h_integral(1.5) - 1.0;
  h_integral_K_ = h_integral(double(K) + 0.5);
  s_const_ = 2.0 - h_integral_inverse(h_integral(2.5) - h(2.0));
  harmonic_ = 0;
  // Exact for small K; the Euler-Maclaurin tail beyond 10^6 terms is accurate to ~1e-12.
  const int64_t direct = std::min<int64_t>(K, 1000000);
  for (int64_t r = direct; r >= 1; --r) harmonic_ += std::pow(double(r), -s);
  if (K > direct) {
    const double a = double(direct) + 0.5, b = double(K) + 0.5;
    harmonic_ += std::abs(s - 1) < 1e-12 ? std::log(b / a)
                                         : (std::pow(b, 1 - s) - std::pow(a, 1 - s)) / (1 - s);
  }
}

double ZipfSampler::h(double x) const { return std::exp(-s_ * std::log(x)); }

double ZipfSampler::h_integral(double x) const {
  // (x^(1-s) - 1) / (1-s), written to stay exact as s -> 1.
  const double lx = std::log(x), t = (1 - s_) * lx;
  return (std::abs(t) > 1e-8 ? std::expm1(t) / t : 1 + 0.5 * t) * lx;
}

double ZipfSampler::h_integral_inverse(double x) const {
  double t = x * (1 - s_);
  if (t < -1) t = -1;
  return std::exp((std::abs(t) > 1e-8 ? std::log1p(t) / t : 1 - 0.5 * t) * x);
}

double ZipfSampler::probability(int64_t r) const {
  return r < 1 || r > K_ ? 0.0 : std::pow(double(r), -s_) / harmonic_;
}

// ---- generator ----------------------------------------------------------------------------------

CtrSynthHeader generate_ctr_synthetic(const CtrSynthParams& params, const std::string& path) {
  params.validate();
  AtomicFile out(path);
  PlantedModel model(params);
  model.calibrate();

  CtrSynthHeader h;
  h.version = kVersion;
  h.num_dense = kNumDense;
  h.num_fields = int(model.card.size());
  h.params = params;
  h.bias = model.bias;
  h.logit_scale = model.scale;
  h.expected_auc = model.expected_auc;
  h.cardinality = model.card;

  std::FILE* f = std::fopen(out.write_path().c_str(), "wb");
  EC_CHECK(f, kBadInput, path << ": cannot open '" << out.tmp_path() << "' for writing");
  struct Closer {
    std::FILE* f;
    ~Closer() {
      if (f) std::fclose(f);
    }
  } closer{f};
  std::vector<char> head = encode_header(h);  // rewritten with mean_ctr at the end
  bool ok = std::fwrite(head.data(), 1, head.size(), f) == head.size();

  const int nf = h.num_fields;
  const size_t rec = h.record_bytes();
  std::vector<char> buf(size_t(kBlockRows) * rec);
  double p_sum = 0;
  for (int64_t b0 = 0; b0 < params.rows && ok; b0 += kBlockRows) {
    const int64_t nb = std::min(kBlockRows, params.rows - b0);
    double block_p = 0;
    // Each row depends only on (seed, row): the bytes do not depend on the thread count.
    // row() throws nothing (all checks were made by validate()), so no guard is needed.
#pragma omp parallel for schedule(static) reduction(+ : block_p)
    for (int64_t i = 0; i < nb; ++i) {
      char* r = buf.data() + size_t(i) * rec;
      float dense[kNumDense];
      int32_t ids[kCriteoCardinality.size()];
      double L, I, D;
      model.row(b0 + i, dense, ids, &L, &I, &D);
      const double pr = sigmoid(model.logit(L, I, D));
      const float pf = float(pr);
      const uint32_t label = model.label_u(b0 + i) < double(pf) ? 1 : 0;
      std::memcpy(r, dense, 4 * kNumDense);
      std::memcpy(r + 4 * kNumDense, ids, 4 * size_t(nf));
      std::memcpy(r + 4 * (kNumDense + nf), &pf, 4);
      std::memcpy(r + 4 * (kNumDense + nf + 1), &label, 4);
      block_p += double(pf);
    }
    p_sum += block_p;
    ok = std::fwrite(buf.data(), 1, size_t(nb) * rec, f) == size_t(nb) * rec;
  }
  h.mean_ctr = p_sum / double(params.rows);
  head = encode_header(h);
  ok = ok && std::fseek(f, 0, SEEK_SET) == 0 &&
       std::fwrite(head.data(), 1, head.size(), f) == head.size();
  ok = std::fclose(f) == 0 && ok;
  closer.f = nullptr;
  EC_CHECK(ok, kRuntime, path << ": write failed (disk full?)");
  out.commit();
  return h;
}

// ---- reader -------------------------------------------------------------------------------------

CtrSynthReader::CtrSynthReader(const std::string& path) : path_(path) {
  struct stat st;
  EC_CHECK(::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode), kBadInput,
           path << ": no such file");
  f_ = std::fopen(path.c_str(), "rb");
  EC_CHECK(f_, kBadInput, path << ": cannot open");
  // A throw below skips the destructor: close the file here then (the fuzzer ran out of
  // file descriptors after about 10^3 rejected headers).
  struct CloseOnThrow {
    std::FILE*& f;
    bool armed = true;
    ~CloseOnThrow() {
      if (armed && f) {
        std::fclose(f);
        f = nullptr;
      }
    }
  } close_on_throw{f_};
  const uint64_t size = uint64_t(st.st_size);
  std::vector<char> fixed(kFixedHeaderBytes);
  EC_CHECK(size >= kFixedHeaderBytes &&
               std::fread(fixed.data(), 1, fixed.size(), f_) == fixed.size() &&
               std::memcmp(fixed.data(), kMagic, 8) == 0,
           kBadInput, path << ": not an embcomp synthetic CTR file (no ECCTRSYN magic)");
  const char* c = fixed.data() + 8;
  CtrSynthHeader& h = header_;
  h.version = get<uint32_t>(c);
  EC_CHECK(h.version == kVersion, kBadInput,
           path << ": synthetic file version " << h.version << ", this build reads " << kVersion);
  h.num_dense = int(get<uint32_t>(c));
  h.num_fields = int(get<uint32_t>(c));
  h.params.rank = int(get<uint32_t>(c));
  h.params.rows = get<int64_t>(c);
  h.params.seed = get<uint64_t>(c);
  h.params.scale = get<double>(c);
  h.params.zipf_s = get<double>(c);
  h.params.r0 = get<double>(c);
  h.params.tail = get<double>(c);
  h.params.target_ctr = get<double>(c);
  h.params.target_auc = get<double>(c);
  h.bias = get<double>(c);
  h.logit_scale = get<double>(c);
  h.mean_ctr = get<double>(c);
  h.expected_auc = get<double>(c);
  h.params.like.assign(c, strnlen(c, 16));
  EC_CHECK(h.num_dense >= 0 && h.num_dense <= 1024 && h.num_fields >= 1 && h.num_fields <= 1024 &&
               h.params.rows >= 0,
           kBadInput,
           path << ": bad header: num_dense=" << h.num_dense << " num_fields=" << h.num_fields
                << " rows=" << h.params.rows);
  const uint64_t header_bytes = kFixedHeaderBytes + 8 * uint64_t(h.num_fields);
  const uint64_t rec = h.record_bytes();
  EC_CHECK(uint64_t(h.params.rows) <= (size - std::min(size, header_bytes)) / rec &&
               size == header_bytes + uint64_t(h.params.rows) * rec,
           kBadInput,
           path << ": size " << size << " bytes does not match its header (" << h.params.rows
                << " rows of " << rec << " bytes after a " << header_bytes
                << "-byte header): truncated or corrupt");
  h.cardinality.resize(size_t(h.num_fields));
  EC_CHECK(std::fread(h.cardinality.data(), 8, h.cardinality.size(), f_) == h.cardinality.size(),
           kBadInput, path << ": truncated header");
  int64_t total = 0;
  for (int f = 0; f < h.num_fields; ++f) {
    EC_CHECK(h.cardinality[f] >= 1 && h.cardinality[f] <= (int64_t{1} << 31), kBadInput,
             path << ": field " << f << " has cardinality " << h.cardinality[f]);
    total += h.cardinality[f];
  }
  // The loader allocates 4 bytes per id (counts) and a table 4 D bytes per id before the
  // first row is used: a header claiming billions of ids in a small file must not do that.
  // Every file ctr-gen writes has at most Criteo's 33.8M ids (S = 1), below kMaxSynthIds.
  const int64_t bound = std::max(kMaxSynthIds, h.params.rows * int64_t(h.num_fields));
  EC_CHECK(total <= bound, kBadInput,
           path << ": the header claims " << total << " ids in all, more than " << bound
                << " (max of " << kMaxSynthIds << " and rows x fields): corrupt or hostile");
  close_on_throw.armed = false;
}

CtrSynthReader::~CtrSynthReader() {
  if (f_) std::fclose(f_);
}

void CtrSynthReader::read(int64_t n, float* dense, int32_t* cat, float* label, float* p) {
  const CtrSynthHeader& h = header_;
  EC_CHECK(n >= 0 && next_row_ + n <= h.params.rows, kBadInput,
           path_ << ": asked for rows " << next_row_ << ".." << next_row_ + n << " of "
                 << h.params.rows);
  const size_t rec = h.record_bytes();
  const int nd = h.num_dense, nf = h.num_fields;
  for (int64_t done = 0; done < n;) {
    const int64_t nb = std::min<int64_t>(n - done, kBlockRows);
    buf_.resize(size_t(nb) * rec);
    EC_CHECK(std::fread(buf_.data(), 1, buf_.size(), f_) == buf_.size(), kBadInput,
             path_ << ": read failed at row " << next_row_);
    for (int64_t i = 0; i < nb; ++i) {
      const char* r = buf_.data() + size_t(i) * rec;
      const int64_t row = next_row_ + i, o = done + i;
      float dv[1024];
      std::memcpy(dv, r, 4 * size_t(nd));
      for (int j = 0; j < nd; ++j)
        EC_CHECK(std::isfinite(dv[j]), kBadInput,
                 path_ << ": row " << row + 1 << ": dense feature " << j + 1 << " is " << dv[j]
                       << " (not finite)");
      if (dense) std::memcpy(dense + o * nd, dv, 4 * size_t(nd));
      int32_t ids[1024];
      std::memcpy(ids, r + 4 * nd, 4 * size_t(nf));
      for (int f = 0; f < nf; ++f)
        EC_CHECK(ids[f] >= 0 && ids[f] < h.cardinality[f], kBadInput,
                 path_ << ": row " << row + 1 << ": field " << f + 1 << " id " << ids[f]
                       << " is outside [0, " << h.cardinality[f] << ")");
      if (cat) std::memcpy(cat + o * nf, ids, 4 * size_t(nf));
      float pf;
      uint32_t lab;
      std::memcpy(&pf, r + 4 * (nd + nf), 4);
      std::memcpy(&lab, r + 4 * (nd + nf + 1), 4);
      EC_CHECK(lab <= 1 && pf >= 0 && pf <= 1, kBadInput,
               path_ << ": row " << row + 1 << ": label " << lab << " / probability " << pf
                     << " out of range");
      if (label) label[o] = float(lab);
      if (p) p[o] = pf;
    }
    done += nb;
    next_row_ += nb;
  }
}

}  // namespace embcomp::ctr
