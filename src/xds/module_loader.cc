#include "xds/module_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <vector>

#include "core/logging.h"

namespace weft::xds {

namespace {

constexpr const char* kFileName = "weft-xds.so";

std::vector<std::string> candidatePaths() {
  std::vector<std::string> out;
  if (const char* env = std::getenv("WEFT_XDS_MODULE"); env && *env) {
    out.emplace_back(env);
    return out;  // an explicit choice is the only one tried
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto dir = exe.parent_path();
    out.push_back((dir / kFileName).string());
    out.push_back((dir / ".." / "lib" / "weft" / kFileName).lexically_normal().string());
  }
  return out;
}

const ModuleApi* load(std::string& why) {
  for (const auto& path : candidatePaths()) {
    // RTLD_NOW: a missing symbol fails here, not at some later call.
    // RTLD_LOCAL: nothing later loaded binds to the module's copies.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
      const char* e = ::dlerror();
      why += "\n  " + path + ": " + (e ? e : "dlopen failed");
      continue;
    }
    auto entry = reinterpret_cast<EntryPoint>(::dlsym(handle, kEntryPoint));
    const ModuleApi* api = entry ? entry() : nullptr;
    ModuleApi expected;
    if (!api || api->abi != expected.abi || api->optionsSize != expected.optionsSize ||
        api->updateSize != expected.updateSize || !api->runController || !api->makeDiscoveryClient) {
      why += "\n  " + path + ": not a weft-xds module of this build (entry point or ABI mismatch)";
      ::dlclose(handle);
      continue;
    }
    WEFT_LOG_DEBUG("xds: loaded {}", path);
    return api;  // never dlclose'd
  }
  return nullptr;
}

}  // namespace

const ModuleApi& loadModule() {
  static std::once_flag once;
  static const ModuleApi* api = nullptr;
  static std::string why;
  std::call_once(once, [] { api = load(why); });
  if (!api)
    throw ModuleUnavailable(std::string("cannot load the xDS module ") + kFileName +
                            " (xDS client and controller; set WEFT_XDS_MODULE to its path):" + why);
  return *api;
}

}  // namespace weft::xds
