// Datasets: base rows + query rows + metric + optional exact ground truth.
//
// A dataset is named by
//   - a bundled name (`embcomp datasets` / list_bundled_datasets()): "glove-100-30k", "sift-5k";
//   - one ann-benchmarks .hdf5 file (train = base, test = queries, neighbors = ground
//     truth, attribute distance = metric);
//   - or explicit files: --base (alias --corpus), --queries, --metric and optionally --gt;
//     with --corpus-ids, --query-ids and --qrels (the layout BEIR users have after
//     encoding) the dataset also carries relevance judgments.
// Rows of an angular dataset are normalized to unit length at load time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "eval/qrels.h"
#include "toolkit/matrix.h"
#include "toolkit/metric.h"

namespace embcomp {

struct DatasetSpec {
  std::string data;     ///< bundled name or .hdf5 path (empty when base/queries are given)
  std::string base;     ///< base (corpus) vectors file
  std::string corpus_ids;  ///< optional ids file aligned with the base rows
  std::string query_ids;   ///< optional ids file aligned with the query rows
  std::string qrels;       ///< optional relevance judgments (TREC or BEIR), needs both ids
  std::string queries;  ///< query vectors file
  std::string gt;       ///< optional ground-truth ids file (ivecs, ibin, npy)
  std::string metric;   ///< l2 | ip | angular; required with base/queries
  size_t raw_d = 0;     ///< dimension for .raw/.f32 files
};

struct Dataset {
  std::string name;             ///< bundled name or the base file path
  std::string base_path;        ///< where the base rows came from (ground-truth cache key)
  Metric metric = Metric::kL2;
  FloatMatrix base;             ///< n x d
  FloatMatrix queries;          ///< nq x d
  std::optional<IdMatrix> gt;   ///< nq x K exact neighbour ids, when known
  std::vector<std::string> corpus_ids;  ///< one per base row, or empty
  std::vector<std::string> query_ids;   ///< one per query row, or empty
  std::optional<Qrels> qrels;           ///< relevance judgments, when given
  /// The metric rows are searched with (kIP for angular: rows are normalized).
  Metric search_metric() const { return metric == Metric::kAngular ? Metric::kIP : metric; }
};

struct BundledDataset {
  std::string name;
  std::string dir;       ///< folder under the data directory
  std::string base;      ///< file names inside dir
  std::string queries;
  std::string gt;        ///< empty when ground truth is computed and cached
  std::string metric;
  std::string doc;
  std::string corpus_ids = "";  ///< ids and qrels files, for retrieval datasets
  std::string query_ids = "";
  std::string qrels = "";
};

/// The datasets shipped in data/.
const std::vector<BundledDataset>& list_bundled_datasets();

/// The data directory: $EMBCOMP_DATA_DIR if set, else the source tree's data/.
std::string data_dir();

/// Loads and validates a dataset (dimensions agree, ground truth ids in range and one row
/// per query). Throws kBadInput naming the file.
Dataset load_dataset(const DatasetSpec& spec);

/// Scales rows to unit L2 norm in place (zero rows stay zero).
void normalize_rows(FloatMatrix& x);

}  // namespace embcomp
