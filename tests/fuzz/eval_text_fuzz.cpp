// The text formats of retrieval evaluation (eval/qrels.h). Byte 0 modulo 3 picks the
// reader, the rest is the text: 0 qrels (TREC or BEIR), 1 TREC run, 2 ids file.
#include <cstdint>
#include <sstream>
#include <string>

#include "eval/qrels.h"
#include "tests/fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace embcomp;
  if (size < 1) return 0;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  fuzz::guarded([&] {
    switch (data[0] % 3) {
      case 0: {
        Qrels q = read_qrels(in, "fuzz.qrels");
        volatile size_t j = q.judgments();
        (void)j;
        break;
      }
      case 1: {
        Run r = read_trec_run(in, "fuzz.run");
        volatile double s = 0;
        for (const auto& [qid, docs] : r)
          for (const auto& doc : docs) s = s + doc.score + double(doc.docid.size());
        break;
      }
      default: {
        auto ids = read_ids_file(in, "fuzz.ids");
        volatile size_t s = 0;
        for (const auto& id : ids) s = s + id.size();
        break;
      }
    }
  });
  return 0;
}
