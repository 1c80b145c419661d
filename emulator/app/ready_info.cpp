#include "emulator/app/ready_info.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include <nlohmann/json.hpp>

namespace emu::app {

std::string ready_json(const ready_info& info) {
  nlohmann::json j;
  j["hostName"] = info.host_name;
  j["hubName"] = info.hub_name;
  j["ports"] = info.ports;
  j["caCertificate"] = info.ca_certificate.string();
  j["database"] = info.database.empty() ? nullptr : nlohmann::json(info.database.string());
  j["dashboard"] = info.dashboard.empty() ? nullptr : nlohmann::json(info.dashboard);
  nlohmann::json cs = info.policy_connection_strings;
  cs["devices"] = info.device_connection_strings;
  j["connectionStrings"] = cs;
  return j.dump();
}

std::string banner(const ready_info& info) {
  std::ostringstream out;
  out << "\niothub-emulator is ready: hub '" << info.hub_name << "' at " << info.host_name << "\n";
  for (const auto& [name, port] : info.ports) out << "  " << name << " port: " << port << "\n";
  if (!info.dashboard.empty()) out << "  dashboard: " << info.dashboard << "\n";
  out << "  database: " << (info.database.empty() ? "(in memory)" : info.database.string())
      << "\n  CA certificate: " << info.ca_certificate.string() << "\n"
      << "    trust it with: NODE_EXTRA_CA_CERTS=" << info.ca_certificate.string()
      << " (Node), SSL_CERT_FILE (OpenSSL clients), mosquitto_sub --cafile\n\n"
      << "Connection strings (DEVELOPMENT ONLY: these keys are public):\n";
  for (const auto& [name, cs] : info.policy_connection_strings)
    out << "  " << name << ":\n    " << cs << "\n";
  for (const auto& [id, cs] : info.device_connection_strings)
    out << "  device " << id << ":\n    " << cs << "\n";
  out << "\n";
  return out.str();
}

void write_ready_file(const std::filesystem::path& file, const std::string& json) {
  const auto tmp = file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json << "\n";
    out.flush();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, file, ec);
  if (ec)
    throw std::runtime_error("cannot rename " + tmp + " to " + file.string() + ": " + ec.message());
}

}  // namespace emu::app
