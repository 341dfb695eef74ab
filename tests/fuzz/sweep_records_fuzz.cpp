// What `embcomp sweep` reads back from text (eval/sweep.h). byte 0 modulo 3 picks
//   0  the rest as DIR/results.jsonl, read by the --resume reader read_sweep_results (every
//      line checked by check_sweep_record, a cut last line dropped and the file rewritten),
//      then mark_pareto over the records it accepted;
//   1  the rest as --quality text (parse_sweep_quality);
//   2  the rest as a --budgets entry (sweep_candidates on 1000 x 16 data).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "eval/sweep.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  fuzz::guarded([&] {
    switch (data[0] % 3) {
      case 0: {
        fuzz::TempFile f("results", ".jsonl", data + 1, size - 1);
        auto records = read_sweep_results(f.path());
        mark_pareto(records);
        break;
      }
      case 1: {
        SweepQuality q = parse_sweep_quality(text);
        volatile size_t k = q.k + q.key.size();
        (void)k;
        break;
      }
      default: {
        auto c = sweep_candidates(text, 1000, 16, 10);
        volatile size_t s = 0;
        for (const auto& x : c) s = s + x.key().size();
        break;
      }
    }
  });
  return 0;
}
