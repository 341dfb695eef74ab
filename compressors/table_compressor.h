// TableCompressor: a compressed n x d table with random row access. This is the
// interface of the study's post-training compressors (dedup, pruning, grouped PQ/SVD,
// tensor-train, ...), which see the whole table at once and may lay rows out their own
// way; every Codec is also one, through CodecTable (codes stored row by row).
//
// Memory contract: total_bytes() counts everything the compressed table keeps: codes,
// per-row side data (maps, group ids, row pointers) and the model (codebooks,
// factors). compression_ratio = 4 n d / total_bytes().
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compressors/codec.h"

namespace embcomp {

class TableCompressor {
 public:
  virtual ~TableCompressor() = default;
  /// Canonical spec as requested, e.g. "SVD@0.1", "PQ@16x", "GQ8", "PQ25x8".
  virtual std::string spec() const = 0;
  /// The size knob the budget solver chose ("rank=12", "M=25,nbits=8"); "" for fixed
  /// methods.
  virtual std::string knob() const { return ""; }
  virtual size_t d() const = 0;
  /// Rows compressed so far (0 before compress()).
  virtual size_t n() const = 0;
  /// Minimum rows compress() accepts.
  virtual size_t min_rows() const { return 1; }
  /// Learns the model from x and stores x compressed (train + encode). Deterministic in
  /// the seed the compressor was built with.
  virtual void compress(MatrixView<float> x) = 0;
  /// Everything kept, in bytes.
  virtual size_t total_bytes() const = 0;
  /// The part of total_bytes() that does not grow with n (codebooks, factors, scales).
  virtual size_t model_bytes() const = 0;
  /// Decodes rows ids[0..count) into out (count * d floats, row-major). Throws kBadInput
  /// for an id outside [0, n). Bit-for-bit equal to the same rows of decode_range.
  virtual void decode_rows(const int64_t* ids, size_t count, float* out) const = 0;
  /// Decodes rows [start, start + count) into out. Default: decode_rows on those ids.
  virtual void decode_range(size_t start, size_t count, float* out) const;
  /// The codec and codes when the table is a Codec's row codes (for Hamming search and
  /// index building); nullptr otherwise.
  virtual const Codec* codec() const { return nullptr; }
  virtual const uint8_t* codes() const { return nullptr; }
  /// A note when a budget was requested and the result is not within 2% below it.
  const std::string& budget_note() const { return budget_note_; }
  std::optional<double> budget() const { return budget_; }
  /// Records the requested budget and the method's reason for missing it when it does
  /// (e.g. "the knob is discrete"); make_table calls it for "NAME@B" specs.
  void set_budget(double fraction, std::string why_if_missed) {
    budget_ = fraction;
    budget_why_ = std::move(why_if_missed);
  }
  /// Seconds compress() spent learning the model and encoding the rows (methods that do
  /// both in one pass report it all as training).
  double train_seconds() const { return train_s_; }
  double encode_seconds() const { return encode_s_; }
  /// Writes everything the table keeps (model and per-row data) for embcomp's own index
  /// format (index/own_index.h). The default throws kBadInput "method X cannot be saved
  /// in an index yet".
  virtual void save(BinaryWriter& w) const;
  /// Restores what save() wrote into a table that make_table built from the same spec,
  /// n, d and seed: afterwards n(), total_bytes() and decode_rows() equal the saved
  /// table's bit for bit. Throws kBadInput for a corrupt or truncated file.
  virtual void load(BinaryReader& r);
  /// After compress(): sets budget_note() when the actual ratio is not within 2% below.
  void finish_budget();

 protected:
  void check_ids(const int64_t* ids, size_t count) const;
  double train_s_ = 0, encode_s_ = 0;
  std::optional<double> budget_;
  std::string budget_why_;
  std::string budget_note_;
};

/// A Codec's codes for every row: total_bytes = n * code_size + model_bytes.
class CodecTable final : public TableCompressor {
 public:
  /// spec: the spec to report ("PQ@16x" for a budgeted one, else codec->spec()).
  CodecTable(std::unique_ptr<Codec> codec, std::string spec = "", std::string knob = "");
  std::string spec() const override { return spec_; }
  std::string knob() const override { return knob_; }
  size_t d() const override { return codec_->d(); }
  size_t n() const override { return n_; }
  size_t min_rows() const override { return codec_->min_train_rows(); }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override { return n_ * codec_->code_size() + codec_->model_bytes(); }
  size_t model_bytes() const override { return codec_->model_bytes(); }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void decode_range(size_t start, size_t count, float* out) const override;
  const Codec* codec() const override { return codec_.get(); }
  const uint8_t* codes() const override { return codes_.data(); }
  /// Codec state, then n and the codes.
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

 private:
  std::unique_ptr<Codec> codec_;
  std::string spec_, knob_;
  size_t n_ = 0;
  std::vector<uint8_t> codes_;  ///< n * code_size bytes, row-major
};

}  // namespace embcomp
