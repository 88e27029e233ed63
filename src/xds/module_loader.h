#pragma once
// Loads weft-xds.so on first use (xds_module.h says why it is separate).
//
// Where: $WEFT_XDS_MODULE if set, else weft-xds.so next to the running
// executable (/proc/self/exe), else ../lib/weft/weft-xds.so relative to it
// (an installed layout). Thread-safe; the module stays loaded for the life of
// the process (it owns threads and static state; it is never unloaded).
#include <stdexcept>
#include <string>

#include "xds/xds_module.h"

namespace weft::xds {

class ModuleUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The module's table; throws ModuleUnavailable naming every path tried and
// dlerror()'s reason (missing file, missing library, ABI mismatch).
const ModuleApi& loadModule();

}  // namespace weft::xds
