// Datasets: base rows + query rows + metric + optional exact ground truth.
//
// A dataset is named by
//   - a bundled name (`embcomp datasets` / list_bundled_datasets()): "glove-100-30k", "sift-5k";
//   - one ann-benchmarks .hdf5 file (train = base, test = queries, neighbors = ground
//     truth, attribute distance = metric);
//   - or explicit files: --base, --queries, --metric and optionally --gt.
// Rows of an angular dataset are normalized to unit length at load time.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "toolkit/matrix.h"
#include "toolkit/metric.h"

namespace embcomp {

struct DatasetSpec {
  std::string data;     ///< bundled name or .hdf5 path (empty when base/queries are given)
  std::string base;     ///< base vectors file
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
