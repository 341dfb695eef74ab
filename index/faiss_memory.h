// Memory of a FAISS index, three ways (issue 4): what the index's data structures hold
// (predicted: codes, ids, inverted-list overhead, codebooks, transforms, graph links),
// the serialized file size, and the resident-memory growth of a fresh process that loads
// the file (read from /proc/self/statm).
#pragma once

#include <faiss/Index.h>

#include <cstddef>
#include <string>

namespace embcomp {

/// Bytes held by the index's data structures, walked through FAISS's types (Flat/SQ/PQ/RQ
/// codes, IVF lists with their ids and per-list vector overhead, HNSW links, transforms,
/// codebooks). Unknown index types throw kRuntime.
size_t predicted_index_bytes(const faiss::Index& index);

/// Anonymous resident memory of this process in bytes (/proc/self/statm resident - shared).
size_t resident_bytes();

/// Loads the index file (FAISS's, or embcomp's own format) in this process and returns the resident-memory growth (used by
/// the hidden `embcomp _index-rss FILE` command, run as a fresh child process).
size_t rss_growth_loading(const std::string& path);

}  // namespace embcomp
