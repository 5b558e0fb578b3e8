#ifndef CAIRN_CLI_SERVE_COMMAND_H_
#define CAIRN_CLI_SERVE_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn serve`; its exit status goes to *exit_code.
void AddServeCommand(CLI::App& app, int* exit_code);
}  // namespace cairn

#endif  // CAIRN_CLI_SERVE_COMMAND_H_
