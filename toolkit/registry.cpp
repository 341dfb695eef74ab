#include "toolkit/registry.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <sstream>
#include <stdexcept>

#include "compressors/budget.h"
#include "compressors/pipeline.h"
#include "toolkit/cli.h"
#include "toolkit/error.h"

namespace embcomp {

namespace {

struct Compiled {
  MethodEntry entry;
  std::regex re;
  std::regex budget_re;
};

std::map<std::string, Compiled>& table() {
  static std::map<std::string, Compiled> t;
  return t;
}

/// Refuses a spec longer than kMaxSpecChars before it is echoed or matched: std::regex
/// recurses once per character and overflows the stack at about 32,000 characters.
void check_spec_length(const std::string& spec) {
  EC_CHECK(spec.size() <= kMaxSpecChars, kBadInput,
           "method spec of " << spec.size() << " characters (starting '" << spec.substr(0, 24)
                             << "...') is longer than the limit of " << kMaxSpecChars);
}

/// The components of "T1, T2,C": split on ',', spaces and tabs around each one trimmed.
/// A blank inside a component ("SQ 8") is an error: it is no spec of any method.
std::vector<std::string> split_components(const std::string& spec) {
  check_spec_length(spec);
  std::vector<std::string> parts = split_list(spec, ',', /*keep_empty=*/true);
  for (const auto& p : parts)
    EC_CHECK(p.find_first_of(" \t") == std::string::npos, kBadInput,
             "method spec '" << spec << "': component '" << p << "' contains a blank");
  return parts;
}

const Compiled* match(const std::string& component, std::vector<std::string>* groups) {
  check_spec_length(component);
  const auto at = component.find('@');
  const bool budgeted = at != std::string::npos;
  const std::string head = budgeted ? component.substr(0, at) : component;
  for (auto& [name, c] : table()) {
    if (budgeted && c.entry.budget_pattern.empty()) continue;
    std::smatch m;
    if (std::regex_match(head, m, budgeted ? c.budget_re : c.re)) {
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
    // Dedup and Prune exist only in their budget form: grammar == budget_grammar.
    if (!c.entry.budget_grammar.empty() && c.entry.budget_grammar != c.entry.grammar)
      os << ", " << c.entry.budget_grammar;
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
  std::regex budget_re(entry.budget_pattern.empty() ? "$^" : entry.budget_pattern,
                       std::regex::ECMAScript);
  std::string name = entry.name;
  t.emplace(name, Compiled{std::move(entry), std::move(re), std::move(budget_re)});
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

void check_structure_text(const std::string& structure) {
  EC_CHECK(structure.size() <= kMaxSpecChars, kBadInput,
           "index structure of " << structure.size() << " characters (starting '"
                                 << printable(structure, 24) << "') is longer than the limit of "
                                 << kMaxSpecChars);
}

void check_spec(const std::string& spec) {
  EC_CHECK(!spec.empty(), kBadInput, "empty method spec");
  auto parts = split_components(spec);
  for (size_t i = 0; i < parts.size(); ++i) {
    EC_CHECK(!parts[i].empty(), kBadInput, "method spec '" << spec << "' has an empty component");
    const MethodEntry& e = find_method(parts[i]);
    const bool standalone = e.kind == MethodKind::kTable || parts[i].find('@') != std::string::npos;
    EC_CHECK(!standalone || parts.size() == 1, kBadInput,
             "method spec '" << spec << "': '" << parts[i]
                             << "' compresses a whole table and cannot be composed");
    if (i + 1 < parts.size()) {
      EC_CHECK(e.kind == MethodKind::kTransform, kBadInput,
               "method spec '" << spec << "': '" << parts[i]
                               << "' is a codec; only transforms may come before the last ','");
    }
  }
}

std::unique_ptr<Codec> make_codec(const std::string& spec, size_t d, uint64_t seed) {
  check_spec(spec);
  EC_CHECK(spec.find('@') == std::string::npos, kBadInput,
           spec << ": a budgeted spec needs the table size; use make_table");
  EC_CHECK(d > 0, kBadInput, spec << ": dimension must be positive");
  auto parts = split_components(spec);
  std::vector<std::unique_ptr<Transform>> transforms;
  size_t cur_d = d;
  BuildArgs args;
  args.seed = seed;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Compiled* c = match(parts[i], &args.groups);
    args.d = cur_d;
    EC_CHECK(c->entry.kind != MethodKind::kTable, kBadInput,
             spec << " compresses a whole table; use make_table");
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

std::unique_ptr<TableCompressor> make_table(const std::string& spec, size_t n, size_t d,
                                            uint64_t seed) {
  check_spec(spec);
  EC_CHECK(d > 0, kBadInput, spec << ": dimension must be positive");
  BuildArgs args;
  const auto parts = split_components(spec);
  const Compiled* c = parts.size() == 1 ? match(parts[0], &args.groups) : nullptr;
  if (c == nullptr) return std::make_unique<CodecTable>(make_codec(spec, d, seed));  // "T,...,C"
  args.d = d;
  args.n = n;
  args.seed = seed;
  const std::string& one = parts[0];
  args.full_spec = one;
  const auto at = one.find('@');
  std::unique_ptr<TableCompressor> t;
  if (at != std::string::npos) {
    args.budget = parse_budget(one, one.substr(at + 1));
    EC_CHECK(n > 0, kBadInput, spec << ": a budget needs at least one row");
    t = build_naming_component(spec, c->entry.name, [&] { return c->entry.make_budgeted(args); });
    if (!t->budget()) t->set_budget(args.budget, "");
  } else if (c->entry.kind == MethodKind::kTable) {
    t = build_naming_component(spec, c->entry.name, [&] { return c->entry.make_table(args); });
  } else {
    t = std::make_unique<CodecTable>(make_codec(spec, d, seed));
  }
  return t;
}

std::vector<std::string> budget_heads(const MethodEntry& e) {
  if (e.budget_pattern.empty()) return {};
  std::vector<std::string> out{e.budget_head.empty() ? e.name : e.budget_head};
  out.insert(out.end(), e.more_budget_heads.begin(), e.more_budget_heads.end());
  return out;
}

int parse_int_arg(const std::string& spec, const std::string& text, const char* what, int lo,
                  int hi) {
  // The whole text must be the number: no sign but '-', no blanks, nothing after it
  // ("10xyz" and "10'$(cmd)'" are not 10).
  long v = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v);
  EC_CHECK(ec != std::errc::invalid_argument && ptr == end, kBadInput,
           spec << ": " << what << "='" << text << "' is not an integer");
  EC_CHECK(ec == std::errc() && v >= lo && v <= hi, kBadInput,
           spec << ": " << what << "=" << text << " is out of range [" << lo << ", " << hi << "]");
  return static_cast<int>(v);
}

std::vector<int> parse_int_list(const std::string& spec, const std::string& text,
                                const char* what, int lo, int hi) {
  std::vector<int> out;
  size_t start = 0;
  while (true) {
    const size_t dash = text.find('-', start);
    out.push_back(parse_int_arg(spec, text.substr(start, dash - start), what, lo, hi));
    if (dash == std::string::npos) break;
    start = dash + 1;
  }
  return out;
}

}  // namespace embcomp
