#include "toolkit/error.h"

namespace embcomp {

namespace {
std::string basename_of(const char* file) {
  std::string f(file);
  auto pos = f.find_last_of('/');
  return pos == std::string::npos ? f : f.substr(pos + 1);
}
}  // namespace

Error::Error(ErrorKind kind, const std::string& msg, const char* file, int line)
    : std::runtime_error(msg + " (" + basename_of(file) + ":" + std::to_string(line) + ")"),
      kind_(kind),
      message_(msg),
      where_(basename_of(file) + ":" + std::to_string(line)) {}

int exit_code(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
    case ErrorKind::kBadInput:
      return 2;
    case ErrorKind::kQualityGate:
      return 3;
    case ErrorKind::kRuntime:
      break;
  }
  return 1;
}

}  // namespace embcomp
