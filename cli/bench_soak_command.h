#ifndef CAIRN_CLI_BENCH_SOAK_COMMAND_H_
#define CAIRN_CLI_BENCH_SOAK_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn bench soak` under the `bench` subcommand; when it runs,
// its exit status goes to *exit_code (1 when the run failed its checks).
void AddBenchSoakCommand(CLI::App* bench, int* exit_code);
}  // namespace cairn

#endif  // CAIRN_CLI_BENCH_SOAK_COMMAND_H_
