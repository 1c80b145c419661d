#include "emulator/amqp/transfer_frame.hpp"

#include <proton/codec.h>

#include "emulator/amqp/proton_handles.hpp"

namespace emu::amqp {

namespace {

constexpr std::uint64_t transfer_descriptor = 0x14;

}  // namespace

std::optional<std::uint32_t> transfer_message_format(std::span<const char> frame_body) {
  // The cheap test first (most frames are not transfers): 0x00 then the descriptor as a
  // smallulong (0x53 0x14) or a ulong (0x80 + 8 bytes).
  if (frame_body.size() < 3 || frame_body[0] != 0x00) return std::nullopt;
  const auto b1 = static_cast<unsigned char>(frame_body[1]);
  if (!(b1 == 0x53 && static_cast<unsigned char>(frame_body[2]) == transfer_descriptor) &&
      b1 != 0x80)
    return std::nullopt;
  data_ptr data = make_data();
  // Decodes the performative only: the payload after it is left alone.
  if (pn_data_decode(data.get(), frame_body.data(), frame_body.size()) <= 0) return std::nullopt;
  pn_data_t* d = data.get();
  pn_data_rewind(d);
  if (!pn_data_next(d) || pn_data_type(d) != PN_DESCRIBED) return std::nullopt;
  pn_data_enter(d);
  if (!pn_data_next(d) || pn_data_type(d) != PN_ULONG ||
      pn_data_get_ulong(d) != transfer_descriptor)
    return std::nullopt;
  if (!pn_data_next(d) || pn_data_type(d) != PN_LIST) return std::nullopt;
  pn_data_enter(d);
  // handle, delivery-id, delivery-tag, message-format
  for (int field = 0; field < 4; ++field)
    if (!pn_data_next(d)) return std::nullopt;
  if (pn_data_type(d) != PN_UINT) return std::nullopt;
  return pn_data_get_uint(d);
}

}  // namespace emu::amqp
