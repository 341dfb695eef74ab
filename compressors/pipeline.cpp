#include "compressors/pipeline.h"

#include <algorithm>

#include "toolkit/error.h"
#include "toolkit/serialize.h"

namespace embcomp {

Pipeline::Pipeline(std::vector<std::unique_ptr<Transform>> transforms,
                   std::unique_ptr<Codec> codec)
    : transforms_(std::move(transforms)), codec_(std::move(codec)) {
  EC_CHECK(!transforms_.empty(), kRuntime, "a pipeline needs at least one transform");
  for (size_t i = 0; i + 1 < transforms_.size(); ++i) {
    EC_CHECK(transforms_[i]->d_out() == transforms_[i + 1]->d_in(), kBadInput,
             transforms_[i]->spec() << " outputs d=" << transforms_[i]->d_out() << " but "
                                    << transforms_[i + 1]->spec() << " expects d="
                                    << transforms_[i + 1]->d_in());
  }
  EC_CHECK(transforms_.back()->d_out() == codec_->d(), kBadInput,
           transforms_.back()->spec() << " outputs d=" << transforms_.back()->d_out() << " but "
                                      << codec_->spec() << " expects d=" << codec_->d());
}

std::string Pipeline::spec() const {
  std::string s;
  for (const auto& t : transforms_) s += (s.empty() ? "" : ",") + t->spec();
  if (codec_->spec() != "Flat") s += "," + codec_->spec();
  return s;
}

size_t Pipeline::min_train_rows() const {
  size_t m = codec_->min_train_rows();
  for (const auto& t : transforms_) m = std::max(m, t->min_train_rows());
  return m;
}

bool Pipeline::is_trained() const {
  for (const auto& t : transforms_)
    if (!t->is_trained()) return false;
  return codec_->is_trained();
}

void Pipeline::train(MatrixView<float> x) {
  check_train_input(spec(), x, d(), min_train_rows());
  FloatMatrix cur;
  MatrixView<float> in = x;
  for (auto& t : transforms_) {
    t->train(in);
    FloatMatrix next(in.n, t->d_out());
    t->apply(in, next.data());
    cur = std::move(next);
    in = cur.view();
  }
  codec_->train(in);
}

size_t Pipeline::model_bytes() const {
  size_t b = codec_->model_bytes();
  for (const auto& t : transforms_) b += t->model_bytes();
  return b;
}

FloatMatrix Pipeline::forward(MatrixView<float> x) const {
  FloatMatrix cur;
  MatrixView<float> in = x;
  for (const auto& t : transforms_) {
    FloatMatrix next(in.n, t->d_out());
    t->apply(in, next.data());
    cur = std::move(next);
    in = cur.view();
  }
  return cur;
}

void Pipeline::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d(), is_trained());
  FloatMatrix xt = forward(x);
  codec_->encode(xt.view(), codes);
}

void Pipeline::decode(const uint8_t* codes, size_t n, float* x) const {
  FloatMatrix cur(n, codec_->d());
  codec_->decode(codes, n, cur.data());
  for (size_t i = transforms_.size(); i-- > 0;) {
    const auto& t = transforms_[i];
    if (i == 0) {
      t->reverse(cur.view(), x);
    } else {
      FloatMatrix prev(n, t->d_in());
      t->reverse(cur.view(), prev.data());
      cur = std::move(prev);
    }
  }
}

/// Each transform's state in order, then the codec's.
void Pipeline::save(BinaryWriter& w) const {
  for (const auto& t : transforms_) t->save(w);
  codec_->save(w);
}

void Pipeline::load(BinaryReader& r) {
  for (auto& t : transforms_) t->load(r);
  codec_->load(r);
}

}  // namespace embcomp
