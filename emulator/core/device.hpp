#pragma once
/// A device identity in the hub's registry (spec §7).
#include <string>
#include <string_view>

#include "emulator/core/time.hpp"

namespace emu::core {

enum class device_status { enabled, disabled };

std::string_view to_string(device_status s);

struct device {
  std::string id;
  device_status status = device_status::enabled;
  std::string status_reason;
  std::string primary_key;    // base64
  std::string secondary_key;  // base64
  /// Distinguishes a deleted-and-recreated device with the same id; feedback carries it.
  std::string generation_id;
  /// Opaque weak ETag value (without quotes); changes on every update.
  std::string etag;
  time_point status_updated_time{};
  friend bool operator==(const device&, const device&) = default;
};

/// Device id rules of spec §7: 1..128 ASCII characters from alphanumerics and
/// `- . + % _ # * ? ! ( ) , = @ $ '` (plus `:` and `;`, which the C# SDK also allows).
bool is_valid_device_id(std::string_view id);

}  // namespace emu::core
