// Contract of every registered CTR table method, driven by the registry (a new method is
// covered without editing this file): registered with a doc, canonical spec, buffers()
// sum to bytes() and are the whole inference state (a checkpoint written back through
// them restores the lookups after training moved on), a budget is honoured, and training
// with Adam lowers a loss. Each method is run as NAME@0.3 when it has a budget form that
// reaches 0.3, and as NAME when the plain name builds. A method with a search phase
// (searching(): AutoDim, OptEmbed) is checked on its final table (make_final), and its
// search must end after TableInit::schedule_steps steps (the trainer relies on it).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <regex>

#include "compressors/emb_mde.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"
#include "compressors/emb_table_testing.h"
#include "compressors/emb_tt.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

TableInit layout() {
  TableInit init;
  init.rows = 2000;
  init.dim = 8;
  init.field_offsets = {0, 10, 300, 1200, 2000};
  init.counts.resize(2000);
  for (int i = 0; i < 2000; ++i)
    init.counts[i] = static_cast<uint32_t>(1 + 5000 / (1 + (i * 13) % 97));
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

/// Integers of a knob string in order ("R=3,up=1,full=0,cached=5" -> 3 1 0 5; "c=4/0/7" ->
/// 4 0 7).
std::vector<int64_t> knob_ints(const std::string& knob) {
  std::vector<int64_t> v;
  static const std::regex num("[0-9]+(\\.[0-9]*)?(e[-+]?[0-9]+)?");
  for (auto it = std::sregex_iterator(knob.begin(), knob.end(), num); it != std::sregex_iterator();
       ++it)
    v.push_back(std::stoll(it->str()));
  return v;
}

/// bytes() from the method's memory formula in docs/ctr_tables.md, computed here from the
/// knob and the layout: a count independent of the table's own buffers() list and bytes().
/// -1 for a method with no formula here (the caller fails).
int64_t documented_bytes(const std::string& name, const std::string& knob, const TableInit& in,
                         double budget) {
  const int64_t N = in.rows, D = in.dim, F = int64_t(in.field_offsets.size()) - 1;
  const std::vector<int64_t> k = knob_ints(knob);
  if (name == "Full") return 4 * N * D;
  if (name == "Hash") return 4 * k.at(0) * D + 16;                                // rows=m
  if (name == "ROBE") return 4 * k.at(0) + 32;                                    // M=..,Z=..
  if (name == "AdaEmbed") return 4 * D * (k.at(0) + k.at(1)) + 4 * k.at(0) + 16;  // hot=K,hashed=H
  if (name == "INT8" || name == "ALPT") return N * D + 4 * N;
  if (name == "INT16") return 2 * N * D + 4 * N;
  if (name == "QR" || name == "QRsum") {  // c=c_1/../c_F: rows_f = n_f or ceil(n_f / c_f) + c_f
    int64_t rows = 0;
    for (int64_t f = 0; f < F; ++f) {
      const int64_t n = in.field_offsets[f + 1] - in.field_offsets[f], c = k.at(f);
      rows += c == 0 ? n : (n + c - 1) / c + c;
    }
    return 4 * D * rows + 4 * F;
  }
  if (name == "DHE" || name == "DHElite") {  // k=..,L=..,w=..[,BN][,per-field]
    const int64_t kk = k.at(0), L = k.at(1), w = k.at(2);
    const int64_t G = knob.find("per-field") != std::string::npos ? F : 1;  // networks
    const int64_t bn = knob.find("BN") != std::string::npos ? 4 * L * w : 0;
    return 4 * G * (kk * w + w + (L - 1) * (w * w + w) + w * D + D + bn) + 16 * kk;
  }
  // A bitmap of hot rows with a rank directory: 8 ceil(N / 64) + 4 ceil(N / 512).
  const int64_t row_groups = 8 * ((N + 63) / 64) + 4 * ((N + 511) / 512);
  if (name == "DPQ") return 4 * (int64_t{1} << k.at(1)) * D + (N * k.at(0) * k.at(1) + 7) / 8;
  if (name == "MGQE") {  // M=..,nbits=..,tail_nbits=..,hot=K
    const int64_t M = k.at(0), nb = k.at(1), tb = k.at(2), K = k.at(3);
    return 4 * (int64_t{1} << nb) * D + (K * M * nb + 7) / 8 + ((N - K) * M * tb + 7) / 8 +
           row_groups;
  }
  if (name == "AutoDim") {  // dims=d_1/../d_F: 4 sum_f (n_f d_f + [d_f < D] d_f D) + 4 F
    int64_t b = 4 * F;
    for (int64_t f = 0; f < F; ++f) {
      const int64_t n = in.field_offsets[f + 1] - in.field_offsets[f], d = k.at(f);
      b += 4 * (n * d + (d < D ? d * D : 0));
    }
    return b;
  }
  if (name == "OptEmbed") {  // kept=k_1/../k_F,dims=d_1/../d_F
    int64_t b = row_groups + 4 * F;
    for (int64_t f = 0; f < F; ++f) b += 4 * k.at(f) * k.at(F + f);
    return b;
  }
  if (name == "AutoSrh") return 4 * k.at(0) + 8 * D + 2 * D + 4 + 16 + row_groups;  // floats=C
  if (name == "Dedup") return 4 * k.at(1) * k.at(0) * D + 4 * k.at(2) + 4;  // r, U, T blocks
  if (name == "DeepLight" || name == "PEP") {                               // nnz=K,format=csr|coo
    const int64_t K = k.at(0), cb = D <= 256 ? 1 : 2;
    return knob.find("format=csr") != std::string::npos ? 4 * (N + 1) + (4 + cb) * K : 8 * K;
  }
  if (name == "TT") {  // R=..,up=..,full=..,cached=..: the field shapes from tt_plan
    TtTableParams p;
    p.R = int(k.at(0));
    p.upgraded = int(k.at(1));
    p.full_fields = int(k.at(2));
    p.cached = k.at(3);
    int64_t floats = 0;
    for (const TtFieldLayout& L : tt_plan(in, p)) {
      if (L.full) {
        floats += L.n * D;
        continue;
      }
      const int64_t R = L.R;
      floats += L.nk[0] * L.dk[0] * R + L.nk[1] * L.dk[1] * R * R + L.nk[2] * L.dk[2] * R;
    }
    return 4 * floats + p.cached * (4 * D + 4);
  }
  if (name == "MDE") {  // alpha: d*_f = clamp(D p_f^alpha, 1, D) with p_f relative popularity
    // The knob prints alpha to 6 digits, which can move a block boundary m_f: NAME@B takes
    // the solver's exact alpha (the knob value), the formula below is this test's own.
    const double alpha =
        budget > 0 ? mde_solve_budget("MDE@x", in, budget * (4.0 * double(N) * double(D))).alpha
                   : std::stod(knob.substr(knob.find('=') + 1));
    std::vector<double> pop(F);
    for (int64_t f = 0; f < F; ++f) {
      double total = 0, distinct = 0;
      for (int64_t r = in.field_offsets[f]; r < in.field_offsets[f + 1]; ++r) {
        total += in.counts.at(r);
        distinct += in.counts[r] > 0;
      }
      pop[f] = total / distinct;
    }
    const double pmax = *std::max_element(pop.begin(), pop.end());
    int64_t floats = 0;
    for (int64_t f = 0; f < F; ++f) {
      const int64_t n = in.field_offsets[f + 1] - in.field_offsets[f];
      const double dstar = std::clamp(D * std::pow(pop[f] / pmax, alpha), 1.0, double(D));
      const int64_t lo = int64_t(dstar), m = lo >= D ? 0 : std::llround((dstar - lo) * n);
      auto block = [&](int64_t rows, int64_t d) { return rows * d + (d < D ? d * D : 0); };
      if (m > 0) floats += block(m, lo + 1);
      if (m < n) floats += block(n - m, lo);
    }
    return 4 * floats;
  }
  return -1;
}

/// The fraction of a 0.3 budget the method uses at least on layout(): 0.9, except the gaps
/// by design listed with their measured fraction (0.01 below it is allowed).
double min_used_at_03(const std::string& name) {
  // MGQE: the code widths are whole bits (M = 8 codes of 7 bits for hot ids, 2 bits fewer for
  // the tail); the next wider setting does not fit, measured 0.769 of 0.3 on layout().
  static const std::map<std::string, double> gaps = {{"MGQE", 0.769}};
  const auto it = gaps.find(name);
  return it == gaps.end() ? 0.9 : it->second - 0.01;
}

TEST(TableContractCoverage, EveryRegisteredMethodIsCovered) {
  const auto specs = contract_specs();
  for (const auto& m : table_methods())
    EXPECT_TRUE(
        std::any_of(specs.begin(), specs.end(),
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
  auto t = testing::make_final(spec, layout());
  EXPECT_EQ(t->spec(), spec);
  EXPECT_EQ(t->rows(), 2000);
  EXPECT_EQ(t->dim(), 8);
  size_t sum = 0;
  for (const auto& b : t->buffers()) sum += b.second;
  // Three counts that must agree: the formula (computed here), bytes(), buffers().
  const int64_t want =
      documented_bytes(name, t->knob(), layout(), spec.find('@') == std::string::npos ? 0.0 : 0.3);
  ASSERT_GE(want, 0) << "add " << name
                     << "'s bytes formula (docs/ctr_tables.md) to documented_bytes; knob "
                     << t->knob() << ", bytes " << t->bytes();
  EXPECT_EQ(t->bytes(), want) << spec << " knob " << t->knob();
  EXPECT_EQ(static_cast<int64_t>(sum), want) << "buffers() must be every counted array";
  if (spec.find('@') != std::string::npos) {
    EXPECT_FALSE(t->knob().empty());
    const double full = 4.0 * 2000 * 8;
    EXPECT_LE(double(t->bytes()), 0.3 * full) << t->knob();
    // At least 90% of the budget, except the fixed-width codes (by design, measured here):
    // INT8 and ALPT store 8-bit codes and a float per row, 8/32 + 1/D = 0.375 of fp32 at
    // D = 8, which is 1.25 of 0.3: they do not build at 0.3 at all (not in this list).
    const double used = double(t->bytes()) / (0.3 * full);
    // A searched table's size is the search's choice within the budget (it may use less:
    // the paper's choice is kept), so only the note is required of it below.
    if (!make_embedding_table(spec, layout())->searching()) {
      EXPECT_GE(used, min_used_at_03(name)) << spec << " knob " << t->knob() << " uses " << used;
    }
    EXPECT_EQ(t->budget_note().empty(), used >= 0.98) << spec << ": " << t->budget_note();
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
    for (size_t i = 0; i < out.size(); ++i)
      grad[i] = 2.0f * (out[i] - target[i]) / float(out.size());
    t.backward(ids.data(), int64_t(ids.size()), grad.data());
    t.step();
  }
  return {before, mse()};
}

TEST_P(TableContract, CheckpointThroughBuffersRestoresLookups) {
  auto t = testing::make_final(GetParam(), layout());
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
    if (!saved[b].empty()) std::memcpy(bufs[b].first, saved[b].data(), saved[b].size());
  }
  t->lookup(ids.data(), 2000, after.data());
  EXPECT_EQ(before, after);
}

TEST_P(TableContract, TrainingLowersTheLoss) {
  // During the search (if any) and on the final table.
  auto t = make_embedding_table(GetParam(), layout());
  const std::vector<int64_t> ids = {1, 7, 50, 250, 310, 900, 1500, 1998};
  const auto [before, after] = train(*t, ids, 60);
  EXPECT_LT(after, 0.7 * before) << GetParam();
  if (!make_embedding_table(GetParam(), layout())->searching()) return;
  auto f = testing::make_final(GetParam(), layout());
  const auto [f_before, f_after] = train(*f, ids, 60);
  EXPECT_LT(f_after, 0.7 * f_before) << GetParam() << " (final table)";
}

TEST_P(TableContract, SearchEndsAfterTheScheduleSteps) {
  TableInit init = layout();
  init.schedule_steps = 5;
  auto t = make_embedding_table(GetParam(), init);
  if (!t->searching()) return;  // no search phase: nothing to end
  const std::vector<int64_t> ids = {1, 7, 50, 250, 310, 900, 1500, 1998};
  train(*t, ids, 4);
  EXPECT_TRUE(t->searching()) << "ended before schedule_steps";
  const int64_t supernet = t->bytes();
  train(*t, ids, 1);
  EXPECT_FALSE(t->searching()) << "still searching after schedule_steps";
  if (GetParam().find('@') != std::string::npos) {
    EXPECT_LE(double(t->bytes()), 0.3 * 4.0 * 2000 * 8) << t->knob();
  }
  EXPECT_EQ(testing::buffers_total(*t), t->bytes());
  EXPECT_GT(supernet, 0);
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
