// Which malloc the process runs on, for the start-up log line and /debug.
//
// The weft executable links mimalloc (CMake option WEFT_MIMALLOC), which then
// replaces glibc's malloc for the whole process. This reports what is in use
// at run time, not what was asked for at build time, so an LD_PRELOADed
// allocator or a sanitizer build shows up as what it is.
#pragma once

#include <string>

namespace weft::core {

// "mimalloc/2.0.9" when mimalloc serves malloc, otherwise "glibc" (one word,
// so log lines that carry it stay word-parseable).
std::string allocatorName();

// mi_version()'s encoding (209) as text ("2.0.9").
std::string mimallocVersionText(int encoded);

}  // namespace weft::core
