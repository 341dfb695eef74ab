// check_distance_range (compressors/codec.h): methods that train on squared distances or
// products of values refuse rows whose squared norm overflows float arithmetic, instead of
// hanging in k-means (reliability catalogue case fvecs_hugevals_pq: PQ training on values
// near 1e37 ran until killed, PQ@0.25 died with SIGSEGV).
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "compressors/codec.h"
#include "index/faiss_index.h"
#include "index/own_index.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

constexpr size_t kN = 600, kD = 16;

/// kN x kD values in (-scale, scale): tanh of a seeded low-rank matrix, times scale.
FloatMatrix scaled(double scale) {
  FloatMatrix x = testing::low_rank(kN, kD, 4, 0.05f, 3);
  for (float& v : x.values) v = float(std::tanh(v) * scale);
  return x;
}

/// The kind of Error f throws, kNone when it returns.
constexpr int kNone = -1;
int kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return int(e.kind());
  }
  return kNone;
}

TEST(DistanceRange, BoundaryIsFloatMaxOverFour) {
  const double limit = double(std::numeric_limits<float>::max()) / 4;
  FloatMatrix x(2, 1);
  x.values = {0.f, float(std::sqrt(limit) * 0.999)};
  EXPECT_NO_THROW(check_distance_range("t", x.view()));
  x.values[1] = float(std::sqrt(limit) * 1.001);
  try {
    check_distance_range("t", x.view());
    FAIL() << "a row beyond the range was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(e.message().find("row 1"), std::string::npos) << e.message();
  }
}

class DistanceRangeMethod : public ::testing::TestWithParam<const char*> {};

// Values near 1e37 (the catalogue's file): refused with kBadInput before any k-means.
TEST_P(DistanceRangeMethod, HugeValuesAreRefusedNotTrained) {
  FloatMatrix x = scaled(3e37);
  auto codec = make_codec(GetParam(), kD);
  EXPECT_EQ(kind_of([&] { codec->train(x.view()); }), int(ErrorKind::kBadInput)) << GetParam();
}

// Large but in-range values still train: the check is not a blanket magnitude cap.
TEST_P(DistanceRangeMethod, LargeInRangeValuesTrain) {
  FloatMatrix x = scaled(1e17);
  auto codec = make_codec(GetParam(), kD);
  EXPECT_EQ(kind_of([&] { codec->train(x.view()); }), kNone) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(KMeansAndCovariance, DistanceRangeMethod,
                         ::testing::Values("PQ4x4", "PQ2x4", "RQ2x4", "OPQ4,PQ4x4", "PCA8",
                                           "PCA8,SQ8"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

// The table methods (budget forms solve their own settings).
TEST(DistanceRange, TableMethodsRefuseHugeValues) {
  FloatMatrix x = scaled(3e37);
  for (const char* spec : {"SVD4", "MGPQ2@0.25", "MagSVD2@0.25", "PQ@0.25"}) {
    EXPECT_EQ(kind_of([&] { make_table(spec, kN, kD)->compress(x.view()); }),
              int(ErrorKind::kBadInput))
        << spec;
  }
}

// The index builders: FAISS's factory indexes (the catalogue's `build --method PQ4x4` ran
// until killed) and embcomp's own IVF coarse k-means.
TEST(DistanceRange, IndexBuildersRefuseHugeValues) {
  FloatMatrix x = scaled(3e37);
  EXPECT_EQ(kind_of([&] { build_faiss_index(x.view(), Metric::kL2, "PQ4x4", "Flat", false); }),
            int(ErrorKind::kBadInput));
  EXPECT_EQ(kind_of([&] { build_faiss_index(x.view(), Metric::kL2, "SQ8", "IVF4", false); }),
            int(ErrorKind::kBadInput));
  EXPECT_EQ(kind_of([&] { OwnIndex::build(x.view(), Metric::kL2, "SQ8", "IVF4", 1, false); }),
            int(ErrorKind::kBadInput));
  FloatMatrix ok = scaled(1e17);
  EXPECT_EQ(kind_of([&] { OwnIndex::build(ok.view(), Metric::kL2, "SQ8", "IVF4", 1, false); }),
            kNone);
}

}  // namespace
}  // namespace embcomp
