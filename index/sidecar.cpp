#include "index/sidecar.h"

#include <filesystem>
#include <fstream>

#include "index/checksum.h"
#include "toolkit/error.h"

namespace embcomp {

std::string sidecar_path(const std::string& index_path) { return index_path + ".json"; }

void write_sidecar(const std::string& tmp_path, const std::string& what,
                   nlohmann::ordered_json meta, uint64_t build_id) {
  meta["version"] = kSidecarVersion;
  meta["build_id"] = hex64(build_id);
  std::ofstream os(tmp_path, std::ios::binary | std::ios::trunc);
  os << meta.dump(2) << "\n";
  os.flush();
  os.close();
  EC_CHECK(!os.fail(), kRuntime, what << ": write failed");
}

bool read_sidecar(const std::string& index_path, const SidecarExpect& expect,
                  nlohmann::ordered_json& meta) {
  const std::string path = sidecar_path(index_path);
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return false;
  EC_CHECK(std::filesystem::is_regular_file(path, ec), kBadInput, path << ": not a regular file");
  std::ifstream is(path);
  EC_CHECK(is.good(), kBadInput, path << ": cannot open");
  try {
    meta = nlohmann::ordered_json::parse(is);
  } catch (const std::exception& e) {
    EC_THROW(kBadInput, path << ": not valid JSON: " << e.what());
  }
  try {
    EC_CHECK(meta.is_object() && meta.value("format", "") == "embcomp-index-meta", kBadInput,
             path << ": not an embcomp index sidecar");
    const auto version = meta.value("version", 0);
    EC_CHECK(version == kSidecarVersion, kBadInput,
             path << ": sidecar version " << version << " (this build reads version "
                  << kSidecarVersion << " with a build id); rebuild the index");
    const std::string id = meta.value("build_id", "");
    EC_CHECK(id == hex64(expect.build_id), kBadInput,
             path << ": belongs to another build of " << index_path << " (build id " << id
                  << ", the index has " << hex64(expect.build_id)
                  << "); an interrupted build? rebuild the index");
    EC_CHECK(meta.value("n", uint64_t{0}) == expect.n && meta.value("d", uint64_t{0}) == expect.d,
             kBadInput, path << ": does not match " << index_path << " (n or d differ)");
    if (!expect.metric.empty()) {
      const std::string m = meta.value("metric", "");
      EC_CHECK(m == expect.metric || (expect.metric == "ip" && m == "angular"), kBadInput,
               path << ": metric '" << m << "' does not match the index (" << expect.metric << ")");
    }
  } catch (const nlohmann::json::exception& e) {
    EC_THROW(kBadInput, path << ": a field has the wrong type: " << e.what());
  }
  return true;
}

}  // namespace embcomp
