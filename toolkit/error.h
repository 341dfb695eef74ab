// Errors: one exception type, thrown through EC_CHECK, mapped to exit codes by the CLI.
//
// Kind tells the CLI what to do: kBadInput/kUsage -> exit 2, kRuntime -> exit 1,
// kQualityGate -> exit 3. Messages are built from values with a stream, e.g.
//   EC_CHECK(d % M == 0, kBadInput, "d=" << d << " is not divisible by M=" << M);
#pragma once

#include <exception>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace embcomp {

enum class ErrorKind { kUsage, kBadInput, kRuntime, kQualityGate };

class Error : public std::runtime_error {
 public:
  Error(ErrorKind kind, const std::string& msg, const char* file, int line);
  ErrorKind kind() const { return kind_; }
  /// The message without the file:line suffix (what the CLI prints).
  const std::string& message() const { return message_; }
  /// Where it was thrown, "file.cpp:123".
  const std::string& where() const { return where_; }

 private:
  ErrorKind kind_;
  std::string message_;
  std::string where_;
};

/// Text from an input file made safe to quote in a one-line error message: bytes outside
/// printable ASCII (0x20..0x7e) become \n, \r, \t or \xNN, a backslash becomes \\, and after
/// max_len bytes of s the rest is replaced by "...". So a newline or an ESC sequence in a
/// hostile file cannot split the message or drive the terminal.
std::string printable(std::string_view s, size_t max_len = 80);

/// msg with its control bytes (0x00..0x1f, 0x7f) escaped as \n, \r, \t or \xNN and every
/// other byte kept (backslashes, UTF-8 names): the last step before a message reaches
/// stderr, so text echoed from the command line (`--method $'SQ\n8'`) cannot start a second
/// line or send an escape sequence to the terminal.
std::string one_line(std::string_view msg);

/// Exit code the CLI uses for an error kind: 2 usage/bad input, 1 runtime, 3 quality gate.
int exit_code(ErrorKind kind);

/// Collects the first exception thrown inside an OpenMP loop and rethrows it after the
/// loop, so that no exception escapes a parallel region (FAISS does the same).
class OmpExceptionGuard {
 public:
  template <class F>
  void run(F&& f) noexcept {
    try {
      f();
    } catch (...) {
#pragma omp critical(embcomp_omp_exception_guard)
      {
        if (!first_) first_ = std::current_exception();
      }
    }
  }
  void rethrow() {
    if (first_) std::rethrow_exception(first_);
  }

 private:
  std::exception_ptr first_;
};

}  // namespace embcomp

#define EC_THROW(kind, msg_expr)                                                       \
  do {                                                                                 \
    std::ostringstream ec_msg_stream_;                                                 \
    ec_msg_stream_ << msg_expr;                                                        \
    throw ::embcomp::Error(::embcomp::ErrorKind::kind, ec_msg_stream_.str(), __FILE__, \
                           __LINE__);                                                  \
  } while (0)

/// Throws an embcomp::Error of the given kind when cond is false.
#define EC_CHECK(cond, kind, msg_expr) \
  do {                                 \
    if (!(cond)) EC_THROW(kind, msg_expr); \
  } while (0)
