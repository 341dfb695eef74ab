#include "toolkit/cli.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "toolkit/error.h"
#include "toolkit/io.h"

namespace po = boost::program_options;

namespace embcomp {

namespace {

/// True when the option's value is stored in an unsigned integer, which boost's
/// lexical_cast fills from "-1" by wrapping around (18446744073709551615).
bool is_unsigned_option(const po::value_semantic* s) {
  return dynamic_cast<const po::typed_value<unsigned short>*>(s) ||
         dynamic_cast<const po::typed_value<unsigned int>*>(s) ||
         dynamic_cast<const po::typed_value<unsigned long>*>(s) ||
         dynamic_cast<const po::typed_value<unsigned long long>*>(s);
}

}  // namespace

void reject_negative_unsigned(const std::string& cmd, const po::options_description& desc,
                              const po::parsed_options& parsed) {
  for (const auto& o : parsed.options) {
    const auto* d = desc.find_nothrow(o.string_key, false);
    if (!d || !is_unsigned_option(d->semantic().get())) continue;
    for (const auto& v : o.value) {
      const auto first = v.find_first_not_of(" \t");
      EC_CHECK(first == std::string::npos || v[first] != '-', kUsage,
               cmd << ": --" << o.string_key << " " << v
                   << " is negative; it must be a whole number >= 0 (see 'embcomp " << cmd
                   << " --help')");
    }
  }
}

/// Parses a subcommand's options; prints help and returns false on --help.
bool parse_command_line(const std::string& cmd, const po::options_description& desc, int argc, char** argv,
           po::variables_map& vm, const std::string& synopsis) {
  try {
    const po::parsed_options parsed = po::command_line_parser(argc, argv).options(desc).run();
    reject_negative_unsigned(cmd, desc, parsed);
    po::store(parsed, vm);
    if (vm.count("help")) {
      std::cout << "usage: embcomp " << cmd << " " << synopsis << "\n\n" << desc << "\n";
      return false;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    EC_THROW(kUsage, cmd << ": " << e.what() << " (see 'embcomp " << cmd << " --help')");
  }
  return true;
}

/// Fails with kBadInput when out's folder does not exist or is not writable.
void check_output_path(const std::string& out) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(out).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  EC_CHECK(fs::is_directory(dir, ec), kBadInput, out << ": folder " << dir.string() << " does not exist");
  EC_CHECK(::access(dir.c_str(), W_OK) == 0, kBadInput, out << ": folder " << dir.string() << " is not writable");
  EC_CHECK(!fs::is_directory(out, ec), kBadInput, out << ": is a folder");
}

void add_dataset_options(po::options_description& desc, DatasetSpec& ds) {
  desc.add_options()
      ("data", po::value(&ds.data),
       "bundled dataset name (see 'embcomp datasets') or an ann-benchmarks .hdf5 file "
       "[default: glove-100-30k when --base is not given]")
      ("corpus", po::value(&ds.base), "alias of --base (BEIR layout)")
      ("corpus-ids", po::value(&ds.corpus_ids), "corpus ids, one per line, aligned with the base rows")
      ("query-ids", po::value(&ds.query_ids), "query ids, one per line, aligned with the query rows")
      ("qrels", po::value(&ds.qrels), "relevance judgments (TREC qrels or BEIR TSV): adds nDCG@10, MRR@10, recall@100")
      ("base", po::value(&ds.base), "base vectors file (.fvecs .bvecs .fbin .u8bin .npy .hdf5 .raw)")
      ("queries", po::value(&ds.queries), "query vectors file")
      ("gt", po::value(&ds.gt), "exact ground-truth ids (.ivecs .ibin .npy); computed and cached when absent")
      ("metric", po::value(&ds.metric),
       "l2 | ip | angular (aliases: euclidean, dot, cosine; required with --base; overrides the "
       "dataset's)")
      ("dim", po::value(&ds.raw_d), "dimension of .raw/.f32 files");
}

void write_text_file(const std::string& path, const std::string& text) {
  write_file_atomic(path, text);  // every write(2) checked: a full disk is kRuntime, no file
}

std::vector<std::string> split_list(const std::string& text, char sep, bool keep_empty) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find(sep, start), text.size());
    const std::string item = text.substr(start, end - start);
    const auto b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    const std::string trimmed = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (keep_empty || !trimmed.empty()) out.push_back(trimmed);
    start = end + 1;
  }
  return out;
}

}  // namespace embcomp
