// The `cairn` command. Each subcommand's code lives in the folder of what it
// drives; this file only wires them together.
#include <cstdio>

#include "CLI/CLI.hpp"
#include "cli/bench_command.h"
#include "cli/build_command.h"
#include "cli/dataset_command.h"
#include "cli/gt_command.h"
#include "cli/remote_command.h"
#include "cli/serve_command.h"

int main(int argc, char** argv) {
  CLI::App app{"cairn: a disk-hybrid vector search database"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "cairn 0.1.0");
  int exit_code = 0;
  cairn::AddDatasetCommand(app, &exit_code);
  cairn::AddGtCommand(app, &exit_code);
  cairn::AddBenchCommand(app, &exit_code);
  cairn::AddBuildCommand(app, &exit_code);
  cairn::AddSearchCommand(app, &exit_code);
  cairn::AddCalibrateCommand(app, &exit_code);
  cairn::AddServeCommand(app, &exit_code);
  cairn::AddRemoteCommands(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
