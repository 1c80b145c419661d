#pragma once
/// What the emulator tells people and programs once every listener is bound: the banner on
/// stdout, one machine-readable `iothub-emulator ready {json}` line, and the optional ready
/// file (ARCHITECTURE "Contracts that users see").
#include <filesystem>
#include <map>
#include <string>

namespace emu::app {

struct ready_info {
  std::string host_name;
  std::string hub_name;
  std::map<std::string, int> ports;  // "mqtt", "amqp", "mqttPlain"
  std::filesystem::path ca_certificate;
  std::map<std::string, std::string> policy_connection_strings;  // "iothubowner", "service"
  std::map<std::string, std::string> device_connection_strings;  // by device id
  std::filesystem::path database;                                // empty when in memory
  std::string dashboard;  // its address for a browser on this machine; empty when off
};

std::string ready_json(const ready_info& info);
std::string banner(const ready_info& info);
/// Writes the file atomically (temporary file in the same directory, then rename), so a
/// reader polling for it never sees half a file. Throws std::runtime_error on failure.
void write_ready_file(const std::filesystem::path& file, const std::string& json);

}  // namespace emu::app
