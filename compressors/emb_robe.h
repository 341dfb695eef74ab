// ROBE: random offset block embedding, ROBE-Z (Desai, Chou, Shrivastava, "Random Offset
// Block Embedding (ROBE) for compressed embedding tables in deep learning recommendation
// systems", MLSys 2022). All fields share ONE array A of M floats; a row is read in
// chunks of Z consecutive elements, each chunk at a hashed offset, with a hashed sign.
//
//   chunks per row  C = ceil(D / Z)
//   element j of logical row id, with k = j / Z (chunk) and t = j % Z:
//     x        = id * C + k                        (one hash key per chunk)
//     base     = h_loc(x)  in [0, M)               universal hash, Hash's UniversalHash
//     sign     = bit t of h_sign.raw(x) ? -1 : +1  (one 61-bit hash gives Z <= 32 signs)
//     out[j]   = sign * A[(base + t) mod M]        (the array is circular)
//   backward: grad A[(base + t) mod M] += sign * dL/dout[j]   (colliding elements add up;
//             A is a RowParams of M rows of width 1, so updates are lazy and sparse)
//   bytes()  = 4 M + 32                            (A, and a, b of the two hashes)
//
// Z = D reads each row as one contiguous block (ROBE-Z with Z = D); smaller Z spreads a
// row over C places, which the ROBE paper argues lowers the variance of the
// collisions (its own analysis; not measured here). Default Z = min(32, D).
// Budget solver ("ROBE@B"): M = floor((B * 4 N D - 32) / 4); M >= Z is required.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "compressors/emb_hash.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct RobeParams {
  int64_t M = 0;      ///< size of the shared array in floats, "m" in Desai et al.
  int Z = 0;          ///< block (chunk) size "Z"; 0 = min(32, D)
  uint64_t seed = 1;  ///< draws both hashes and the init of A
  /// Checks M >= Z and 1 <= Z <= min(32, D) (after resolving Z = 0).
  void validate(int dim) const;
};

class RobeTable final : public EmbeddingTable {
 public:
  RobeTable(const TableInit& init, RobeParams params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override {
    return "M=" + std::to_string(p_.M) + ",Z=" + std::to_string(p_.Z);
  }
  int64_t rows() const override { return n_; }
  int dim() const override { return d_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override { a_.step(opt_); }
  int64_t bytes() const override { return a_.bytes() + 2 * int64_t(sizeof(UniversalHash)); }
  int64_t optimizer_bytes() const override {
    return RowParams::optimizer_bytes(a_.rows(), 1, opt_);
  }
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  /// Where element j of row id lives in A and its sign (the lookup's pseudocode).
  std::pair<int64_t, float> element(int64_t id, int j) const;
  const RowParams& array() const { return a_; }
  RowParams& array() { return a_; }
  static int64_t bytes_for(int64_t M) { return 4 * M + 32; }

 private:
  // Calls f(j, index in A, sign) for every element of row id.
  template <class F>
  void for_each_element(int64_t id, F&& f) const;

  RobeParams p_;
  std::string spec_, note_;
  int64_t n_;
  int d_;
  int chunks_;  // C = ceil(D / Z)
  UniversalHash loc_, sign_;
  RowParams a_;  // M x 1
  OptimizerConfig opt_;
};

}  // namespace embcomp::ctr
