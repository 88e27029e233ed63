#include "cli/demo.h"
namespace weft::cli {
int runDemo(const DemoOptions&) { return 1; }
}
