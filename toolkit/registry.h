// The method registry: the single source of truth for every transform and codec.
//
// Each method registers once, in its own .cpp, with
//   name      family name ("PQ")
//   grammar   human-readable spec grammar ("PQ{M}x{nbits}")
//   doc       one line for `embcomp list`
//   pattern   a regex that must match one spec component in full; its capture groups
//             are handed to the builder
//   ladder(d) specs of this family for dimension d, in increasing size; the generic
//             tests check size/round-trip/monotonicity on them
//   defaults(d) the specs `embcomp bench` runs for this family when --methods is absent
// `embcomp list`, the spec parser, the generic tests and the default bench all read it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "compressors/codec.h"
#include "compressors/table_compressor.h"

namespace embcomp {

/// kTransform and kCodec compose into pipelines; kTable methods compress a whole table
/// and stand alone in a spec.
enum class MethodKind { kTransform, kCodec, kTable };

/// What a builder gets: the regex groups of its spec component, the input dimension and
/// the seed for every random choice the method makes.
struct BuildArgs {
  std::vector<std::string> groups;  ///< groups[0] is the whole component (before any '@')
  size_t d = 0;
  uint64_t seed = 0;
  size_t n = 0;         ///< rows the table will hold (0 when unknown: codecs only)
  double budget = 0;    ///< requested fraction of 4 n d bytes, for "NAME@B" specs
  std::string full_spec;  ///< the component as written, including "@B"
  const std::string& spec() const { return groups.front(); }
};

struct MethodEntry {
  std::string name;
  std::string grammar;
  std::string doc;
  MethodKind kind = MethodKind::kCodec;
  std::string pattern;  ///< ECMAScript regex matching one spec component in full
  std::function<std::vector<std::string>(size_t d)> ladder;
  std::function<std::vector<std::string>(size_t d)> defaults;
  /// Exactly one of these is set, according to kind.
  std::function<std::unique_ptr<Transform>(const BuildArgs&)> make_transform = nullptr;
  std::function<std::unique_ptr<Codec>(const BuildArgs&)> make_codec = nullptr;
  std::function<std::unique_ptr<TableCompressor>(const BuildArgs&)> make_table = nullptr;
  /// Budget form "NAME@B": a regex for the part before '@' (empty: no budget form) and
  /// the builder that solves the knob from args.budget and args.n.
  std::string budget_pattern = "";
  std::string budget_grammar = "";  ///< e.g. "PQ@{budget}"
  /// A head that budget_pattern matches, used by tests and sweeps ("PQ", "MGPQ2");
  /// empty means the name.
  std::string budget_head = "";
  std::function<std::unique_ptr<TableCompressor>(const BuildArgs&)> make_budgeted = nullptr;
  /// Further heads the budget pattern accepts, each a family of its own in sweeps and
  /// tests (PCA's "PCA+SQ8": PCA to the solved width, then SQ8).
  std::vector<std::string> more_budget_heads = {};
};

/// Every head of a method's budget form (budget_head or the name, then
/// more_budget_heads); empty when the method has no budget form.
std::vector<std::string> budget_heads(const MethodEntry& e);

/// Registers an entry at static-initialization time: `static Registrar r{entry};`.
/// Throws std::logic_error on a duplicate name (a programming error).
struct Registrar {
  explicit Registrar(MethodEntry entry);
};

/// The longest method spec accepted (characters, the whole "T,...,C" or "NAME@B"); the
/// longest real specs (MGPQ or MagSVD with one entry per group) are well under 100.
constexpr size_t kMaxSpecChars = 256;

/// Refuses an index structure text (--index: "IVF1024_HNSW32") longer than kMaxSpecChars
/// before it is echoed or matched: std::regex recurses once per character and overflowed
/// the stack (SIGSEGV) on a 40,000-digit nlist. Throws kBadInput.
void check_structure_text(const std::string& structure);

/// Every registered method, sorted by name.
std::vector<const MethodEntry*> registered_methods();

/// The entry whose pattern matches one spec component; throws kBadInput listing the
/// known grammars when none does.
const MethodEntry& find_method(const std::string& component);

/// Checks the grammar of a full spec without building it (no dimension needed):
/// components separated by ',' (blanks around a component are ignored, blanks inside one
/// are an error), all but the last transforms, at most kMaxSpecChars characters. Throws
/// kBadInput.
void check_spec(const std::string& spec);

/// Builds the codec for a full spec at input dimension d (transforms chained, a trailing
/// transform is followed by a Flat codec). Throws kBadInput naming the spec.
std::unique_ptr<Codec> make_codec(const std::string& spec, size_t d, uint64_t seed = 1234);

/// Builds any spec as a table of n rows: a budgeted "NAME@B" spec, a table method, or
/// a codec pipeline (wrapped in CodecTable). Throws kBadInput naming the spec.
std::unique_ptr<TableCompressor> make_table(const std::string& spec, size_t n, size_t d,
                                            uint64_t seed = 1234);

/// Parses an integer capture group, throwing kBadInput naming the spec unless the whole
/// text is one decimal integer (optional '-', no blanks, nothing after it) in [lo, hi].
int parse_int_arg(const std::string& spec, const std::string& text, const char* what, int lo,
                  int hi);

/// Parses a '-'-separated list of integers ("9-8-7"), each checked like parse_int_arg.
std::vector<int> parse_int_list(const std::string& spec, const std::string& text,
                                const char* what, int lo, int hi);

}  // namespace embcomp
