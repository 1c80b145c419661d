// libFuzzer target: the selector filter parser (amqp/selector_filter.hpp), which reads text an
// unauthenticated-until-CBS peer chooses. Beyond "no crash, no sanitizer report": a position it
// accepts renders to a canonical text that parses back to the same position, and a refusal is
// one short line of printable ASCII whatever bytes the input holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "emulator/amqp/selector_filter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto p = emu::amqp::parse_selector_filter(text);
  if (!p) {
    const std::string& why = p.error();
    if (why.empty() || why.size() > 300) std::abort();  // every refusal says why, briefly
    for (const char ch : why) {
      if (ch < 0x20 || ch > 0x7e) std::abort();  // no newline, control or non-ASCII byte
    }
    return 0;
  }
  const auto again = emu::amqp::parse_selector_filter(emu::amqp::to_selector_filter(*p));
  if (!again || !(*again == *p)) std::abort();
  return 0;
}
