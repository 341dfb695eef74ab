// The two shapes of vector compression that a spec string composes:
//   Transform  d_in -> d_out (PCA, OPQ rotation)            train / apply / reverse
//   Codec      rows <-> bytes (SQ, PQ, RQ, binary, ...)      train / encode / decode
// A pipeline spec "T1,T2,...,C" is transforms read left to right, then one codec; the
// Pipeline (compressors/pipeline.h) is itself a Codec. (FAISS VectorTransform, Quantizer.)
//
// Memory accounting contract, the same for every method:
//   total bytes for n rows = n * code_size() + model_bytes()
// where code_size() is everything stored per row and model_bytes() everything else the
// method needs to decode (codebooks, scales, rotation matrices, maps).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "toolkit/matrix.h"

namespace faiss {
struct VectorTransform;
}

namespace embcomp {

class BinaryWriter;
class BinaryReader;

/// A FAISS VectorTransform (PCA, OPQ) saved with FAISS's own serialization, as one byte
/// vector of an embcomp file; load throws kBadInput naming `what` for a corrupt blob.
void save_faiss_transform(BinaryWriter& w, const faiss::VectorTransform& t);
std::unique_ptr<faiss::VectorTransform> load_faiss_transform(BinaryReader& r,
                                                             const std::string& what);

/// How a codec's codes are searched in `embcomp bench`: fp32 query against the decoded
/// rows, or Hamming distance between the query's own code and the row codes.
enum class SearchKind { kDecoded, kHamming };

class Transform {
 public:
  virtual ~Transform() = default;
  virtual std::string spec() const = 0;  ///< canonical spec, e.g. "PCA64"
  virtual size_t d_in() const = 0;
  virtual size_t d_out() const = 0;
  virtual size_t min_train_rows() const { return 1; }
  virtual bool is_trained() const = 0;
  /// Learns the transform from x (x.d == d_in()).
  virtual void train(MatrixView<float> x) = 0;
  /// xt: x.n * d_out() floats, row-major.
  virtual void apply(MatrixView<float> x, float* xt) const = 0;
  /// x: xt.n * d_in() floats; the least-squares inverse of apply.
  virtual void reverse(MatrixView<float> xt, float* x) const = 0;
  /// Bytes of the learned parameters needed by apply and reverse.
  virtual size_t model_bytes() const = 0;
  /// Writes the learned parameters (embcomp's own index format, index/own_index.h).
  /// The default throws kBadInput "<spec> cannot be saved in an index yet".
  virtual void save(BinaryWriter& w) const;
  /// Restores what save() wrote into a transform the registry built from the same spec,
  /// d and seed; afterwards it applies exactly as the saved one. Throws kBadInput for a
  /// corrupt or truncated file.
  virtual void load(BinaryReader& r);
};

class Codec {
 public:
  virtual ~Codec() = default;
  virtual std::string spec() const = 0;  ///< canonical spec, e.g. "PQ25x8"
  virtual size_t d() const = 0;          ///< input dimension
  virtual size_t min_train_rows() const { return 1; }
  virtual bool is_trained() const = 0;
  /// Learns the codec's parameters from x (x.d == d()). Deterministic in the seed.
  virtual void train(MatrixView<float> x) = 0;
  /// Bytes stored per row.
  virtual size_t code_size() const = 0;
  /// Bytes of everything that is not per row (codebooks, scales, transforms).
  virtual size_t model_bytes() const = 0;
  /// codes: x.n * code_size() bytes, row-major.
  virtual void encode(MatrixView<float> x, uint8_t* codes) const = 0;
  /// x: n * d() floats, row-major, reconstructed from n codes.
  virtual void decode(const uint8_t* codes, size_t n, float* x) const = 0;
  virtual SearchKind search_kind() const { return SearchKind::kDecoded; }
  /// The float rows an asymmetric first-stage scan ranks against (float query, inner
  /// product): decode() by default; binary codecs return their bits as +-1, which ranks
  /// candidates for re-scoring far better than Hamming distance (docs/bench.md).
  virtual void decode_for_scan(const uint8_t* codes, size_t n, float* x) const {
    decode(codes, n, x);
  }
  /// Writes the trained state (everything model_bytes() counts; codes are not part of
  /// it). The default throws kBadInput "<spec> cannot be saved in an index yet".
  virtual void save(BinaryWriter& w) const;
  /// Restores what save() wrote into a codec the registry built from the same spec, d and
  /// seed: afterwards encode and decode are bit-identical to the saved codec's. Throws
  /// kBadInput for a corrupt or truncated file.
  virtual void load(BinaryReader& r);
};

/// Checks the common preconditions of train(): x has the right dimension, at least
/// max(1, min_rows) rows, and only finite values (the error names the row). Throws kBadInput.
void check_train_input(const std::string& spec, MatrixView<float> x, size_t d,
                       size_t min_rows);
/// For methods whose training computes squared distances or products of values in float
/// (k-means in PQ/OPQ/RQ/IVF, covariances in PCA/SVD): every row's squared norm must stay
/// below FLT_MAX / 4, so that |x - y|^2 <= 2 (|x|^2 + |y|^2) is finite for any two rows.
/// Beyond that, FAISS's k-means sees only Inf distances (it hangs or assigns nothing).
/// Throws kBadInput naming the first such row and the scale to divide by.
void check_distance_range(const std::string& spec, MatrixView<float> x);
/// Checks the input of encode()/apply(): trained state (kRuntime), dimension and finite
/// values (kBadInput).
void check_encode_input(const std::string& spec, MatrixView<float> x, size_t d, bool trained);

}  // namespace embcomp
