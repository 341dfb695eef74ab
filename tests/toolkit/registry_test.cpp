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
  // The list of known grammars names each once (it said "Dedup@{budget}, Dedup@{budget}").
  const std::string known = error_of([] { check_spec("XYZ9"); });
  for (const char* g : {"Dedup@{budget}", "Prune@{budget}", "SQ@{budget}"})
    EXPECT_EQ(known.find(g), known.rfind(g)) << g << " twice in: " << known;
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

TEST(Registry, IntegerArgumentsAreWholeNumbers) {
  // reliability #1: std::stol read "10'$(touch X)'" as 10, which then reached a shell.
  EXPECT_EQ(parse_int_arg("s", "10", "K", 1, 1000), 10);
  EXPECT_EQ(parse_int_arg("s", "-3", "K", -5, 5), -3);
  for (const char* bad : {"10xyz", "10'$(touch X)'", " 10", "10 ", "+10", "", "1e3", "0x10", "-"})
    EXPECT_NE(error_of([&] { parse_int_arg("s", bad, "K", 1, 1000); }).find("is not an integer"),
              std::string::npos)
        << "'" << bad << "'";
  EXPECT_NE(error_of([] {
              parse_int_arg("s", "99999999999999999999", "K", 1, 1000);
            }).find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of([] { parse_int_list("s", "8-7x", "nbits", 1, 16); }).find("not an integer"),
            std::string::npos);
}

TEST(Registry, LongSpecsAreRefusedBeforeTheRegex) {
  // reliability #7: std::regex recursed once per character and overflowed the stack at
  // about 32,000 characters.
  const std::string digits = "PQ" + std::string(40000, '1') + "x8";
  const std::string msg = error_of([&] { check_spec(digits); });
  EXPECT_NE(msg.find("longer than the limit"), std::string::npos) << msg.substr(0, 200);
  EXPECT_LT(msg.size(), 300u) << "the message does not echo the whole spec";
  EXPECT_NE(error_of([&] { make_table(digits, 100, 16); }).find("longer than the limit"),
            std::string::npos);
  EXPECT_NE(error_of([&] { find_method(digits); }).find("longer than the limit"),
            std::string::npos);
  const std::string list = "MGPQ2x" + std::string(20000, '8') + "-8_M4";
  EXPECT_NE(error_of([&] { check_spec(list); }).find("longer than the limit"), std::string::npos);
  EXPECT_NO_THROW(check_spec("MGPQ16x8-8-8-8-8-8-8-8-8-8-8-8-8-8-8-8_M4"));
}

TEST(Registry, BlanksInsideAComponentAreRefused) {
  // reliability #28: "SQ 8" was read as SQ8.
  for (const char* bad : {"SQ 8", "PQ4 x8", "PCA16,SQ\t8", "S Q8"})
    EXPECT_NE(error_of([&] { check_spec(bad); }).find("contains a blank"), std::string::npos)
        << bad;
  EXPECT_NE(error_of([] { make_table("SQ 8", 100, 16); }).find("contains a blank"),
            std::string::npos);
  // Blanks around components are still fine.
  EXPECT_EQ(make_table(" SQ8 ", 100, 16)->spec(), "SQ8");
  EXPECT_EQ(make_table(" SQ@4x", 1000, 16)->spec(), "SQ@4x");
  EXPECT_EQ(make_codec("PCA8 , SQ8", 16)->spec(), "PCA8,SQ8");
}

TEST(Registry, SplitMethods) {
  EXPECT_EQ(split_methods("SQ8; PQ25x8 ;PCA64,SQ8;"),
            (std::vector<std::string>{"SQ8", "PQ25x8", "PCA64,SQ8"}));
}

}  // namespace
}  // namespace embcomp
