// The "<index>.json" sidecar written beside every index (FAISS's and embcomp's own) and
// the build id that ties an index to its sidecars (reliability review #18).
//
// The build id is file_checksum64 (index/checksum.h) of the index file. `build` writes the
// index, the .rerank store and the .json to temporary names, then commits the sidecars
// first and the index last (the index is the commit point); both sidecars record the build
// id, and loading checks it, so an interrupted build leaves either the old generation whole,
// or new sidecars beside the old index (refused with exit 2), or new sidecars and no index.
// What this does not detect is listed in docs/index.md ("Build ids and commit order").
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace embcomp {

/// Sidecar format version: 2 adds "build_id".
constexpr int kSidecarVersion = 2;

/// The sidecar path of an index: index + ".json".
std::string sidecar_path(const std::string& index_path);

/// Writes meta (plus "build_id" = hex64(build_id)) as pretty JSON to tmp_path, flushing and
/// closing before it returns; throws kRuntime naming what when any write failed.
void write_sidecar(const std::string& tmp_path, const std::string& what,
                   nlohmann::ordered_json meta, uint64_t build_id);

/// What a sidecar must agree with.
struct SidecarExpect {
  uint64_t build_id = 0;
  uint64_t n = 0, d = 0;
  std::string metric;  ///< "l2", "ip" or "angular"; "ip" also accepts "angular" (FAISS files
                       ///< cannot tell them apart); empty: not checked
};

/// Reads the sidecar of index_path when it exists (returns false otherwise) and checks its
/// format, version, build id, n, d and metric against expect; throws kBadInput naming the
/// sidecar when anything differs.
bool read_sidecar(const std::string& index_path, const SidecarExpect& expect,
                  nlohmann::ordered_json& meta);

}  // namespace embcomp
