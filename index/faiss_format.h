// A walk over FAISS 1.7.3's serialization (faiss/impl/index_read.cpp's layout) that runs
// before faiss::read_index sees a file, so that FAISS only ever reads files whose every
// count, size and derived allocation is already known to be consistent (fuzz_faiss_index).
//
// FAISS allocates from values in the file before it reads the data they describe: a
// product quantizer's centroids are resized to d * 2^nbits floats as soon as nbits is
// read (nbits = 40: 4 TB), a residual quantizer's codebook cross products to
// (sum 2^nbits)^2 floats, an HNSW-over-PQ's SDC table to M * ksub^2 floats, every inverted
// list to its stored size; M = 0 divides by zero; an HNSW "PQ" whose storage is not a PQ
// index is dereferenced as one. BoundedIOReader (faiss_reader.h) catches oversized vector
// counts only, and the address-space cap around the read is off under AddressSanitizer,
// whose throwing operator new aborts on such a request. The walk refuses all of these with
// kBadInput first. It also refuses bool bytes other than 0/1 and enum values outside their
// range (loading them is undefined behaviour), and trailing bytes.
//
// What it accepts is what embcomp builds (index/faiss_index.h) and FAISS writes for it:
//   indexes     IxF2 IxFI (Flat), IxSQ (SQ, fp16), IxPq IxPQ (PQ), IxRq (RQ),
//               IwFl IwSq IwPQ IwRQ (IVF over those, "ilar" inverted lists),
//               IHNf IHNs IHNp (HNSW over Flat, SQ, PQ), IxPT (pre-transform)
//   transforms  Pcam PCAm PcAm (PCA), LTra (linear, OPQ), rrot, VCnt, VNrm
// Any other fourcc is refused by name. The walk reads headers and skips bulk arrays
// (seeking in files), so its cost does not grow with the codes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace embcomp {

/// Bytes an index of file_bytes may make FAISS allocate beyond what it stores (codebook
/// tables, lists): 64 MB + 64 x the file size, the bound of faiss_reader's address-space cap.
uint64_t faiss_derived_cap(uint64_t file_bytes);

/// Walks the FAISS index stored in the open file f (size bytes, read from its current
/// position, which is left at an unspecified place). Throws kBadInput
/// "<name>: corrupt FAISS index: ..." or "<name>: ... is not a FAISS index type embcomp
/// reads ..." for anything FAISS would read unsafely, and for truncated or trailing bytes.
void screen_faiss_index(std::FILE* f, uint64_t size, const std::string& name);

/// The same for an index held in memory.
void screen_faiss_index(const uint8_t* data, size_t size, const std::string& name);

/// Walks one serialized faiss::VectorTransform (a PCA or OPQ model blob). Throws kBadInput
/// "<name>: corrupt <spec> model: ..." as screen_faiss_index does.
void screen_faiss_transform(const uint8_t* data, size_t size, const std::string& name,
                            const std::string& spec);

}  // namespace embcomp
