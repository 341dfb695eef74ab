// Vector file I/O: every format embcomp reads or writes.
//
// Readers pick the format from the file extension and confirm it from the content
// (magic bytes, header fields, file size) before allocating anything. Every reader
// validates sizes with checked arithmetic and throws Error(kBadInput) naming the
// file (and the row, for non-finite values) on any problem.
//
// Formats (all little endian):
//   .fvecs / .ivecs / .bvecs  TEXMEX: per row int32 d, then d float32 / int32 / uint8
//   .fbin / .ibin / .u8bin    big-ann: uint32 n, uint32 d, then n*d float32 / int32 / uint8
//   .npy                      NumPy format v1-v3, C order; dtypes <f4 <f2 <i4 <i8 |u1
//   .hdf5 / .h5               ann-benchmarks layout: datasets train, test, neighbors,
//                             distances; string attribute "distance" on the root
//   .raw / .f32               headerless float32; ReadOptions::raw_d must be given
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "toolkit/matrix.h"

namespace embcomp {

enum class VecFormat { kFvecs, kIvecs, kBvecs, kFbin, kIbin, kU8bin, kNpy, kHdf5, kRaw };

/// Throws kBadInput unless path names an existing regular file (after following symlinks):
/// a FIFO, socket, device or directory is refused without opening it, so a reader never
/// blocks on a FIFO. For code that opens the path itself (HDF5, FAISS, std::ifstream);
/// `what` names the input in the message ("qrels", "index", ...).
void require_regular_file(const std::string& path, const std::string& what = "input");

/// Format from the extension of path; throws kBadInput for an unknown extension.
VecFormat format_from_extension(const std::string& path);

struct ReadOptions {
  size_t raw_d = 0;            ///< dimension for .raw/.f32 files (required there)
  std::string hdf5_dataset;    ///< dataset inside an .hdf5 file ("train", "test", ...)
  bool check_finite = true;    ///< NaN/Inf in a float file is an error naming the row
};

/// Reads a float matrix. Integer and uint8 inputs (bvecs, u8bin, npy int/uint8) are
/// converted to float; float16 npy is widened. Throws kBadInput naming the file.
FloatMatrix read_floats(const std::string& path, const ReadOptions& opt = {});

/// Reads an integer matrix (ivecs, ibin, npy int32/int64, hdf5 "neighbors").
IdMatrix read_ids(const std::string& path, const ReadOptions& opt = {});

/// ann-benchmarks HDF5 file: all four datasets and the metric attribute.
struct AnnHdf5 {
  FloatMatrix train;
  FloatMatrix test;
  std::optional<IdMatrix> neighbors;   ///< absent when the file has none
  std::optional<FloatMatrix> distances;
  std::string distance;                ///< "angular", "euclidean", "dot", ... as stored
};
/// Reads an ann-benchmarks file; `train` and `test` are required, the rest optional.
AnnHdf5 read_ann_hdf5(const std::string& path);

/// Writers. Each writes to "<path>.tmp.<pid>" and renames it onto path when complete,
/// so an interrupted write never leaves a file that looks valid.
void write_fvecs(const std::string& path, MatrixView<float> x);
void write_ivecs(const std::string& path, MatrixView<int64_t> ids);  ///< values must fit int32
void write_npy(const std::string& path, MatrixView<float> x);        ///< <f4, version 1.0
void write_npy(const std::string& path, MatrixView<int64_t> ids);    ///< <i8, version 1.0
/// Writes an ann-benchmarks HDF5 file (neighbors/distances may be empty views).
void write_ann_hdf5(const std::string& path, MatrixView<float> train, MatrixView<float> test,
                    MatrixView<int64_t> neighbors, MatrixView<float> distances,
                    const std::string& distance);
/// Writes by extension: .fvecs, .npy, .hdf5/.h5 (as "train" only), .fbin.
void write_floats(const std::string& path, MatrixView<float> x);

/// Atomic text/binary file write: writes to a temporary sibling, then renames.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  ///< checks the folder exists and is writable
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;  ///< removes the temporary file unless commit() succeeded
  const std::string& tmp_path() const { return tmp_; }
  /// Renames the temporary onto the final path.
  void commit();

 private:
  std::string path_;
  std::string tmp_;
  bool committed_ = false;
};

}  // namespace embcomp
