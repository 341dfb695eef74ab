#include "toolkit/dataset.h"
#include "build_paths.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

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
      {"cacm-glove", "cacm-glove", "corpus.fvecs", "queries.fvecs", "", "angular",
       "CACM abstracts + 64 queries embedded by SIF over GloVe, with qrels (nDCG/MRR/recall)",
       "corpus_ids.txt", "query_ids.txt", "qrels.txt"},
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

/// Reads the ids files and qrels of a retrieval dataset and checks them against the rows:
/// an ids file of the wrong length is an error; qrels naming unknown queries or documents
/// get a warning with counts; qrels naming none of the queries are an error.
void load_retrieval_files(Dataset& ds, const std::string& corpus_ids, const std::string& query_ids,
                          const std::string& qrels) {
  if (!corpus_ids.empty()) {
    ds.corpus_ids = read_ids_file(corpus_ids);
    EC_CHECK(ds.corpus_ids.size() == ds.base.n, kBadInput,
             corpus_ids << ": has " << ds.corpus_ids.size() << " ids but the corpus has "
                        << ds.base.n << " rows");
  }
  if (!query_ids.empty()) {
    ds.query_ids = read_ids_file(query_ids);
    EC_CHECK(ds.query_ids.size() == ds.queries.n, kBadInput,
             query_ids << ": has " << ds.query_ids.size() << " ids but there are "
                       << ds.queries.n << " query rows");
  }
  if (qrels.empty()) return;
  EC_CHECK(!ds.corpus_ids.empty() && !ds.query_ids.empty(), kUsage,
           "--qrels needs --corpus-ids and --query-ids to match its ids to rows");
  Qrels q = read_qrels(qrels);
  std::set<std::string> qids(ds.query_ids.begin(), ds.query_ids.end());
  std::set<std::string> dids(ds.corpus_ids.begin(), ds.corpus_ids.end());
  size_t unknown_q = 0, known_q = 0, unknown_d = 0;
  for (const auto& [qid, docs] : q.by_query) {
    (qids.count(qid) ? known_q : unknown_q)++;
    for (const auto& [did, label] : docs) unknown_d += dids.count(did) ? 0 : 1;
  }
  EC_CHECK(known_q > 0, kBadInput,
           qrels << ": names none of the " << ds.query_ids.size() << " query ids of " << query_ids);
  if (unknown_q || unknown_d) {
    std::cerr << "embcomp: warning: " << qrels << ": " << unknown_q << " of " << q.by_query.size()
              << " queries and " << unknown_d << " of " << q.judgments()
              << " judged documents are not in the ids files; they count as not retrieved\n";
  }
  ds.qrels = std::move(q);
}

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
      // Exact ground truth names a base row in every column (n >= k rows exist): -1, the
      // "no result" of a search, would make recall score a row before the base array.
      EC_CHECK(id >= 0 && id < int64_t(ds.base.n), kBadInput,
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
    auto in_dir = [&](const std::string& f) { return f.empty() ? f : dir + f; };
    load_retrieval_files(ds, in_dir(b->corpus_ids), in_dir(b->query_ids), in_dir(b->qrels));
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
  load_retrieval_files(ds, spec.corpus_ids, spec.query_ids, spec.qrels);
  return ds;
}

}  // namespace embcomp
