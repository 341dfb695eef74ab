// DPQ: differentiable product quantization (Chen, Li, Sun, "Differentiable Product
// Quantization for End-to-End Embedding Compression", ICML 2020), the softmax variant
// (DPQ-SX) with a straight-through hard code. Every logical row stores M discrete codes,
// one per sub-space of width d = D / M; the embedding is the concatenation of the coded
// centroids of a value codebook V. The codes are learned end to end through a query table
// Q and a key codebook Kb that exist only during training.
//
// Shapes: Q: N x D (training only), Kb: Kc x D (training only), V: Kc x D (inference),
// Kc = 2^nbits centroids; sub-space j of centroid k is V[k][j d .. j d + d).
// A row may use only its first Kc_r <= Kc centroids in every sub-space (MGQE, emb_mgqe.h:
// rows of the tail group); DPQ has Kc_r = Kc for every row.
//
//   lookup(id):   for j < M:  out[j d .. j d + d) = V[code(id, j)][j d .. j d + d)
//   backward(id, g = dL/dout), per sub-space j (q = Q[id] sub-space j, Kc_r centroids):
//     s_k = <q, Kb_k> / tau,  p = softmax(s)                (the soft one-hot)
//     out = h V with h = onehot(code) + p - stopgrad(p)     (straight-through estimator)
//     dV[code(id, j)] += g                                  (the forward used the hard code)
//     dh_k = <g, V_k>,  ds_k = p_k (dh_k - sum_l p_l dh_l) / tau
//     dQ[id] += sum_k ds_k Kb_k,  dKb_k += ds_k q
//   step():       Q (row-wise), Kb and V (dense) take an optimizer step; then every row
//                 touched since the last step gets code(id, j) = argmax_k <q, Kb_k>.
// Codes of rows not in the batch keep the argmax of the key codebook of their last
// update (refreshing all N rows every step would cost N Kc D per step); the codes at
// construction are the argmax of the initial Q and Kb.
//
// Inference state (bytes(), buffers()): V and the codes, bit-packed: row r's M codes take
// M nbits_r bits. The trainer's checkpoint (buffers()) therefore restores exactly what
// lookup reads; Q and Kb are training state like optimizer moments and are reported by
// optimizer_bytes() (4 N D + 4 Kc D plus the optimizer state of Q, Kb and V).
//   bytes() = 4 Kc D + ceil(N M nbits / 8)                                   (DPQ)
//
// Budget solver ("DPQ@B"): among M | D and nbits in 1..8, the setting with the most code
// bits per row M nbits whose bytes fit B 4 N D (ties: fewer bytes); kBadInput when even
// M = 1, nbits = 1 does not fit. At most 8 bits per dimension, so DPQ uses at most
// 1/4 + 1024 D / (4 N D) of fp32 whatever the budget (budget_note says so).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct DpqParams {
  int M = 4;          ///< sub-spaces ("D" groups in Chen et al.), divides the width
  int nbits = 8;      ///< log2 of Kc, the centroids per sub-space ("K" in Chen et al.), 1..8
  float tau = 1.0f;   ///< softmax temperature
  uint64_t seed = 1;  ///< init of Q, Kb and V
  /// Checks M | dim, 1 <= nbits <= 8 and tau > 0.
  void validate(int dim) const;
};

/// Two frequency groups of rows for MGQE: a bitmap of the hot rows with a rank directory
/// (set bits before each 512-bit block), so a row's position inside its group is O(1).
/// bytes = 8 ceil(N / 64) + 4 ceil(N / 512).
class RowGroups {
 public:
  RowGroups() = default;
  /// hot: the hot rows, any order, each in [0, rows).
  RowGroups(int64_t rows, const std::vector<uint32_t>& hot);
  bool is_hot(int64_t r) const { return (bits_[r >> 6] >> (r & 63)) & 1u; }
  /// Hot rows before r.
  int64_t rank(int64_t r) const;
  int64_t hot_count() const { return hot_; }
  int64_t bytes() const { return static_cast<int64_t>(bits_.size() * 8 + dir_.size() * 4); }
  static int64_t bytes_for(int64_t rows) {
    return 8 * ((rows + 63) / 64) + 4 * ((rows + 511) / 512);
  }
  void append_buffers(std::vector<std::pair<void*, size_t>>& out);

 private:
  int64_t hot_ = 0;
  std::vector<uint64_t> bits_;  // ceil(N / 64) words, bit r % 64 of word r / 64
  std::vector<uint32_t> dir_;   // ceil(N / 512): hot rows before block b
};

/// Reads / writes an nbits-wide (<= 8) field at bit position pos of a packed little-endian
/// bit stream.
uint32_t get_code(const uint8_t* bits, int64_t pos, int nbits);
void set_code(uint8_t* bits, int64_t pos, int nbits, uint32_t v);

/// The budget rule of DPQ and MGQE: among M | dim and nbits in 1..8, the setting whose
/// bytes(M, nbits) fit target_bytes with the most info(M, nbits) (code bits per row; ties:
/// fewer bytes). Returns false when none fits; *bytes_out gets the chosen setting's bytes.
bool best_code_setting(int dim, double target_bytes,
                       const std::function<int64_t(int M, int nbits)>& bytes,
                       const std::function<double(int M, int nbits)>& info, DpqParams* best,
                       int64_t* bytes_out);

/// The DPQ table; with groups (MGQE) the tail rows use the first 2^tail_bits centroids and
/// tail_bits bits per code.
class DpqTable final : public EmbeddingTable {
 public:
  /// DPQ: every row has Kc = 2^p.nbits centroids.
  DpqTable(const TableInit& init, const DpqParams& p, std::string spec, std::string note = "");
  /// MGQE: hot rows use 2^p.nbits centroids, the others 2^tail_bits (1 <= tail_bits <= nbits).
  DpqTable(const TableInit& init, const DpqParams& p, RowGroups groups, int tail_bits,
           std::string spec, std::string note = "");

  std::string spec() const override { return spec_; }
  std::string knob() const override;
  int64_t rows() const override { return n_; }
  int dim() const override { return D_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }

  /// Code of row r in sub-space j.
  uint32_t code(int64_t r, int j) const;
  /// Centroids row r may use (Kc, or 2^tail_bits for an MGQE tail row).
  int centroids_of(int64_t r) const;
  RowParams& query() { return Q_; }
  DenseParams& keys() { return Kb_; }
  DenseParams& values() { return V_; }
  const DpqParams& params() const { return p_; }

  /// bytes() for DPQ: 4 Kc D + ceil(N M nbits / 8).
  static int64_t dpq_bytes(int64_t rows, int dim, int M, int nbits);

 private:
  void init_codes();
  // Group (0 hot / all, 1 tail) and position inside it.
  int group_of(int64_t r, int64_t* pos) const;
  void refresh_code(int64_t r);

  DpqParams p_;
  std::string spec_, note_;
  int64_t n_;
  int D_, d_, Kc_, tail_bits_;
  bool grouped_;
  RowGroups groups_;
  std::vector<uint8_t> codes_[2];  // packed codes of group 0 (hot / all) and 1 (tail)
  RowParams Q_;                    // N x D, training only
  DenseParams Kb_, V_;             // Kc x D each
  OptimizerConfig opt_;
  std::vector<int64_t> touched_;  // rows backwarded since the last step (may repeat)
};

}  // namespace embcomp::ctr
