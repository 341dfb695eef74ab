// Relevance judgments (qrels), ranked runs and id files: the text formats of retrieval
// evaluation, read strictly.
//
// Formats (fields separated by any run of spaces or tabs; blank lines are skipped in
// qrels and runs; a trailing '\r' is ignored):
//   TREC qrels   `qid iter docid rel`           4 fields; iter is ignored, whatever it is
//                                               ("0" or "Q0"); rel is an integer.
//   BEIR qrels   `query-id corpus-id score`     3 fields after the header line
//                                               `query-id corpus-id score` (the usual
//                                               qrels/test.tsv); score is an integer.
//                The format is chosen by the first non-blank line: the BEIR header, or not.
//   TREC run     `qid Q0 docid rank score tag`  6 fields; Q0 and tag are ignored, rank must
//                                               be an integer, score a finite number.
//   ids file     one id per line, line i naming row i of an embedding file.
//
// Errors are Error(kBadInput) naming the file and the 1-based line number: a line with
// the wrong number of fields, a label or rank that is not an integer, a score that is not
// a finite number, a document judged twice for one query (trec_eval refuses it too), a
// run listing a document twice for one query, a blank or whitespace-holding line in an
// ids file, an id listed twice in an ids file.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <string>
#include <vector>

namespace embcomp {

/// Judgments of all queries: qid -> (docid -> label). Labels <= 0 mean non-relevant.
struct Qrels {
  std::map<std::string, std::map<std::string, int>> by_query;
  /// Number of (query, document) judgments.
  size_t judgments() const;
};

/// Reads TREC or BEIR qrels (see the file comment); `name` is used in error messages.
Qrels read_qrels(std::istream& in, const std::string& name);
Qrels read_qrels(const std::string& path);

/// One retrieved document and its score (higher is better).
struct ScoredDoc {
  std::string docid;
  double score = 0;
};

/// A run: qid -> retrieved documents, best first (in trec_eval order, see sort_run_docs).
using Run = std::map<std::string, std::vector<ScoredDoc>>;

/// Sorts one query's documents the way trec_eval does (form_res_rels.c, comp_sim_docno):
/// by score descending, ties by docid in *descending* strcmp (byte) order. The rank
/// column of a run file plays no part; trec_eval ignores it too.
void sort_run_docs(std::vector<ScoredDoc>& docs);

/// Reads a TREC run; each query's documents are sorted with sort_run_docs.
Run read_trec_run(std::istream& in, const std::string& name);
Run read_trec_run(const std::string& path);

/// Writes `qid Q0 docid rank score tag` lines, queries in Run order, documents in the
/// stored order with ranks 1, 2, ...; each score printed as the shortest text that reads
/// back as the same float (or the same double, when the score is not a float value), so
/// that reading the file back gives the same order: distinct floats get distinct texts in
/// the same numeric order, equal floats the same text. Atomic.
void write_trec_run(const std::string& path, const Run& run, const std::string& tag);

/// Reads an ids file (one id per line, aligned with the rows of an embedding file).
/// A trailing '\r' is dropped; an empty line, a line holding a space or tab, or an id seen
/// before is an error naming the line.
std::vector<std::string> read_ids_file(std::istream& in, const std::string& name);
std::vector<std::string> read_ids_file(const std::string& path);

/// Writes one id per line (each must be non-empty and free of whitespace). Atomic.
void write_ids_file(const std::string& path, const std::vector<std::string>& ids);

/// Builds a run from the top-k search results of queries (ids: nq * k, row-major, -1 for
/// "no result"; scores: higher is better, so pass negated distances for L2): row q is
/// query_ids[q], base row j is doc_ids[j]. Each query's list is sorted with sort_run_docs.
Run make_run(const std::vector<int64_t>& ids, const std::vector<float>& scores, size_t nq, size_t k,
             const std::vector<std::string>& query_ids, const std::vector<std::string>& doc_ids);

}  // namespace embcomp
