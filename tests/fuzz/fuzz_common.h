// Shared pieces of the libFuzzer harnesses (tests/fuzz/*_fuzz.cpp, docs/testing.md).
//
// Every harness feeds one input surface with arbitrary bytes. embcomp::Error is the
// expected rejection of a hostile input. Any other exception is tolerated by default (the
// CLI maps it to exit 1, not a crash) but counts as a finding under EMBCOMP_FUZZ_STRICT=1,
// where it aborts so that libFuzzer saves the input. Crashes are what ASan, UBSan,
// libFuzzer's -malloc_limit_mb / -rss_limit_mb / -timeout and signals report.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "toolkit/error.h"

namespace embcomp::fuzz {

/// A file holding bytes for one run of a harness, removed when it goes out of scope.
/// Named "<TMPDIR>/embcomp-fuzz-<pid>-<tag><ext>": readers pick the format from ext.
class TempFile {
 public:
  TempFile(const std::string& tag, const std::string& ext, const uint8_t* data, size_t size) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir && *dir ? dir : "/tmp") + "/embcomp-fuzz-" +
            std::to_string(::getpid()) + "-" + tag + ext;
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    if (!f) std::abort();  // the harness cannot run at all: not an input finding
    if (size && std::fwrite(data, 1, size, f) != size) std::abort();
    std::fclose(f);
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

/// Runs f, swallowing embcomp::Error; other exceptions abort under EMBCOMP_FUZZ_STRICT=1.
template <class F>
void guarded(F&& f) {
  try {
    f();
  } catch (const embcomp::Error&) {
  } catch (const std::exception& e) {
    static const bool strict = [] {
      const char* s = std::getenv("EMBCOMP_FUZZ_STRICT");
      return s && *s && *s != '0';
    }();
    if (strict) {
      std::fprintf(stderr, "embcomp fuzz: non-embcomp exception: %s\n", e.what());
      std::abort();
    }
  }
}

/// Reads every element, so that a reader's result is used (and ASan checks its memory).
template <class V>
void touch(const V& values) {
  volatile double sink = 0;
  for (const auto& v : values) sink = sink + double(v);
  (void)sink;
}

}  // namespace embcomp::fuzz
