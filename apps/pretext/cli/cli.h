// The `pretext` command line: subcommands parse flags into the library's config structs and
// call the library. A user's program can register its own tasks or encoders and then call
// run_cli() to get the same subcommands (examples/custom_task.cpp).
#pragma once

namespace pretext::cli {

// Returns the process exit status: 0 on success, 1 for a user error (bad input or config,
// printed as one line naming the culprit), 2 for a failed run (NaN loss, I/O failure), 130 when
// interrupted.
int run_cli(int argc, char** argv);

}  // namespace pretext::cli
