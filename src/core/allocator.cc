#include "core/allocator.h"

#include <dlfcn.h>

#include <fmt/format.h>

namespace weft::core {

std::string mimallocVersionText(int encoded) {
  return fmt::format("{}.{}.{}", encoded / 100, encoded / 10 % 10, encoded % 10);
}

std::string allocatorName() {
  // Looked up, not linked: the unit tests and tools that share this library
  // do not link mimalloc, and a preloaded one counts as well.
  using VersionFn = int (*)();
  auto* version = reinterpret_cast<VersionFn>(dlsym(RTLD_DEFAULT, "mi_version"));
  if (!version) return "glibc";
  // mimalloc only serves malloc when its symbols come first; a copy that is
  // loaded but not interposing (dlopened late) would leave malloc to glibc.
  auto* mallocOwner = dlsym(RTLD_DEFAULT, "malloc");
  auto* mimallocMalloc = dlsym(RTLD_DEFAULT, "mi_malloc");
  Dl_info mallocInfo{}, mimallocInfo{};
  bool same = mallocOwner && mimallocMalloc && dladdr(mallocOwner, &mallocInfo) &&
              dladdr(mimallocMalloc, &mimallocInfo) && mallocInfo.dli_fbase == mimallocInfo.dli_fbase;
  return same ? "mimalloc/" + mimallocVersionText(version()) : "glibc";
}

}  // namespace weft::core
