#include "compressors/emb_hash.h"

#include <cmath>
#include <cstring>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/error.h"
#include "toolkit/hash.h"

namespace embcomp::ctr {
UniversalHash UniversalHash::from_seed(uint64_t seed) {
  UniversalHash h;
  uint64_t s = splitmix64(seed ^ 0x6A09E667F3BCC909ull);
  do {
    h.a = s & kP;
    s = splitmix64(s);
  } while (h.a == 0 || h.a >= kP);
  do {
    h.b = s & kP;
    s = splitmix64(s);
  } while (h.b >= kP);
  return h;
}

void require_budget(const std::string& spec, double budget, const std::string& name) {
  EC_CHECK(budget > 0, kBadInput,
           spec << ": " << name << " needs a memory budget, e.g. " << name << "@0.1 or " << name
                << "@10x (its size is the method's knob)");
}

void HashParams::validate() const {
  EC_CHECK(m >= 1, kBadInput, "Hash needs m >= 1 hashed rows, got m=" << m);
}

HashTable::HashTable(const TableInit& init, const HashParams& params, std::string spec)
    : params_(params), spec_(std::move(spec)), n_(init.rows), opt_(init.optimizer) {
  params_.validate();
  hash_ = UniversalHash::from_seed(params_.seed);
  // Same init range as Full, so a Hash table starts where Full starts.
  w_ = RowParams(params_.m, init.dim, 0.05f, params_.seed);
}

void HashTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const int d = dim();
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * d, w_.row(slot(ids[i])), sizeof(float) * d);
}

void HashTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  const int d = dim();
  for (int64_t i = 0; i < n; ++i) w_.accumulate(slot(ids[i]), grad_out + i * d);
}

std::vector<std::pair<void*, size_t>> HashTable::buffers() {
  return {{w_.data(), static_cast<size_t>(w_.bytes())}, {&hash_, sizeof(hash_)}};
}

namespace {

std::unique_ptr<EmbeddingTable> make_hash(const std::string& spec, double budget,
                                          const TableInit& init) {
  require_budget(spec, budget, "Hash");
  const double full = 4.0 * init.rows * init.dim;
  const double target = budget * full;
  HashParams p;
  p.seed = init.seed;
  p.m = static_cast<int64_t>(std::floor((target - 16) / (4.0 * init.dim)));
  if (p.m < 1) budget_unreachable(spec, target, full, "m=1", size_t(HashTable::bytes_for(1, init.dim)));
  auto t = std::make_unique<HashTable>(init, p, spec);
  t->set_budget_note(budget_gap_note(t->bytes() / full, budget, "one row is 4 D bytes"));
  return t;
}

TableRegistrar reg{{"Hash", "Hash@B",
                    "hashing trick: one universal hash of the global id into m = B N shared "
                    "rows (4 m D + 16 bytes)",
                    make_hash}};

}  // namespace
}  // namespace embcomp::ctr
