// Reading FAISS serializations from untrusted bytes with bounded memory (reliability
// review #12, #9). First, the walk of index/faiss_format.h checks every count, shape and
// derived size of the types embcomp reads; only then does FAISS read the file, under two
// more guards that remain as a second line. FAISS's READVECTOR resizes a vector to the count stored in the file
// (anything below 2^40) before reading it, so a 2 KB file can claim 4 GB. Two guards:
//  1. BoundedIOReader knows the bytes left. FAISS reads every vector count as one 8-byte
//     item; when such an item is larger than the bytes left, no vector of that many
//     elements can follow, so the reader hands FAISS the value 2^40 instead, which
//     READVECTOR refuses before allocating, and remembers it (the load then fails with
//     kBadInput even if the value was not a count). The one legitimate 8-byte field larger
//     than a small file is the index header's constant 2^20 ("dummy", ignored by FAISS),
//     which is passed through: a count of 2^20 costs at most 8 MB.
//  2. What the reader cannot see (inverted-list sizes are read as one vector and then
//     every list is allocated) is bounded by a temporary address-space limit around
//     faiss::read_index: the current size + 64 MB + 64 x the file size. Not under
//     AddressSanitizer, which reserves terabytes of address space.
// IVFPQ precomputed tables (not stored; FAISS recomputes them at load and they can be
// larger than the file) are computed after the limit is lifted.
#pragma once

#include <faiss/Index.h>
#include <faiss/VectorTransform.h>
#include <faiss/impl/io.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace embcomp {

/// A faiss::IOReader over a file or a byte span that refuses vector counts larger than
/// the bytes left (see above).
class BoundedIOReader : public faiss::IOReader {
 public:
  /// Over bytes [data, data + size) (not owned).
  BoundedIOReader(const uint8_t* data, size_t size, std::string name);
  /// Over an open file of size bytes (not owned).
  BoundedIOReader(std::FILE* f, uint64_t size, std::string name);
  size_t operator()(void* ptr, size_t size, size_t nitems) override;
  /// The first implausible count seen (0: none).
  uint64_t implausible_count() const { return implausible_; }
  uint64_t bytes_left() const { return size_ - pos_; }

 private:
  const uint8_t* data_ = nullptr;
  std::FILE* file_ = nullptr;
  uint64_t size_ = 0, pos_ = 0, implausible_ = 0;
};

/// faiss::read_index of a file under both guards, plus, for HNSW indexes, a check of the
/// graph (every neighbour id in [-1, ntotal), offsets consistent with the levels, a
/// neighbour at level l has at least l + 1 levels, the entry point on the top level).
/// Throws kBadInput naming path for a truncated, foreign or corrupt file.
std::unique_ptr<faiss::Index> read_faiss_index_file(const std::string& path);

/// faiss::read_VectorTransform of an in-memory blob, with guard 1. Throws kBadInput
/// "<what>: corrupt <spec> model: ..." for a truncated or corrupt blob.
std::unique_ptr<faiss::VectorTransform> read_faiss_transform_blob(const std::vector<uint8_t>& blob,
                                                                  const std::string& what,
                                                                  const std::string& spec);

}  // namespace embcomp
