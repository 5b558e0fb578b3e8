#ifndef CAIRN_CLI_DATASET_COMMAND_H_
#define CAIRN_CLI_DATASET_COMMAND_H_

#include "CLI/CLI.hpp"

namespace cairn {
// Registers `cairn dataset`; when it runs, its exit status goes to *exit_code.
void AddDatasetCommand(CLI::App& app, int* exit_code);
}  // namespace cairn

#endif
