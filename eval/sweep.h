// `embcomp sweep`: every method family sized to every memory budget, measured on a
// validation split of the queries; per budget the best candidate (and the best under a
// latency limit) is recommended and then measured once on the held-out test split.
//
// Candidates per budget B (bytes <= B * 4 n d, total = RAM + re-ranking data):
//   - every registered budget form "HEAD@B" (SQ, PQ, OPQ+PQ, RQ, PCA, PCA+SQ{4,6,8}, and
//     the study's compressors SVD, GQ, Prune, TT, Dedup, MGPQ2, MagSVD2);
//   - table methods without a budget form, by name (DedupStudy: the study's stop rule sets
//     its size from the data): offered at every budget, built and measured once, and
//     recommended only at the budgets its bytes fit (within_budget);
//   - fixed-size codecs whose bytes fit (FP16, BF16, INT8, Binary, Binary-median);
//   - Binary codes re-scored with the largest of FP16, SQ8, SQ6, SQ4 that fits beside them.
// FAISS families (the baseline a FAISS-only heuristic would pick from): SQ, PQ, OPQ+PQ,
// RQ, PCA+SQ{4,6,8}. The "FAISS-only pick" of a budget re-solves each of them at the
// recommended method's byte count ("PQ@<its fraction>") and takes the best, so that a
// family is compared at the same bytes rather than at its own solution for the budget.
//
// DIR gets results.jsonl (one record per candidate, appended as they finish, so that
// --resume skips them), results.csv, recommendation.json, report.md and, when the
// caller's draw_plots hook succeeds (toolkit/cmd_sweep.cpp runs scripts/plot_sweep.py),
// quality_vs_ratio.png and quality_vs_qps.png.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "toolkit/dataset.h"

namespace embcomp {

struct SweepOptions {
  std::vector<std::string> budgets;  ///< as given: "8x" or "0.125"
  std::string quality = "recall@10";  ///< recall@K | ndcg@10 | mrr@10
  double max_latency_ms = 0;          ///< > 0: also recommend the best under this p50
  std::string out_dir;
  bool resume = false;
  uint64_t seed = 1234;               ///< methods' seed and the query split's
  double val_fraction = 0.5;          ///< share of queries in the validation split
  size_t latency_queries = 50;        ///< queries timed one by one on one thread
  size_t rerank_factor = 10;          ///< candidates per result for Binary+rerank
  std::vector<std::string> families;  ///< only these families (empty: all)
  double min_quality = -1;            ///< >= 0: the quality gate (sweep_gate_misses)
  /// Draws the plots of dir (from results.csv) after the records are written and before
  /// report.md; returns true when both PNGs were drawn. Empty: no plots. The library
  /// never starts a process itself.
  std::function<bool(const std::string& dir, const std::string& quality_name)> draw_plots;
  bool verbose = true;

  /// Checks every option that needs no data (quality, budgets, families, fractions,
  /// counts); throws kUsage naming the option. Called before anything is written.
  void validate() const;
};

/// The quality metric a sweep maximizes: "recall@K" (against exact search, K in
/// [1, 1000]), "ndcg@10" or "mrr@10" (against qrels). Throws kUsage for anything else.
struct SweepQuality {
  std::string name;   ///< "recall@10"
  std::string key;    ///< its record field, "recall_at_10"
  size_t k = 10;      ///< K of recall@K (10 otherwise)
  bool recall = true;
};
SweepQuality parse_sweep_quality(const std::string& quality);

/// One point of the sweep.
struct SweepCandidate {
  std::string family;  ///< "SQ", "OPQ+PQ", "PCA+SQ8", "Binary+rerank", "FP16"
  std::string spec;    ///< method spec: "SQ@8x", "FP16", "Binary"
  std::string rerank;  ///< re-scoring representation ("" when none)
  size_t rerank_factor = 0;
  bool faiss_family = false;
  /// Unique within a budget: spec, plus " > rerank xF" for two-stage candidates.
  std::string key() const;
};

/// The candidates for budget (text as given, e.g. "8x") on n x d data. Throws kBadInput
/// for a malformed budget.
std::vector<SweepCandidate> sweep_candidates(const std::string& budget, size_t n, size_t d,
                                             size_t rerank_factor);

/// Families the sweep knows, for --families validation and the docs.
std::vector<std::string> sweep_families();

/// Splits query rows into validation and test by a seeded permutation: first the
/// validation rows, then the test rows, each sorted. Both are non-empty (nq >= 2).
void split_queries(size_t nq, double val_fraction, uint64_t seed, std::vector<size_t>& val,
                   std::vector<size_t>& test);

/// A dataset holding only the given query rows (their ground truth, ids and qrels).
Dataset query_subset(const Dataset& ds, const std::vector<size_t>& rows);

/// Marks the measured validation records (with "quality", "total_bytes" and "qps") that
/// are on the Pareto front of quality vs bytes ("pareto_bytes") and vs QPS ("pareto_qps").
void mark_pareto(std::vector<nlohmann::ordered_json>& records);

/// Throws kBadInput naming where ("results.jsonl:LINE") unless r is a record a sweep
/// writes: an object with string budget, family, key, split ("val" | "test"), method and
/// status ("ok" | "failed" | "unreachable"); "error" for the last two; for "ok" the
/// numbers and flags the recommendation and the report read; every optional field of
/// the type the sweep writes. Used on every line read back by --resume.
void check_sweep_record(const nlohmann::ordered_json& r, const std::string& where);

/// Reads DIR/results.jsonl for --resume: every line must be a valid record
/// (check_sweep_record), except that a last line cut short by an interrupt (no final
/// newline, starts with '{', printable) is dropped and the file rewritten without it.
/// A missing file is an empty sweep; a non-regular one (FIFO, folder) is kBadInput.
std::vector<nlohmann::ordered_json> read_sweep_results(const std::string& path);

/// What a sweep returns: its failed candidates and the recommendation.json content.
struct SweepSummary {
  int failures = 0;
  nlohmann::ordered_json recommendation = nlohmann::ordered_json::array();
};

/// The quality gate of `sweep --min-quality Q`: one "BUDGET (why)" entry per budget
/// whose recommendation's test quality is below Q, failed, or absent.
std::vector<std::string> sweep_gate_misses(const nlohmann::ordered_json& recommendation,
                                           double min_quality);

/// Runs the sweep; ds.gt must hold the ground truth (recall) or ds.qrels the judgments.
SweepSummary run_sweep(const Dataset& ds, const SweepOptions& opt);

}  // namespace embcomp
