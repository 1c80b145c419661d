#pragma once
/// What an Event Hubs receiver's attach asks for beyond its address (next-capabilities §1.5),
/// read from Proton's C data: the selector filter's text in the source's filter map (key
/// `apache.org:selector-filter:string`, a described string whose descriptor is the ulong
/// 0x0000468C00000004 or the symbol of the same name: the C SDK sends the symbol), and the
/// `com.microsoft:epoch` link property (owner level, long); and a device's twin or method link
/// pair's `com.microsoft:channel-correlation-id` (next-capabilities §2.5, §3.3).
///
/// Pure reads of the peer's attach; not thread-safe (the connection's strand).
#include <proton/codec.h>

#include <cstdint>
#include <optional>
#include <string>

#include "emulator/base/result.hpp"

namespace emu::amqp {

/// The selector filter's expression; nullopt without one (no filter map, or none of its
/// entries is a selector filter: an entry is one by its key or by its descriptor, since
/// Proton's Selector option keys it "selector"). An error text when the entry is there but not
/// a described string.
emu::result<std::optional<std::string>, std::string> selector_filter_text(pn_data_t* filter);

/// The `com.microsoft:epoch` property (any integer type); nullopt without one, or when it is
/// not an integer.
std::optional<std::int64_t> link_epoch(pn_data_t* properties);

/// The `com.microsoft:channel-correlation-id` property (string or symbol: Node sends
/// `twin:<uuid>`, the C SDK its link address); "" without one.
std::string link_channel(pn_data_t* properties);

}  // namespace emu::amqp
