#include "compressors/emb_qr.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/emb_hash.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

// Largest c with c (c + 1) <= n: on [2, c_max] the rows ceil(n/c) + c never increase with
// c, and beyond it they grow again (the minimum is near sqrt(n)).
int64_t qr_c_max(int64_t n) {
  int64_t c = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  while (c > 0 && c * (c + 1) > n) --c;
  while ((c + 1) * (c + 2) <= n) ++c;
  return c;
}

bool qr_saves(int64_t n, int64_t c) { return c >= 2 && c < n && qr_field_rows(n, int32_t(c)) < n; }

// The setting of a field with n ids with the most rows <= target, or its smallest
// setting when none is that small: 0 (full) or a collision factor.
int32_t pick_setting(int64_t n, double target) {
  if (target >= double(n)) return 0;
  const int64_t c_max = qr_c_max(n);
  if (!qr_saves(n, c_max)) return 0;  // tiny field: QR never saves rows
  if (double(qr_field_rows(n, int32_t(c_max))) > target) return int32_t(c_max);
  // Smallest c in [2, c_max] with rows(c) <= target (rows non-increasing in c).
  int64_t lo = 2, hi = c_max;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (double(qr_field_rows(n, int32_t(mid))) <= target)
      hi = mid;
    else
      lo = mid + 1;
  }
  return qr_saves(n, lo) ? int32_t(lo) : 0;
}

}  // namespace

int64_t qr_field_rows(int64_t n, int32_t c) { return c == 0 ? n : (n + c - 1) / c + c; }

void QrParams::validate(const std::vector<int64_t>& field_offsets) const {
  const size_t fields = field_offsets.size() - 1;
  EC_CHECK(
      c.size() == fields, kBadInput,
      "QR needs one collision factor per field: " << c.size() << " for " << fields << " fields");
  for (size_t f = 0; f < fields; ++f) {
    const int64_t n = field_offsets[f + 1] - field_offsets[f];
    EC_CHECK(c[f] == 0 || (c[f] >= 2 && c[f] < n), kBadInput,
             "QR field " << f << " with " << n << " ids: collision factor c=" << c[f]
                         << " must be 0 (full) or in [2, " << n << ")");
  }
}

std::vector<int32_t> solve_qr_collisions(const std::string& spec,
                                         const std::vector<int64_t>& field_offsets,
                                         int64_t max_rows) {
  const size_t fields = field_offsets.size() - 1;
  std::vector<int64_t> n(fields);
  for (size_t f = 0; f < fields; ++f) n[f] = field_offsets[f + 1] - field_offsets[f];
  auto settings = [&](double t) {
    std::vector<int32_t> c(fields);
    for (size_t f = 0; f < fields; ++f) c[f] = pick_setting(n[f], t * double(n[f]));
    return c;
  };
  auto total = [&](const std::vector<int32_t>& c) {
    int64_t s = 0;
    for (size_t f = 0; f < fields; ++f) s += qr_field_rows(n[f], c[f]);
    return s;
  };
  const std::vector<int32_t> smallest = settings(0.0);
  EC_CHECK(total(smallest) <= max_rows, kBadInput,
           spec << ": budget of " << max_rows
                << " rows is unreachable (cannot be met); the smallest QR setting "
                << "(c_f ~ sqrt(n_f)) takes " << total(smallest) << " rows, "
                << double(total(smallest)) / double(field_offsets.back() - field_offsets.front())
                << " of fp32");
  double lo = 0, hi = 1;
  for (int it = 0; it < 60; ++it) {
    const double mid = 0.5 * (lo + hi);
    (total(settings(mid)) <= max_rows ? lo : hi) = mid;
  }
  std::vector<int32_t> c = settings(lo);
  int64_t used = total(c);
  std::vector<size_t> order(fields);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return n[a] > n[b]; });
  // One setting up (more rows: c - 1, or full after 2) or down (fewer rows: c + 1 up to
  // c_max, or 2 from full); -1 when there is none.
  auto up = [&](size_t f, int32_t cf) -> int32_t {
    if (cf == 0) return -1;
    return cf == 2 || !qr_saves(n[f], cf - 1) ? 0 : cf - 1;
  };
  auto down = [&](size_t f, int32_t cf) -> int32_t {
    if (cf == 0) return qr_saves(n[f], 2) ? 2 : -1;
    return cf + 1 <= qr_c_max(n[f]) && qr_saves(n[f], cf + 1) ? cf + 1 : -1;
  };
  // Greedy fill of what is left, largest fields first.
  auto fill = [&] {
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t f : order) {
        const int32_t next = up(f, c[f]);
        if (next < 0) continue;
        const int64_t delta = qr_field_rows(n[f], next) - qr_field_rows(n[f], c[f]);
        if (used + delta <= max_rows) {
          c[f] = next;
          used += delta;
          changed = true;
        }
      }
    }
  };
  fill();
  // Repair: a large field one step up may fit if smaller fields give rows back (the fill
  // alone stalls when the next step of the big field is larger than what is left).
  for (bool improved = true; improved;) {
    improved = false;
    for (size_t f : order) {
      std::vector<int32_t> trial = c;
      if ((trial[f] = up(f, c[f])) < 0) continue;
      int64_t rows = total(trial);
      for (auto g = order.rbegin(); g != order.rend() && rows > max_rows; ++g) {
        if (*g == f) continue;
        for (int32_t next = down(*g, trial[*g]); next >= 0 && rows > max_rows;
             next = down(*g, trial[*g])) {
          rows += qr_field_rows(n[*g], next) - qr_field_rows(n[*g], trial[*g]);
          trial[*g] = next;
        }
      }
      if (rows <= max_rows && rows > used) {
        c = std::move(trial);
        used = rows;
        fill();
        improved = true;
      }
    }
  }
  return c;
}

QrTable::QrTable(const TableInit& init, QrParams params, std::string spec)
    : p_(std::move(params)),
      spec_(std::move(spec)),
      n_(init.rows),
      d_(init.dim),
      offsets_(init.field_offsets),
      opt_(init.optimizer) {
  p_.validate(offsets_);
  const size_t fields = offsets_.size() - 1;
  q_start_.resize(fields);
  r_start_.resize(fields);
  int64_t q_rows = 0, r_rows = 0;
  for (size_t f = 0; f < fields; ++f) {
    const int64_t n = offsets_[f + 1] - offsets_[f];
    q_start_[f] = q_rows;
    r_start_[f] = r_rows;
    q_rows += p_.c[f] == 0 ? n : (n + p_.c[f] - 1) / p_.c[f];
    r_rows += p_.c[f];
  }
  q_ = RowParams(q_rows, d_, 0.05f, p_.seed);
  if (r_rows > 0) {
    r_ = RowParams(r_rows, d_, 0.05f, p_.seed ^ 0x5851F42D4C957F2Dull);
    if (!p_.sum)
      for (int64_t i = 0; i < r_rows * d_; ++i) r_.data()[i] += 1.0f;
  }
}

std::string QrTable::knob() const {
  std::ostringstream s;
  s << "c=";
  for (size_t f = 0; f < p_.c.size(); ++f) s << (f ? "/" : "") << p_.c[f];
  return s.str();
}

std::pair<int64_t, int64_t> QrTable::locate(int64_t id) const {
  const size_t f = static_cast<size_t>(std::upper_bound(offsets_.begin() + 1, offsets_.end(), id) -
                                       (offsets_.begin() + 1));
  const int64_t v = id - offsets_[f];
  const int64_t c = p_.c[f];
  if (c == 0) return {q_start_[f] + v, -1};
  return {q_start_[f] + v / c, r_start_[f] + v % c};
}

void QrTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const int d = d_;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const auto [qr, rr] = locate(ids[i]);
    float* o = out + i * d;
    const float* q = q_.row(qr);
    if (rr < 0) {
      std::memcpy(o, q, sizeof(float) * d);
      continue;
    }
    const float* r = r_.row(rr);
    if (p_.sum)
      for (int j = 0; j < d; ++j) o[j] = q[j] + r[j];
    else
      for (int j = 0; j < d; ++j) o[j] = q[j] * r[j];
  }
}

void QrTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  const int d = d_;
  std::vector<float> gq(d), gr(d);  // once per batch, not per id
  for (int64_t i = 0; i < n; ++i) {
    const auto [qr, rr] = locate(ids[i]);
    const float* g = grad_out + i * d;
    if (rr < 0 || p_.sum) {
      q_.accumulate(qr, g);
      if (rr >= 0) r_.accumulate(rr, g);
      continue;
    }
    const float* q = q_.row(qr);
    const float* r = r_.row(rr);
    for (int j = 0; j < d; ++j) {
      gq[j] = g[j] * r[j];
      gr[j] = g[j] * q[j];
    }
    q_.accumulate(qr, gq.data());
    r_.accumulate(rr, gr.data());
  }
}

void QrTable::step() {
  q_.step(opt_);
  if (r_.rows() > 0) r_.step(opt_);
}

int64_t QrTable::bytes() const {
  return q_.bytes() + r_.bytes() + static_cast<int64_t>(p_.c.size() * sizeof(int32_t));
}

int64_t QrTable::optimizer_bytes() const {
  return RowParams::optimizer_bytes(q_.rows(), d_, opt_) +
         RowParams::optimizer_bytes(r_.rows(), d_, opt_);
}

std::vector<std::pair<void*, size_t>> QrTable::buffers() {
  std::vector<std::pair<void*, size_t>> b{{q_.data(), static_cast<size_t>(q_.bytes())}};
  if (r_.rows() > 0) b.emplace_back(r_.data(), static_cast<size_t>(r_.bytes()));
  b.emplace_back(p_.c.data(), p_.c.size() * sizeof(int32_t));
  return b;
}

namespace {

std::unique_ptr<EmbeddingTable> make_qr(const std::string& spec, double budget,
                                        const TableInit& init, bool sum) {
  const std::string name = sum ? "QRsum" : "QR";
  require_budget(spec, budget, name);
  const double full = 4.0 * init.rows * init.dim;
  const int64_t fields = static_cast<int64_t>(init.field_offsets.size()) - 1;
  const int64_t max_rows =
      static_cast<int64_t>(std::floor((budget * full - 4.0 * fields) / (4.0 * init.dim)));
  EC_CHECK(max_rows >= 1, kBadInput,
           spec << ": budget of " << static_cast<int64_t>(budget * full)
                << " bytes cannot hold the per-field collision factors and one row");
  QrParams p;
  p.sum = sum;
  p.seed = init.seed;
  p.c = solve_qr_collisions(spec, init.field_offsets, max_rows);
  auto t = std::make_unique<QrTable>(init, std::move(p), spec);
  t->set_budget_note(
      budget_gap_note(t->bytes() / full, budget,
                      "collision factors are integers per field and small fields stay full"));
  return t;
}

TableRegistrar reg_mult{
    {"QR", "QR@B",
     "quotient-remainder compositional embedding, Q[v/c]*R[v%c] per field, c_f solved "
     "(4 D sum rows_f + 4 F bytes)",
     [](const std::string& spec, double budget, const TableInit& init) {
       return make_qr(spec, budget, init, false);
     }}};
TableRegistrar reg_sum{{"QRsum", "QRsum@B",
                        "quotient-remainder compositional embedding combined by sum, Q[v/c]+R[v%c]",
                        [](const std::string& spec, double budget, const TableInit& init) {
                          return make_qr(spec, budget, init, true);
                        }}};

}  // namespace
}  // namespace embcomp::ctr
