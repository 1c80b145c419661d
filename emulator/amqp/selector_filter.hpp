#pragma once
/// The selector filter of an Event Hubs receiver (next-capabilities §1.5): where in the
/// partition a reader starts. The clients send
///   amqp.annotation.x-opt-offset > '-1'                       earliest (@azure/event-hubs)
///   amqp.annotation.x-opt-offset > '@latest'                  latest
///   amqp.annotation.x-opt-offset >= '12345'                   an offset
///   amqp.annotation.x-opt-sequence-number > '41'              a sequence number
///   amqp.annotation.x-opt-enqueued-time > '1700000000000'     an enqueued time (Unix ms)
///   amqp.annotation.x-opt-enqueuedtimeutc > 1796283888517     the C SDK's e2e reader
/// i.e. `amqp.annotation.<name> (>|>=) ('<value>'|<value>)` with optional spaces.
///
/// Pure (no Proton: link_options.hpp reads the text out of the attach); thread-safe; fuzzed.
#include <string>
#include <string_view>

#include "emulator/base/result.hpp"
#include "emulator/core/event_position.hpp"

namespace emu::amqp {

/// The position the expression names, or a one-line reason it is refused (unknown annotation,
/// another operator, a value that is not an integer or out of range, trailing text, longer
/// than 1024 characters, a NUL). A refusal quotes the input with anything but printable
/// ASCII as \xHH, cut to 64 characters.
emu::result<core::event_position, std::string> parse_selector_filter(std::string_view expression);

/// The canonical text of a position (what @azure/event-hubs would send for it).
std::string to_selector_filter(const core::event_position& position);

}  // namespace emu::amqp
