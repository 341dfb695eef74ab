#include "eval/text_embed.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "eval/qrels.h"
#include "toolkit/error.h"
#include "toolkit/io.h"

// LAPACK's double-precision symmetric eigensolver. toolkit/blas.h wraps only the float
// routines; the Gram matrix here is accumulated and decomposed in double.
extern "C" void dsyev_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda,
                       double* w, double* work, const int* lwork, int* info);

namespace embcomp {

namespace {

bool is_token_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// Rows of the Gram matrix accumulated per block; blocks are fixed by row index, never by
/// thread, and summed in block order, so the result does not depend on the thread count.
constexpr size_t kGramBlockRows = 4096;
/// Blocks computed at once (bounds the memory of the partial sums: kGramBlocks * d * d).
constexpr size_t kGramBlocks = 16;

/// G = X^T X (d x d, double, both triangles filled), X: n x d floats.
std::vector<double> gram(const FloatMatrix& x) {
  const size_t d = x.d;
  std::vector<double> g(checked_mul(d, d), 0.0);
  const size_t nblocks = (x.n + kGramBlockRows - 1) / kGramBlockRows;
  std::vector<double> part(checked_mul(kGramBlocks, d * d));
  for (size_t b0 = 0; b0 < nblocks; b0 += kGramBlocks) {
    const size_t nb = std::min(kGramBlocks, nblocks - b0);
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t b = 0; b < nb; ++b) {
      double* p = part.data() + b * d * d;
      std::fill(p, p + d * d, 0.0);
      const size_t r0 = (b0 + b) * kGramBlockRows, r1 = std::min(x.n, r0 + kGramBlockRows);
      for (size_t r = r0; r < r1; ++r) {
        const float* v = x.row(r);
        for (size_t i = 0; i < d; ++i) {
          const double vi = v[i];
          if (vi == 0.0) continue;
          for (size_t j = i; j < d; ++j) p[i * d + j] += vi * v[j];
        }
      }
    }
    for (size_t b = 0; b < nb; ++b)
      for (size_t t = 0; t < d * d; ++t) g[t] += part[b * d * d + t];
  }
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < i; ++j) g[i * d + j] = g[j * d + i];
  return g;
}

/// The top r eigenvectors of the symmetric d x d matrix g, largest eigenvalue first, as
/// rows of an r x d matrix; each sign is fixed so that its largest |entry| is positive.
std::vector<double> top_eigenvectors(std::vector<double> g, size_t d, size_t r) {
  EC_CHECK(d < size_t(INT_MAX), kRuntime, "d=" << d << " exceeds LAPACK's int range");
  const int n = int(d);
  std::vector<double> w(d);
  int info = 0, lwork = -1;
  double wq = 0;
  dsyev_("V", "U", &n, g.data(), &n, w.data(), &wq, &lwork, &info);
  lwork = std::max(1, int(wq));
  std::vector<double> work(static_cast<size_t>(lwork));
  dsyev_("V", "U", &n, g.data(), &n, w.data(), work.data(), &lwork, &info);
  EC_CHECK(info == 0, kRuntime, "LAPACK dsyev failed, info=" << info);
  // Eigenvalues ascend; eigenvector j is column j of the column-major result, i.e. the
  // contiguous d values starting at g[j * d].
  std::vector<double> u(r * d);
  for (size_t c = 0; c < r; ++c) {
    const double* col = g.data() + (d - 1 - c) * d;
    size_t imax = 0;
    for (size_t i = 1; i < d; ++i)
      if (std::fabs(col[i]) > std::fabs(col[imax])) imax = i;
    const double sign = col[imax] < 0 ? -1.0 : 1.0;
    for (size_t i = 0; i < d; ++i) u[c * d + i] = sign * col[i];
  }
  return u;
}

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  EC_CHECK(in.is_open(), kBadInput, p.string() << ": cannot open: " << std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  EC_CHECK(!in.bad(), kBadInput, p.string() << ": read error");
  return ss.str();
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text) {
  std::vector<std::string> tokens;
  std::string cur;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (is_token_char(c)) {
      cur += (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : char(c);
    } else if (!cur.empty()) {
      tokens.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) tokens.push_back(std::move(cur));
  return tokens;
}

int64_t WordVectors::find(const std::string& word) const {
  auto it = index.find(word);
  return it == index.end() ? -1 : int64_t(it->second);
}

WordVectors make_word_vectors(std::vector<std::string> words, FloatMatrix x) {
  EC_CHECK(words.size() == x.n, kBadInput, words.size() << " words but " << x.n << " word vectors");
  EC_CHECK(x.n > 0 && x.d > 0, kBadInput, "empty vocabulary");
  EC_CHECK(x.n < size_t(UINT32_MAX), kBadInput, "vocabulary of " << x.n << " words is too large");
  WordVectors wv;
  wv.index.reserve(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    auto [it, fresh] = wv.index.emplace(words[i], uint32_t(i));
    EC_CHECK(fresh, kBadInput,
             "word '" << words[i] << "' occurs twice in the vocabulary (rows " << it->second
                      << " and " << i << ")");
  }
  wv.words = std::move(words);
  wv.x = std::move(x);
  return wv;
}

WordVectors load_word_vectors(const std::vector<std::string>& words_files,
                              const std::vector<std::string>& vector_files) {
  EC_CHECK(!words_files.empty(), kUsage, "no words file given");
  EC_CHECK(words_files.size() == vector_files.size(), kUsage,
           words_files.size() << " words files but " << vector_files.size()
                              << " vectors files: give them in pairs");
  std::vector<std::string> words;
  FloatMatrix x;
  std::unordered_map<std::string, std::string> origin;  // word -> "file line N"
  for (size_t f = 0; f < words_files.size(); ++f) {
    std::vector<std::string> w = read_ids_file(words_files[f]);
    FloatMatrix v = read_floats(vector_files[f]);
    EC_CHECK(w.size() == v.n, kBadInput,
             words_files[f] << " has " << w.size() << " words but " << vector_files[f] << " has "
                            << v.n << " rows");
    if (f == 0) {
      x.d = v.d;
    } else {
      EC_CHECK(
          v.d == x.d, kBadInput,
          vector_files[f] << " has d=" << v.d << " but " << vector_files[0] << " has d=" << x.d);
    }
    for (size_t i = 0; i < w.size(); ++i) {
      std::string where = words_files[f] + " line " + std::to_string(i + 1);
      auto [it, fresh] = origin.emplace(w[i], where);
      EC_CHECK(fresh, kBadInput, where << ": word '" << w[i] << "' is already in " << it->second);
    }
    words.insert(words.end(), w.begin(), w.end());
    x.values.insert(x.values.end(), v.values.begin(), v.values.end());
    x.n += v.n;
  }
  return make_word_vectors(std::move(words), std::move(x));
}

void SifParams::validate(size_t d) const {
  EC_CHECK(std::isfinite(a) && a > 0, kBadInput, "SIF a=" << a << " must be a positive number");
  EC_CHECK(rmpc <= d, kBadInput, "SIF rmpc=" << rmpc << " exceeds the dimension d=" << d);
}

SifEncoder::SifEncoder(const WordVectors& vocab, SifParams params)
    : vocab_(vocab), params_(params) {
  params_.validate(vocab_.x.d);
  weight_.assign(vocab_.words.size(), 1.0);
  count_.assign(vocab_.words.size(), 0);
}

void SifEncoder::train(const std::vector<std::string>& docs) {
  EC_CHECK(!docs.empty(), kBadInput, "SIF: no documents to train on");
  std::fill(count_.begin(), count_.end(), 0);
  total_tokens_ = 0;
  for (const auto& doc : docs) {
    for (const auto& t : tokenize(doc)) {
      ++total_tokens_;
      const int64_t row = vocab_.find(t);
      if (row >= 0) ++count_[size_t(row)];
    }
  }
  for (size_t i = 0; i < weight_.size(); ++i) {
    const double p = total_tokens_ ? double(count_[i]) / double(total_tokens_) : 0.0;
    weight_[i] = params_.a / (params_.a + p);
  }
  components_.clear();
  trained_ = true;  // weighted_average needs the weights
  SifStats stats;
  const FloatMatrix v = weighted_average(docs, &stats);
  EC_CHECK(stats.in_vocab_tokens > 0, kBadInput,
           "SIF: none of the " << docs.size() << " documents (" << stats.tokens
                               << " tokens) has a word of the vocabulary");
  if (params_.rmpc > 0) components_ = top_eigenvectors(gram(v), v.d, params_.rmpc);
}

FloatMatrix SifEncoder::weighted_average(const std::vector<std::string>& texts,
                                         SifStats* stats) const {
  EC_CHECK(trained_, kRuntime, "SifEncoder used before train()");
  const size_t d = vocab_.x.d;
  FloatMatrix out(texts.size(), d);
  std::vector<size_t> tokens(texts.size()), in_vocab(texts.size());
  OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic, 64)
  for (size_t i = 0; i < texts.size(); ++i) {
    guard.run([&] {
      std::vector<double> acc(d, 0.0);
      const std::vector<std::string> toks = tokenize(texts[i]);
      size_t used = 0;
      for (const auto& t : toks) {
        const int64_t row = vocab_.find(t);
        if (row < 0) continue;
        ++used;
        const double w = weight_[size_t(row)];
        const float* v = vocab_.x.row(size_t(row));
        for (size_t j = 0; j < d; ++j) acc[j] += w * v[j];
      }
      float* o = out.row(i);
      for (size_t j = 0; j < d; ++j) o[j] = used ? float(acc[j] / double(used)) : 0.0f;
      tokens[i] = toks.size();
      in_vocab[i] = used;
    });
  }
  guard.rethrow();
  if (stats) {
    *stats = SifStats{};
    stats->texts = texts.size();
    for (size_t i = 0; i < texts.size(); ++i) {
      stats->tokens += tokens[i];
      stats->in_vocab_tokens += in_vocab[i];
      stats->empty_texts += in_vocab[i] == 0;
    }
  }
  return out;
}

FloatMatrix SifEncoder::apply(const std::vector<std::string>& texts, SifStats* stats) const {
  FloatMatrix x = weighted_average(texts, stats);
  const size_t d = x.d, r = components_.size() / std::max<size_t>(d, 1);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < x.n; ++i) {
    float* xi = x.row(i);
    std::vector<double> v(xi, xi + d);
    for (size_t c = 0; c < r; ++c) {
      const double* u = components_.data() + c * d;
      double dot = 0;
      for (size_t j = 0; j < d; ++j) dot += u[j] * double(xi[j]);
      for (size_t j = 0; j < d; ++j) v[j] -= dot * u[j];
    }
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += v[j] * v[j];
    const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
    for (size_t j = 0; j < d; ++j) xi[j] = float(v[j] * inv);
  }
  return x;
}

double SifEncoder::probability(const std::string& word) const {
  const int64_t row = vocab_.find(word);
  if (row < 0 || total_tokens_ == 0) return 0.0;
  return double(count_[size_t(row)]) / double(total_tokens_);
}

double SifEncoder::weight(const std::string& word) const {
  const int64_t row = vocab_.find(word);
  return row < 0 ? 1.0 : weight_[size_t(row)];
}

TextCollection read_text_collection(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  EC_CHECK(fs::exists(path, ec), kBadInput, path << ": no such file or folder");
  TextCollection c;
  std::unordered_map<std::string, std::string> seen;  // id -> where
  auto add = [&](std::string id, std::string text, const std::string& where) {
    EC_CHECK(!id.empty(), kBadInput, where << ": empty id");
    EC_CHECK(id.find_first_of(" \t\r\n\v\f") == std::string::npos, kBadInput,
             where << ": id '" << id << "' contains whitespace");
    auto [it, fresh] = seen.emplace(id, where);
    EC_CHECK(fresh, kBadInput, where << ": id '" << id << "' already used at " << it->second);
    c.ids.push_back(std::move(id));
    c.texts.push_back(std::move(text));
  };
  if (fs::is_directory(path, ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(path)) {
      const std::string name = e.path().filename().string();
      if (name.empty() || name[0] == '.' || !e.is_regular_file()) continue;
      files.push_back(e.path());
    }
    std::sort(files.begin(), files.end(), [](const fs::path& a, const fs::path& b) {
      return a.filename().string() < b.filename().string();
    });
    for (const auto& f : files) add(f.stem().string(), slurp(f), f.string());
  } else {
    std::ifstream in(path, std::ios::binary);
    EC_CHECK(in.is_open(), kBadInput, path << ": cannot open: " << std::strerror(errno));
    std::string line;
    size_t lineno = 0;
    while (std::getline(in, line)) {
      ++lineno;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const std::string where = path + " line " + std::to_string(lineno);
      EC_CHECK(!line.empty(), kBadInput, where << ": empty line (expected `id<TAB>text`)");
      const size_t tab = line.find('\t');
      EC_CHECK(tab != std::string::npos, kBadInput, where << ": no tab (expected `id<TAB>text`)");
      add(line.substr(0, tab), line.substr(tab + 1), where);
    }
    EC_CHECK(!in.bad(), kBadInput, path << ": read error after line " << lineno);
  }
  EC_CHECK(!c.ids.empty(), kBadInput, path << ": no texts");
  return c;
}

}  // namespace embcomp
