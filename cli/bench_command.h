#ifndef CAIRN_CLI_BENCH_COMMAND_H_
#define CAIRN_CLI_BENCH_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn bench` (and its `kernels` subcommand); when it runs, its
// exit status goes to *exit_code.
void AddBenchCommand(CLI::App& app, int* exit_code);
}  // namespace cairn

#endif  // CAIRN_CLI_BENCH_COMMAND_H_
