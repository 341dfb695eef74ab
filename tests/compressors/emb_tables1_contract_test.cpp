// Contract shared by the CTR tables Hash, QR, QRsum, ROBE, AdaEmbed, INT8, INT16, ALPT:
// registered, canonical spec, buffers() are the whole inference state (a checkpoint
// restored through them gives back the same lookups), and training lowers a loss.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"
#include "compressors/emb_table_testing.h"

namespace embcomp::ctr {
namespace {

const char* kSpecs[] = {"Hash@0.3",     "QR@0.3", "QRsum@0.3", "ROBE@0.3",
                        "AdaEmbed@0.3", "INT8",   "INT16",     "ALPT"};

TableInit layout() {
  TableInit init = testing::small_layout(2000, 8, 4);
  init.field_offsets = {0, 10, 300, 1200, 2000};
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  init.counts.resize(2000);
  for (int i = 0; i < 2000; ++i) init.counts[i] = static_cast<uint32_t>(5000 / (1 + (i * 13) % 97));
  init.seed = 3;
  return init;
}

class Tables1Contract : public ::testing::TestWithParam<const char*> {};

TEST_P(Tables1Contract, RegisteredWithCanonicalSpec) {
  const std::string spec = GetParam();
  const std::string name = spec.substr(0, spec.find('@'));
  const auto& all = table_methods();
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [&](const TableMethod& m) {
    return m.name == name && !m.doc.empty() && m.grammar.find(name) == 0;
  }));
  auto t = make_embedding_table(spec, layout());
  EXPECT_EQ(t->spec(), spec);
  EXPECT_FALSE(t->knob().empty());
  EXPECT_EQ(t->rows(), 2000);
  EXPECT_EQ(t->dim(), 8);
  EXPECT_EQ(testing::buffers_total(*t), t->bytes());
  if (spec.find('@') != std::string::npos) {
    EXPECT_LE(t->bytes(), 0.3 * 4 * 2000 * 8);
  } else {  // fixed-size quantized tables: bits / 32 + 1 / D of fp32
    EXPECT_EQ(t->bytes(), 2000 * 8 * (name == "INT16" ? 2 : 1) + 4 * 2000);
  }
}

// Targets T for a squared loss sum ||lookup(id) - T[id]||^2 / 2 over a batch.
double train_steps(EmbeddingTable& t, const std::vector<int64_t>& ids, int steps) {
  const int d = t.dim();
  std::vector<float> out(ids.size() * d), g(ids.size() * d);
  double loss = 0;
  for (int s = 0; s < steps; ++s) {
    t.lookup(ids.data(), static_cast<int64_t>(ids.size()), out.data());
    loss = 0;
    for (size_t i = 0; i < ids.size(); ++i)
      for (int j = 0; j < d; ++j) {
        const float target = 0.1f * hashed_uniform(99, uint64_t(ids[i] * d + j));
        g[i * d + j] = out[i * d + j] - target;
        loss += 0.5 * g[i * d + j] * g[i * d + j];
      }
    t.backward(ids.data(), static_cast<int64_t>(ids.size()), g.data());
    t.step();
  }
  return loss;
}

TEST_P(Tables1Contract, CheckpointThroughBuffersRestoresLookups) {
  auto t = make_embedding_table(GetParam(), layout());
  std::vector<int64_t> ids(2000);
  for (int64_t i = 0; i < 2000; ++i) ids[i] = (i * 7) % 2000;
  train_steps(*t, ids, 2);
  std::vector<std::vector<char>> saved;
  for (auto& [p, n] : t->buffers())
    saved.emplace_back(static_cast<char*>(p), static_cast<char*>(p) + n);
  std::vector<float> before(2000 * 8), after(2000 * 8);
  t->lookup(ids.data(), 2000, before.data());
  train_steps(*t, ids, 3);
  t->lookup(ids.data(), 2000, after.data());
  EXPECT_NE(before, after);
  auto bufs = t->buffers();
  ASSERT_EQ(bufs.size(), saved.size());
  for (size_t b = 0; b < bufs.size(); ++b) {
    ASSERT_EQ(bufs[b].second, saved[b].size());
    std::memcpy(bufs[b].first, saved[b].data(), saved[b].size());
  }
  t->lookup(ids.data(), 2000, after.data());
  EXPECT_EQ(before, after);
}

TEST_P(Tables1Contract, TrainingLowersASquaredLoss) {
  auto t = make_embedding_table(GetParam(), layout());
  // The 300 most frequent-looking ids of the layout, as one batch.
  std::vector<int64_t> ids(300);
  for (int64_t i = 0; i < 300; ++i) ids[i] = (i * 13) % 2000;
  const double first = train_steps(*t, ids, 1);
  const double last = train_steps(*t, ids, 60);
  EXPECT_LT(last, 0.7 * first) << GetParam() << " first " << first << " last " << last;
}

INSTANTIATE_TEST_SUITE_P(Tables1, Tables1Contract, ::testing::ValuesIn(kSpecs),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           std::string s = info.param;
                           std::replace(s.begin(), s.end(), '@', '_');
                           std::replace(s.begin(), s.end(), '.', '_');
                           return s;
                         });

}  // namespace
}  // namespace embcomp::ctr
