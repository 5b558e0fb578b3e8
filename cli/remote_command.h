#ifndef CAIRN_CLI_REMOTE_COMMAND_H_
#define CAIRN_CLI_REMOTE_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn import`, `cairn collections` and `cairn query`, which
// talk to a running server; their exit status goes to *exit_code.
void AddRemoteCommands(CLI::App& app, int* exit_code);
}  // namespace cairn

#endif  // CAIRN_CLI_REMOTE_COMMAND_H_
