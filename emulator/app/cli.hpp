#pragma once
/// The command line: `iothub-emulator [options]` serves; `iothub-emulator sas-token …` prints a
/// SAS token for a connection string (for mosquitto_pub/sub users).
#include <string>
#include <vector>

#include "emulator/app/config.hpp"

namespace emu::app {

enum class command { serve, sas_token, ca_path, help, version };

struct cli_result {
  command cmd = command::serve;
  emulator_config config;
  std::vector<config_error> errors;
  // sas-token
  std::string connection_string;
  long long ttl_seconds = 3600;
};

/// Parses flags over the defaults and the --config file (file first, then flags, whatever
/// their order on the command line).
cli_result parse_command_line(const std::vector<std::string>& args);

/// The text of --help: every option with its default.
std::string help_text();

}  // namespace emu::app
