// Memory budgets: "NAME@0.1" or "NAME@10x" asks for total bytes <= 0.1 x the float32
// bytes (4 n d). Each budgeted method solves its size knob from the budget; these are
// the shared pieces.
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
  double preference = 0;  ///< among equal bytes, the higher preference wins
};

/// Index of the candidate with the most bytes <= budget_bytes (ties: higher preference).
/// When none fits, the smallest one if it is at most 2% over the budget (the closest
/// achievable: the record gets a budget_note); otherwise throws kBadInput
/// "spec: budget ... cannot be met".
size_t choose_knob(const std::string& spec, const std::vector<KnobChoice>& candidates,
                   double budget_bytes);

/// "" when actual is within 2% below the budget (0.98 b <= actual <= b); otherwise a
/// sentence saying by how much and why (why: the method's reason, e.g. "the knob is
/// discrete").
std::string budget_gap_note(double actual, double budget, const std::string& why);

}  // namespace embcomp
