#include "toolkit/serialize.h"

#include <bit>
#include <cstring>
#include <filesystem>

namespace embcomp {

static_assert(std::endian::native == std::endian::little,
              "serialize.cpp writes the host's byte order, which must be little endian");

BinaryWriter::BinaryWriter(const std::string& path, std::string what)
    : os_(path, std::ios::binary | std::ios::trunc), what_(std::move(what)) {
  EC_CHECK(os_.is_open(), kRuntime, what_ << ": cannot create '" << path << "'");
}

void BinaryWriter::put_bytes(const void* p, size_t bytes) {
  if (bytes == 0) return;
  os_.write(static_cast<const char*>(p), std::streamsize(bytes));
  EC_CHECK(os_.good(), kRuntime, what_ << ": write failed (disk full?)");
}

void BinaryWriter::put_string(const std::string& s) {
  put_u64(s.size());
  put_bytes(s.data(), s.size());
}

uint64_t BinaryWriter::position() {
  const auto p = os_.tellp();
  EC_CHECK(p >= 0, kRuntime, what_ << ": cannot tell the write position");
  return uint64_t(p);
}

void BinaryWriter::begin_section(const char name[4]) {
  put_bytes(name, 4);
  open_sections_.push_back(position());
  put_u64(0);
}

void BinaryWriter::end_section() {
  EC_CHECK(!open_sections_.empty(), kRuntime, what_ << ": end_section without begin_section");
  const uint64_t at = open_sections_.back(), end = position();
  open_sections_.pop_back();
  const uint64_t len = end - at - 8;
  os_.seekp(std::streamoff(at));
  put_u64(len);
  os_.seekp(std::streamoff(end));
  EC_CHECK(os_.good(), kRuntime, what_ << ": seek failed");
}

void BinaryWriter::pad_to(size_t alignment) {
  static const char zeros[64] = {};
  const uint64_t p = position();
  size_t pad = size_t((alignment - p % alignment) % alignment);
  while (pad > 0) {
    const size_t c = std::min(pad, sizeof(zeros));
    put_bytes(zeros, c);
    pad -= c;
  }
}

void BinaryWriter::close() {
  EC_CHECK(open_sections_.empty(), kRuntime, what_ << ": a section was not closed");
  os_.flush();
  EC_CHECK(os_.good(), kRuntime, what_ << ": write failed (disk full?)");
  os_.close();
  EC_CHECK(!os_.fail(), kRuntime, what_ << ": closing failed");
}

BinaryReader::BinaryReader(const std::string& path, std::string what) : what_(std::move(what)) {
  std::error_code ec;
  EC_CHECK(std::filesystem::is_regular_file(path, ec), kBadInput, what_ << ": no such file");
  size_ = std::filesystem::file_size(path, ec);
  EC_CHECK(!ec, kBadInput, what_ << ": cannot read its size: " << ec.message());
  is_.open(path, std::ios::binary);
  EC_CHECK(is_.is_open(), kBadInput, what_ << ": cannot open for reading");
}

void BinaryReader::check_left(uint64_t count, size_t size) {
  const uint64_t left = size_ - pos_;
  EC_CHECK(size == 0 || count <= left / size, kBadInput,
           what_ << ": truncated or corrupt file: " << count << " x " << size << " bytes needed at offset "
                 << pos_ << " but only " << left << " bytes are left");
}

void BinaryReader::get_bytes(void* p, size_t bytes) {
  if (bytes == 0) return;
  check_left(bytes, 1);
  is_.read(static_cast<char*>(p), std::streamsize(bytes));
  EC_CHECK(is_.good(), kBadInput, what_ << ": read failed at offset " << pos_);
  pos_ += bytes;
}

uint32_t BinaryReader::get_u32() {
  uint32_t v;
  get_bytes(&v, 4);
  return v;
}

uint64_t BinaryReader::get_u64() {
  uint64_t v;
  get_bytes(&v, 8);
  return v;
}

float BinaryReader::get_f32() {
  float v;
  get_bytes(&v, 4);
  return v;
}

std::string BinaryReader::get_string(size_t max_len) {
  const uint64_t len = get_u64();
  EC_CHECK(len <= max_len, kBadInput,
           what_ << ": corrupt file: a string of " << len << " bytes at offset " << pos_ - 8
                 << " (at most " << max_len << " expected)");
  std::string s(len, '\0');
  get_bytes(s.data(), len);
  return s;
}

uint64_t BinaryReader::begin_section(const char name[4]) {
  char got[4];
  get_bytes(got, 4);
  EC_CHECK(std::memcmp(got, name, 4) == 0, kBadInput,
           what_ << ": corrupt file: expected section '" << std::string(name, 4) << "' at offset "
                 << pos_ - 4 << ", found '" << std::string(got, 4) << "'");
  const uint64_t len = get_u64();
  check_left(len, 1);
  section_ends_.push_back(pos_ + len);
  return len;
}

void BinaryReader::end_section() {
  EC_CHECK(!section_ends_.empty(), kRuntime, what_ << ": end_section without begin_section");
  const uint64_t end = section_ends_.back();
  section_ends_.pop_back();
  EC_CHECK(pos_ == end, kBadInput,
           what_ << ": corrupt file: a section ends at offset " << end << " but its contents end at "
                 << pos_);
}

void BinaryReader::skip_to_alignment(size_t alignment) {
  const size_t pad = size_t((alignment - pos_ % alignment) % alignment);
  char buf[64];
  EC_CHECK(pad <= sizeof(buf), kRuntime, "skip_to_alignment: alignment too large");
  get_bytes(buf, pad);
}

}  // namespace embcomp
