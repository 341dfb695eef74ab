#include <gtest/gtest.h>

#include "eval/bench.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(exit_code(e.kind()), 2) << e.message();
    return e.message();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

TEST(Registry, DefaultSpecsParseToThemselvesForCommonDimensions) {
  for (size_t d : {64, 96, 100, 128, 384, 768}) {
    for (const auto& spec : default_bench_specs(d)) {
      auto table = make_table(spec, 10000, d);
      EXPECT_EQ(table->spec(), spec) << "d=" << d;
    }
  }
}

TEST(Registry, DefaultBenchCoversEveryFamily) {
  auto specs = default_bench_specs(100);
  for (const auto* e : registered_methods()) {
    bool found = false;
    for (const auto& s : specs) {
      std::string first = s.substr(0, s.find(','));
      if (find_method(first).name == e->name) found = true;
    }
    EXPECT_TRUE(found) << e->name << " is not in the default bench";
  }
}

TEST(Registry, UnknownAndMalformedSpecs) {
  EXPECT_NE(error_of([] { check_spec("XYZ9"); }).find("unknown method 'XYZ9'"), std::string::npos);
  EXPECT_NE(error_of([] { check_spec("SQ8,PCA64"); }).find("is a codec"), std::string::npos);
  EXPECT_NE(error_of([] { check_spec(""); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([] { check_spec("PCA64,,SQ8"); }).find("empty component"), std::string::npos);
  EXPECT_NE(error_of([] { make_codec("SQ5", 16); }).find("nbits=5"), std::string::npos);
  EXPECT_NE(error_of([] { make_codec("PCA200", 100); }).find("d_out=200"), std::string::npos);
  EXPECT_NE(error_of([] { make_codec("PQ99999999999x8", 100); }).find("PQ99999999999x8"),
            std::string::npos);
}

TEST(Registry, TrailingTransformStoresFloat32) {
  auto codec = make_codec("PCA16", 32);
  EXPECT_EQ(codec->spec(), "PCA16");
  EXPECT_EQ(codec->code_size(), 16u * 4);
  EXPECT_EQ(make_codec("PCA16,Flat", 32)->spec(), "PCA16");
  EXPECT_EQ(make_codec("PCA16, SQ8", 32)->spec(), "PCA16,SQ8");
}

TEST(Registry, BudgetSpecsNeedATable) {
  EXPECT_NE(error_of([] { make_codec("PQ@0.1", 64); }).find("make_table"), std::string::npos);
  EXPECT_NE(error_of([] { check_spec("PCA16,PQ@0.1"); }).find("cannot be composed"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("SVD@0.0001", 30000, 100); }).find("cannot be met"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("SVD@0", 30000, 100); }).find("(0, 1)"), std::string::npos);
  EXPECT_NE(error_of([] { make_table("SVD@1.5", 30000, 100); }).find("(0, 1)"), std::string::npos);
  auto t = make_table("PQ@16x", 30000, 100);
  EXPECT_EQ(t->spec(), "PQ@16x");
  EXPECT_EQ(t->knob(), "M=25,nbits=7");
}

TEST(Registry, SplitMethods) {
  EXPECT_EQ(split_methods("SQ8; PQ25x8 ;PCA64,SQ8;"),
            (std::vector<std::string>{"SQ8", "PQ25x8", "PCA64,SQ8"}));
}

}  // namespace
}  // namespace embcomp
