// Memory budgets: "NAME@0.1" or "NAME@10x" asks for total bytes <= 0.1 x the float32
// bytes (4 n d). Each budgeted method solves its size knob from the budget; these are
// the shared pieces.
//
// The selection rule, the same for every solver (retrieval and CTR):
//   1. only settings whose bytes are <= the budget's bytes (never over, no slack);
//   2. among them, the most information per row: code bits per row for quantizers
//      (M nbits, d nbits, d_out b), the rank or width when that is the knob (SVD, TT,
//      DHE), the kept values for pruning;
//   3. ties: the higher secondary preference (more bits per sub-quantizer, i.e. fewer and
//      larger codebooks; fewer Full fields), then the fewest bytes.
// "Best quality per byte", not "most bytes": filling a budget with larger codebooks or
// models instead of code bits gave worse tables (MGPQ 2000 x 64 at 0.5, docs/methods.md).
// When no setting fits, the budget is unreachable: kBadInput naming the smallest ratio
// any setting reaches.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace embcomp {

/// "0.1" -> 0.1, "10x" -> 0.1. Throws kBadInput (naming spec) unless 0 < fraction < 1.
double parse_budget(const std::string& spec, const std::string& text);

/// One candidate setting of a method's size knob and the total bytes it takes.
struct KnobChoice {
  std::string knob;  ///< e.g. "M=25,nbits=8"
  size_t bytes = 0;
  double info = 0;        ///< information per row (rule 2 above), e.g. M * nbits
  double preference = 0;  ///< rule 3's secondary key, e.g. nbits
};

/// Index of the candidate chosen by the rule above among those with bytes <= budget_bytes.
/// When none fits, throws budget_unreachable for the smallest candidate. full_bytes is
/// the float32 size 4 n d (for the ratio in the message; 0 leaves the ratio out).
size_t choose_knob(const std::string& spec, const std::vector<KnobChoice>& candidates,
                   double budget_bytes, double full_bytes);

/// Throws kBadInput "spec: budget ... is unreachable (cannot be met): the smallest setting
/// (smallest_knob) takes smallest_bytes bytes, R of fp32" (R = smallest_bytes / full_bytes).
[[noreturn]] void budget_unreachable(const std::string& spec, double budget_bytes,
                                     double full_bytes, const std::string& smallest_knob,
                                     size_t smallest_bytes);

/// "" when actual is within 2% below the budget (0.98 b <= actual <= b); otherwise a
/// sentence saying by how much and why (why: the method's reason, e.g. "the knob is
/// discrete").
std::string budget_gap_note(double actual, double budget, const std::string& why);

}  // namespace embcomp
