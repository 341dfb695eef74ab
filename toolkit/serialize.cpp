#include "toolkit/serialize.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "toolkit/io.h"

namespace embcomp {

static_assert(std::endian::native == std::endian::little,
              "serialize.cpp writes the host's byte order, which must be little endian");

namespace {

/// Bytes buffered before a write(2).
constexpr size_t kWriteBuffer = size_t{1} << 20;

/// O_NOFOLLOW for a path by name; not for AtomicFile::write_path()'s "/proc/self/fd/N",
/// a link to the open temporary itself that O_NOFOLLOW would refuse (ELOOP).
int writer_open_flags(const std::string& path) {
  const bool own_fd = path.rfind("/proc/self/fd/", 0) == 0;
  return O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (own_fd ? 0 : O_NOFOLLOW);
}

}  // namespace

BinaryWriter::BinaryWriter(AtomicFile& file) : fd_(file.fd()), what_(file.path()) {}

BinaryWriter::BinaryWriter(const std::string& path, std::string what)
    : fd_(::open(path.c_str(), writer_open_flags(path), 0666)),
      owns_fd_(true),
      what_(std::move(what)) {
  if (fd_ < 0) {
    const int err = errno;
    if (path.rfind("/proc/self/fd/", 0) == 0)
      EC_THROW(kRuntime, what_ << ": cannot reopen its temporary: " << std::strerror(err));
    EC_THROW(kRuntime, what_ << ": cannot create '" << path << "': " << std::strerror(err));
  }
}

BinaryWriter::~BinaryWriter() {
  if (owns_fd_ && fd_ >= 0) ::close(fd_);
}

void BinaryWriter::write_at(uint64_t offset, const void* p, size_t bytes) {
  const auto* c = static_cast<const char*>(p);
  while (bytes > 0) {
    const ssize_t w = ::pwrite(fd_, c, bytes, off_t(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      EC_THROW(kRuntime, what_ << ": write failed: " << std::strerror(err));
    }
    c += w;
    offset += uint64_t(w);
    bytes -= size_t(w);
  }
}

void BinaryWriter::flush() {
  EC_CHECK(fd_ >= 0, kRuntime, what_ << ": write after close");
  write_at(pos_ - buf_.size(), buf_.data(), buf_.size());
  buf_.clear();
}

void BinaryWriter::put_bytes(const void* p, size_t bytes) {
  if (bytes == 0) return;
  if (buf_.size() + bytes > kWriteBuffer) {
    flush();
    if (bytes >= kWriteBuffer) {  // large payloads (codes) go straight to the file
      write_at(pos_, p, bytes);
      pos_ += bytes;
      return;
    }
  }
  const auto* c = static_cast<const char*>(p);
  buf_.insert(buf_.end(), c, c + bytes);
  pos_ += bytes;
}

void BinaryWriter::put_string(const std::string& s) {
  put_u64(s.size());
  put_bytes(s.data(), s.size());
}

void BinaryWriter::begin_section(const char name[4]) {
  put_bytes(name, 4);
  open_sections_.push_back(position());
  put_u64(0);
}

void BinaryWriter::end_section() {
  EC_CHECK(!open_sections_.empty(), kRuntime, what_ << ": end_section without begin_section");
  const uint64_t at = open_sections_.back();
  open_sections_.pop_back();
  const uint64_t len = pos_ - at - 8;
  const uint64_t buffered_from = pos_ - buf_.size();
  if (at >= buffered_from) {
    std::memcpy(buf_.data() + (at - buffered_from), &len, 8);
  } else {
    write_at(at, &len, 8);
  }
}

void BinaryWriter::pad_to(size_t alignment) {
  static const char zeros[64] = {};
  size_t pad = size_t((alignment - pos_ % alignment) % alignment);
  while (pad > 0) {
    const size_t c = std::min(pad, sizeof(zeros));
    put_bytes(zeros, c);
    pad -= c;
  }
}

void BinaryWriter::close() {
  EC_CHECK(open_sections_.empty(), kRuntime, what_ << ": a section was not closed");
  flush();
  if (owns_fd_) {
    if (::close(std::exchange(fd_, -1)) != 0) {
      const int err = errno;
      EC_THROW(kRuntime, what_ << ": write failed on close: " << std::strerror(err));
    }
  } else {
    fd_ = -1;
  }
}

BinaryReader::BinaryReader(const std::string& path, std::string what) : what_(std::move(what)) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  EC_CHECK(std::filesystem::exists(status), kBadInput, what_ << ": no such file");
  // Refused before opening: opening a FIFO would wait for a writer.
  EC_CHECK(std::filesystem::is_regular_file(status), kBadInput,
           what_ << ": is not a regular file (a folder, FIFO, socket or device)");
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
                 << pos_ - 4 << ", found '" << printable(std::string_view(got, 4)) << "'");
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
