#include "emulator/mqtt/gateway/gateway_context.hpp"

#include <type_traits>
#include <variant>

#include "emulator/core/sas_token.hpp"

namespace emu::mqtt {

void gateway_context::on_hub_event(const core::hub_event& e) {
  std::visit(
      [this](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, core::event::c2d_available>) {
          // Event-driven delivery: the device's connection asks for the message at once.
          registry.post_to_device(x.device_id, [](connection& c) { c.on_c2d_available(); });
        } else if constexpr (std::is_same_v<T, core::event::device_changed>) {
          // Disabled, deleted or new keys: the grant this connection was admitted with may no
          // longer hold. The device reconnects and is checked again.
          registry.post_to_device(x.device_id, [](connection& c) {
            c.close_now(close_reason::device_changed, "the device was changed in the registry");
          });
        } else if constexpr (std::is_same_v<T, core::event::hub_reset>) {
          registry.post_to_all(
              [](connection& c) { c.close_now(close_reason::hub_reset, "the hub was reset"); });
        }
      },
      e);
}

std::string describe_token(std::string_view token) {
  const auto t = core::parse_sas_token(token);
  if (!t) return "(not a SAS token)";
  std::string out = "sr=" + t->resource_uri;
  if (!t->key_name.empty()) out += " skn=" + t->key_name;
  out += " se=" + std::to_string(t->expiry);
  return out;
}

}  // namespace emu::mqtt
