// Hash: the hashing trick for CTR embedding tables (Weinberger et al. 2009; the "hashing
// trick" baseline of Shi et al. 2020). Every logical row (global id over all fields) is
// mapped by one seeded universal hash to one of m shared rows of D floats; colliding ids
// share a row and their gradients add up.
//
//   h(x)          = ((a x + b) mod p) mod m      p = 2^61 - 1, a in [1, p), b in [0, p)
//                                                drawn from the table seed
//   lookup(id)    = W[h(id)]                     W: m x D, row-major
//   backward      grad W[h(id)] += dL/dout
//   bytes()       = 4 m D + 16                   (W, and the hash's a and b as uint64)
//
// Budget solver ("Hash@B"): m = floor((B * 4 N D - 16) / (4 D)), i.e. m ~ B N rows; it
// is within 2% below the budget unless m is tiny. m < 1 cannot be built (kBadInput).
// The plain name "Hash" has no knob and is rejected: the hashed size is the method.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

/// Universal hash h(x) = ((a x + b) mod p) mod m over p = 2^61 - 1 (Carter-Wegman):
/// for x != y, P[h(x) = h(y)] <= ~1/m over the random choice of (a, b). Used by Hash,
/// ROBE and AdaEmbed; a and b are the only state (16 bytes, counted in bytes()).
struct UniversalHash {
  static constexpr uint64_t kP = (uint64_t{1} << 61) - 1;
  uint64_t a = 1;  ///< multiplier in [1, p)
  uint64_t b = 0;  ///< offset in [0, p)

  /// a and b drawn deterministically from seed.
  static UniversalHash from_seed(uint64_t seed);
  /// (a x + b) mod p, for any 64-bit x (x is first reduced mod p). Uniform over [0, p)
  /// for a fixed x over the choice of (a, b), so its low bits are usable as random bits.
  uint64_t raw(uint64_t x) const {
    x = (x & kP) + (x >> 61);  // x mod p, up to one extra p
    __extension__ typedef unsigned __int128 u128;
    const u128 t = static_cast<u128>(a) * x + b;
    uint64_t r = static_cast<uint64_t>(t & kP) + static_cast<uint64_t>(t >> 61);
    r = (r & kP) + (r >> 61);
    return r >= kP ? r - kP : r;
  }
  /// h(x) in [0, m).
  uint64_t operator()(uint64_t x, uint64_t m) const { return raw(x) % m; }
};
static_assert(sizeof(UniversalHash) == 16, "UniversalHash is counted as 16 bytes");

/// Knobs of the Hash table.
struct HashParams {
  int64_t m = 0;      ///< hashed rows, "m" (the hashing trick's table size, ~ B N)
  uint64_t seed = 1;  ///< draws a, b and the row init
  void validate() const;
};

class HashTable final : public EmbeddingTable {
 public:
  HashTable(const TableInit& init, const HashParams& params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override { return "rows=" + std::to_string(params_.m); }
  int64_t rows() const override { return n_; }
  int dim() const override { return w_.width(); }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override { w_.step(opt_); }
  int64_t bytes() const override { return w_.bytes() + static_cast<int64_t>(sizeof(hash_)); }
  int64_t optimizer_bytes() const override {
    return RowParams::optimizer_bytes(w_.rows(), w_.width(), opt_);
  }
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  /// The shared row logical row id maps to.
  int64_t slot(int64_t id) const { return static_cast<int64_t>(hash_(id, params_.m)); }
  const RowParams& params() const { return w_; }
  /// Bytes for m hashed rows of width dim: 4 m D + 16.
  static int64_t bytes_for(int64_t m, int dim) { return 4 * m * dim + 16; }

 private:
  HashParams params_;
  std::string spec_, note_;
  int64_t n_;
  UniversalHash hash_;
  RowParams w_;
  OptimizerConfig opt_;
};

/// kBadInput "spec: NAME needs a memory budget" when budget is 0 (for methods whose size
/// is their knob).
void require_budget(const std::string& spec, double budget, const std::string& name);

}  // namespace embcomp::ctr
