// The message-format of a transfer frame (transfer_frame.hpp), which Proton 0.37 does not
// report: read from the performative, nothing from other frames.
#include <doctest/doctest.h>

#include <proton/codec.h>

#include <string>
#include <vector>

#include "emulator/amqp/proton_handles.hpp"
#include "emulator/amqp/transfer_frame.hpp"

using namespace emu::amqp;

namespace {

/// A performative `descriptor` with a list of uint fields, then `payload`.
std::vector<char> frame_body(std::uint64_t descriptor, const std::vector<std::uint32_t>& fields,
                             const std::string& payload = "payload") {
  data_ptr d = make_data();
  pn_data_put_described(d.get());
  pn_data_enter(d.get());
  pn_data_put_ulong(d.get(), descriptor);
  pn_data_put_list(d.get());
  pn_data_enter(d.get());
  for (const auto f : fields) pn_data_put_uint(d.get(), f);
  pn_data_exit(d.get());
  pn_data_exit(d.get());
  std::vector<char> out(256);
  const auto n = pn_data_encode(d.get(), out.data(), out.size());
  REQUIRE(n > 0);
  out.resize(static_cast<std::size_t>(n));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace

TEST_CASE("the message-format of a transfer; nothing from other frames") {
  // handle, delivery-id, delivery-tag (a uint here: any value), message-format
  CHECK(transfer_message_format(frame_body(0x14, {0, 1, 7, batch_message_format})) ==
        batch_message_format);
  CHECK(transfer_message_format(frame_body(0x14, {0, 1, 7, 0})) == 0u);
  CHECK_FALSE(transfer_message_format(frame_body(0x14, {0, 1})).has_value());        // not given
  CHECK_FALSE(transfer_message_format(frame_body(0x13, {0, 1, 7, 5})).has_value());  // a flow
  CHECK_FALSE(transfer_message_format(std::vector<char>{}).has_value());
  CHECK_FALSE(transfer_message_format(std::vector<char>{0x00, 0x53}).has_value());
}
