#include "compressors/table_compressor.h"

#include <chrono>
#include <cstring>
#include <numeric>
#include <sstream>

#include "compressors/budget.h"
#include "toolkit/error.h"
#include "toolkit/serialize.h"

namespace embcomp {

void TableCompressor::decode_range(size_t start, size_t count, float* out) const {
  std::vector<int64_t> ids(count);
  std::iota(ids.begin(), ids.end(), static_cast<int64_t>(start));
  decode_rows(ids.data(), count, out);
}

void TableCompressor::check_ids(const int64_t* ids, size_t count) const {
  for (size_t i = 0; i < count; ++i) {
    EC_CHECK(ids[i] >= 0 && size_t(ids[i]) < n(), kBadInput,
             spec() << ": row id " << ids[i] << " is outside [0, " << n() << ")");
  }
}

void TableCompressor::finish_budget() {
  if (!budget_ || n() == 0) return;
  const double actual = double(total_bytes()) / (4.0 * double(n()) * double(d()));
  budget_note_ = budget_gap_note(actual, *budget_, budget_why_);
}

void TableCompressor::save(BinaryWriter&) const {
  EC_THROW(kBadInput, "method " << spec() << " cannot be saved in an index yet");
}

void TableCompressor::load(BinaryReader&) {
  EC_THROW(kBadInput, "method " << spec() << " cannot be loaded from an index yet");
}

CodecTable::CodecTable(std::unique_ptr<Codec> codec, std::string spec, std::string knob)
    : codec_(std::move(codec)), spec_(std::move(spec)), knob_(std::move(knob)) {
  if (spec_.empty()) spec_ = codec_->spec();
}

void CodecTable::compress(MatrixView<float> x) {
  auto t0 = std::chrono::steady_clock::now();
  codec_->train(x);
  auto t1 = std::chrono::steady_clock::now();
  codes_.resize(checked_mul(x.n, codec_->code_size()));
  codec_->encode(x, codes_.data());
  n_ = x.n;
  train_s_ = std::chrono::duration<double>(t1 - t0).count();
  encode_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
}

void CodecTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
  const size_t cs = codec_->code_size();
  std::vector<uint8_t> gathered(count * cs);
  for (size_t i = 0; i < count; ++i)
    std::memcpy(&gathered[i * cs], codes_.data() + size_t(ids[i]) * cs, cs);
  codec_->decode(gathered.data(), count, out);
}

void CodecTable::save(BinaryWriter& w) const {
  EC_CHECK(codec_->is_trained(), kRuntime, spec_ << ": save before compress");
  codec_->save(w);
  w.put_u64(n_);
  w.put_vector(codes_);
}

void CodecTable::load(BinaryReader& r) {
  codec_->load(r);
  n_ = r.get_u64();
  codes_ = r.get_vector<uint8_t>(checked_mul(n_, codec_->code_size()));
}

void CodecTable::decode_range(size_t start, size_t count, float* out) const {
  EC_CHECK(start + count <= n_, kBadInput,
           spec_ << ": rows [" << start << ", " << start + count << ") outside [0, " << n_ << ")");
  codec_->decode(codes_.data() + start * codec_->code_size(), count, out);
}

}  // namespace embcomp
