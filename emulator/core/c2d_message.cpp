#include "emulator/core/c2d_message.hpp"

namespace emu::core {

std::string_view to_string(ack_mode a) {
  switch (a) {
    case ack_mode::none:
      return "none";
    case ack_mode::positive:
      return "positive";
    case ack_mode::negative:
      return "negative";
    case ack_mode::full:
      return "full";
  }
  return "none";
}

std::optional<ack_mode> parse_ack_mode(std::string_view s) {
  if (s == "none") return ack_mode::none;
  if (s == "positive") return ack_mode::positive;
  if (s == "negative") return ack_mode::negative;
  if (s == "full") return ack_mode::full;
  return std::nullopt;
}

std::string_view to_string(c2d_state s) {
  return s == c2d_state::enqueued ? "Enqueued" : "Invisible";
}

std::size_t message_size(const c2d_content& c) {
  // MSG-DOC: body + every system property value + every application property name and value.
  // The expiry is a system property too; it is counted as its ISO 8601 text would be (28 chars).
  std::size_t n = c.body.size() + c.message_id.size() + c.correlation_id.size() + c.user_id.size() +
                  c.to.size() + c.content_type.size() + c.content_encoding.size();
  if (c.absolute_expiry) n += 28;
  for (const auto& p : c.properties) n += p.name.size() + p.value.size();
  if (c.ack != ack_mode::none) n += std::string_view("iothub-ack").size() + to_string(c.ack).size();
  return n;
}

}  // namespace emu::core
