#include "compressors/codec.h"

#include <faiss/VectorTransform.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <cmath>
#include <limits>

#include "index/faiss_reader.h"
#include "toolkit/error.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {
void check_finite(const std::string& spec, MatrixView<float> x) {
  const size_t total = x.n * x.d;
  for (size_t i = 0; i < total; ++i) {
    if (!std::isfinite(x.data[i])) {
      EC_THROW(kBadInput, spec << ": row " << i / x.d << " column " << i % x.d << " is "
                               << (std::isnan(x.data[i]) ? "NaN" : "Inf"));
    }
  }
}
}  // namespace

void check_train_input(const std::string& spec, MatrixView<float> x, size_t d, size_t min_rows) {
  EC_CHECK(x.d == d, kBadInput, spec << ": training data has d=" << x.d << ", expected d=" << d);
  EC_CHECK(x.n > 0, kBadInput, spec << ": no training rows");
  EC_CHECK(x.n >= min_rows, kBadInput,
           spec << ": needs at least " << min_rows << " training rows, got " << x.n);
  check_finite(spec, x);
}

void check_distance_range(const std::string& spec, MatrixView<float> x) {
  constexpr double kMaxSquaredNorm = double(std::numeric_limits<float>::max()) / 4;
  for (size_t i = 0; i < x.n; ++i) {
    const float* r = x.row(i);
    double s = 0;
    for (size_t j = 0; j < x.d; ++j) s += double(r[j]) * double(r[j]);
    EC_CHECK(s < kMaxSquaredNorm, kBadInput,
             spec << ": row " << i << " has squared norm " << s << ", beyond float distance range ("
                  << kMaxSquaredNorm << "); divide the vectors by at least "
                  << std::sqrt(s / kMaxSquaredNorm) << " first");
  }
}

void check_encode_input(const std::string& spec, MatrixView<float> x, size_t d, bool trained) {
  EC_CHECK(trained, kRuntime, spec << ": encode called before train");
  EC_CHECK(x.d == d, kBadInput, spec << ": input has d=" << x.d << ", expected d=" << d);
  check_finite(spec, x);
}

void Transform::save(BinaryWriter&) const {
  EC_THROW(kBadInput, "method " << spec() << " cannot be saved in an index yet");
}
void Transform::load(BinaryReader&) {
  EC_THROW(kBadInput, "method " << spec() << " cannot be loaded from an index yet");
}
void Codec::save(BinaryWriter&) const {
  EC_THROW(kBadInput, "method " << spec() << " cannot be saved in an index yet");
}
void Codec::load(BinaryReader&) {
  EC_THROW(kBadInput, "method " << spec() << " cannot be loaded from an index yet");
}

void save_faiss_transform(BinaryWriter& w, const faiss::VectorTransform& t) {
  faiss::VectorIOWriter blob;
  faiss::write_VectorTransform(&t, &blob);
  w.put_vector(blob.data);
}

std::unique_ptr<faiss::VectorTransform> load_faiss_transform(BinaryReader& r,
                                                             const std::string& what) {
  // FAISS's READVECTOR would allocate whatever count the blob claims (reliability #12).
  return read_faiss_transform_blob(r.get_vector<uint8_t>(), r.what(), what);
}

}  // namespace embcomp
