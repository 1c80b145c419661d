// libFuzzer target: the selector filter parser (amqp/selector_filter.hpp), which reads text an
// unauthenticated-until-CBS peer chooses. Beyond "no crash, no sanitizer report": a position it
// accepts renders to a canonical text that parses back to the same position.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "emulator/amqp/selector_filter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto p = emu::amqp::parse_selector_filter(text);
  if (!p) {
    if (p.error().empty()) std::abort();  // every refusal says why
    return 0;
  }
  const auto again = emu::amqp::parse_selector_filter(emu::amqp::to_selector_filter(*p));
  if (!again || !(*again == *p)) std::abort();
  return 0;
}
