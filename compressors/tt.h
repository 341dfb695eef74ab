// TT{R} / TT@b: tensor-train compression of the whole table (the study's "TT" post-training
// compressor: Zhang et al., "Experimental Analysis of Large-scale Learnable Vector Storage
// Compression", VLDB 2024; TT-matrix format of Oseledets, "Tensor-Train Decomposition",
// SISC 2011, as used for embedding tables by TT-Rec, Yin et al., MLSys 2021).
//
// Shape. The n x d table is zero-padded to N x D with N = n1 n2 n3 >= n and D = d1 d2 d3 >= d
// (tt_factor below: three factors close to the cube root). Row i and column j are split in
// mixed radix, most significant first:
//   i = (i1 n2 + i2) n3 + i3,   j = (j1 d2 + j2) d3 + j3,
// and the table is read as a 3-way tensor with modes k1 = (i1, j1), k2 = (i2, j2),
// k3 = (i3, j3) of sizes m_k = n_k d_k (k_t = i_t d_t + j_t).
//
// Model (TT-matrix with both inner ranks R):
//   x[i][j] = sum_{r<R} sum_{s<R} G1[i1][j1][r] * G2[i2][r][j2][s] * G3[i3][s][j3]
// Cores, float32, row-major in the index order written:
//   G1  n1 x d1 x R       = (m1 x R)       the first unfolding's left singular vectors
//   G2  n2 x R x d2 x R   (per i2 an R x (d2 R) matrix, so a row's slice is contiguous)
//   G3  n3 x R x d3       (per i3 an R x d3 matrix)
// Memory: total_bytes = 4 (m1 R + m2 R^2 + m3 R), m_k = n_k d_k. The shape (n_k, d_k, R,
// n, d: nine integers) is not counted, like every method's dimensions. model_bytes = 0: the
// cores are the table (their sizes grow with n, as n^(1/3)); there is no per-row code.
//
// Learning: TT-SVD (Oseledets 2011, Alg. 1) truncated to rank R at both steps:
//   M1 = first unfolding, m1 x (m2 m3);   U1 = top-R left singular vectors of M1   (G1)
//   W  = U1^T M1 reshaped (R m2) x m3;    V2 = top-R right singular vectors of W   (G3 = V2^T)
//   G2 = W V2  (= U2 S2 of TT-SVD: the same product, without dividing by S2)
// Each truncated SVD is the eigendecomposition (LAPACK dsyevr) of a Gram matrix
// (M1 M1^T: m1 x m1, W^T W: m3 x m3), accumulated in double from float32 GEMM blocks while
// streaming the table in slabs of fixed middle index k2; W is never stored (it is rebuilt
// slab by slab when G2 is formed). Why Gram matrices: they are small ((n d)^(1/3) on a
// side: 800 and 1200 for 1M x 768) and exact, where a randomized range finder would cost
// as many passes; the price is that singular values below ~3e-4 of the largest are not
// resolved, far below any truncation that saves memory. Three passes over the table;
// extra memory one slab buffer and one projected-slab buffer (<= 64 MB each unless a
// single slab is larger), the two Grams in double and the cores. Ranks above what an
// unfolding has are stored as zeros. The Gram blocks have a fixed size and are summed in
// a fixed order, so the cores do not depend on the thread count.
//
// Decoding a row (lookup pseudocode), batched over rows sharing the prefix (i1, i2):
//   Z   = G1[i1] (d1 x R) * G2[i2] (R x d2 R)      -> d1 d2 x R   (once per prefix)
//   row = Z (d1 d2 x R) * G3[i3] (R x d3)          -> d1 d2 d3 values, padding dropped
// Every row is computed by GEMMs of the same shapes whatever the batch, so decode_rows and
// decode_range agree bit for bit. Cost 2 d R per row plus 2 d1 d2 R^2 per prefix.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "compressors/table_compressor.h"

namespace embcomp {

/// Three factors a <= b <= c of x (x >= 1) with a b c >= x, "close to the cube root":
/// with t = ceil(cbrt(x)), every factor lies in [ceil(t / 2), 2 t]; among those triples the
/// one with the smallest product (least padding) wins, then the smallest c / a, then the
/// smallest a. E.g. 30000 -> {25, 30, 40}, 768 -> {8, 8, 12}, 7 -> {2, 2, 2}.
std::array<size_t, 3> tt_factor(size_t x);
/// Largest x tt_factor accepts (kBadInput beyond).
constexpr size_t kMaxTtFactor = size_t{1} << 40;

/// The TT-matrix shape of an n x d table.
struct TtShape {
  std::array<size_t, 3> nk{1, 1, 1};  ///< row factors n1, n2, n3 (N = n1 n2 n3 >= n)
  std::array<size_t, 3> dk{1, 1, 1};  ///< column factors d1, d2, d3 (D = d1 d2 d3 >= d)
  size_t n = 0, d = 0;                ///< the unpadded table

  /// tt_factor of n and of d, each placed as (b, a, c): the smallest factor in the middle,
  /// because the middle core costs R^2 m2 bytes against R m1 and R m3 for the outer ones.
  static TtShape for_table(size_t n, size_t d);
  size_t m(int k) const { return nk[k] * dk[k]; }  ///< mode size m_k = n_k d_k
  size_t padded_n() const { return nk[0] * nk[1] * nk[2]; }
  size_t padded_d() const { return dk[0] * dk[1] * dk[2]; }
  /// "n1xn2xn3,d1xd2xd3"
  std::string str() const;
  /// Rank beyond which the TT-SVD is exact and more rank stores only zeros:
  /// max(r1, min(r1 m2, m3)) with r1 = min(m1, m2 m3).
  size_t useful_rank() const;
};

/// Exact bytes of a rank-R TT of this shape: 4 (m1 R + m2 R^2 + m3 R).
size_t tt_bytes(const TtShape& shape, size_t R);

/// Scalar reference of the decoding contraction (double accumulation), for tests: row i of
/// the table whose cores are g1, g2, g3 (layouts as above) into out (shape.d floats).
void tt_decode_row_ref(const TtShape& shape, size_t R, const float* g1, const float* g2,
                       const float* g3, size_t i, float* out);

struct TtParams {
  int R = 8;  ///< TT rank, both inner ranks ("r_1 = r_2" in Oseledets 2011; TT-Rec's rank)
  // No seed: TT-SVD through Gram eigendecompositions makes no random choice.
  void validate() const;
};

class TtTable final : public TableCompressor {
 public:
  /// n_expected: the rows the rank was solved for (a budget); 0 accepts any n, the shape
  /// then follows the rows given to compress().
  TtTable(size_t d, TtParams params, std::string spec, size_t n_expected = 0);
  std::string spec() const override { return spec_; }
  /// "R=8,shape=10x10x20,4x4x4" (the planned shape before compress() when n is known).
  std::string knob() const override;
  size_t d() const override { return d_; }
  size_t n() const override { return n_; }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override;
  size_t model_bytes() const override { return 0; }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  void decode_range(size_t start, size_t count, float* out) const override;

  size_t rank() const { return size_t(params_.R); }
  /// Throws kBadInput when R exceeds s.useful_rank() (the extra rank holds zeros) and the
  /// model would be over 4x the float32 table's bytes.
  void check_rank(const TtShape& s) const;
  const TtShape& shape() const { return shape_; }
  /// The cores after compress(), layouts as in the file comment.
  const std::vector<float>& g1() const { return g1_; }
  const std::vector<float>& g2() const { return g2_; }
  const std::vector<float>& g3() const { return g3_; }

 private:
  /// The one decoding path: rows ids[0..count) (already checked) into out.
  void decode_checked(const int64_t* ids, size_t count, float* out) const;

  size_t d_;
  TtParams params_;
  std::string spec_;
  size_t n_expected_;
  size_t n_ = 0;
  TtShape shape_;
  std::vector<float> g1_;  ///< m1 x R: [i1][j1][r]
  std::vector<float> g2_;  ///< n2 x R x d2 x R: [i2][r][j2][s]
  std::vector<float> g3_;  ///< n3 x R x d3: [i3][s][j3]
};

}  // namespace embcomp
