// The binary CTR cache (eval/ctr_data.cpp read_cache, reached through load_ctr_dataset).
// A cache is only read when its key (the input file's size and mtime, the options) and
// its checksum match, which random bytes never do; so the harness writes the header the
// loader expects (magic, version, the key of a fixed input file) and the checksum, and
// the fuzzer controls everything in between: the payload, walked below in the reader's
// order so that the checksum covers the same byte spans the reader feeds it.
// Byte 0 bit 0: keep payload bytes past the last field the reader takes (trailing junk);
// the rest is the payload. The fixed input file is not valid Criteo text, so a rejected
// cache ends in a quick kBadInput from the parser instead of a rebuilt cache.
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "eval/ctr_cache_checksum.h"
#include "eval/ctr_data.h"
#include "tests/fuzz/fuzz_common.h"

namespace {

using Checksum = embcomp::ctr::CacheChecksum;  // eval/ctr_cache_checksum.h

/// Walks the payload in the spans eval/ctr_data.cpp's CacheReader reads, checksumming each.
struct Walker {
  const uint8_t* p;
  size_t left;
  Checksum* sum;
  bool bytes(size_t n) {
    if (n > left) return false;
    sum->update(p, n);
    p += n;
    left -= n;
    return true;
  }
  template <class T>
  bool pod(T* v) {
    if (sizeof(T) > left) return false;
    std::memcpy(v, p, sizeof(T));
    return bytes(sizeof(T));
  }
  bool str() {
    uint64_t n;
    return pod(&n) && n <= left && bytes(size_t(n));
  }
  template <class T>
  bool vec() {
    uint64_t n;
    return pod(&n) && n <= left / sizeof(T) && bytes(size_t(n) * sizeof(T));
  }
};

/// The cache layout after the key (eval/ctr_data.cpp write_cache/read_cache).
bool walk_payload(Walker& w) {
  int32_t nd, nf;
  uint64_t nnames;
  if (!(w.pod(&nd) && w.pod(&nf) && w.pod(&nnames) && nnames <= 256)) return false;
  for (uint64_t i = 0; i < nnames; ++i)
    if (!w.str()) return false;
  int64_t skipped;
  if (!(w.vec<int64_t>() && w.vec<uint32_t>() && w.str() && w.pod(&skipped))) return false;
  for (int s = 0; s < 3; ++s) {
    int64_t n;
    if (!(w.pod(&n) && w.vec<float>() && w.vec<int32_t>() && w.vec<float>() && w.vec<float>()))
      return false;
  }
  return true;
}

const std::string& input_file() {
  static const std::string path = [] {
    static embcomp::fuzz::TempFile f("ctrcache-input", ".tsv",
                                     reinterpret_cast<const uint8_t*>("not criteo\n"), 11);
    return f.path();
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  const std::string source = "criteo:" + input_file();
  ctr::CtrLoadOptions opt;  // defaults: min_count 4, no skip, all rows, cache next to input
  struct stat st;
  if (::stat(input_file().c_str(), &st) != 0) return 0;
  // Header: magic, version 1, key {size, mtime_ns, kind 1 (criteo), min_count, skip,
  // reserved, max_rows}, 40 bytes without padding.
  std::vector<uint8_t> file;
  auto put = [&file](const void* p, size_t n) {
    file.insert(file.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n);
  };
  const uint32_t version = 1, kind = 1, skip = 0, reserved = 0;
  const uint64_t fsize = uint64_t(st.st_size);
  const int64_t mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + int64_t(st.st_mtim.tv_nsec);
  const int32_t min_count = opt.min_count;
  const int64_t max_rows = opt.max_rows;
  put("ECCTRCAC", 8);
  put(&version, 4);
  put(&fsize, 8);
  put(&mtime_ns, 8);
  put(&kind, 4);
  put(&min_count, 4);
  put(&skip, 4);
  put(&reserved, 4);
  put(&max_rows, 8);
  Checksum sum;
  sum.update(file.data(), 8);
  sum.update(file.data() + 8, 4);
  sum.update(file.data() + 12, 40);
  Walker w{data + 1, size - 1, &sum};
  const bool whole = walk_payload(w);
  const size_t used = (whole && !(data[0] & 1)) ? size - 1 - w.left : size - 1;
  put(data + 1, used);
  put(&sum.h, 8);
  const std::string cache = ctr::ctr_cache_path(source, opt);
  {
    std::FILE* f = std::fopen(cache.c_str(), "wb");
    if (!f) std::abort();
    if (std::fwrite(file.data(), 1, file.size(), f) != file.size()) std::abort();
    std::fclose(f);
  }
  fuzz::guarded([&] {
    ctr::CtrDataset ds = ctr::load_ctr_dataset(source, opt);
    fuzz::touch(ds.field_offsets);
    fuzz::touch(ds.counts);
    for (const ctr::CtrSplit* s : {&ds.train, &ds.val, &ds.test}) {
      fuzz::touch(s->dense);
      fuzz::touch(s->cat);
      fuzz::touch(s->label);
      fuzz::touch(s->oracle_p);
    }
  });
  ::unlink(cache.c_str());
  return 0;
}
