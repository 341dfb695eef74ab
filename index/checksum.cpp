#include "index/checksum.h"

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "toolkit/error.h"

namespace embcomp {

namespace {
constexpr uint64_t kSeed = 0x6a09e667f3bcc909ULL;
constexpr uint64_t kMul = 0x9e3779b97f4a7c15ULL;
}  // namespace

void Checksum64::mix(uint64_t w) {
  h_ = (h_ ^ w) * kMul;
  h_ ^= h_ >> 29;
}

void Checksum64::update(const void* data, size_t bytes) {
  const auto* p = static_cast<const uint8_t*>(data);
  bytes_ += bytes;
  while (bytes > 0 && pending_n_ > 0) {  // finish a word started by an earlier call
    pending_ |= uint64_t(*p++) << (8 * pending_n_);
    --bytes;
    if (++pending_n_ == 8) {
      mix(pending_);
      pending_ = 0;
      pending_n_ = 0;
    }
  }
  for (; bytes >= 8; bytes -= 8, p += 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    mix(w);
  }
  for (; bytes > 0; --bytes) pending_ |= uint64_t(*p++) << (8 * pending_n_++);
}

uint64_t Checksum64::value() const {
  Checksum64 c = *this;
  if (c.pending_n_ > 0) c.mix(c.pending_);
  c.mix(kSeed ^ bytes_);
  return c.h_;
}

uint64_t checksum64(const void* data, size_t bytes) {
  Checksum64 c;
  c.update(data, bytes);
  return c.value();
}

uint64_t file_checksum64(const std::string& path, uint64_t offset, uint64_t bytes) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  EC_CHECK(f, kBadInput, path << ": cannot open: " << std::strerror(errno));
  EC_CHECK(std::fseek(f.get(), long(offset), SEEK_SET) == 0, kBadInput, path << ": cannot seek");
  Checksum64 c;
  std::vector<uint8_t> buf(1 << 20);
  while (bytes > 0) {
    const size_t want = size_t(std::min<uint64_t>(bytes, buf.size()));
    const size_t got = std::fread(buf.data(), 1, want, f.get());
    c.update(buf.data(), got);
    if (got < want) {
      EC_CHECK(!std::ferror(f.get()), kBadInput, path << ": read error");
      EC_CHECK(bytes == UINT64_MAX, kBadInput, path << ": truncated");
      break;
    }
    if (bytes != UINT64_MAX) bytes -= got;
  }
  return c.value();
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace embcomp
