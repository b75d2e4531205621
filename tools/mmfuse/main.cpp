// The mmfuse command-line tool. All logic lives in the library (src/mmfuse/tools).
#include "mmfuse/tools/cli.h"

int main(int argc, char** argv) {
  return mmfuse::tools::run_cli(argc, argv);
}
