#include "compressors/binary.h"

#include <algorithm>
#include <cstring>

#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

BinaryCodec::BinaryCodec(size_t d, BinaryParams params) : d_(d), params_(params) {
  EC_CHECK(d > 0, kBadInput, spec() << ": d must be positive");
}

void BinaryCodec::train(MatrixView<float> x) {
  check_train_input(spec(), x, d_, params_.median ? 2 : 1);
  const size_t n = std::min(x.n, params_.max_train_rows);  // a prefix: deterministic
  threshold_.assign(d_, 0.0f);
  if (params_.median) {
    std::vector<float> col(n);
    for (size_t j = 0; j < d_; ++j) {
      for (size_t i = 0; i < n; ++i) col[i] = x.row(i)[j];
      auto mid = col.begin() + n / 2;
      std::nth_element(col.begin(), mid, col.end());
      threshold_[j] = *mid;
      if (n % 2 == 0) {  // mean of the two middle values
        threshold_[j] = 0.5f * (*mid + *std::max_element(col.begin(), mid));
      }
    }
  }
  std::vector<double> sum_hi(d_, 0), sum_lo(d_, 0);
  std::vector<size_t> cnt_hi(d_, 0);
  for (size_t i = 0; i < n; ++i) {
    const float* xi = x.row(i);
    for (size_t j = 0; j < d_; ++j) {
      if (xi[j] > threshold_[j]) {
        sum_hi[j] += xi[j];
        ++cnt_hi[j];
      } else {
        sum_lo[j] += xi[j];
      }
    }
  }
  hi_.resize(d_);
  lo_.resize(d_);
  for (size_t j = 0; j < d_; ++j) {
    size_t cnt_lo = n - cnt_hi[j];
    lo_[j] = cnt_lo ? float(sum_lo[j] / cnt_lo) : threshold_[j];
    hi_[j] = cnt_hi[j] ? float(sum_hi[j] / cnt_hi[j]) : threshold_[j];
  }
}

void BinaryCodec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d_, is_trained());
  const size_t cs = code_size();
#pragma omp parallel for if (x.n > 4096) schedule(static)
  for (size_t i = 0; i < x.n; ++i) {
    const float* xi = x.row(i);
    uint8_t* ci = codes + i * cs;
    std::memset(ci, 0, cs);
    for (size_t j = 0; j < d_; ++j) {
      if (xi[j] > threshold_[j]) ci[j >> 3] |= uint8_t(1u << (j & 7));
    }
  }
}

void BinaryCodec::decode(const uint8_t* codes, size_t n, float* x) const {
  const size_t cs = code_size();
#pragma omp parallel for if (n > 4096) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* ci = codes + i * cs;
    float* xi = x + i * d_;
    for (size_t j = 0; j < d_; ++j) xi[j] = (ci[j >> 3] >> (j & 7)) & 1 ? hi_[j] : lo_[j];
  }
}

void BinaryCodec::decode_for_scan(const uint8_t* codes, size_t n, float* x) const {
  const size_t cs = code_size();
#pragma omp parallel for if (n > 4096) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* ci = codes + i * cs;
    float* xi = x + i * d_;
    for (size_t j = 0; j < d_; ++j) xi[j] = (ci[j >> 3] >> (j & 7)) & 1 ? 1.0f : -1.0f;
  }
}

/// t, hi, lo: three vectors of d floats.
void BinaryCodec::save(BinaryWriter& w) const {
  EC_CHECK(is_trained(), kRuntime, spec() << ": save before train");
  w.put_vector(threshold_);
  w.put_vector(hi_);
  w.put_vector(lo_);
}

void BinaryCodec::load(BinaryReader& r) {
  threshold_ = r.get_vector<float>(d_);
  hi_ = r.get_vector<float>(d_);
  lo_ = r.get_vector<float>(d_);
}

namespace {
Registrar reg_sign{{
    .name = "Binary",
    .grammar = "Binary",
    .doc = "sign bit per dimension, Hamming search: ceil(d/8) bytes per row",
    .kind = MethodKind::kCodec,
    .pattern = "Binary",
    .ladder = [](size_t) { return std::vector<std::string>{"Binary"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"Binary"}; },
    .make_transform = nullptr,
    .make_codec = [](const BuildArgs& a) { return std::make_unique<BinaryCodec>(a.d, BinaryParams{}); },
}};

Registrar reg_median{{
    .name = "Binary-median",
    .grammar = "Binary-median",
    .doc = "one bit per dimension against its training median, Hamming search: ceil(d/8) bytes per row",
    .kind = MethodKind::kCodec,
    .pattern = "Binary-median",
    .ladder = [](size_t) { return std::vector<std::string>{"Binary-median"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"Binary-median"}; },
    .make_transform = nullptr,
    .make_codec =
        [](const BuildArgs& a) {
          BinaryParams p;
          p.median = true;
          return std::make_unique<BinaryCodec>(a.d, p);
        },
}};
}  // namespace

}  // namespace embcomp
