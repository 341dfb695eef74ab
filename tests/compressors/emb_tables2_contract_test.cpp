// Contract shared by the CTR tables TT, DHE and MDE: registered with a doc, canonical spec,
// buffers() are the whole inference state (a checkpoint written back through them gives
// the same lookups after training moved on), and training with Adam lowers a loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "compressors/emb_table.h"
#include "tests/compressors/ctr_table_test_util.h"

namespace embcomp::ctr {
namespace {

const char* kSpecs[] = {"TT@0.3", "DHE@0.3", "MDE@0.5", "TT", "DHE", "MDE"};

TableInit layout() {
  TableInit init;
  init.rows = 2000;
  init.dim = 8;
  init.field_offsets = {0, 10, 300, 1200, 2000};
  init.counts.resize(2000);
  for (int i = 0; i < 2000; ++i) init.counts[i] = static_cast<uint32_t>(1 + 5000 / (1 + i % 97));
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  init.seed = 11;
  return init;
}

class Tables2Contract : public ::testing::TestWithParam<const char*> {};

TEST_P(Tables2Contract, RegisteredWithCanonicalSpec) {
  const std::string spec = GetParam();
  const std::string name = spec.substr(0, spec.find('@'));
  const auto& all = table_methods();
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const TableMethod& m) {
    return m.name == name && !m.doc.empty() && m.grammar.find(name) == 0;
  }));
  auto t = make_embedding_table(spec, layout());
  EXPECT_EQ(t->spec(), spec);
  EXPECT_FALSE(t->knob().empty());
  testing::expect_buffers_sum_to_bytes(*t);
  if (spec.find('@') != std::string::npos) {
    const double B = std::stod(spec.substr(spec.find('@') + 1));
    const double actual = double(t->bytes()) / (4.0 * 2000 * 8);
    EXPECT_TRUE((actual <= B && actual >= 0.98 * B) || !t->budget_note().empty()) << actual;
  }
}

// Trains toward random targets; returns the mean squared error before and after.
std::pair<double, double> train(EmbeddingTable& t, const std::vector<int64_t>& ids, int steps) {
  const std::vector<float> target = testing::random_weights(ids.size() * 8, 17);
  std::vector<float> out(ids.size() * 8), grad(out.size());
  auto mse = [&] {
    t.lookup(ids.data(), ids.size(), out.data());
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i) s += (out[i] - target[i]) * (out[i] - target[i]);
    return s / out.size();
  };
  const double before = mse();
  for (int s = 0; s < steps; ++s) {
    t.lookup(ids.data(), ids.size(), out.data());
    for (size_t i = 0; i < out.size(); ++i) grad[i] = 2.0f * (out[i] - target[i]) / out.size();
    t.backward(ids.data(), ids.size(), grad.data());
    t.step();
  }
  return {before, mse()};
}

TEST_P(Tables2Contract, CheckpointThroughBuffersRestoresLookups) {
  auto t = make_embedding_table(GetParam(), layout());
  const std::vector<int64_t> ids = {0, 5, 10, 299, 300, 1199, 1200, 1999};
  std::vector<float> before(ids.size() * 8), after(before.size());
  t->lookup(ids.data(), ids.size(), before.data());
  std::vector<std::vector<char>> saved;
  for (auto& b : t->buffers())
    saved.emplace_back(static_cast<char*>(b.first), static_cast<char*>(b.first) + b.second);
  train(*t, ids, 5);
  t->lookup(ids.data(), ids.size(), after.data());
  EXPECT_NE(before, after);  // training moved the lookups
  auto bufs = t->buffers();
  ASSERT_EQ(bufs.size(), saved.size());
  for (size_t i = 0; i < bufs.size(); ++i)
    std::memcpy(bufs[i].first, saved[i].data(), saved[i].size());
  t->lookup(ids.data(), ids.size(), after.data());
  EXPECT_EQ(before, after);
}

TEST_P(Tables2Contract, TrainingLowersTheLoss) {
  auto t = make_embedding_table(GetParam(), layout());
  const std::vector<int64_t> ids = {1, 7, 50, 250, 310, 900, 1500, 1998};
  const auto [before, after] = train(*t, ids, 60);
  EXPECT_LT(after, 0.7 * before) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(CtrTables2, Tables2Contract, ::testing::ValuesIn(kSpecs),
                         [](const auto& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '@', '_');
                           std::replace(s.begin(), s.end(), '.', 'p');
                           return s;
                         });

}  // namespace
}  // namespace embcomp::ctr
