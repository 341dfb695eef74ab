#include "toolkit/registry.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>

#include "compressors/pipeline.h"
#include "toolkit/error.h"

namespace embcomp {

namespace {

struct Compiled {
  MethodEntry entry;
  std::regex re;
};

std::map<std::string, Compiled>& table() {
  static std::map<std::string, Compiled> t;
  return t;
}

std::vector<std::string> split_components(const std::string& spec) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : spec) {
    if (c == ',') {
      parts.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

const Compiled* match(const std::string& component, std::vector<std::string>* groups) {
  for (auto& [name, c] : table()) {
    std::smatch m;
    if (std::regex_match(component, m, c.re)) {
      if (groups) {
        groups->clear();
        for (const auto& g : m) groups->push_back(g.str());
      }
      return &c;
    }
  }
  return nullptr;
}

std::string known_grammars() {
  std::ostringstream os;
  bool first = true;
  for (auto& [name, c] : table()) {
    os << (first ? "" : ", ") << c.entry.grammar;
    first = false;
  }
  return os.str();
}

/// Runs a builder; an error it throws is reworded to start with the spec component
/// ("PQ32x8: d=100 is not divisible by M=32") instead of the family name.
template <class F>
auto build_naming_component(const std::string& component, const std::string& family, F&& f) {
  try {
    return f();
  } catch (const Error& e) {
    std::string m = e.message();
    if (m.rfind(component + ":", 0) == 0) throw;
    if (m.rfind(family + ": ", 0) == 0) m = m.substr(family.size() + 2);
    throw Error(e.kind(), component + ": " + m, __FILE__, __LINE__);
  }
}

}  // namespace

Registrar::Registrar(MethodEntry entry) {
  auto& t = table();
  if (t.count(entry.name)) throw std::logic_error("method registered twice: " + entry.name);
  std::regex re(entry.pattern, std::regex::ECMAScript);
  std::string name = entry.name;
  t.emplace(name, Compiled{std::move(entry), std::move(re)});
}

std::vector<const MethodEntry*> registered_methods() {
  std::vector<const MethodEntry*> out;
  for (auto& [name, c] : table()) out.push_back(&c.entry);
  return out;
}

const MethodEntry& find_method(const std::string& component) {
  const Compiled* c = match(component, nullptr);
  EC_CHECK(c != nullptr, kBadInput,
           "unknown method '" << component << "' (known: " << known_grammars()
                              << "; see 'embcomp list')");
  return c->entry;
}

void check_spec(const std::string& spec) {
  EC_CHECK(!spec.empty(), kBadInput, "empty method spec");
  auto parts = split_components(spec);
  for (size_t i = 0; i < parts.size(); ++i) {
    EC_CHECK(!parts[i].empty(), kBadInput, "method spec '" << spec << "' has an empty component");
    const MethodEntry& e = find_method(parts[i]);
    if (i + 1 < parts.size()) {
      EC_CHECK(e.kind == MethodKind::kTransform, kBadInput,
               "method spec '" << spec << "': '" << parts[i]
                               << "' is a codec; only transforms may come before the last ','");
    }
  }
}

std::unique_ptr<Codec> make_codec(const std::string& spec, size_t d, uint64_t seed) {
  check_spec(spec);
  EC_CHECK(d > 0, kBadInput, spec << ": dimension must be positive");
  auto parts = split_components(spec);
  std::vector<std::unique_ptr<Transform>> transforms;
  size_t cur_d = d;
  BuildArgs args;
  args.seed = seed;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Compiled* c = match(parts[i], &args.groups);
    args.d = cur_d;
    if (c->entry.kind == MethodKind::kTransform) {
      auto t = build_naming_component(parts[i], c->entry.name, [&] { return c->entry.make_transform(args); });
      cur_d = t->d_out();
      transforms.push_back(std::move(t));
      if (i + 1 == parts.size()) {
        return std::make_unique<Pipeline>(std::move(transforms), make_codec("Flat", cur_d, seed));
      }
    } else {
      auto codec = build_naming_component(parts[i], c->entry.name, [&] { return c->entry.make_codec(args); });
      if (transforms.empty()) return codec;
      return std::make_unique<Pipeline>(std::move(transforms), std::move(codec));
    }
  }
  EC_THROW(kBadInput, "empty method spec");
}

int parse_int_arg(const std::string& spec, const std::string& text, const char* what, int lo,
                  int hi) {
  long v = 0;
  try {
    v = std::stol(text);
  } catch (const std::exception&) {
    EC_THROW(kBadInput, spec << ": " << what << "='" << text << "' is not an integer");
  }
  EC_CHECK(v >= lo && v <= hi, kBadInput,
           spec << ": " << what << "=" << v << " is out of range [" << lo << ", " << hi << "]");
  return static_cast<int>(v);
}

}  // namespace embcomp
