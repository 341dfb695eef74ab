// SIF text embeddings: the tokenizer's known answers, p(w) and the SIF weights, the
// weighted average and the removed principal component on a hand-checked 2-d example,
// unit norms, determinism across thread counts, the text readers, `embcomp embed-text`,
// and a sanity check with the real GloVe words.
#include "eval/text_embed.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "eval/qrels.h"
#include "test_data.h"
#include "toolkit/commands.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp {
namespace {

using Strings = std::vector<std::string>;

double dot(const float* a, const double* b, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) s += double(a[j]) * b[j];
  return s;
}

double norm2(const float* a, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j) s += double(a[j]) * a[j];
  return s;
}

// ---- tokenizer ------------------------------------------------------------------------------

TEST(TextEmbed, TokenizerKnownAnswers) {
  EXPECT_EQ(tokenize("Time-Sharing (TSS), 1960's"),
            Strings({"time", "sharing", "tss", "1960", "s"}));
  EXPECT_EQ(tokenize("ABC123def\tx_y\nIBM/360"), Strings({"abc123def", "x", "y", "ibm", "360"}));
  EXPECT_EQ(tokenize(""), Strings{});
  EXPECT_EQ(tokenize(" ,.;--  "), Strings{});
  // Bytes of non-ASCII characters separate tokens (UTF-8 "É" and "ï" are two bytes each).
  EXPECT_EQ(tokenize("\xC3\x89"
                     "cole na\xC3\xAF"
                     "ve"),
            Strings({"cole", "na", "ve"}));
}

// ---- a hand-checked 2-d example -------------------------------------------------------------

/// Vocabulary: the=(1,0), cat=(0,1), dog=(1,1), bird=(0,2).
WordVectors tiny_vocab() {
  FloatMatrix x(4, 2);
  x.values = {1, 0, 0, 1, 1, 1, 0, 2};
  return make_word_vectors({"the", "cat", "dog", "bird"}, std::move(x));
}

TEST(TextEmbed, WordProbabilitiesAndSifWeights) {
  WordVectors v = tiny_vocab();
  SifEncoder enc(v, SifParams{});
  // 7 tokens: the x3, cat x2, dog x1, zebra x1 (out of vocabulary, but counted in N).
  enc.train({"The cat, the dog.", "the CAT zebra"});
  EXPECT_DOUBLE_EQ(enc.probability("the"), 3.0 / 7);
  EXPECT_DOUBLE_EQ(enc.probability("cat"), 2.0 / 7);
  EXPECT_DOUBLE_EQ(enc.probability("bird"), 0.0);  // not in the corpus
  EXPECT_DOUBLE_EQ(enc.weight("the"), 1e-3 / (1e-3 + 3.0 / 7));
  EXPECT_DOUBLE_EQ(enc.weight("dog"), 1e-3 / (1e-3 + 1.0 / 7));
  EXPECT_DOUBLE_EQ(enc.weight("bird"), 1.0);
  // Frequent words weigh less.
  EXPECT_LT(enc.weight("the"), enc.weight("cat"));
  EXPECT_LT(enc.weight("cat"), enc.weight("dog"));
}

TEST(TextEmbed, WeightedAverageKnownAnswer) {
  WordVectors v = tiny_vocab();
  SifParams p;
  p.a = 1.0;
  p.rmpc = 0;
  SifEncoder enc(v, p);
  enc.train({"the cat", "the dog"});
  // N = 4: p(the) = 1/2, p(cat) = p(dog) = 1/4; w = 1/(1+p): 2/3, 4/5, 4/5.
  SifStats st;
  FloatMatrix avg = enc.weighted_average({"the cat", "the dog", "zebra", "bird bird"}, &st);
  EXPECT_FLOAT_EQ(avg.row(0)[0], float((2.0 / 3) / 2));
  EXPECT_FLOAT_EQ(avg.row(0)[1], float(0.8 / 2));
  EXPECT_FLOAT_EQ(avg.row(1)[0], float((2.0 / 3 + 0.8) / 2));
  EXPECT_FLOAT_EQ(avg.row(1)[1], float(0.8 / 2));
  EXPECT_EQ(avg.row(2)[0], 0.0f);  // no in-vocabulary token
  EXPECT_EQ(avg.row(2)[1], 0.0f);
  EXPECT_FLOAT_EQ(avg.row(3)[1], 2.0f);  // weight 1 (p = 0), mean of two (0,2)
  EXPECT_EQ(st.texts, 4u);
  EXPECT_EQ(st.tokens, 7u);
  EXPECT_EQ(st.in_vocab_tokens, 6u);
  EXPECT_EQ(st.empty_texts, 1u);
  // rmpc = 0: apply() only normalizes.
  FloatMatrix out = enc.apply({"the cat"});
  const double n = std::hypot(1.0 / 3, 0.4);
  EXPECT_FLOAT_EQ(out.row(0)[0], float((1.0 / 3) / n));
  EXPECT_FLOAT_EQ(out.row(0)[1], float(0.4 / n));
}

TEST(TextEmbed, FirstPrincipalComponentIsRemoved) {
  WordVectors v = tiny_vocab();
  SifParams p;
  p.a = 1.0;
  SifEncoder enc(v, p);
  const Strings docs = {"the cat", "the dog"};
  enc.train(docs);
  // X rows (1/3, 0.4) and (11/15, 0.4); u = top eigenvector of X^T X, closed form in 2-d.
  const double x0 = 1.0 / 3, x1 = 11.0 / 15, y = 0.4;
  const double g11 = x0 * x0 + x1 * x1, g12 = (x0 + x1) * y, g22 = 2 * y * y;
  const double lambda = (g11 + g22) / 2 + std::sqrt((g11 - g22) * (g11 - g22) / 4 + g12 * g12);
  double ux = g12, uy = lambda - g11;
  const double un = std::hypot(ux, uy);
  ux /= un;
  uy /= un;
  ASSERT_EQ(enc.components().size(), 2u);
  const double* u = enc.components().data();
  // Sign convention: the largest |entry| is positive. Tolerance: the rows v_s the encoder
  // decomposes are stored as float (rounding ~3e-8), the expected value is exact.
  EXPECT_NEAR(u[0], ux, 1e-7);
  EXPECT_NEAR(u[1], uy, 1e-7);
  // Documents and queries lose their component along u and have unit norm; in 2-d what is
  // left is +-(the second eigenvector).
  FloatMatrix out = enc.apply({"the cat", "the dog", "cat", "bird", "zebra"});
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(dot(out.row(i), u, 2), 0.0, 1e-6) << i;
    EXPECT_NEAR(norm2(out.row(i), 2), 1.0, 1e-6) << i;
    EXPECT_NEAR(std::fabs(out.row(i)[0] * uy - out.row(i)[1] * ux), 1.0, 1e-6) << i;
  }
  EXPECT_EQ(norm2(out.row(4), 2), 0.0);  // nothing in vocabulary stays zero
}

TEST(TextEmbed, ParamsAndInputErrors) {
  WordVectors v = tiny_vocab();
  SifParams p;
  p.a = 0;
  EXPECT_THROW(SifEncoder(v, p), Error);
  p.a = std::nan("");
  EXPECT_THROW(SifEncoder(v, p), Error);
  p = SifParams{};
  p.rmpc = 3;  // d = 2
  EXPECT_THROW(SifEncoder(v, p), Error);
  SifEncoder enc(v, SifParams{});
  EXPECT_THROW(enc.apply({"the"}), Error);  // before train()
  try {
    enc.train({"zebra lion", "42"});
    ADD_FAILURE() << "trained without a vocabulary word";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(e.message().find("has a word of the vocabulary"), std::string::npos) << e.message();
  }
  EXPECT_THROW(enc.train({}), Error);
  FloatMatrix x(2, 2);
  EXPECT_THROW(make_word_vectors({"a", "a"}, x), Error);
  EXPECT_THROW(make_word_vectors({"a"}, x), Error);
}

// ---- a larger synthetic corpus --------------------------------------------------------------

struct Synthetic {
  WordVectors vocab;
  Strings docs, queries;
};

/// 300 words with low-rank 16-d vectors; 5,000 documents (two Gram blocks) and 50 queries
/// of Zipf-distributed words, some with out-of-vocabulary tokens. Seeded.
Synthetic synthetic() {
  Synthetic s;
  Strings words;
  for (int i = 0; i < 300; ++i) words.push_back("w" + std::to_string(i));
  s.vocab = make_word_vectors(words, testing::low_rank(300, 16, 4, 0.3f, 7));
  std::mt19937_64 rng(11);
  std::vector<double> zipf(300);
  for (int i = 0; i < 300; ++i) zipf[i] = 1.0 / (i + 1);
  std::discrete_distribution<int> pick(zipf.begin(), zipf.end());
  auto text = [&](int len) {
    std::string t;
    for (int j = 0; j < len; ++j)
      t += (rng() % 17 == 0 ? "oov" : "W") + std::to_string(pick(rng)) + " ";
    return t;
  };
  for (int i = 0; i < 5000; ++i) s.docs.push_back(text(3 + int(rng() % 30)));
  for (int i = 0; i < 50; ++i) s.queries.push_back(text(2 + int(rng() % 5)));
  return s;
}

TEST(TextEmbed, DeterministicAcrossRunsAndThreadCounts) {
  const Synthetic s = synthetic();
  auto run = [&](int threads) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    SifEncoder enc(s.vocab, SifParams{});
    enc.train(s.docs);
    FloatMatrix a = enc.apply(s.docs), b = enc.apply(s.queries);
    omp_set_num_threads(saved);
    a.values.insert(a.values.end(), b.values.begin(), b.values.end());
    return a.values;
  };
  const std::vector<float> one = run(1);
  const std::vector<float> again = run(1);
  const std::vector<float> two = run(2);
  ASSERT_EQ(one.size(), again.size());
  EXPECT_EQ(std::memcmp(one.data(), again.data(), one.size() * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0);
}

TEST(TextEmbed, RowsAreUnitAndOrthogonalToTheComponents) {
  const Synthetic s = synthetic();
  SifParams p;
  p.rmpc = 2;
  SifEncoder enc(s.vocab, p);
  enc.train(s.docs);
  ASSERT_EQ(enc.components().size(), 2u * 16);
  const double* u = enc.components().data();
  EXPECT_NEAR(dot(std::vector<float>(u, u + 16).data(), u + 16, 16), 0.0, 1e-6);  // orthogonal
  for (const Strings* texts : {&s.docs, &s.queries}) {
    FloatMatrix x = enc.apply(*texts);
    for (size_t i = 0; i < x.n; ++i) {
      EXPECT_NEAR(norm2(x.row(i), 16), 1.0, 1e-5) << i;
      EXPECT_NEAR(dot(x.row(i), u, 16), 0.0, 1e-5) << i;
      EXPECT_NEAR(dot(x.row(i), u + 16, 16), 0.0, 1e-5) << i;
    }
  }
  // The first component is the top eigenvector: X^T X u = lambda u with the largest lambda,
  // checked against the Rayleigh quotient of the second.
  FloatMatrix v = enc.weighted_average(s.docs);
  auto rayleigh = [&](const double* w) {
    double r = 0;
    for (size_t i = 0; i < v.n; ++i) r += dot(v.row(i), w, 16) * dot(v.row(i), w, 16);
    return r;
  };
  EXPECT_GT(rayleigh(u), rayleigh(u + 16));
  std::mt19937 rng(3);
  std::normal_distribution<double> g;
  for (int t = 0; t < 20; ++t) {  // no random unit direction beats it
    std::vector<double> w(16);
    double n = 0;
    for (double& e : w) {
      e = g(rng);
      n += e * e;
    }
    for (double& e : w) e /= std::sqrt(n);
    EXPECT_LE(rayleigh(w.data()), rayleigh(u) * (1 + 1e-9));
  }
}

// ---- with the real GloVe words --------------------------------------------------------------

TEST(TextEmbed, GloveSentencesOnTheSameTopicAreCloser) {
  const std::string g = data_dir() + "/glove-100-30k/";
  WordVectors v = load_word_vectors({g + "base_words.txt", g + "query_words.txt"},
                                    {g + "base.fvecs", g + "query.fvecs"});
  EXPECT_EQ(v.words.size(), 31000u);
  EXPECT_EQ(v.find("the"), 0);  // GloVe's most frequent word, first base row
  std::ifstream qw(g + "query_words.txt");
  std::string first_query_word;
  std::getline(qw, first_query_word);
  EXPECT_EQ(v.find(first_query_word), 30000);  // the query words come after the base words
  const Strings docs = {
      "Compilers translate programming languages into machine code.",
      "The parser of a compiler checks the syntax of the program.",
      "Bake the pasta with tomato sauce and cheese in the oven.",
      "A recipe for bread: flour, water, salt and yeast.",
      "Operating systems schedule processes and manage memory.",
      "Paging and virtual memory in time sharing systems.",
  };
  SifEncoder enc(v, SifParams{});
  enc.train(docs);
  FloatMatrix x = enc.apply(docs);
  FloatMatrix q = enc.apply({"compiler design for programming languages", "cooking pasta dinner"});
  auto cos = [&](size_t qi, size_t di) {
    double s = 0;
    for (size_t j = 0; j < x.d; ++j) s += double(q.row(qi)[j]) * x.row(di)[j];
    return s;
  };
  EXPECT_GT(cos(0, 0), cos(0, 2));
  EXPECT_GT(cos(0, 1), cos(0, 3));
  EXPECT_GT(cos(1, 2), cos(1, 0));
  EXPECT_GT(cos(1, 2), cos(1, 4));
}

// ---- readers --------------------------------------------------------------------------------

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.message();
  }
  return "";
}

TEST(TextEmbed, ReadsTsvAndFolders) {
  const std::string dir = testing::temp_dir("TextEmbedReaders");
  write_file(dir + "/d.tsv", "a\tfirst text\tstill first\r\nb\t\nc\tthird\n");
  TextCollection c = read_text_collection(dir + "/d.tsv");
  EXPECT_EQ(c.ids, Strings({"a", "b", "c"}));
  EXPECT_EQ(c.texts, Strings({"first text\tstill first", "", "third"}));
  std::filesystem::create_directories(dir + "/f/sub");
  write_file(dir + "/f/b.txt", "bee");
  write_file(dir + "/f/a.html", "<p>ay</p>");
  write_file(dir + "/f/.hidden", "no");
  c = read_text_collection(dir + "/f");
  EXPECT_EQ(c.ids, Strings({"a", "b"}));
  EXPECT_EQ(c.texts, Strings({"<p>ay</p>", "bee"}));
}

TEST(TextEmbed, ReaderErrorsNameTheLine) {
  const std::string dir = testing::temp_dir("TextEmbedReaderErrors");
  auto msg = [&](const std::string& text) {
    write_file(dir + "/d.tsv", text);
    return error_of([&] { read_text_collection(dir + "/d.tsv"); });
  };
  EXPECT_NE(msg("a\tx\n\nb\ty\n").find("d.tsv line 2: empty line"), std::string::npos);
  EXPECT_NE(msg("a\tx\nb y\n").find("d.tsv line 2: no tab"), std::string::npos);
  EXPECT_NE(msg("a\tx\na\ty\n").find("d.tsv line 2: id 'a' already used at"), std::string::npos);
  EXPECT_NE(msg("a b\tx\n").find("line 1: id 'a b' contains whitespace"), std::string::npos);
  EXPECT_NE(msg("\tx\n").find("line 1: empty id"), std::string::npos);
  EXPECT_NE(msg("").find("no texts"), std::string::npos);
  EXPECT_NE(error_of([&] { read_text_collection(dir + "/none.tsv"); }).find("no such file"),
            std::string::npos);
  std::filesystem::create_directories(dir + "/f");
  write_file(dir + "/f/x.txt", "1");
  write_file(dir + "/f/x.md", "2");
  EXPECT_NE(error_of([&] { read_text_collection(dir + "/f"); }).find("id 'x' already used"),
            std::string::npos);
}

TEST(TextEmbed, WordVectorFilesAreCheckedAndMerged) {
  const std::string dir = testing::temp_dir("TextEmbedWordFiles");
  FloatMatrix a(2, 3), b(1, 3), c(1, 4);
  a.values = {1, 2, 3, 4, 5, 6};
  b.values = {7, 8, 9};
  c.values = {1, 1, 1, 1};
  write_fvecs(dir + "/a.fvecs", a.view());
  write_fvecs(dir + "/b.fvecs", b.view());
  write_fvecs(dir + "/c.fvecs", c.view());
  write_file(dir + "/a.txt", "x\ny\n");
  write_file(dir + "/b.txt", "z\n");
  write_file(dir + "/by.txt", "y\n");
  write_file(dir + "/three.txt", "p\nq\nr\n");
  WordVectors v =
      load_word_vectors({dir + "/a.txt", dir + "/b.txt"}, {dir + "/a.fvecs", dir + "/b.fvecs"});
  EXPECT_EQ(v.words, Strings({"x", "y", "z"}));
  EXPECT_EQ(v.find("z"), 2);
  EXPECT_EQ(v.find("w"), -1);
  EXPECT_EQ(v.x.row(2)[1], 8.0f);
  EXPECT_NE(error_of([&] {
              load_word_vectors({dir + "/three.txt"}, {dir + "/a.fvecs"});
            }).find("has 3 words but"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] {
        load_word_vectors({dir + "/a.txt", dir + "/by.txt"}, {dir + "/a.fvecs", dir + "/b.fvecs"});
      }).find("by.txt line 1: word 'y' is already in"),
      std::string::npos);
  EXPECT_NE(
      error_of([&] {
        load_word_vectors({dir + "/a.txt", dir + "/b.txt"}, {dir + "/a.fvecs", dir + "/c.fvecs"});
      }).find("has d=4"),
      std::string::npos);
  EXPECT_THROW(load_word_vectors({dir + "/a.txt"}, {}), Error);
}

// ---- embcomp embed-text ---------------------------------------------------------------------

int call(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return cmd_embed_text(int(args.size()), argv.data());
}

using embcomp::testing::slurp;

class TextEmbedCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    FloatMatrix a(3, 2), b(1, 2);
    a.values = {1, 0, 0, 1, 1, 1};
    b.values = {0, 2};
    write_fvecs(dir_ + "/a.fvecs", a.view());
    write_fvecs(dir_ + "/b.fvecs", b.view());
    write_file(dir_ + "/a.txt", "the\ncat\ndog\n");
    write_file(dir_ + "/b.txt", "bird\n");
    write_file(dir_ + "/docs.tsv", "d1\tThe cat.\nd2\tthe dog\nd3\tA bird, a cat\n");
    write_file(dir_ + "/q.tsv", "q1\tcat\nq2\tbird dog\n");
  }
  Strings args(const std::string& tag) {
    return {"embed-text",
            "--words",
            dir_ + "/a.txt",
            "--vectors",
            dir_ + "/a.fvecs",
            "--words",
            dir_ + "/b.txt",
            "--vectors",
            dir_ + "/b.fvecs",
            "--docs",
            dir_ + "/docs.tsv",
            "--out",
            dir_ + "/c" + tag + ".fvecs",
            "--ids-out",
            dir_ + "/c" + tag + ".txt",
            "--queries",
            dir_ + "/q.tsv",
            "--queries-out",
            dir_ + "/q" + tag + ".fvecs",
            "--query-ids-out",
            dir_ + "/q" + tag + ".txt",
            "--quiet"};
  }
  std::string dir_;
};

TEST_F(TextEmbedCommand, WritesVectorsAndIdsLikeTheLibrary) {
  ASSERT_EQ(call(args("1")), 0);
  FloatMatrix c = read_floats(dir_ + "/c1.fvecs"), q = read_floats(dir_ + "/q1.fvecs");
  EXPECT_EQ(c.n, 3u);
  EXPECT_EQ(c.d, 2u);
  EXPECT_EQ(q.n, 2u);
  EXPECT_EQ(read_ids_file(dir_ + "/c1.txt"), Strings({"d1", "d2", "d3"}));
  EXPECT_EQ(read_ids_file(dir_ + "/q1.txt"), Strings({"q1", "q2"}));
  WordVectors v =
      load_word_vectors({dir_ + "/a.txt", dir_ + "/b.txt"}, {dir_ + "/a.fvecs", dir_ + "/b.fvecs"});
  SifEncoder enc(v, SifParams{});
  enc.train({"The cat.", "the dog", "A bird, a cat"});
  FloatMatrix want_c = enc.apply({"The cat.", "the dog", "A bird, a cat"});
  FloatMatrix want_q = enc.apply({"cat", "bird dog"});
  EXPECT_EQ(c.values, want_c.values);
  EXPECT_EQ(q.values, want_q.values);
  // Deterministic: a second run writes the same bytes.
  ASSERT_EQ(call(args("2")), 0);
  EXPECT_EQ(slurp(dir_ + "/c1.fvecs"), slurp(dir_ + "/c2.fvecs"));
  EXPECT_EQ(slurp(dir_ + "/q1.fvecs"), slurp(dir_ + "/q2.fvecs"));
}

TEST_F(TextEmbedCommand, BadInputWritesNothing) {
  auto kind_of = [&](Strings a) {
    try {
      call(a);
    } catch (const Error& e) {
      return int(e.kind());
    }
    return -1;
  };
  Strings a = args("x");
  a.erase(a.begin() + 7, a.begin() + 9);  // the second --vectors
  EXPECT_EQ(kind_of(a), int(ErrorKind::kUsage));
  a = args("x");
  a.erase(a.begin() + 15, a.begin() + 17);  // --queries without it, but with its outputs
  EXPECT_EQ(kind_of(a), int(ErrorKind::kUsage));
  write_file(dir_ + "/bad.tsv", "d1\tok\nd2 no tab\n");
  a = args("x");
  a[10] = dir_ + "/bad.tsv";
  EXPECT_EQ(kind_of(a), int(ErrorKind::kBadInput));
  a = args("x");
  a[12] = dir_ + "/missing/c.fvecs";
  EXPECT_EQ(kind_of(a), int(ErrorKind::kBadInput));
  a = args("x");
  a[12] = dir_ + "/c.txt";  // not a vector format
  EXPECT_NE(kind_of(a), -1);
  for (const char* f : {"/cx.fvecs", "/cx.txt", "/qx.fvecs", "/qx.txt"})
    EXPECT_FALSE(std::filesystem::exists(dir_ + f)) << f;
  for (const auto& e : std::filesystem::directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

}  // namespace
}  // namespace embcomp
