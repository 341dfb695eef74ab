// Binary serialization of embcomp's own artifacts (index files, rerank sidecars): a
// writer and a reader over a file, little endian, every read checked.
//
// Layout conventions (STYLE.md, Serialization):
//   integers     u32 / u64 little endian
//   string       u64 length, then the bytes (no terminator)
//   vector<T>    u64 count, then count * sizeof(T) bytes
//   section      4-byte name, u64 payload length, payload (so a reader can check that a
//                section is complete before it allocates anything for it)
// The reader knows the file size: a length that would run past the end of the file is
// reported as a truncated file (kBadInput) before anything is allocated.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#include "toolkit/error.h"

namespace embcomp {

class AtomicFile;

/// Buffered writer over a file descriptor; every failed write throws kRuntime naming the
/// final file.
class BinaryWriter {
 public:
  /// Writes into an AtomicFile's temporary through its descriptor (the caller commits).
  explicit BinaryWriter(AtomicFile& file);
  /// Opens path (normally an AtomicFile's write_path()) for writing, truncating it. The last
  /// component is not followed when it is a symlink. `what` names the final file in errors.
  BinaryWriter(const std::string& path, std::string what);
  ~BinaryWriter();
  BinaryWriter(const BinaryWriter&) = delete;
  BinaryWriter& operator=(const BinaryWriter&) = delete;
  void put_bytes(const void* p, size_t bytes);
  void put_u32(uint32_t v) { put_bytes(&v, 4); }
  void put_u64(uint64_t v) { put_bytes(&v, 8); }
  void put_f32(float v) { put_bytes(&v, 4); }
  void put_string(const std::string& s);
  template <class T>
  void put_vector(const std::vector<T>& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    put_u64(v.size());
    put_bytes(v.data(), v.size() * sizeof(T));
  }
  /// Starts a section: writes the name and a length placeholder, patched by end_section.
  void begin_section(const char name[4]);
  void end_section();
  /// Zero bytes up to the next multiple of alignment (from the start of the file).
  void pad_to(size_t alignment);
  uint64_t position() const { return pos_; }
  /// Writes what is buffered and, when the writer opened the file itself, closes it; throws
  /// kRuntime when any write failed.
  void close();

 private:
  void flush();
  void write_at(uint64_t offset, const void* p, size_t bytes);

  int fd_ = -1;
  bool owns_fd_ = false;
  std::string what_;
  std::vector<char> buf_;                ///< bytes from file offset pos_ - buf_.size() to pos_
  uint64_t pos_ = 0;                     ///< bytes written so far (the file starts empty)
  std::vector<uint64_t> open_sections_;  ///< file offsets of the length placeholders
};

class BinaryReader {
 public:
  /// Opens path; what names it in messages ("x.idx"). Throws kBadInput when it cannot.
  BinaryReader(const std::string& path, std::string what);
  /// Reads exactly bytes; throws kBadInput "<what>: truncated ..." when the file ends.
  void get_bytes(void* p, size_t bytes);
  uint32_t get_u32();
  uint64_t get_u64();
  float get_f32();
  /// A string of at most max_len bytes.
  std::string get_string(size_t max_len = 4096);
  /// A vector of count elements, where count is checked against the bytes left and
  /// against expected when expected is given (SIZE_MAX: any count).
  template <class T>
  std::vector<T> get_vector(size_t expected = SIZE_MAX) {
    static_assert(std::is_trivially_copyable_v<T>);
    const uint64_t count = get_u64();
    EC_CHECK(expected == SIZE_MAX || count == expected, kBadInput,
             what_ << ": corrupt file: a vector holds " << count << " elements, expected "
                   << expected);
    check_left(count, sizeof(T));
    std::vector<T> v(count);
    get_bytes(v.data(), count * sizeof(T));
    return v;
  }
  /// Reads a section header, checks its name, and returns its payload length.
  uint64_t begin_section(const char name[4]);
  /// Checks that exactly the section's payload was read.
  void end_section();
  /// Throws kBadInput unless count * size bytes are left in the file.
  void check_left(uint64_t count, size_t size);
  void skip_to_alignment(size_t alignment);
  uint64_t position() const { return pos_; }
  uint64_t size() const { return size_; }
  const std::string& what() const { return what_; }

 private:
  std::ifstream is_;
  std::string what_;
  uint64_t size_ = 0, pos_ = 0;
  std::vector<uint64_t> section_ends_;
};

}  // namespace embcomp
