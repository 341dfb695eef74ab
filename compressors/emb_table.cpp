#include "compressors/emb_table.h"

#include <sstream>
#include <stdexcept>

#include "compressors/budget.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

std::vector<TableMethod>& methods() {
  static std::vector<TableMethod> all;
  return all;
}

}  // namespace

TableRegistrar::TableRegistrar(TableMethod m) {
  for (const auto& e : methods())
    if (e.name == m.name) throw std::logic_error("CTR table method registered twice: " + m.name);
  methods().push_back(std::move(m));
}

const std::vector<TableMethod>& table_methods() { return methods(); }

int64_t TableInit::checked_schedule_steps(const std::string& spec) const {
  EC_CHECK(schedule_steps >= 0, kBadInput,
           spec << ": schedule_steps must be >= 0, got " << schedule_steps);
  return schedule_steps;
}

std::unique_ptr<EmbeddingTable> make_embedding_table(const std::string& spec,
                                                     const TableInit& init) {
  EC_CHECK(init.rows > 0 && init.dim > 0, kBadInput,
           "a table needs rows > 0 and dim > 0, got rows=" << init.rows << " dim=" << init.dim);
  EC_CHECK(init.field_offsets.size() >= 2 && init.field_offsets.front() == 0 &&
               init.field_offsets.back() == init.rows,
           kBadInput, "field_offsets must start at 0 and end at rows=" << init.rows);
  EC_CHECK(init.counts.empty() || static_cast<int64_t>(init.counts.size()) == init.rows,
           kBadInput, "counts has " << init.counts.size() << " entries for " << init.rows
                                    << " rows");
  const size_t at = spec.find('@');
  const std::string name = spec.substr(0, at);
  double budget = 0;
  if (at != std::string::npos) budget = parse_budget(spec, spec.substr(at + 1));
  for (const auto& m : methods())
    if (m.name == name) return m.make(spec, budget, init);
  std::ostringstream known;
  for (const auto& m : methods()) known << (known.tellp() > 0 ? ", " : "") << m.grammar;
  EC_THROW(kBadInput, "unknown CTR table method '" << spec << "'; known: " << known.str());
}

}  // namespace embcomp::ctr
