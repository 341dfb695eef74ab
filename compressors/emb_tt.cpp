#include "compressors/emb_tt.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/tt.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

// Per-block init seed: distinct for every (table seed, field, block).
uint64_t block_seed(uint64_t seed, int field, int block) {
  return seed * 0x9E3779B97F4A7C15ull +
         (uint64_t(field) * 4 + uint64_t(block) + 1) * 0xD1B54A32D192ED03ull;
}

// What the plan needs about one field, independent of the knobs.
struct FieldShape {
  int64_t n = 0;
  std::array<int64_t, 3> nk{};
  int64_t cap = 0;  // min(n1 d1, n3 d3): the largest useful rank
};

struct Prep {
  int D = 0;
  std::array<int, 3> dk{};
  std::vector<FieldShape> fields;
  std::vector<int> ascending;  // field indices by n ascending (ties: lower index first)
};

Prep prepare(const TableInit& init) {
  Prep p;
  p.D = init.dim;
  p.dk = tt_factor_dim(init.dim);
  const int F = static_cast<int>(init.field_offsets.size()) - 1;
  p.fields.resize(F);
  for (int f = 0; f < F; ++f) {
    FieldShape& s = p.fields[f];
    s.n = init.field_offsets[f + 1] - init.field_offsets[f];
    EC_CHECK(s.n >= 1, kBadInput, "TT: field " << f << " has " << s.n << " rows");
    const auto fn = tt_factor(static_cast<size_t>(s.n));
    s.nk = {int64_t(fn[1]), int64_t(fn[0]), int64_t(fn[2])};
    s.cap = std::min(s.nk[0] * p.dk[0], s.nk[2] * p.dk[2]);
  }
  p.ascending.resize(F);
  std::iota(p.ascending.begin(), p.ascending.end(), 0);
  std::stable_sort(p.ascending.begin(), p.ascending.end(),
                   [&](int a, int b) { return p.fields[a].n < p.fields[b].n; });
  return p;
}

int64_t tt_floats(const FieldShape& s, const std::array<int, 3>& dk, int64_t R) {
  return s.nk[0] * dk[0] * R + s.nk[1] * dk[1] * R * R + s.nk[2] * dk[2] * R;
}

// Bytes of the plan (R, u, k) without cache; fills out when given and sets *cache_field
// to the smallest field stored as TT (-1 when none). The single place where the knobs
// become layouts (tt_plan and the solver both call it).
int64_t plan_bytes(const Prep& p, int R, int u, int k, std::vector<TtFieldLayout>* out,
                   int* cache_field) {
  const int F = static_cast<int>(p.fields.size());
  if (out) out->assign(F, TtFieldLayout{});
  int64_t total = 0;
  *cache_field = -1;
  // ascending[0..k) are Full; the others, from the largest down, get R+1 for the first u.
  for (int pos = F - 1, rank_pos = 0; pos >= 0; --pos) {
    const int f = p.ascending[pos];
    const FieldShape& s = p.fields[f];
    const int64_t full = s.n * p.D;
    bool is_full = pos < k;
    int64_t R_f = 0, floats = full;
    if (!is_full) {
      R_f = std::min<int64_t>(rank_pos < u ? R + 1 : R, s.cap);
      ++rank_pos;
      const int64_t tt = tt_floats(s, p.dk, R_f);
      if (tt < full) {
        floats = tt;
        *cache_field = f;
      } else {
        is_full = true;
      }
    }
    total += 4 * floats;
    if (out) {
      TtFieldLayout& L = (*out)[f];
      L.full = is_full;
      L.n = s.n;
      L.nk = s.nk;
      L.dk = p.dk;
      L.R = is_full ? 0 : static_cast<int>(R_f);
    }
  }
  return total;
}

// Z (d1 x w2) = A (d1 x R) * B (R x w2), w2 = d2 R: the first two cores' slices.
void core_product(const float* A, const float* B, int d1, int R, int w2, float* z) {
  for (int j1 = 0; j1 < d1; ++j1) {
    float* zr = z + j1 * w2;
    std::fill(zr, zr + w2, 0.0f);
    for (int r = 0; r < R; ++r) {
      const float a = A[j1 * R + r];
      const float* br = B + r * w2;
      for (int q = 0; q < w2; ++q) zr[q] += a * br[q];
    }
  }
}

std::string knob_string(int R, int u, int k, int64_t c) {
  return "R=" + std::to_string(R) + ",up=" + std::to_string(u) + ",full=" + std::to_string(k) +
         ",cached=" + std::to_string(c);
}

}  // namespace

void TtTableParams::validate() const {
  EC_CHECK(R >= 1 && R_max >= 1 && upgraded >= 0 && full_fields >= 0, kBadInput,
           "TT: need R >= 1, R_max >= 1, upgraded >= 0, full_fields >= 0, got R="
               << R << " R_max=" << R_max << " upgraded=" << upgraded
               << " full_fields=" << full_fields);
}

int64_t TtFieldLayout::bytes() const {
  const int64_t D = int64_t(dk[0]) * dk[1] * dk[2];
  if (full) return 4 * n * D;
  return 4 * (nk[0] * dk[0] * R + nk[1] * dk[1] * int64_t(R) * R + nk[2] * dk[2] * R) +
         cached * (4 * D + 4);
}

std::array<int, 3> tt_factor_dim(int D) {
  EC_CHECK(D >= 1, kBadInput, "TT: cannot factor D=" << D);
  std::array<int, 3> best{1, 1, D};
  for (int a = 1; a * a * a <= D; ++a) {
    if (D % a) continue;
    for (int b = a; a * b * b <= D; ++b) {
      if ((D / a) % b) continue;
      const int c = D / a / b;  // a <= b <= c
      if (double(c) / a < double(best[2]) / best[0]) best = {a, b, c};
    }
  }
  // Smallest factor in the middle: the middle core holds R^2 per (i2, j2).
  return {best[1], best[0], best[2]};
}

std::vector<TtFieldLayout> tt_plan(const TableInit& init, const TtTableParams& p) {
  p.validate();
  const Prep prep = prepare(init);
  const int F = static_cast<int>(prep.fields.size());
  EC_CHECK(p.full_fields <= F && p.upgraded <= F, kBadInput,
           "TT: full_fields=" << p.full_fields << " and upgraded=" << p.upgraded
                              << " must be <= the " << F << " fields");
  std::vector<TtFieldLayout> plan;
  int cache_field = -1;
  plan_bytes(prep, p.R, p.upgraded, p.full_fields, &plan, &cache_field);
  if (p.cached > 0) {
    EC_CHECK(cache_field >= 0 && p.cached <= plan[cache_field].n, kBadInput,
             "TT: cached=" << p.cached << " needs a TT field with that many rows");
    plan[cache_field].cached = p.cached;
  }
  return plan;
}

int64_t tt_plan_bytes(const std::vector<TtFieldLayout>& plan) {
  int64_t bytes = 0;
  for (const auto& L : plan) bytes += L.bytes();
  return bytes;
}

int64_t tt_plan_core_bytes(const std::vector<TtFieldLayout>& plan) {
  int64_t bytes = 0;
  for (const auto& L : plan)
    if (!L.full) bytes += L.bytes() - L.cached * (4 * int64_t(L.dk[0]) * L.dk[1] * L.dk[2] + 4);
  return bytes;
}

TtTableParams tt_solve_budget(const std::string& spec, const TableInit& init, double budget_bytes) {
  TtTableParams best;
  best.validate();
  const Prep prep = prepare(init);
  const int F = static_cast<int>(prep.fields.size());
  const int64_t row_bytes = 4 * int64_t(init.dim) + 4;  // a cached row and its id
  struct Cand {
    int R, u, k;
    int64_t bytes;     // without cache
    int64_t cachable;  // rows of the smallest TT field (0 when none)
  };
  std::vector<Cand> all;
  for (int k = 0; k <= F; ++k)
    for (int R = 1; R <= best.R_max; ++R)
      for (int u = 0; u <= (R < best.R_max ? F - k : 0); ++u) {
        int cf = -1;
        const int64_t b = plan_bytes(prep, R, u, k, nullptr, &cf);
        all.push_back({R, u, k, b, cf >= 0 ? prep.fields[cf].n : 0});
      }
  // budget.h's rule with the information per row ordered as rank R, then fewer Full
  // fields, then more fields upgraded to R+1; first among the settings that reach within
  // 2% below the budget once the cache takes what is left (at most all rows of the
  // smallest TT field), else among all that fit; none fits: kBadInput "unreachable".
  auto choice = [&](const Cand& c) {
    return KnobChoice{knob_string(c.R, c.u, c.k, 0), size_t(c.bytes), double(c.R),
                      double(F + 1 - c.k) * double(F + 2) + double(c.u)};
  };
  std::vector<KnobChoice> window;
  std::vector<const Cand*> window_cands;
  for (const Cand& c : all) {
    const double reach = double(c.bytes) + double(c.cachable) * row_bytes;
    if (double(c.bytes) > budget_bytes || reach < 0.98 * budget_bytes) continue;
    window.push_back(choice(c));
    window_cands.push_back(&c);
  }
  const double full = init.full_bytes();
  const Cand* pick = nullptr;
  int64_t cached = 0;
  if (!window.empty()) {
    pick = window_cands[choose_knob(spec, window, budget_bytes, full)];
    cached = std::min<int64_t>(
        pick->cachable, static_cast<int64_t>((budget_bytes - double(pick->bytes)) / row_bytes));
  } else {
    std::vector<KnobChoice> choices;
    choices.reserve(all.size());
    for (const Cand& c : all) choices.push_back(choice(c));
    pick = &all[choose_knob(spec, choices, budget_bytes, full)];
  }
  best.R = pick->R;
  best.upgraded = pick->u;
  best.full_fields = pick->k;
  best.cached = cached;
  return best;
}

TtTable::TtTable(const TableInit& init, const TtTableParams& p, std::string spec,
                 std::string budget_note)
    : spec_(std::move(spec)),
      note_(std::move(budget_note)),
      p_(p),
      rows_(init.rows),
      dim_(init.dim),
      offsets_(init.field_offsets),
      plan_(tt_plan(init, p)),
      opt_(init.optimizer) {
  const int F = static_cast<int>(plan_.size());
  blocks_.resize(F);
  cache_ids_.resize(F);
  size_t scratch = 0;
  for (int f = 0; f < F; ++f) {
    const TtFieldLayout& L = plan_[f];
    if (L.full) {
      blocks_[f].emplace_back(L.n, dim_, 0.05f, block_seed(init.seed, f, 0));
      continue;
    }
    const int R = L.R;
    const int64_t widths[3] = {int64_t(L.dk[0]) * R, int64_t(R) * L.dk[1] * R,
                               int64_t(R) * L.dk[2]};
    // R^2 sigma^6 = 0.05^2 / 3: a looked-up element has Full's init variance.
    const double sigma = std::pow(0.05 * 0.05 / 3.0 / (double(R) * R), 1.0 / 6.0);
    for (int c = 0; c < 3; ++c) {
      const uint64_t seed = block_seed(init.seed, f, c + 1);
      RowParams& b = blocks_[f].emplace_back(L.nk[c], static_cast<int>(widths[c]), 0.0f, seed);
      const int64_t total = L.nk[c] * widths[c];
      float* w = b.data();
      for (int64_t i = 0; i < total; ++i) {
        const double u1 = 0.5 * (1.0 - hashed_uniform(seed, 2 * uint64_t(i)));  // (0, 1]
        const double u2 = 0.5 * (1.0 + hashed_uniform(seed, 2 * uint64_t(i) + 1));
        w[i] = static_cast<float>(sigma * std::sqrt(-2.0 * std::log(std::max(u1, 1e-300))) *
                                  std::cos(2.0 * M_PI * u2));
      }
    }
    const size_t need = size_t(L.dk[0]) * L.dk[1] * R * 2 + size_t(widths[0]) + size_t(widths[1]) +
                        size_t(widths[2]);
    scratch = std::max(scratch, need);
    if (L.cached > 0) {
      // TT-Rec's cache: the field's most frequent rows (training counts; the first ids
      // without counts) are plain rows, looked up by binary search in their sorted ids.
      std::vector<int32_t> hot(L.n);
      std::iota(hot.begin(), hot.end(), 0);
      if (!init.counts.empty()) {
        const uint32_t* cnt = init.counts.data() + offsets_[f];
        std::partial_sort(
            hot.begin(), hot.begin() + L.cached, hot.end(),
            [&](int32_t a, int32_t b) { return cnt[a] != cnt[b] ? cnt[a] > cnt[b] : a < b; });
      }
      hot.resize(L.cached);
      std::sort(hot.begin(), hot.end());
      cache_ids_[f] = std::move(hot);
      blocks_[f].emplace_back(L.cached, dim_, 0.05f, block_seed(init.seed, f, 4));
    }
  }
  scratch_.resize(scratch);
}

int64_t TtTable::cache_slot(int f, int64_t v) const {
  const auto& c = cache_ids_[f];
  if (c.empty()) return -1;
  const auto it = std::lower_bound(c.begin(), c.end(), static_cast<int32_t>(v));
  return it != c.end() && *it == v ? it - c.begin() : -1;
}

std::string TtTable::knob() const {
  char share[32];
  std::snprintf(share, sizeof share, "%.4f", double(tt_plan_core_bytes(plan_)) / double(bytes()));
  return knob_string(p_.R, p_.upgraded, p_.full_fields, p_.cached) + ",cores=" + share;
}

int TtTable::field_of(int64_t id) const {
  return static_cast<int>(std::upper_bound(offsets_.begin(), offsets_.end(), id) -
                          offsets_.begin()) -
         1;
}

void TtTable::row_forward(int f, int64_t v, float* out, float* z) const {
  const TtFieldLayout& L = plan_[f];
  const auto& b = blocks_[f];
  const int64_t slot = L.full ? v : cache_slot(f, v);
  if (slot >= 0) {
    std::memcpy(out, b[L.full ? 0 : 3].row(slot), sizeof(float) * dim_);
    return;
  }
  const int R = L.R, d1 = L.dk[0], d2 = L.dk[1], d3 = L.dk[2], w2 = d2 * R;
  const int64_t i3 = v % L.nk[2], i2 = (v / L.nk[2]) % L.nk[1], i1 = v / L.nk[2] / L.nk[1];
  const float* C = b[2].row(i3);
  core_product(b[0].row(i1), b[1].row(i2), d1, R, w2, z);
  // out (d1 d2 x d3) = Z (d1 d2 x R) * C (R x d3)
  for (int p = 0; p < d1 * d2; ++p) {
    float* o = out + p * d3;
    std::fill(o, o + d3, 0.0f);
    const float* zp = z + p * R;
    for (int s = 0; s < R; ++s)
      for (int j3 = 0; j3 < d3; ++j3) o[j3] += zp[s] * C[s * d3 + j3];
  }
}

void TtTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, rows_);
  const size_t zsize = scratch_.size();
  OmpExceptionGuard guard;
#pragma omp parallel if (n >= 512)
  {
    guard.run([&] {
      std::vector<float> z(zsize);  // one scratch per thread and call
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        const int f = field_of(ids[i]);
        row_forward(f, ids[i] - offsets_[f], out + i * dim_, z.data());
      }
    });
  }
  guard.rethrow();
}

void TtTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, rows_);
  for (int64_t i = 0; i < n; ++i) {
    const int f = field_of(ids[i]);
    const int64_t v = ids[i] - offsets_[f];
    const float* g = grad_out + i * dim_;
    const TtFieldLayout& L = plan_[f];
    auto& b = blocks_[f];
    const int64_t slot = L.full ? v : cache_slot(f, v);
    if (slot >= 0) {
      b[L.full ? 0 : 3].accumulate(slot, g);
      continue;
    }
    const int R = L.R, d1 = L.dk[0], d2 = L.dk[1], d3 = L.dk[2], w2 = d2 * R;
    const int64_t i3 = v % L.nk[2], i2 = (v / L.nk[2]) % L.nk[1], i1 = v / L.nk[2] / L.nk[1];
    const float* A = b[0].row(i1);
    const float* B = b[1].row(i2);
    const float* C = b[2].row(i3);
    float* z = scratch_.data();        // d1 d2 R
    float* dz = z + size_t(d1) * w2;   // d1 d2 R
    float* dA = dz + size_t(d1) * w2;  // d1 R
    float* dB = dA + size_t(d1) * R;   // R d2 R
    float* dC = dB + size_t(R) * w2;   // R d3
    core_product(A, B, d1, R, w2, z);
    // dC (R x d3) = Z^T g ;  dZ (d1 d2 x R) = g C^T
    std::fill(dC, dC + R * d3, 0.0f);
    for (int p = 0; p < d1 * d2; ++p) {
      const float* zp = z + p * R;
      const float* gp = g + p * d3;
      float* dzp = dz + p * R;
      for (int s = 0; s < R; ++s) {
        float acc = 0;
        for (int j3 = 0; j3 < d3; ++j3) {
          dC[s * d3 + j3] += zp[s] * gp[j3];
          acc += gp[j3] * C[s * d3 + j3];
        }
        dzp[s] = acc;
      }
    }
    // dA (d1 x R) = dZ (d1 x d2 R) B^T ;  dB (R x d2 R) = A^T dZ
    for (int j1 = 0; j1 < d1; ++j1) {
      const float* dzr = dz + j1 * w2;
      for (int r = 0; r < R; ++r) {
        const float* br = B + r * w2;
        float acc = 0;
        for (int q = 0; q < w2; ++q) acc += dzr[q] * br[q];
        dA[j1 * R + r] = acc;
      }
    }
    for (int r = 0; r < R; ++r) {
      float* dbr = dB + r * w2;
      std::fill(dbr, dbr + w2, 0.0f);
      for (int j1 = 0; j1 < d1; ++j1) {
        const float a = A[j1 * R + r];
        const float* dzr = dz + j1 * w2;
        for (int q = 0; q < w2; ++q) dbr[q] += a * dzr[q];
      }
    }
    b[0].accumulate(i1, dA);
    b[1].accumulate(i2, dB);
    b[2].accumulate(i3, dC);
  }
}

void TtTable::step() {
  for (auto& field : blocks_)
    for (auto& b : field) b.step(opt_);
}

int64_t TtTable::bytes() const {
  int64_t total = 0;
  for (const auto& ids : cache_ids_) total += int64_t(ids.size()) * 4;
  for (const auto& field : blocks_)
    for (const auto& b : field) total += b.bytes();
  return total;
}

int64_t TtTable::optimizer_bytes() const {
  int64_t total = 0;
  for (const auto& field : blocks_)
    for (const auto& b : field) total += RowParams::optimizer_bytes(b.rows(), b.width(), opt_);
  return total;
}

std::vector<std::pair<void*, size_t>> TtTable::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  for (auto& field : blocks_)
    for (auto& b : field) out.push_back({b.data(), static_cast<size_t>(b.bytes())});
  for (auto& ids : cache_ids_)
    if (!ids.empty()) out.push_back({ids.data(), ids.size() * sizeof(int32_t)});
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_tt(const std::string& spec, double budget,
                                        const TableInit& init) {
  if (budget == 0) return std::make_unique<TtTable>(init, TtTableParams{}, spec);
  const double budget_bytes = budget * 4.0 * double(init.rows) * init.dim;
  const TtTableParams p = tt_solve_budget(spec, init, budget_bytes);
  const double actual = double(tt_plan_bytes(tt_plan(init, p))) / init.full_bytes();
  return std::make_unique<TtTable>(
      init, p, spec,
      budget_gap_note(actual, budget, "the rank is discrete and a field is either TT or Full"));
}

TableRegistrar reg{{"TT", "TT | TT@B",
                    "TT-Rec: per field three tensor-train cores (rank solved from the budget; "
                    "fields where TT is not smaller stay Full)",
                    make_tt}};

}  // namespace
}  // namespace embcomp::ctr
