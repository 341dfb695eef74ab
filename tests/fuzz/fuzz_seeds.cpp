// Writes the seed corpora of the fuzz harnesses from tiny valid inputs made with
// embcomp's own writers (scripts/run_fuzz.sh runs it; nothing binary is committed).
// Usage: embcomp_fuzz_seeds OUT_DIR   -> OUT_DIR/<harness>/<seed name>, each file holding
// the selector byte(s) the harness expects (see each *_fuzz.cpp) followed by the input.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "compressors/emb_table.h"
#include "eval/ctr_data.h"
#include "eval/ctr_synthetic.h"
#include "index/faiss_index.h"
#include "index/own_index.h"
#include "index/rerank_store.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"

namespace fs = std::filesystem;
using namespace embcomp;
using Bytes = std::vector<uint8_t>;

namespace {

fs::path g_out, g_tmp;

Bytes slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void put_seed(const std::string& harness, const std::string& name, const Bytes& prefix,
              const Bytes& body) {
  fs::create_directories(g_out / harness);
  std::ofstream out(g_out / harness / name, std::ios::binary);
  out.write(reinterpret_cast<const char*>(prefix.data()), std::streamsize(prefix.size()));
  out.write(reinterpret_cast<const char*>(body.data()), std::streamsize(body.size()));
}

Bytes text_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

template <class T>
void append(Bytes& b, const T& v) {
  const auto* p = reinterpret_cast<const uint8_t*>(&v);
  b.insert(b.end(), p, p + sizeof v);
}

/// n x d rows of low intrinsic dimension (2 latent factors plus noise), seeded.
FloatMatrix corpus(size_t n, size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  FloatMatrix basis(2, d), x(n, d);
  for (auto& v : basis.values) v = g(rng);
  for (size_t i = 0; i < n; ++i) {
    const float a = g(rng), b = g(rng);
    for (size_t j = 0; j < d; ++j)
      x.values[i * d + j] = a * basis.values[j] + b * basis.values[d + j] + 0.1f * g(rng);
  }
  return x;
}

void vec_reader_seeds() {
  const FloatMatrix x = corpus(3, 4, 1);
  IdMatrix ids(3, 4);
  for (size_t i = 0; i < ids.values.size(); ++i) ids.values[i] = int64_t(i);
  auto file = [](const std::string& name) { return (g_tmp / name).string(); };
  write_fvecs(file("a.fvecs"), x.view());
  put_seed("vec_readers", "fvecs", {0}, slurp(file("a.fvecs")));
  write_ivecs(file("a.ivecs"), ids.view());
  put_seed("vec_readers", "ivecs", {1 | 16}, slurp(file("a.ivecs")));
  write_floats(file("a.fbin"), x.view());
  put_seed("vec_readers", "fbin", {3}, slurp(file("a.fbin")));
  write_npy(file("a.npy"), x.view());
  put_seed("vec_readers", "npy-f4", {6}, slurp(file("a.npy")));
  write_npy(file("b.npy"), ids.view());
  put_seed("vec_readers", "npy-i8", {6 | 16}, slurp(file("b.npy")));
  FloatMatrix dist(3, 4);
  write_ann_hdf5(file("a.hdf5"), x.view(), x.view(), ids.view(), dist.view(), "euclidean");
  const Bytes h5 = slurp(file("a.hdf5"));
  put_seed("hdf5_reader", "ann", {0}, h5);
  put_seed("hdf5_reader", "neighbors", {16}, h5);
  put_seed("hdf5_reader", "train", {32}, h5);
  put_seed("hdf5_heaps", "ann", {}, h5);
  // No writer for these: laid out by hand from the formats in toolkit/io.h.
  Bytes bvecs, ibin, u8bin, raw;
  append(ibin, uint32_t(3));
  append(ibin, uint32_t(4));
  u8bin = ibin;
  for (size_t i = 0; i < 3; ++i) {
    append(bvecs, int32_t(4));
    for (size_t j = 0; j < 4; ++j) {
      bvecs.push_back(uint8_t(i * 4 + j));
      append(ibin, int32_t(i * 4 + j));
      u8bin.push_back(uint8_t(200 + j));
      append(raw, x.values[i * 4 + j]);
    }
  }
  put_seed("vec_readers", "bvecs", {2}, bvecs);
  put_seed("vec_readers", "ibin", {4 | 16}, ibin);
  put_seed("vec_readers", "u8bin", {5}, u8bin);
  put_seed("vec_readers", "raw-d4", {uint8_t(7 | (3 << 5))}, raw);
}

/// One own index per registered method that has one (its first ladder spec, and its
/// budget form), Flat and IVF4; plus the re-ranking stores.
void index_seeds() {
  const FloatMatrix x = corpus(300, 8, 2);
  std::vector<std::string> methods;
  for (const MethodEntry* e : registered_methods()) {
    if (e->kind != MethodKind::kTransform && e->ladder) {
      const auto l = e->ladder(8);
      if (!l.empty()) methods.push_back(l.front());
    }
    for (const std::string& head : budget_heads(*e)) methods.push_back(head + "@0.25");
  }
  const std::string path = (g_tmp / "i.idx").string();
  int own = 0, faiss = 0;
  for (const std::string& m : methods) {
    for (const std::string structure : {"Flat", "IVF4"}) {
      const std::string name = m + "-" + structure;
      try {
        if (choose_index_kind(m, structure) == IndexKind::kOwn) {
          OwnIndex::build(x.view(), Metric::kL2, m, structure, 7, false).save(path);
          put_seed("own_index", name, {}, slurp(path));
          ++own;
        } else {
          save_index(build_faiss_index(x.view(), Metric::kL2, m, structure, false), path);
          put_seed("faiss_index", name, {0}, slurp(path));
          Bytes side = slurp(path + ".json");
          const Bytes index = slurp(path);
          const Bytes len{1, uint8_t(side.size() & 0xff), uint8_t(side.size() >> 8)};
          side.insert(side.end(), index.begin(), index.end());
          put_seed("faiss_index", name + "-json", len, side);
          fs::remove(path + ".json");
          ++faiss;
        }
      } catch (const Error& e) {
        std::cerr << "fuzz_seeds: no index seed for " << name << ": " << e.message() << "\n";
      }
    }
  }
  for (const char* spec : {"Flat", "FP16", "SQ8"}) {
    write_rerank_store(path, x.view(), spec, 7);
    put_seed("rerank_store", spec, {}, slurp(path));
  }
  std::cerr << "fuzz_seeds: " << own << " own and " << faiss << " FAISS index seeds\n";
}

void eval_text_seeds() {
  put_seed("eval_text", "trec-qrels", {0},
           text_bytes("q1 0 d1 1\nq1 0 d2 0\nq2 Q0 d3 2\n\nq2 0 d1 -1\r\n"));
  put_seed("eval_text", "beir-qrels", {0},
           text_bytes("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t0\n"));
  put_seed("eval_text", "run", {1},
           text_bytes("q1 Q0 d1 1 2.5 tag\nq1 Q0 d2 2 2.5 tag\nq2 Q0 d3 1 -1e-3 tag\n"));
  put_seed("eval_text", "ids", {2}, text_bytes("d1\nd2\nd3\r\n"));
}

std::string criteo_rows(int rows, char sep) {
  std::ostringstream os;
  for (int i = 0; i < rows; ++i) {
    if (sep == ',') os << i << ',';
    os << (i % 3 == 0 ? 1 : 0);
    for (int j = 0; j < 13; ++j) {
      os << sep;
      if ((i + j) % 5) os << (i * j) % 7 - 1;
    }
    for (int f = 0; f < 26; ++f) {
      os << sep;
      if ((i + f) % 9) {
        char hex[9];
        std::snprintf(hex, sizeof hex, "%08x", unsigned((i % 4) * 0x1111 + f));
        os << hex;
      }
    }
    os << '\n';
  }
  return os.str();
}

void ctr_seeds() {
  const std::string tsv = criteo_rows(28, '\t');
  put_seed("ctr_text", "criteo-tsv", {0}, text_bytes(tsv));
  put_seed("ctr_text", "criteo-tsv-skip-m1", {4}, text_bytes(tsv + "1\tx\n"));
  std::string csv_header = "Id,Label";
  for (int j = 1; j <= 13; ++j) csv_header += ",I" + std::to_string(j);
  for (int f = 1; f <= 26; ++f) csv_header += ",C" + std::to_string(f);
  put_seed("ctr_text", "criteo-csv", {3}, text_bytes(csv_header + "\n" + criteo_rows(14, ',')));
  std::ostringstream av;
  av << "id,click,hour,C1,banner_pos,site_id\n";
  for (int i = 0; i < 20; ++i)
    av << i << ',' << (i % 4 == 0) << ",141021" << (i < 10 ? "00" : "01") << ",100" << i % 3 << ','
       << i % 2 << ",s" << i % 5 << '\n';
  put_seed("ctr_text", "avazu", {1}, text_bytes(av.str()));
  ctr::CtrSynthParams p;
  p.rows = 12;
  p.scale = 1e6;
  const std::string syn = (g_tmp / "s.ctrbin").string();
  ctr::generate_ctr_synthetic(p, syn);
  put_seed("ctr_text", "synthetic", {2}, slurp(syn));
  // A real cache: magic (8), version (4) and key (40) are what ctr_cache_fuzz.cpp writes
  // itself, and the 8-byte checksum it computes; the seed is the payload between them.
  const std::string in = (g_tmp / "c.tsv").string();
  std::ofstream(in) << tsv;
  ctr::CtrLoadOptions opt;
  opt.cache_dir = g_tmp.string();
  ctr::load_ctr_dataset("criteo:" + in, opt);
  const Bytes cache = slurp(ctr::ctr_cache_path("criteo:" + in, opt));
  EC_CHECK(cache.size() > 60, kRuntime, "fuzz_seeds: no CTR cache was written");
  put_seed("ctr_cache", "criteo-m4", {0}, Bytes(cache.begin() + 52, cache.end() - 8));
}

void spec_seeds() {
  int i = 0;
  for (const MethodEntry* e : registered_methods()) {
    std::vector<std::string> specs = e->ladder ? e->ladder(16) : std::vector<std::string>{};
    for (const std::string& head : budget_heads(*e)) specs.push_back(head + "@0.25");
    for (const std::string& s : specs)
      put_seed("method_spec", "spec" + std::to_string(i++), {15, 249}, text_bytes(s));
  }
  for (const char* s : {"PCA8,SQ8", "OPQ4,PQ4x8", "PCA8", "Dedup4x4@0.5", "SQ@8x"})
    put_seed("method_spec", "spec" + std::to_string(i++), {15, 249}, text_bytes(s));
  for (const auto& m : ctr::table_methods())
    for (const std::string s : {m.name, m.name + "@0.5", m.name + "@4x"})
      put_seed("method_spec", "ctr-" + s, {0x80 | 7, 40}, text_bytes(s));
}

void sweep_seeds() {
  // Records as the sweep writes them (check_sweep_record accepts them), then a line cut by
  // an interrupt, which the --resume reader drops.
  put_seed(
      "sweep_records", "jsonl", {0},
      text_bytes(
          R"({"budget":"8x","family":"SQ","key":"8x|SQ@8x","split":"val","method":"SQ@8x","status":"ok","knob":"bits=4","total_bytes":2000,"ram_bytes":2000,"disk_bytes":2100,"faiss_family":false,"within_budget":true,"compression_ratio":8.0,"budget_actual":0.125,"qps":1000.5,"latency_p50_ms":0.2,"build_s":0.1,"recall_at_10":0.9,"ndcg_at_10":0.8,"pareto_bytes":true}
{"budget":"8x","family":"PQ","key":"8x|PQ@8x","split":"test","method":"PQ@8x","status":"ok","total_bytes":1000,"faiss_family":false,"within_budget":true,"compression_ratio":16.0,"budget_actual":0.0625,"qps":3000,"latency_p50_ms":0.1,"build_s":0.2,"recall_at_10":0.8,"rerank":"FP16","rerank_factor":4}
{"budget":"64x","family":"FP16","key":"64x|FP16","split":"val","method":"FP16","status":"unreachable","error":"smallest ratio 2x"}
{"budget":"8x","family":"TT","key":"8x|TT@8x","split":"val","method":"TT@8x","status":"failed","error":"x"}
{"budget":"8x","family":"PQ","spec)"));
  put_seed("sweep_records", "quality-recall", {1}, text_bytes("recall@10"));
  put_seed("sweep_records", "quality-ndcg", {1}, text_bytes("ndcg@10"));
  put_seed("sweep_records", "budget-x", {2}, text_bytes("8x"));
  put_seed("sweep_records", "budget-fraction", {2}, text_bytes("0.125"));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: embcomp_fuzz_seeds OUT_DIR\n";
    return 2;
  }
  try {
    g_out = argv[1];
    g_tmp = g_out / ".tmp";
    fs::create_directories(g_tmp);
    vec_reader_seeds();
    eval_text_seeds();
    ctr_seeds();
    spec_seeds();
    sweep_seeds();
    index_seeds();
    fs::remove_all(g_tmp);
  } catch (const Error& e) {
    std::cerr << "fuzz_seeds: " << e.message() << "\n";
    return 1;
  }
  return 0;
}
