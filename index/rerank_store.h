// The re-ranking representation of a two-stage search, stored next to an index as
// "<index>.rerank" and read memory-mapped (read-only), so that it costs disk, not RAM:
// `embcomp build --rerank SPEC` writes it, `embcomp search --rerank-factor F` re-scores
// k * F candidates from the index with it (eval/rerank.h).
//
// File format (little endian, toolkit/serialize.h):
//   magic    8 bytes "EMBCRRK\0"
//   version  u32 kRerankStoreVersion
//   "HEAD"   tag (registry name), codec spec, seed, n, d, code_size, build id (the
//            index/checksum.h checksum of the index file it belongs to; version 2)
//   "MODL"   the codec's save() (e.g. SQ8's vmin/vdiff; nothing for Flat and FP16)
//   zero padding to a multiple of 64 bytes, then n * code_size bytes of codes, row-major,
//   up to the end of the file.
// Any codec that saves itself can be used; the intended ones are Flat (fp32), FP16, SQ8.
#pragma once

#include <memory>
#include <string>

#include "compressors/table_compressor.h"

namespace embcomp {

constexpr uint32_t kRerankStoreVersion = 2;

/// The sidecar path of an index: index + ".rerank".
std::string rerank_store_path(const std::string& index_path);

/// Throws kBadInput unless spec is a codec spec (no whole-table method, no budget form).
void check_rerank_spec(const std::string& spec);

/// Trains the codec spec on base, encodes it, and writes the store to tmp_path (what names
/// it in messages; the caller commits it). Returns the bytes of codes and model (what a
/// search maps). Throws kBadInput for a spec that is not a codec ("SVD@0.1" compresses a
/// whole table) or cannot be saved.
size_t write_rerank_store_to(const std::string& tmp_path, const std::string& what,
                             MatrixView<float> base, const std::string& spec, uint64_t seed,
                             uint64_t build_id);
/// The same, written to path atomically.
size_t write_rerank_store(const std::string& path, MatrixView<float> base, const std::string& spec,
                          uint64_t seed, uint64_t build_id = 0);

/// A rerank store mapped read-only. decode_rows reads only the rows asked for; n(), d(),
/// total_bytes() = n * code_size + model bytes (the disk_bytes of a two-stage search).
class MappedRerankStore final : public TableCompressor {
 public:
  /// Throws kBadInput for a missing, foreign, truncated or newer-version file.
  static std::unique_ptr<MappedRerankStore> open(const std::string& path);
  ~MappedRerankStore() override;
  MappedRerankStore(const MappedRerankStore&) = delete;
  MappedRerankStore& operator=(const MappedRerankStore&) = delete;

  std::string spec() const override { return codec_->spec(); }
  size_t d() const override { return codec_->d(); }
  size_t n() const override { return n_; }
  /// Read-only: throws kRuntime.
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override { return n_ * codec_->code_size() + codec_->model_bytes(); }
  size_t model_bytes() const override { return codec_->model_bytes(); }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  const Codec* codec() const override { return codec_.get(); }
  const uint8_t* codes() const override { return codes_; }
  /// The build id of the index this store was written for.
  uint64_t build_id() const { return build_id_; }

 private:
  MappedRerankStore() = default;
  std::unique_ptr<Codec> codec_;
  size_t n_ = 0;
  uint64_t build_id_ = 0;
  void* map_ = nullptr;              ///< the whole file, PROT_READ
  size_t map_bytes_ = 0;
  const uint8_t* codes_ = nullptr;   ///< n * code_size bytes inside the mapping
};

}  // namespace embcomp
