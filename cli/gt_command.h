#ifndef CAIRN_CLI_GT_COMMAND_H_
#define CAIRN_CLI_GT_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn gt`; when it runs, its exit status goes to *exit_code.
void AddGtCommand(CLI::App& app, int* exit_code);
}  // namespace cairn

#endif
