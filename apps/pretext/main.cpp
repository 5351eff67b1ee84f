#include "pretext/cli/cli.h"

int main(int argc, char** argv) { return pretext::cli::run_cli(argc, argv); }
