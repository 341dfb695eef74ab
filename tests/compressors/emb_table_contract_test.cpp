// Contract of every registered CTR table method, driven by the registry (a new method is
// covered without editing this file): registered with a doc, canonical spec, buffers()
// sum to bytes() and are the whole inference state (a checkpoint written back through
// them restores the lookups after training moved on), a budget is honoured, and training
// with Adam lowers a loss. Each method is run as NAME@0.3 when it has a budget form that
// reaches 0.3, and as NAME when the plain name builds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

TableInit layout() {
  TableInit init;
  init.rows = 2000;
  init.dim = 8;
  init.field_offsets = {0, 10, 300, 1200, 2000};
  init.counts.resize(2000);
  for (int i = 0; i < 2000; ++i) init.counts[i] = static_cast<uint32_t>(1 + 5000 / (1 + (i * 13) % 97));
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  init.seed = 3;
  return init;
}

bool builds(const std::string& spec) {
  try {
    make_embedding_table(spec, layout());
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::vector<std::string> contract_specs() {
  std::vector<std::string> out;
  for (const auto& m : table_methods()) {
    if (builds(m.name + "@0.3")) out.push_back(m.name + "@0.3");
    if (builds(m.name)) out.push_back(m.name);
  }
  return out;
}

class TableContract : public ::testing::TestWithParam<std::string> {};

TEST(TableContractCoverage, EveryRegisteredMethodIsCovered) {
  const auto specs = contract_specs();
  for (const auto& m : table_methods())
    EXPECT_TRUE(std::any_of(specs.begin(), specs.end(),
                            [&](const std::string& s) { return s.substr(0, s.find('@')) == m.name; }))
        << m.name << " builds neither as " << m.name << " nor as " << m.name << "@0.3";
  EXPECT_GE(table_methods().size(), 12u);
}

TEST_P(TableContract, RegisteredWithCanonicalSpecAndExactBytes) {
  const std::string spec = GetParam();
  const std::string name = spec.substr(0, spec.find('@'));
  const auto& all = table_methods();
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const TableMethod& m) {
    return m.name == name && !m.doc.empty() && m.grammar.find(name) == 0;
  }));
  auto t = make_embedding_table(spec, layout());
  EXPECT_EQ(t->spec(), spec);
  EXPECT_EQ(t->rows(), 2000);
  EXPECT_EQ(t->dim(), 8);
  size_t sum = 0;
  for (const auto& b : t->buffers()) sum += b.second;
  EXPECT_EQ(static_cast<int64_t>(sum), t->bytes()) << "buffers() must be every counted array";
  if (spec.find('@') != std::string::npos) {
    EXPECT_FALSE(t->knob().empty());
    const double actual = double(t->bytes()) / (4.0 * 2000 * 8);
    EXPECT_LE(actual, 0.3);
    EXPECT_TRUE(actual >= 0.98 * 0.3 || !t->budget_note().empty()) << actual;
  }
}

// Trains toward fixed targets; returns the mean squared error before and after.
std::pair<double, double> train(EmbeddingTable& t, const std::vector<int64_t>& ids, int steps) {
  const int d = t.dim();
  std::vector<float> target(ids.size() * d), out(target.size()), grad(target.size());
  for (size_t i = 0; i < target.size(); ++i) target[i] = 0.1f * hashed_uniform(17, i);
  auto mse = [&] {
    t.lookup(ids.data(), int64_t(ids.size()), out.data());
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i) s += (out[i] - target[i]) * (out[i] - target[i]);
    return s / double(out.size());
  };
  const double before = mse();
  for (int s = 0; s < steps; ++s) {
    t.lookup(ids.data(), int64_t(ids.size()), out.data());
    for (size_t i = 0; i < out.size(); ++i) grad[i] = 2.0f * (out[i] - target[i]) / float(out.size());
    t.backward(ids.data(), int64_t(ids.size()), grad.data());
    t.step();
  }
  return {before, mse()};
}

TEST_P(TableContract, CheckpointThroughBuffersRestoresLookups) {
  auto t = make_embedding_table(GetParam(), layout());
  std::vector<int64_t> ids(2000);
  for (int64_t i = 0; i < 2000; ++i) ids[i] = (i * 7) % 2000;
  train(*t, ids, 2);
  std::vector<std::vector<char>> saved;
  for (auto& [p, n] : t->buffers())
    saved.emplace_back(static_cast<char*>(p), static_cast<char*>(p) + n);
  std::vector<float> before(2000 * 8), after(2000 * 8);
  t->lookup(ids.data(), 2000, before.data());
  train(*t, ids, 3);
  t->lookup(ids.data(), 2000, after.data());
  EXPECT_NE(before, after) << "training moved the lookups";
  auto bufs = t->buffers();
  ASSERT_EQ(bufs.size(), saved.size());
  for (size_t b = 0; b < bufs.size(); ++b) {
    ASSERT_EQ(bufs[b].second, saved[b].size());
    std::memcpy(bufs[b].first, saved[b].data(), saved[b].size());
  }
  t->lookup(ids.data(), 2000, after.data());
  EXPECT_EQ(before, after);
}

TEST_P(TableContract, TrainingLowersTheLoss) {
  auto t = make_embedding_table(GetParam(), layout());
  const std::vector<int64_t> ids = {1, 7, 50, 250, 310, 900, 1500, 1998};
  const auto [before, after] = train(*t, ids, 60);
  EXPECT_LT(after, 0.7 * before) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(Registry, TableContract, ::testing::ValuesIn(contract_specs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           for (auto& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

}  // namespace
}  // namespace embcomp::ctr
