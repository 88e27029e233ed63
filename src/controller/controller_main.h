#pragma once
// `weft controller --config FILE` (DESIGN.md §1, §9; docs/controller.md).
#include <string>

namespace weft::controller {

// Runs the controller until SIGINT/SIGTERM or POST /shutdown. Returns the
// process exit code: 0 after a clean stop, 2 on a bad config or an invalid
// source at start-up (with "weft: bad config: FILE: KEY: what" on stderr),
// 1 when a listener cannot be opened.
int runController(const std::string& configPath);

}  // namespace weft::controller
