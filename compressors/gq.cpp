#include "compressors/gq.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "compressors/budget.h"
#include "toolkit/hash.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

void GqParams::validate() const {
  EC_CHECK(bits == 8 || bits == 16, kBadInput, "GQ: bits=" << bits << " is not 8 or 16");
}

GqTable::GqTable(size_t d, GqParams params, std::string spec)
    : d_(d), params_(params), spec_(std::move(spec)) {
  params_.validate();
  EC_CHECK(d > 0, kBadInput, spec_ << ": d must be positive");
}

void GqTable::compress(MatrixView<float> x) {
  check_train_input(spec_, x, d_, 1);
  auto t0 = std::chrono::steady_clock::now();
  const size_t total = x.n * d_;
  float lo = x.data[0], hi = x.data[0];
#pragma omp parallel for reduction(min : lo) reduction(max : hi) schedule(static)
  for (size_t i = 0; i < total; ++i) {
    lo = std::min(lo, x.data[i]);
    hi = std::max(hi, x.data[i]);
  }
  const double levels = double((1u << params_.bits) - 1);
  zero_ = lo;
  scale_ = hi > lo ? float((double(hi) - lo) / levels) : 1.0f;
  auto t1 = std::chrono::steady_clock::now();
  const double inv = 1.0 / scale_;
  if (params_.bits == 8) codes8_.assign(total, 0); else codes16_.assign(total, 0);
  const uint64_t seed = splitmix64(params_.seed);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < total; ++i) {
    const double u = double(splitmix64(seed ^ i) >> 11) * 0x1.0p-53;  // [0, 1)
    const double c = std::clamp(std::floor((double(x.data[i]) - zero_) * inv + u), 0.0, levels);
    if (params_.bits == 8) codes8_[i] = uint8_t(c); else codes16_[i] = uint16_t(c);
  }
  n_ = x.n;
  train_s_ = std::chrono::duration<double>(t1 - t0).count();
  encode_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
}

void GqTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
#pragma omp parallel for if (count > 4096) schedule(static)
  for (size_t i = 0; i < count; ++i) {
    const size_t base = size_t(ids[i]) * d_;
    float* o = out + i * d_;
    if (params_.bits == 8) {
      for (size_t j = 0; j < d_; ++j) o[j] = zero_ + float(codes8_[base + j]) * scale_;
    } else {
      for (size_t j = 0; j < d_; ++j) o[j] = zero_ + float(codes16_[base + j]) * scale_;
    }
  }
}

namespace {
std::unique_ptr<TableCompressor> make_gq_for_budget(const BuildArgs& a) {
  // Information per row: d bits-per-value; 8 bytes hold the scale and the zero point.
  std::vector<KnobChoice> cands = {{"bits=8", a.n * a.d + 8, 8.0 * double(a.d), 0},
                                   {"bits=16", 2 * a.n * a.d + 8, 16.0 * double(a.d), 0}};
  const double full = 4.0 * double(a.n) * double(a.d);
  const size_t best = choose_knob(a.full_spec, cands, a.budget * full, full);
  GqParams p;
  p.bits = best == 0 ? 8 : 16;
  p.seed = a.seed;
  auto t = std::make_unique<GqTable>(a.d, p, a.full_spec);
  t->set_budget(a.budget, "GQ has two sizes only: 8 bits (0.25 of fp32) and 16 bits (0.5), plus 8 bytes");
  return t;
}

Registrar reg{{
    .name = "GQ",
    .grammar = "GQ{bits}",
    .doc = "one global scale and zero point, stochastic rounding to int8 or int16 (bits 8|16)",
    .kind = MethodKind::kTable,
    .pattern = "GQ(8|16)",
    .ladder = [](size_t) { return std::vector<std::string>{"GQ8", "GQ16"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"GQ8", "GQ16"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table =
        [](const BuildArgs& a) -> std::unique_ptr<TableCompressor> {
          GqParams p;
          p.bits = std::stoi(a.groups[1]);
          p.seed = a.seed;
          return std::make_unique<GqTable>(a.d, p, a.spec());
        },
    .budget_pattern = "GQ",
    .budget_grammar = "GQ@{budget}",
    .budget_head = "",
    .make_budgeted = make_gq_for_budget,
}};
}  // namespace

/// n, scale, zero point, then the n * d codes (8 or 16 bits each).
void GqTable::save(BinaryWriter& w) const {
  w.put_u64(n_);
  w.put_f32(scale_);
  w.put_f32(zero_);
  w.put_vector(codes8_);
  w.put_vector(codes16_);
}

void GqTable::load(BinaryReader& r) {
  n_ = r.get_u64();
  scale_ = r.get_f32();
  zero_ = r.get_f32();
  const size_t total = checked_mul(n_, d_);
  codes8_ = r.get_vector<uint8_t>(params_.bits == 8 ? total : 0);
  codes16_ = r.get_vector<uint16_t>(params_.bits == 8 ? 0 : total);
}

}  // namespace embcomp
