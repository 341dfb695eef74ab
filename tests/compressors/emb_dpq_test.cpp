// DPQ (differentiable product quantization) CTR table: the bit-packed code stream, lookup
// against V[code], codes = argmax of the query/key scores, backward against finite
// differences of the softmax surrogate (straight-through), the SGD step and code refresh,
// budgets, a planted problem, determinism and error paths.
#include "compressors/emb_dpq.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compressors/emb_dpq_testing.h"
#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::fd;
using testing::ref_code;
using testing::small_layout;

TEST(EmbDPQ, PackedCodesRoundTrip) {
  for (int nbits = 1; nbits <= 8; ++nbits) {
    const int64_t count = 301;
    std::vector<uint8_t> bits((count * nbits + 7) / 8, 0);
    std::vector<uint32_t> want(count);
    for (int64_t i = 0; i < count; ++i) {
      want[i] = uint32_t(i * 2654435761u >> 7) & ((1u << nbits) - 1);
      set_code(bits.data(), i * nbits, nbits, want[i]);
    }
    // Overwrite every third code with its complement and back: neighbours stay intact.
    for (int64_t i = 0; i < count; i += 3) set_code(bits.data(), i * nbits, nbits, ~want[i]);
    for (int64_t i = 0; i < count; i += 3) set_code(bits.data(), i * nbits, nbits, want[i]);
    for (int64_t i = 0; i < count; ++i)
      ASSERT_EQ(get_code(bits.data(), i * nbits, nbits), want[i]) << nbits << " " << i;
    // Bit i of the stream is bit i % 8 of byte i / 8 (little-endian).
    for (int64_t i = 0; i < count; ++i)
      for (int b = 0; b < nbits; ++b)
        ASSERT_EQ((bits[(i * nbits + b) / 8] >> ((i * nbits + b) % 8)) & 1, (want[i] >> b) & 1);
  }
}

DpqParams small_params() {
  DpqParams p;
  p.M = 2;
  p.nbits = 3;
  p.tau = 0.7f;
  p.seed = 9;
  return p;
}

TEST(EmbDPQ, LookupReadsCodedCentroidsAndBytesAreExact) {
  const TableInit init = small_layout(40, 6);
  DpqTable t(init, small_params(), "DPQ@0.5");
  EXPECT_EQ(t.bytes(), 4 * 8 * 6 + (40 * 2 * 3 + 7) / 8);
  EXPECT_EQ(t.bytes(), DpqTable::dpq_bytes(40, 6, 2, 3));
  testing::expect_buffers_sum_to_bytes(t);
  EXPECT_EQ(t.knob(), "M=2,nbits=3");
  std::vector<int64_t> ids(40);
  for (int64_t i = 0; i < 40; ++i) ids[i] = i;
  std::vector<float> out(40 * 6);
  t.lookup(ids.data(), 40, out.data());
  int distinct = 0;
  std::vector<int> seen(8, 0);
  for (int64_t r = 0; r < 40; ++r)
    for (int j = 0; j < 2; ++j) {
      const uint32_t c = ref_code(t, r, j, 8);
      ASSERT_EQ(t.code(r, j), c) << r;
      distinct += seen[c]++ == 0;
      for (int x = 0; x < 3; ++x)
        ASSERT_EQ(out[r * 6 + j * 3 + x], t.values().data()[c * 6 + j * 3 + x]);
    }
  EXPECT_GE(distinct, 4) << "the initial codes use several centroids";
}

TEST(EmbDPQ, StraightThroughGradientsMatchFiniteDifferences) {
  const TableInit init = small_layout(40, 6);
  DpqTable t(init, small_params(), "DPQ@0.5");
  const std::vector<int64_t> ids = {3, 17, 17, 39};
  const std::vector<float> w = testing::random_weights(ids.size() * 6, 4);
  t.backward(ids.data(), int64_t(ids.size()), w.data());
  const testing::CentroidsOf all8 = [](int64_t) { return 8; };
  int checked = 0;
  for (int64_t r : {3, 17, 39})
    for (int x = 0; x < 6; ++x, ++checked)
      EXPECT_NEAR(t.query().grad(r)[x], fd(t, t.query().row(r) + x, ids, w, all8), 2e-3) << r;
  for (int e = 0; e < 8 * 6; ++e, ++checked)
    EXPECT_NEAR(t.keys().grad()[e], fd(t, t.keys().data() + e, ids, w, all8), 2e-3) << e;
  // dV: the forward used the hard codes, so V_k of sub-space j gets the sum of g over the
  // rows coded k there.
  std::vector<double> dV(8 * 6, 0.0);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int j = 0; j < 2; ++j)
      for (int x = 0; x < 3; ++x) dV[t.code(ids[i], j) * 6 + j * 3 + x] += w[i * 6 + j * 3 + x];
  for (int e = 0; e < 8 * 6; ++e) EXPECT_NEAR(t.values().grad()[e], dV[e], 1e-6);
  EXPECT_EQ(t.query().grad(4), nullptr);
  EXPECT_EQ(checked, 3 * 6 + 48);
}

TEST(EmbDPQ, SgdStepUpdatesAndRefreshesTouchedCodesOnly) {
  TableInit init = small_layout(40, 6, 2, /*lr=*/20.0f);
  DpqTable t(init, small_params(), "DPQ@0.5");
  const std::vector<int64_t> ids = {5, 6};
  const std::vector<float> g = testing::random_weights(12, 11);
  std::vector<uint32_t> codes_before(80);
  for (int64_t r = 0; r < 40; ++r)
    for (int j = 0; j < 2; ++j) codes_before[r * 2 + j] = t.code(r, j);
  t.backward(ids.data(), 2, g.data());
  std::vector<float> V0(t.values().data(), t.values().data() + 48);
  std::vector<float> K0(t.keys().data(), t.keys().data() + 48);
  std::vector<float> dV(t.values().grad(), t.values().grad() + 48);
  std::vector<float> dK(t.keys().grad(), t.keys().grad() + 48);
  std::vector<float> q5(t.query().row(5), t.query().row(5) + 6);
  std::vector<float> dq5(t.query().grad(5), t.query().grad(5) + 6);
  t.step();
  for (int e = 0; e < 48; ++e) {
    EXPECT_NEAR(t.values().data()[e], V0[e] - 20.0f * dV[e], 1e-5);
    EXPECT_NEAR(t.keys().data()[e], K0[e] - 20.0f * dK[e], 1e-5);
  }
  for (int x = 0; x < 6; ++x) EXPECT_NEAR(t.query().row(5)[x], q5[x] - 20.0f * dq5[x], 1e-5);
  int moved = 0;  // codes the refresh must have changed (else the check below is void)
  for (int64_t r = 0; r < 40; ++r)
    for (int j = 0; j < 2; ++j) {
      if (r == 5 || r == 6) moved += ref_code(t, r, j, 8) != codes_before[r * 2 + j];
      if (r == 5 || r == 6)
        EXPECT_EQ(t.code(r, j), ref_code(t, r, j, 8)) << "refreshed row " << r;
      else
        EXPECT_EQ(t.code(r, j), codes_before[r * 2 + j]) << "untouched row " << r;
    }
  EXPECT_GT(moved, 0);
}

TEST(EmbDPQ, LearnsAPlantedProductCode) {
  // Targets are exactly representable: each sub-space of a row is one of 4 prototypes.
  TableInit init = small_layout(200, 8);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.02f;
  DpqParams p;
  p.M = 2;
  p.nbits = 3;
  p.seed = 3;
  DpqTable t(init, p, "DPQ@0.5");
  std::vector<int64_t> ids(200);
  for (int64_t i = 0; i < 200; ++i) ids[i] = i;
  std::vector<float> target(200 * 8), out(200 * 8), grad(200 * 8);
  for (int64_t i = 0; i < 200; ++i)
    for (int j = 0; j < 2; ++j) {
      const int proto = int((i * 7 + j * 3) % 4);
      for (int x = 0; x < 4; ++x)
        target[i * 8 + j * 4 + x] = 0.3f * hashed_uniform(50 + proto, j * 4 + x);
    }
  auto mse = [&] {
    t.lookup(ids.data(), 200, out.data());
    double s = 0;
    for (size_t e = 0; e < out.size(); ++e) s += (out[e] - target[e]) * (out[e] - target[e]);
    return s / double(out.size());
  };
  const double before = mse();
  for (int s = 0; s < 400; ++s) {
    t.lookup(ids.data(), 200, out.data());
    for (size_t e = 0; e < out.size(); ++e) grad[e] = 2.0f * (out[e] - target[e]) / 200.0f;
    t.backward(ids.data(), 200, grad.data());
    t.step();
  }
  const double after = mse();
  EXPECT_LT(after, 0.2 * before) << before << " -> " << after;
}

TEST(EmbDPQ, BudgetSolverMostCodeBitsThatFit) {
  for (int D : {8, 16}) {
    const TableInit init = testing::criteo_like_layout(300, D, false);
    const double full = 4.0 * double(init.rows) * D;
    for (double B : {0.5, 0.2, 0.1, 0.05, 0.01}) {
      const std::string spec = "DPQ@" + std::to_string(B);
      auto t = make_embedding_table(spec, init);
      auto* q = dynamic_cast<DpqTable*>(t.get());
      ASSERT_NE(q, nullptr);
      const double actual = double(t->bytes()) / full;
      EXPECT_LE(actual, B) << spec << " " << t->knob();
      EXPECT_EQ(testing::buffers_total(*t), t->bytes());
      // At least half the code bits the budget could pay for, capped at 8 bits per dimension.
      const double bits_affordable =
          std::min(8.0 * D, (B * full - 4.0 * 256 * D) * 8 / double(init.rows));
      EXPECT_GE(q->params().M * q->params().nbits, 0.5 * bits_affordable)
          << spec << " " << t->knob();
      EXPECT_EQ(q->bytes(), DpqTable::dpq_bytes(init.rows, D, q->params().M, q->params().nbits));
    }
  }
  // D = 16, B = 0.5: 8 bits per dimension is the cap (0.25 + codebook); the note says why.
  const TableInit init = testing::criteo_like_layout(300, 16, false);
  auto t = make_embedding_table("DPQ@0.5", init);
  EXPECT_EQ(t->knob(), "M=16,nbits=8");
  EXPECT_NE(t->budget_note().find("8 bits per dimension"), std::string::npos);
}

TEST(EmbDPQ, DeterministicInTheSeed) {
  TableInit init = small_layout(300, 4);
  std::vector<int64_t> ids(300);
  for (int64_t i = 0; i < 300; ++i) ids[i] = i;
  auto run = [&](uint64_t seed) {
    init.seed = seed;
    auto t = make_embedding_table("DPQ@0.3", init);
    std::vector<float> out(300 * 4);
    t->lookup(ids.data(), 300, out.data());
    t->backward(ids.data(), 300, out.data());
    t->step();
    t->lookup(ids.data(), 300, out.data());
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(EmbDPQ, ErrorPaths) {
  const TableInit init = small_layout(100, 4);
  auto t = make_embedding_table("DPQ@0.5", init);
  std::vector<float> out(4);
  for (int64_t bad : {int64_t(-1), int64_t(100)}) {
    EXPECT_THROW(t->lookup(&bad, 1, out.data()), Error);
    EXPECT_THROW(t->backward(&bad, 1, out.data()), Error);
  }
  EXPECT_THROW(make_embedding_table("DPQ", init), Error);  // the size is the knob
  // 100 rows x 4 dims: 0.01 of fp32 is 16 bytes, below a 2-centroid codebook.
  const std::string msg =
      embcomp::testing::bad_input_message([&] { make_embedding_table("DPQ@0.01", init); });
  EXPECT_NE(msg.find("cannot hold"), std::string::npos) << msg;
  DpqParams p;
  p.M = 3;  // does not divide 4
  EXPECT_THROW(DpqTable(init, p, "DPQ"), Error);
  p.M = 2;
  p.nbits = 9;
  EXPECT_THROW(DpqTable(init, p, "DPQ"), Error);
  p.nbits = 2;
  p.tau = 0;
  EXPECT_THROW(DpqTable(init, p, "DPQ"), Error);
}

}  // namespace
}  // namespace embcomp::ctr
