#ifndef CAIRN_CLI_BUILD_COMMAND_H_
#define CAIRN_CLI_BUILD_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn build` and `cairn search`; their exit status goes to *exit_code.
void AddBuildCommand(CLI::App& app, int* exit_code);
void AddSearchCommand(CLI::App& app, int* exit_code);
// Registers `cairn calibrate` (cli/calibrate_command.cc).
void AddCalibrateCommand(CLI::App& app, int* exit_code);
}  // namespace cairn

#endif  // CAIRN_CLI_BUILD_COMMAND_H_
