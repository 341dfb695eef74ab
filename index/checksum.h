// A fast 64-bit checksum of index files and their sections (reliability review #18, #19):
// own-index sections carry one each, the .json sidecar and the .rerank store record the
// checksum of the index file they belong to (the "build id"), so that a flipped byte or a
// sidecar from another build is refused at load.
//
// Definition (little endian): the bytes are read as u64 words w_1..w_m (the last one
// zero-padded), then, with step(h, w) = g((h ^ w) * 0x9e3779b97f4a7c15), g(h) = h ^ (h >> 29):
//   h = 0;  h = step(h, w_i) for each word;  h = step(h, 0x6a09e667f3bcc909 ^ length in bytes)
// Each step is a bijection of h for a fixed word, so any change confined to one word
// changes the result. It is not a cryptographic hash: it detects corruption, not forgery
// (the loaders validate the contents anyway).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace embcomp {

/// Streaming form: update() in pieces of any size gives the same value as one call.
class Checksum64 {
 public:
  void update(const void* data, size_t bytes);
  uint64_t value() const;

 private:
  uint64_t h_ = 0, bytes_ = 0;
  uint64_t pending_ = 0;  ///< bytes of the word being assembled
  size_t pending_n_ = 0;  ///< how many of them
  void mix(uint64_t w);
};

uint64_t checksum64(const void* data, size_t bytes);

/// Checksum of bytes [offset, offset + bytes) of a file (the whole file by default);
/// throws kBadInput when the file cannot be read.
uint64_t file_checksum64(const std::string& path, uint64_t offset = 0, uint64_t bytes = UINT64_MAX);

/// 16 lowercase hex digits.
std::string hex64(uint64_t v);

}  // namespace embcomp
