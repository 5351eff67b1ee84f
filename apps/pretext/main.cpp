#include "pretext/cli/cli.h"
#include "pretext/core/runtime.h"

// OMP_WAIT_POLICY=PASSIVE before libgomp loads (runtime.h says why). Setting it at load costs
// nothing, where re-executing the program with it set cost a second LibTorch load (1.1 s).
PRETEXT_PASSIVE_OPENMP_AT_LOAD();

int main(int argc, char** argv) { return pretext::cli::run_cli(argc, argv); }
