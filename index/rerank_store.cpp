#include "index/rerank_store.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {
constexpr char kMagic[8] = {'E', 'M', 'B', 'C', 'R', 'R', 'K', '\0'};
constexpr size_t kCodesAlignment = 64;
}  // namespace

std::string rerank_store_path(const std::string& index_path) { return index_path + ".rerank"; }

namespace {
const MethodEntry& last_component(const std::string& spec) {
  const auto comma = spec.rfind(',');
  return find_method(comma == std::string::npos ? spec : spec.substr(comma + 1));
}
}  // namespace

void check_rerank_spec(const std::string& spec) {
  check_spec(spec);
  EC_CHECK(last_component(spec).kind != MethodKind::kTable && spec.find('@') == std::string::npos,
           kBadInput, "--rerank " << spec << ": the re-ranking representation must be a codec (Flat, FP16, SQ8, ...)");
}

size_t write_rerank_store_to(const std::string& tmp_path, const std::string& what,
                             MatrixView<float> base, const std::string& spec, uint64_t seed,
                             uint64_t build_id) {
  check_rerank_spec(spec);
  const MethodEntry& e = last_component(spec);
  auto codec = make_codec(spec, base.d, seed);
  codec->train(base);
  std::vector<uint8_t> codes(checked_mul(base.n, codec->code_size()));
  codec->encode(base, codes.data());
  BinaryWriter w(tmp_path, what);
  w.put_bytes(kMagic, 8);
  w.put_u32(kRerankStoreVersion);
  w.begin_section("HEAD");
  w.put_string(e.name);
  w.put_string(spec);
  w.put_u64(seed);
  w.put_u64(base.n);
  w.put_u64(base.d);
  w.put_u64(codec->code_size());
  w.put_u64(build_id);
  w.end_section();
  w.begin_section("MODL");
  codec->save(w);
  w.end_section();
  w.pad_to(kCodesAlignment);
  w.put_bytes(codes.data(), codes.size());
  w.close();
  return codes.size() + codec->model_bytes();
}

size_t write_rerank_store(const std::string& path, MatrixView<float> base, const std::string& spec,
                          uint64_t seed, uint64_t build_id) {
  AtomicFile file(path);
  const size_t bytes = write_rerank_store_to(file.write_path(), path, base, spec, seed, build_id);
  file.commit();
  return bytes;
}

std::unique_ptr<MappedRerankStore> MappedRerankStore::open(const std::string& path) {
  std::unique_ptr<MappedRerankStore> s(new MappedRerankStore());
  uint64_t codes_offset = 0;
  {
    BinaryReader r(path, path);
    char magic[8] = {};
    EC_CHECK(r.size() >= 12, kBadInput, path << ": not an embcomp rerank store (only " << r.size() << " bytes)");
    r.get_bytes(magic, 8);
    EC_CHECK(std::memcmp(magic, kMagic, 8) == 0, kBadInput,
             path << ": not an embcomp rerank store (wrong magic bytes)");
    const uint32_t version = r.get_u32();
    EC_CHECK(version == kRerankStoreVersion, kBadInput,
             path << ": rerank store format version " << version << "; this build reads version "
                  << kRerankStoreVersion << " (with a build id): rebuild the index with --rerank");
    r.begin_section("HEAD");
    const std::string tag = r.get_string(256), spec = r.get_string();
    const uint64_t seed = r.get_u64(), n = r.get_u64(), d = r.get_u64(), cs = r.get_u64();
    s->build_id_ = r.get_u64();
    r.end_section();
    EC_CHECK(n >= 1 && d >= 1 && d <= (uint64_t{1} << 20), kBadInput,
             path << ": corrupt header (n=" << n << ", d=" << d << ")");
    s->codec_ = make_codec(spec, d, seed);
    EC_CHECK(last_component(spec).name == tag &&
                 s->codec_->code_size() == cs,
             kBadInput, path << ": corrupt header (tag " << tag << ", code_size " << cs << " for " << spec << ")");
    r.begin_section("MODL");
    s->codec_->load(r);
    r.end_section();
    r.skip_to_alignment(kCodesAlignment);
    codes_offset = r.position();
    EC_CHECK(r.size() - codes_offset == checked_mul(n, cs), kBadInput,
             path << ": truncated or corrupt: " << r.size() - codes_offset << " bytes of codes, expected "
                  << n * cs);
    s->n_ = n;
    s->map_bytes_ = r.size();
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EC_CHECK(fd >= 0, kBadInput, path << ": cannot open: " << std::strerror(errno));
  void* m = ::mmap(nullptr, s->map_bytes_, PROT_READ, MAP_SHARED, fd, 0);
  const int err = errno;
  ::close(fd);
  EC_CHECK(m != MAP_FAILED, kRuntime, path << ": mmap failed: " << std::strerror(err));
  ::madvise(m, s->map_bytes_, MADV_RANDOM);  // candidates are scattered rows
  s->map_ = m;
  s->codes_ = static_cast<const uint8_t*>(m) + codes_offset;
  return s;
}

MappedRerankStore::~MappedRerankStore() {
  if (map_) ::munmap(map_, map_bytes_);
}

void MappedRerankStore::compress(MatrixView<float>) {
  EC_THROW(kRuntime, "a mapped rerank store is read-only");
}

void MappedRerankStore::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
  const size_t cs = codec_->code_size();
  std::vector<uint8_t> gathered(count * cs);
  for (size_t i = 0; i < count; ++i)
    std::memcpy(&gathered[i * cs], codes_ + size_t(ids[i]) * cs, cs);
  codec_->decode(gathered.data(), count, out);
}

}  // namespace embcomp
