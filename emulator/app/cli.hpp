#pragma once
/// The command line (CLI11): `iothub-emulator [serve] [options]` serves; `iothub-emulator
/// sas-token …` prints a SAS token for a connection string (for mosquitto_pub/sub users);
/// `iothub-emulator ca-path …` prints the development CA's path. Options belong to their
/// command: `iothub-emulator --ttl 5` is an error, not silently ignored.
#include <string>
#include <vector>

#include "emulator/app/config.hpp"

namespace emu::app {

enum class command { serve, sas_token, ca_path, help, version };

struct cli_result {
  command cmd = command::serve;
  emulator_config config;
  std::vector<config_error> errors;
  /// help and version: the text to print.
  std::string help;
  // sas-token
  std::string connection_string;
  long long ttl_seconds = 3600;
};

/// Parses flags over the defaults and the --config file (file first, then flags, whatever
/// their order on the command line). Every problem is reported, in the configuration's
/// `key: problem (value)` form.
cli_result parse_command_line(const std::vector<std::string>& args);

/// The text of --help (generated from the options themselves).
std::string help_text();

}  // namespace emu::app
