// SIF sentence embeddings from word vectors: Arora, Liang, Ma, "A Simple but Tough-to-Beat
// Baseline for Sentence Embeddings", ICLR 2017 (Algorithm 1), deterministic.
//
// Tokenizer (tokenize): ASCII letters are lowercased; a token is a maximal run of ASCII
// letters and digits [a-z0-9]; every other byte (punctuation, spaces, and every byte of a
// non-ASCII UTF-8 character) separates tokens. "Time-Sharing (TSS), 1960's" ->
// time sharing tss 1960 s. Tokens without a word vector are out of vocabulary: they count
// in the corpus token total N below but add nothing to any vector.
//
// SIF (SifEncoder), the paper's symbols:
//   p(w)  = c(w) / N: c(w) occurrences of token w in the training corpus (the documents
//           given to train(), each occurrence counted), N all token occurrences of the
//           corpus, in vocabulary or not. A word absent from the corpus has p(w) = 0. The
//           paper estimates p(w) on a large general corpus; the documents themselves are
//           the only frequencies available offline, and they fit the collection.
//   v_s   = (1/|s|) * sum_{w in s} a / (a + p(w)) * v_w over the in-vocabulary tokens of
//           text s (|s| counts them with repeats); 0 when s has none. a = 1e-3.
//   u     = first principal component of the training documents' v_s: the top
//           eigenvector of X^T X (X: n x d, rows v_s, *not* centered, as the authors'
//           TruncatedSVD), computed in double with LAPACK dsyev; sign fixed so its largest
//           |entry| is positive. rmpc > 1 removes the top rmpc eigenvectors.
//   out   = normalize(v_s - u u^T v_s): the same u for documents and queries; rows are
//           scaled to unit L2 norm, a text without in-vocabulary tokens stays 0.
// Every sum runs in a fixed order in double, so equal inputs give bit-identical outputs
// for any thread count.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "toolkit/matrix.h"

namespace embcomp {

/// Lowercased [a-z0-9]+ tokens of text, in order (see the file comment).
std::vector<std::string> tokenize(std::string_view text);

/// A vocabulary: word i has vector row i of x.
struct WordVectors {
  std::vector<std::string> words;
  FloatMatrix x;                                    ///< words.size() x d, row-major
  std::unordered_map<std::string, uint32_t> index;  ///< word -> row
  /// Row of word, or -1 when it is out of vocabulary.
  int64_t find(const std::string& word) const;
};

/// Builds a vocabulary from aligned (words file, vectors file) pairs, merged in order:
/// line i of words_files[f] names row i of vector_files[f] (.fvecs or any format
/// read_floats reads). Throws kBadInput when the counts of files differ, a words file and
/// its vectors differ in rows, dimensions differ between files, or a word occurs twice.
WordVectors load_word_vectors(const std::vector<std::string>& words_files,
                              const std::vector<std::string>& vector_files);

/// Builds a vocabulary from words and their vectors (rows aligned); duplicates throw.
WordVectors make_word_vectors(std::vector<std::string> words, FloatMatrix x);

/// SIF parameters (Arora et al. 2017).
struct SifParams {
  double a = 1e-3;  ///< "a": word weight a / (a + p(w)); the paper uses 1e-3 .. 1e-4
  size_t rmpc = 1;  ///< principal components removed, 1 in the paper; 0 keeps v_s
  /// Throws kBadInput unless a > 0 is finite and rmpc <= d.
  void validate(size_t d) const;
};

/// Counts of one apply() call.
struct SifStats {
  size_t texts = 0;
  size_t tokens = 0;           ///< token occurrences
  size_t in_vocab_tokens = 0;  ///< occurrences with a word vector
  size_t empty_texts = 0;      ///< texts without an in-vocabulary token (zero rows)
};

/// SIF encoder (see the file comment): train() on the corpus, then apply() to the corpus
/// and to queries alike. Keeps a reference to the vocabulary, which must outlive it.
class SifEncoder {
 public:
  SifEncoder(const WordVectors& vocab, SifParams params);

  /// Estimates p(w) from the documents' tokens and the principal component(s) from their
  /// weighted averages. Throws kBadInput when no document has an in-vocabulary token.
  void train(const std::vector<std::string>& docs);

  /// Embeddings of texts: texts.size() x d, rows unit norm (or 0). Requires train().
  FloatMatrix apply(const std::vector<std::string>& texts, SifStats* stats = nullptr) const;

  /// The weighted averages v_s before component removal: texts.size() x d.
  FloatMatrix weighted_average(const std::vector<std::string>& texts,
                               SifStats* stats = nullptr) const;

  /// a / (a + p(w)) as used by apply(): 1 for a word absent from the training corpus (and
  /// for a word outside the vocabulary, which apply() never uses).
  double weight(const std::string& word) const;
  /// p(w) estimated by train(): 0 for a word absent from the training corpus or outside
  /// the vocabulary (only in-vocabulary words are counted one by one).
  double probability(const std::string& word) const;
  /// The removed components: rmpc x d, row-major, orthonormal rows.
  const std::vector<double>& components() const { return components_; }
  size_t d() const { return vocab_.x.d; }

 private:
  const WordVectors& vocab_;
  SifParams params_;
  bool trained_ = false;
  std::vector<double> weight_;      ///< per vocabulary row: a / (a + p(w))
  std::vector<uint64_t> count_;     ///< per vocabulary row: c(w) in the training corpus
  uint64_t total_tokens_ = 0;       ///< N
  std::vector<double> components_;  ///< rmpc x d
};

/// A text collection: ids[i] names texts[i].
struct TextCollection {
  std::vector<std::string> ids;
  std::vector<std::string> texts;
};

/// Reads texts from
///   - a TSV file: each line `id<TAB>text` (text = everything after the first tab, may be
///     empty); a trailing '\r' is dropped;
///   - or a folder: every regular file whose name does not start with '.', in byte order
///     of file names (subfolders are ignored); id = the file name without its last
///     extension, text = the whole file.
/// Ids must be non-empty, unique and free of whitespace. Errors are kBadInput naming the
/// file and line: an empty line, a line without a tab, a bad or repeated id, no texts.
TextCollection read_text_collection(const std::string& path);

}  // namespace embcomp
