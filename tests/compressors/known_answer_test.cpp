// Known-answer tests: tiny hand-checked inputs with exact expected bytes and values,
// one group per method (check 5 of STYLE.md's per-method checks).
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "compressors/bf16.h"
#include "compressors/binary.h"
#include "compressors/int8.h"
#include "compressors/pca.h"
#include "compressors/pq.h"
#include "compressors/sq.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

std::vector<uint8_t> encode_all(Codec& c, const FloatMatrix& x) {
  std::vector<uint8_t> codes(x.n * c.code_size());
  c.encode(x.view(), codes.data());
  return codes;
}

FloatMatrix rows(std::initializer_list<std::initializer_list<float>> r) {
  FloatMatrix m(r.size(), r.begin()->size());
  size_t i = 0;
  for (const auto& row : r) {
    size_t j = 0;
    for (float v : row) m.row(i)[j++] = v;
    ++i;
  }
  return m;
}

TEST(Bf16, RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3F80);
  EXPECT_EQ(float_to_bf16(-2.0f), 0xC000);
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3F80);    // 1 + 2^-8: halfway, to even (down)
  EXPECT_EQ(float_to_bf16(1.01171875f), 0x3F82);    // 1 + 3 * 2^-8: halfway, to even (up)
  EXPECT_EQ(float_to_bf16(1.0048828125f), 0x3F81);  // above halfway: up
  EXPECT_EQ(float_to_bf16(FLT_MAX), 0x7F7F);        // saturates instead of overflowing
  EXPECT_EQ(float_to_bf16(-FLT_MAX), 0xFF7F);
  EXPECT_EQ(bf16_to_float(0x3F82), 1.015625f);
}

TEST(Bf16, CodecBytesAreLittleEndianHalves) {
  Bf16Codec c(2);
  FloatMatrix x = rows({{1.0f, -2.0f}});
  auto codes = encode_all(c, x);
  EXPECT_EQ(codes, (std::vector<uint8_t>{0x80, 0x3F, 0x00, 0xC0}));
}

TEST(Int8, SymmetricPerDimensionScale) {
  Int8Codec c(2);
  FloatMatrix x = rows({{1.0f, -2.0f}, {0.5f, 1.0f}});
  c.train(x.view());
  EXPECT_FLOAT_EQ(c.scales()[0], 1.0f / 127);
  EXPECT_FLOAT_EQ(c.scales()[1], 2.0f / 127);
  auto codes = encode_all(c, x);
  // 1 -> 127, -2 -> -127 (0x81), 0.5 * 127 = 63.5 -> 64 (ties to even), 1 / (2/127) = 63.5 -> 64
  EXPECT_EQ(codes, (std::vector<uint8_t>{127, 0x81, 64, 64}));
  std::vector<float> rec(4);
  c.decode(codes.data(), 2, rec.data());
  EXPECT_FLOAT_EQ(rec[1], -2.0f);
  EXPECT_FLOAT_EQ(rec[3], 64 * 2.0f / 127);
}

TEST(Sq, EightBitTruncatesAndDecodesBinCenters) {
  SqCodec c(2, SqParams{8});
  FloatMatrix x = rows({{0.0f, 10.0f}, {255.0f, 20.0f}, {100.7f, 15.0f}});
  c.train(x.view());
  auto codes = encode_all(c, x);
  // column 0: range [0, 255], 100.7 -> floor(100.7) = 100; column 1: [10, 20], 15 -> floor(127.5)
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 0, 255, 255, 100, 127}));
  std::vector<float> rec(6);
  c.decode(codes.data(), 3, rec.data());
  EXPECT_NEAR(rec[4], 100.5f, 1e-4);
  EXPECT_NEAR(rec[5], 10.0f + 127.5f / 255 * 10, 1e-4);
  EXPECT_EQ(c.model_bytes(), 2u * 2 * 4);
}

TEST(Sq, FourBitPacksLowNibbleFirst) {
  SqCodec c(2, SqParams{4});
  FloatMatrix x = rows({{0.0f, 0.0f}, {15.0f, 15.0f}, {3.2f, 9.9f}});
  c.train(x.view());
  auto codes = encode_all(c, x);
  EXPECT_EQ(codes, (std::vector<uint8_t>{0x00, 0xFF, 0x93}));  // dim0=3 low, dim1=9 high
  EXPECT_EQ(c.code_size(), 1u);
}

TEST(Binary, SignBitsAndLevels) {
  BinaryCodec c(9, BinaryParams{});
  FloatMatrix x = rows({{1, -1, 2, -2, 0, 3, -3, 4, 5}, {-1, 1, -2, 2, 0, -3, 3, -4, -5}});
  c.train(x.view());
  auto codes = encode_all(c, x);
  // row 0: dims 0,2,5,7,8 positive (0 is not > 0) -> 0b10100101 = 0xA5, then bit 8 -> 0x01
  EXPECT_EQ(codes, (std::vector<uint8_t>{0xA5, 0x01, 0x4A, 0x00}));
  std::vector<float> rec(18);
  c.decode(codes.data(), 2, rec.data());
  EXPECT_FLOAT_EQ(rec[0], 1.0f);  // mean of the positive values of dim 0
  EXPECT_FLOAT_EQ(rec[9], -1.0f);
  EXPECT_FLOAT_EQ(rec[4], 0.0f);  // dim 4 never above 0: level = mean of the rest
}

TEST(Binary, MedianThreshold) {
  BinaryParams p;
  p.median = true;
  BinaryCodec c(1, p);
  FloatMatrix x = rows({{10}, {11}, {12}, {13}});
  c.train(x.view());
  EXPECT_FLOAT_EQ(c.thresholds()[0], 11.5f);
  auto codes = encode_all(c, x);
  EXPECT_EQ(codes, (std::vector<uint8_t>{0, 0, 1, 1}));
  std::vector<float> rec(4);
  c.decode(codes.data(), 4, rec.data());
  EXPECT_FLOAT_EQ(rec[0], 10.5f);
  EXPECT_FLOAT_EQ(rec[3], 12.5f);
}

TEST(Pq, TwoClustersOneBit) {
  // Two tight clusters in 2-d; PQ1x1 has 2 centroids, which must land on the clusters.
  FloatMatrix x(200, 2);
  for (size_t i = 0; i < 200; ++i) {
    float c = i % 2 ? 3.0f : -1.0f;
    x.row(i)[0] = c;
    x.row(i)[1] = 2 * c;
  }
  PqParams p;
  p.M = 1;
  p.nbits = 1;
  PqCodec c(2, p);
  c.train(x.view());
  auto codes = encode_all(c, x);
  EXPECT_EQ(c.code_size(), 1u);
  EXPECT_NE(codes[0], codes[1]);
  EXPECT_EQ(codes[0], codes[2]);
  std::vector<float> rec(400);
  c.decode(codes.data(), 200, rec.data());
  EXPECT_FLOAT_EQ(rec[0], -1.0f);
  EXPECT_FLOAT_EQ(rec[1], -2.0f);
  EXPECT_FLOAT_EQ(rec[2], 3.0f);
  EXPECT_FLOAT_EQ(rec[3], 6.0f);
}

TEST(Pq, RejectsIndivisibleDimension) {
  try {
    make_codec("PQ32x8", 100);
    FAIL() << "PQ32x8 accepted at d=100";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("d=100 is not divisible by M=32"), std::string::npos) << e.message();
  }
}

TEST(Pca, ReconstructsDataOnALineExactly) {
  // Points on the line m + t * (1, 1, 0) / sqrt(2): one component explains everything.
  FloatMatrix x(50, 3);
  for (size_t i = 0; i < 50; ++i) {
    float t = float(i) - 20.0f;
    x.row(i)[0] = 1 + t;
    x.row(i)[1] = 2 + t;
    x.row(i)[2] = -1;
  }
  auto codec = make_codec("PCA1", 3);
  codec->train(x.view());
  EXPECT_EQ(codec->code_size(), 4u);
  EXPECT_EQ(codec->model_bytes(), (1u * 3 + 3 + 1) * 4);  // A, the mean, the bias b
  auto codes = encode_all(*codec, x);
  std::vector<float> rec(150);
  codec->decode(codes.data(), 50, rec.data());
  for (size_t i = 0; i < 150; ++i) EXPECT_NEAR(rec[i], x.values[i], 1e-3) << i;
}

}  // namespace
}  // namespace embcomp
