#include "toolkit/dataset.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp {

const std::vector<BundledDataset>& list_bundled_datasets() {
  static const std::vector<BundledDataset> kDatasets = {
      {"glove-100-30k", "glove-100-30k", "base.fvecs", "query.fvecs",
       "groundtruth_angular_top100.ivecs", "angular",
       "GloVe 6B 100-d word vectors, 30,000 base + 1,000 query words, exact top-100 (default)"},
      {"sift-5k", "sift-5k", "base.fvecs", "query.fvecs", "", "l2",
       "real SIFT descriptors (NGT sample), 4,500 base + 500 held-out query rows, 128-d"},
  };
  return kDatasets;
}

std::string data_dir() {
  if (const char* env = std::getenv("EMBCOMP_DATA_DIR"); env && *env) return env;
  return EMBCOMP_DATA_DIR;
}

void normalize_rows(FloatMatrix& x) {
  for (size_t i = 0; i < x.n; ++i) {
    float* xi = x.row(i);
    double s = 0;
    for (size_t j = 0; j < x.d; ++j) s += double(xi[j]) * xi[j];
    if (s <= 0) continue;
    const float inv = float(1.0 / std::sqrt(s));
    for (size_t j = 0; j < x.d; ++j) xi[j] *= inv;
  }
}

namespace {

void validate(Dataset& ds, const std::string& gt_name) {
  EC_CHECK(ds.base.n > 0, kBadInput, ds.base_path << ": no base rows");
  EC_CHECK(ds.queries.n > 0, kBadInput, ds.name << ": no query rows");
  EC_CHECK(ds.base.d == ds.queries.d, kBadInput,
           ds.name << ": base has d=" << ds.base.d << " but queries have d=" << ds.queries.d);
  if (ds.gt) {
    EC_CHECK(ds.gt->n == ds.queries.n, kBadInput,
             gt_name << ": ground truth has " << ds.gt->n << " rows but there are "
                     << ds.queries.n << " queries");
    for (size_t i = 0; i < ds.gt->values.size(); ++i) {
      int64_t id = ds.gt->values[i];
      EC_CHECK(id >= -1 && id < int64_t(ds.base.n), kBadInput,
               gt_name << ": row " << i / ds.gt->d << " names base id " << id
                       << ", outside [0, " << ds.base.n << ")");
    }
  }
  if (ds.metric == Metric::kAngular) {
    normalize_rows(ds.base);
    normalize_rows(ds.queries);
  }
}

bool is_hdf5(const std::string& p) {
  auto ext = std::filesystem::path(p).extension().string();
  return ext == ".hdf5" || ext == ".h5";
}

}  // namespace

Dataset load_dataset(const DatasetSpec& spec) {
  Dataset ds;
  ReadOptions opt;
  opt.raw_d = spec.raw_d;
  if (!spec.data.empty()) {
    EC_CHECK(spec.base.empty() && spec.queries.empty(), kUsage,
             "give either --data or --base/--queries, not both");
    if (is_hdf5(spec.data)) {
      AnnHdf5 h = read_ann_hdf5(spec.data);
      ds.name = std::filesystem::path(spec.data).stem().string();
      ds.base_path = spec.data;
      ds.metric = parse_metric(spec.metric.empty() ? h.distance : spec.metric);
      ds.base = std::move(h.train);
      ds.queries = std::move(h.test);
      if (h.neighbors) ds.gt = std::move(h.neighbors);
      validate(ds, spec.data);
      return ds;
    }
    const BundledDataset* b = nullptr;
    for (const auto& c : list_bundled_datasets())
      if (c.name == spec.data) b = &c;
    if (b == nullptr) {
      std::string names;
      for (const auto& c : list_bundled_datasets()) names += (names.empty() ? "" : ", ") + c.name;
      EC_THROW(kBadInput, "unknown dataset '" << spec.data << "' (bundled: " << names
                                              << "; or give an .hdf5 file or --base/--queries)");
    }
    const std::string dir = data_dir() + "/" + b->dir + "/";
    ds.name = b->name;
    ds.base_path = dir + b->base;
    ds.metric = parse_metric(spec.metric.empty() ? b->metric : spec.metric);
    ds.base = read_floats(ds.base_path, opt);
    ds.queries = read_floats(dir + b->queries, opt);
    // The bundled ground truth is for the bundled metric only.
    if (!b->gt.empty() && ds.metric == parse_metric(b->metric)) ds.gt = read_ids(dir + b->gt);
    validate(ds, dir + b->gt);
    return ds;
  }
  EC_CHECK(!spec.base.empty() && !spec.queries.empty(), kUsage,
           "give --data NAME|FILE.hdf5, or both --base and --queries");
  EC_CHECK(!spec.metric.empty(), kUsage, "--metric l2|ip|angular is required with --base");
  ds.name = std::filesystem::path(spec.base).stem().string();
  ds.base_path = spec.base;
  ds.metric = parse_metric(spec.metric);
  ds.base = read_floats(spec.base, opt);
  ds.queries = read_floats(spec.queries, opt);
  if (!spec.gt.empty()) ds.gt = read_ids(spec.gt);
  validate(ds, spec.gt);
  return ds;
}

}  // namespace embcomp
