// CTR datasets (issue 7): Criteo Kaggle TSV, Avazu CSV and embcomp's synthetic
// Criteo-like data, preprocessed into train/validation/test splits held in memory.
//
// Sources are written "criteo:PATH", "avazu:PATH" or "synthetic:PATH" (a file written by
// `embcomp ctr-gen`). Categorical values become GLOBAL row ids of one embedding table:
// field f's local id v is field_offsets[f] + v. Each field's vocabulary is built on the
// training split only; values seen fewer than min_count times there (and values never
// seen there) share the field's out-of-vocabulary id. Dense features are log(1 + x)
// (x < 0 -> 0, missing -> 0). The parsed result is cached in a compact binary file next
// to the input (or in cache_dir), keyed by the file's size, mtime and the options, so
// later runs skip parsing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace embcomp::ctr {

/// One split, row-major.
struct CtrSplit {
  int64_t n = 0;
  std::vector<float> dense;     ///< n x num_dense
  std::vector<int32_t> cat;     ///< n x num_fields global row ids
  std::vector<float> label;     ///< n labels, 0 or 1
  std::vector<float> oracle_p;  ///< n planted click probabilities (synthetic), else empty
};

struct CtrDataset {
  std::string source;                   ///< as given, e.g. "criteo:day_0.tsv"
  int num_dense = 13;                   ///< 13 for Criteo, 0 for Avazu
  int num_fields = 26;                  ///< 26 for Criteo, 22 for Avazu
  std::vector<std::string> field_names; ///< "C1".."C26", Avazu's header names
  std::vector<int64_t> field_offsets;   ///< num_fields + 1, first 0, last = total rows N
  std::vector<uint32_t> counts;         ///< training-split frequency of each global row
  CtrSplit train, val, test;
  /// How the split was made, e.g. "criteo: 7 consecutive parts, 6 train, the 7th halved"
  /// or "avazu: the file spans one day, consecutive 8:1:1 parts".
  std::string split_note;
  int64_t skipped_rows = 0;  ///< malformed rows skipped under skip_bad_rows
  int64_t rows() const { return field_offsets.empty() ? 0 : field_offsets.back(); }
};

struct CtrLoadOptions {
  int min_count = 4;           ///< vocabulary threshold on the training split
  bool skip_bad_rows = false;  ///< skip (and count) malformed rows instead of exit 2
  std::string cache_dir;       ///< "" = next to the input file
  bool use_cache = true;       ///< read/write the binary cache
  int64_t max_rows = 0;        ///< read at most this many rows (0 = all)
};

/// Loads and splits a dataset. Throws kBadInput (exit 2) for an unknown source prefix, a
/// missing file or a malformed row (message names the file and 1-based line number and
/// what is wrong) unless skip_bad_rows.
CtrDataset load_ctr_dataset(const std::string& source, const CtrLoadOptions& opt = {});

/// The binary cache file load_ctr_dataset reads and writes for these options:
/// "<cache_dir or the input's folder>/<input name>.<kind>-m<min_count>[-r<max_rows>][-skip].ctrcache",
/// or "" when there is none (use_cache false, or synthetic data, which is binary already).
std::string ctr_cache_path(const std::string& source, const CtrLoadOptions& opt = {});

}  // namespace embcomp::ctr
