// Retrieval quality of a run against relevance judgments, with trec_eval's definitions.
//
// For one query: the run's documents d_1, d_2, ... in trec_eval order (score descending,
// ties by docid descending, see sort_run_docs in eval/qrels.h); rel(d) is the qrels label
// of d for the query, 0 when d is not judged; d is relevant when rel(d) > 0; R is the
// number of relevant documents in the qrels of the query (retrieved or not).
//
//   P@k       = |{i <= k : rel(d_i) > 0}| / k              (k, even when the run is shorter)
//   Recall@k  = |{i <= k : rel(d_i) > 0}| / R
//   MRR@k     = 1 / min{i <= k : rel(d_i) > 0}, 0 when no relevant document is in the top k
//   MAP@k     = (1/R) * sum over relevant d_i with i <= k of P@i       (trec_eval map_cut)
//   nDCG@k    = DCG@k / IDCG@k, DCG@k = sum_{i <= k, rel(d_i) > 0} rel(d_i) / log2(i + 1)
//               (graded gain = the label); IDCG@k is DCG@k of the ideal list: the query's
//               positive labels sorted descending (trec_eval ndcg_cut; the current
//               trec_eval discounts rank i by log2(i + 1), rank 1 included)
//
// Queries (the set trec_eval -c evaluates, minus queries without relevant documents):
//   - a query is evaluated when its qrels hold at least one label > 0; a query of the
//     qrels that the run lacks is evaluated with every metric 0 (trec_eval -c);
//   - a query of the qrels whose labels are all <= 0 is skipped and counted
//     (trec_eval would score it 0 and average it in);
//   - a query of the run that the qrels lack is not evaluated, and counted.
// Means are arithmetic means over the evaluated queries.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "eval/qrels.h"

namespace embcomp {

enum class RetrievalMetricKind { kNdcg, kMrr, kRecall, kMap, kPrecision };

/// One metric at one cutoff, e.g. nDCG@10.
struct RetrievalMetric {
  RetrievalMetricKind kind = RetrievalMetricKind::kNdcg;
  size_t k = 10;  ///< cutoff: only the top k documents count
  /// "ndcg@10", "mrr@10", "recall@100", "map@100", "p@5".
  std::string name() const;
  /// Output key: "ndcg_at_10", "mrr_at_10", "recall_at_100", "map_at_100", "p_at_5".
  std::string key() const;
};

/// Parses a comma-separated list. Each item is `name@k` with name one of ndcg, mrr,
/// recall, map, p, or the output key (`ndcg_at_10`), or trec_eval's name for the same
/// measure (`ndcg_cut_10` or `ndcg_cut.10`, `map_cut_100`, `recall_100`, `P_5`; trec_eval
/// has no cut-off MRR); names are case-insensitive, k is an integer >= 1. Spaces around
/// items are ignored; an item repeated (in any spelling) is kept once, at its first
/// place. An unknown or malformed item, or an empty list, is Error(kBadInput).
std::vector<RetrievalMetric> parse_retrieval_metrics(const std::string& list);

/// The value of metric m for one query: ranked = the run's doc ids best first,
/// judged = the query's qrels (docid -> label). R (relevant count) must be > 0.
double metric_value(const RetrievalMetric& m, const std::vector<std::string>& ranked,
                    const std::map<std::string, int>& judged);

/// One evaluated query: values[j] is metric j.
struct QueryScores {
  std::string qid;
  bool missing_from_run = false;  ///< absent from the run, every value 0
  size_t relevant = 0;            ///< R: documents with label > 0 in the qrels
  std::vector<double> values;
};

struct RunEvaluation {
  std::vector<RetrievalMetric> metrics;
  std::vector<double> means;               ///< one per metric, over the evaluated queries
  std::vector<QueryScores> per_query;      ///< evaluated queries, in qid order (qid_less)
  size_t queries = 0;                      ///< evaluated: qrels queries with a label > 0
  size_t queries_missing_from_run = 0;     ///< evaluated queries the run lacks (scored 0)
  size_t queries_skipped_no_relevant = 0;  ///< qrels queries whose labels are all <= 0
  size_t run_queries_without_qrels = 0;    ///< run queries absent from the qrels
  size_t run_queries = 0;                  ///< queries in the run
  size_t qrels_queries = 0;                ///< queries in the qrels
};

/// Evaluates run against qrels (see the file comment). Throws Error(kBadInput) when the
/// qrels hold no query with a relevant document, or metrics is empty.
RunEvaluation evaluate_run(const Run& run, const Qrels& qrels,
                           const std::vector<RetrievalMetric>& metrics);

/// Query id order for reports: two ids made only of digits compare as numbers ("2" < "10"),
/// anything else by bytes, digits-only ids first.
bool qid_less(const std::string& a, const std::string& b);

}  // namespace embcomp
