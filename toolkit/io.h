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
#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

/// Runs read, an HDF5 read of path (size bytes), in a forked child first (HDF5 1.10.8 has
/// memory-safety bugs on crafted files): returns when the child succeeded; throws the
/// child's embcomp::Error, or kBadInput "<path>: HDF5 crashed reading it (signal N)..." /
/// "... did not finish reading it in T s ..." (limit_ms; <= 0: 10 s + 1 s per 50 MB).
/// read_ann_hdf5 and the HDF5 path of read_floats/read_ids use it; exposed for tests.
void hdf5_in_child(const std::string& path, uint64_t size, const std::function<void()>& read,
                   int limit_ms = 0);

/// The scan of an HDF5 file's bytes that runs before HDF5 opens it (in the child above):
/// throws kBadInput for a local heap whose names are not NUL-terminated or a global heap
/// whose objects do not advance or run past their collection (two HDF5 1.10.8 bugs; the
/// comment of its definition in io.cpp says more). Exposed for tests and fuzzing.
void check_hdf5_heaps(const std::string& path);

/// Writers. Each writes through an AtomicFile (a fresh temporary in the target folder, renamed
/// onto path when complete), so an interrupted write never leaves a file that looks valid.
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

/// Throws kBadInput unless path can be the target of an AtomicFile: its folder exists and is
/// writable, and path is either absent or a regular file. A directory, symbolic link, device,
/// FIFO or socket at path is refused (a rename would replace the node itself: /dev/null would
/// become a regular file). Commands call it before long work so that a bad --out fails early.
void require_output_path(const std::string& path);

/// Atomic file write: a temporary in the target folder, renamed onto the final path by commit().
///
/// The temporary is created by the constructor, exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, so a
/// file or symlink planted at its name is never opened), with an unpredictable name
///   <folder>/.<name>.embcomp.tmp.<pid>.<6 random characters>
/// and stays open until commit. Write through write() or fd(); a library that needs a file name
/// gets write_path(), which opens this very file, not whatever its name points to by then.
/// commit() checks that the name still refers to the file created here, fsyncs it, renames it
/// onto the final path and fsyncs the folder. Without commit() the destructor removes it.
///
/// A SIGKILL leaves the temporary behind; the next AtomicFile for the same final path removes
/// the temporaries of that path whose pid no longer runs (regular files owned by this user).
///
/// The final path must satisfy require_output_path, checked again just before the rename.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  ///< removes the temporary unless commit() succeeded
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& path() const { return path_; }
  /// The temporary's name (for messages). Prefer write_path() or fd() to open it again.
  const std::string& tmp_path() const { return tmp_; }
  /// "/proc/self/fd/N" for the open temporary when /proc is available, else tmp_path().
  const std::string& write_path() const { return write_path_; }
  /// The temporary, open for reading and writing at offset 0.
  int fd() const { return fd_; }
  /// Writes all bytes at the current offset of fd(); kRuntime naming path() on failure
  /// (ENOSPC, EFBIG, EIO, ...).
  void write(const void* data, size_t bytes);
  /// Checks, fsyncs, closes and renames the temporary onto the final path (see above).
  void commit();

 private:
  std::string path_;  ///< final path, as given
  std::string name_;  ///< final file name inside the folder
  std::string tmp_;   ///< temporary, folder + "/" + tmp_name_
  std::string tmp_name_;
  std::string write_path_;
  int dir_fd_ = -1;                     ///< the target folder, for *at() calls and its fsync
  int fd_ = -1;                         ///< the temporary
  uint64_t tmp_dev_ = 0, tmp_ino_ = 0;  ///< identity of the temporary created here
  bool committed_ = false;
};

/// Writes bytes to path through an AtomicFile (text outputs: runs, ids, reports).
void write_file_atomic(const std::string& path, std::string_view bytes);

}  // namespace embcomp
