#include "toolkit/error.h"

#include <algorithm>

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

std::string printable(std::string_view s, size_t max_len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  const size_t shown = std::min(s.size(), max_len);
  out.reserve(shown + 3);
  for (size_t i = 0; i < shown; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c >= 0x20 && c <= 0x7e) {
          out.push_back(char(c));
        } else {
          out += "\\x";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        }
    }
  }
  if (shown < s.size()) out += "...";
  return out;
}

std::string one_line(std::string_view msg) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(msg.size());
  for (const char ch : msg) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 0x20 && c != 0x7f) {
      out.push_back(ch);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

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
