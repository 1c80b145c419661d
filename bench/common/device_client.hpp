#pragma once
/// The MQTT client options of benchmark device k (bench/common/util.hpp names and keys): client
/// id = device id, the Azure username, a device SAS token valid for an hour. Header-only: it
/// needs emu_core (the SAS token), which only the programs that connect devices link.
#include <chrono>
#include <string>

#include "bench/common/mqtt_pool.hpp"
#include "bench/common/util.hpp"
#include "emulator/core/sas_token.hpp"

namespace bench {

inline mqtt_client_options device_client(const ready_info& info, int k) {
  const auto id = device_name(k);
  const auto expiry = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count() +
                      3600;
  mqtt_client_options co;
  co.client_id = id;
  co.username = info.host_name + "/" + id + "/?api-version=2021-04-12";
  co.password =
      emu::core::make_sas_token(info.host_name + "/devices/" + id, device_key, "", expiry);
  return co;
}

}  // namespace bench
