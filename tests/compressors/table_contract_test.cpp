// The contract of every table compressor and every budget form (issue 3), parameterized
// over the registry:
//   budget honesty  total_bytes / (4 n d) <= budget and within 2% below it, or the record
//                   explains why (budget_note), at budgets 0.5, 0.25, 0.1, 0.05 where the
//                   method can reach them
//   monotonic       reconstruction MSE falls as the budget grows
//   random access   decode_rows(ids) equals the same rows of full decoding, bit for bit
//   error paths     budgets <= 0, >= 1 or unreachable; ids out of range; empty input
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "compressors/table_compressor.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

constexpr size_t kN = 2000;
constexpr size_t kD = 64;
const double kBudgets[] = {0.05, 0.1, 0.25, 0.5};

const FloatMatrix& table_data() {
  static const FloatMatrix x = testing::low_rank(kN, kD, 8, 0.05f, 11);
  return x;
}

double mse(const TableCompressor& t, const FloatMatrix& x) { return testing::table_mse(t, x); }

bool unreachable(const std::string& spec) {
  try {
    make_table(spec, kN, kD, 1234);
    return false;
  } catch (const Error& e) {
    if (e.message().find("cannot be met") != std::string::npos) return true;
    throw;
  }
}

std::vector<std::string> all_budget_heads() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods())
    for (const auto& h : budget_heads(*e)) out.push_back(h);
  return out;
}

/// Every table method's ladder specs plus every budget head at 0.25.
std::vector<std::string> table_specs() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods()) {
    if (e->kind == MethodKind::kTable)
      for (const auto& s : e->ladder(kD)) out.push_back(s);
    for (const auto& h : budget_heads(*e))
      out.push_back(h + (h == "RQ" || h == "OPQ+PQ" ? "@0.1" : "@0.25"));
  }
  return out;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class BudgetTest : public ::testing::TestWithParam<std::string> {};
class TableTest : public ::testing::TestWithParam<std::string> {};

/// The budgets a head is checked at. RQ and OPQ+PQ train a quantizer per stage or per
/// iteration: at 0.25 and 0.5 of this table they take minutes, so they are checked at the
/// two small budgets here (their knob solvers are the same at every budget).
std::vector<double> budgets_for(const std::string& head) {
  if (head == "RQ" || head == "OPQ+PQ") return {0.05, 0.1};
  return {std::begin(kBudgets), std::end(kBudgets)};
}

TEST_P(BudgetTest, HonestAndMonotonic) {
  const FloatMatrix& x = table_data();
  double prev_mse = 1e30;
  int reached = 0;
  for (double b : budgets_for(GetParam())) {
    const std::string spec = GetParam() + "@" + std::to_string(b);
    if (unreachable(spec)) continue;
    ++reached;
    auto t = make_table(spec, kN, kD, 1234);
    t->compress(x.view());
    t->finish_budget();
    const double actual = double(t->total_bytes()) / (4.0 * kN * kD);
    EXPECT_LE(actual, 1.02 * b) << spec;
    if (actual > b || actual < 0.98 * b) {
      EXPECT_FALSE(t->budget_note().empty()) << spec << ": actual " << actual << " needs a note";
    } else {
      EXPECT_TRUE(t->budget_note().empty()) << spec << ": " << t->budget_note();
    }
    const double m = mse(*t, x);
    EXPECT_LE(m, prev_mse * (1 + 1e-6)) << spec << ": a larger budget must not lose quality";
    prev_mse = m;
  }
  EXPECT_GT(reached, 0) << GetParam() << " reaches none of the budgets";
}

TEST_P(BudgetTest, RejectsBadBudgets) {
  for (const char* b : {"0", "-0.1", "1", "1.5", "0.5x", "abc", ""}) {
    EXPECT_THROW(make_table(GetParam() + "@" + b, kN, kD), Error) << b;
  }
  EXPECT_TRUE(unreachable(GetParam() + "@0.00001")) << "a tiny budget must be unreachable";
}

TEST_P(TableTest, DecodeRowsEqualsFullDecode) {
  const FloatMatrix& x = table_data();
  auto t = make_table(GetParam(), kN, kD, 1234);
  t->compress(x.view());
  EXPECT_EQ(t->n(), kN);
  std::vector<float> full(kN * kD);
  t->decode_range(0, kN, full.data());
  std::mt19937_64 rng(5);
  std::vector<int64_t> ids(300);
  for (auto& id : ids) id = int64_t(rng() % kN);
  ids[0] = 0;
  ids[1] = kN - 1;
  ids[2] = ids[3];  // repeats are fine
  std::vector<float> some(ids.size() * kD);
  t->decode_rows(ids.data(), ids.size(), some.data());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(std::memcmp(&some[i * kD], &full[size_t(ids[i]) * kD], kD * sizeof(float)), 0)
        << GetParam() << ": row " << ids[i];
  }
  std::vector<float> part(10 * kD);
  t->decode_range(1234, 10, part.data());
  EXPECT_EQ(std::memcmp(part.data(), &full[1234 * kD], part.size() * sizeof(float)), 0);
}

TEST_P(TableTest, ErrorPaths) {
  const FloatMatrix& x = table_data();
  auto t = make_table(GetParam(), kN, kD, 1234);
  EXPECT_THROW(t->compress({x.data(), 0, kD}), Error);
  FloatMatrix wrong(100, kD + 1);
  EXPECT_THROW(t->compress(wrong.view()), Error);
  t = make_table(GetParam(), kN, kD, 1234);
  t->compress(x.view());
  std::vector<float> out(kD);
  const int64_t bad[] = {int64_t(kN)}, neg[] = {-1};
  EXPECT_THROW(t->decode_rows(bad, 1, out.data()), Error);
  EXPECT_THROW(t->decode_rows(neg, 1, out.data()), Error);
  EXPECT_GT(t->total_bytes(), t->model_bytes());
}

INSTANTIATE_TEST_SUITE_P(Registry, BudgetTest, ::testing::ValuesIn(all_budget_heads()), param_name);
INSTANTIATE_TEST_SUITE_P(Registry, TableTest, ::testing::ValuesIn(table_specs()), param_name);

}  // namespace
}  // namespace embcomp
