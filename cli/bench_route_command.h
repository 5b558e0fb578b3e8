#ifndef CAIRN_CLI_BENCH_ROUTE_COMMAND_H_
#define CAIRN_CLI_BENCH_ROUTE_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn bench route-study` under the `bench` subcommand; when it
// runs, its exit status goes to *exit_code.
void AddBenchRouteCommand(CLI::App* bench, int* exit_code);
}  // namespace cairn

#endif  // CAIRN_CLI_BENCH_ROUTE_COMMAND_H_
