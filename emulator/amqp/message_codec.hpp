#pragma once
/// proton::message ⇄ hub types for the service endpoint.
///
/// Delivery bytes are decoded with the Proton C++ `proton::message` (the design's Proton C++
/// part), after a structural check of the sections with the Proton C codec: Proton 0.37's
/// message decoder accepts truncated or garbage input without an error, so without the check a
/// malformed message would be enqueued as an empty one instead of being refused with
/// `amqp:decode-error`.
///
/// Proton's C++ API reports decode and conversion failures only by exception; this file is
/// the one place that catches them, so no exception leaves it for wire data.
///
/// Pure functions; thread-safe.
#include <proton/message.hpp>
#include <proton/message_id.hpp>

#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "emulator/amqp/errors.hpp"
#include "emulator/base/result.hpp"
#include "emulator/core/c2d_message.hpp"
#include "emulator/core/feedback.hpp"

namespace emu::amqp {

/// A value, or the AMQP error to send instead (the one result type, base/result.hpp).
template <class T>
using decoded = emu::result<T, amqp_error>;

/// Runs `decode` (a decoder of wire data returning decoded<T>) so that no exception leaves:
/// Proton's C++ message decodes its maps lazily and throws for a key of the wrong type (an
/// annotation key that is a string). An exception becomes amqp:decode-error
/// "`what` cannot be decoded: …".
template <class Decode>
auto decode_without_throwing(std::string_view what, Decode&& decode) -> decltype(decode()) {
  try {
    return decode();
  } catch (const std::exception& e) {
    return decode_error(std::string(what) + " cannot be decoded: " + e.what());
  }
}

/// Which body sections a message carried (AMQP 1.0 §3.2).
struct body_sections {
  int data = 0;           ///< number of `data` sections (0x75)
  bool value = false;     ///< an `amqp-value` section (0x77)
  bool sequence = false;  ///< an `amqp-sequence` section (0x76)
};

struct decoded_message {
  proton::message message;
  body_sections body;
};

/// Checks that `bytes` is a sequence of well-formed, known message sections, then decodes it.
/// Errors: amqp:decode-error.
decoded<decoded_message> decode_message(std::span<const char> bytes);

/// The contents of the message's data sections, in order, after the same structural check as
/// decode_message (a batched message's body: next-capabilities §4). amqp:decode-error for a
/// malformed message or an amqp-value / amqp-sequence body.
decoded<std::vector<std::string>> data_sections(std::span<const char> bytes);

/// message-id / correlation-id as the hub stores them (spec §4.3 "Emulator"): string as sent,
/// uuid in canonical lower-case hyphenated form, ulong in decimal, binary as lower-case hex,
/// null as "".
std::string message_id_to_string(const proton::message_id& id);

/// A simple AMQP value (string, symbol, boolean, integers, float, double, uuid, timestamp in
/// milliseconds) as the text the hub stores for a property; nullopt for other types.
std::optional<std::string> property_text(const proton::value& v);

/// message-id and correlation-id types the hub takes (string, uuid, ulong, binary, or none).
bool valid_id_type(proton::type_id t);

/// Calls `fn(name, value)` for each application property in order and stops at the first
/// error it returns; a name that is not a string is amqp:invalid-field. (The map was checked
/// structurally by decode_message.)
std::optional<amqp_error> for_each_application_property(
    const proton::message& m,
    const std::function<std::optional<amqp_error>(std::string, const proton::value&)>& fn);

/// The application property `name` as text when it is a string or a symbol, else "" (the
/// request properties of `$cbs` and `$management`: operation, type, name, partition).
std::string text_property(const proton::message& m, const std::string& name);

/// The message annotation `key` as text (property_text), "" when absent or not simple.
std::string annotation_text(const proton::message& m, const char* key);

/// A validated C2D send.
struct c2d_request {
  std::string device_id;  ///< from `to`, percent-decoded
  core::c2d_content content;
};

/// Validates and converts a service C2D message (spec §4.3, issue 4 item 3):
/// - `to` must be `/devices/{id}/messages/devicebound` (address.hpp) → amqp:invalid-field;
/// - message-id / correlation-id of type string, uuid, ulong or binary;
/// - application property values must be simple (string, symbol, boolean, integers, float,
///   double, uuid, timestamp); they are stored as text. `iothub-ack` must be a string equal to
///   `none|positive|negative|full`; any other value is refused with amqp:invalid-field (spec
///   §2.1 leaves unknown values open; refusing tells the sender at once instead of silently
///   producing no feedback);
/// - the body must be data sections: exactly one, or none (an empty body). An amqp-value or
///   amqp-sequence body, or several data sections, are refused with amqp:decode-error, because
///   devices only understand one data section (sdk-wire §8 "Bodies").
/// Limits (size, queue depth, id syntax) are the hub's to check.
decoded<c2d_request> to_c2d_request(const decoded_message& m);

/// Both steps on raw delivery bytes.
decoded<c2d_request> decode_c2d(std::span<const char> bytes);

/// A C2D message as a device receives it on its AMQP link (sdk-wire §4 "C2D message →
/// Message"): message-id, correlation-id, user-id, `to` (the sender's, else
/// `/devices/{id}/messages/devicebound`), content type and encoding, absolute-expiry-time,
/// the application properties with `iothub-ack` (unless none), one data section.
std::vector<char> encode_c2d_for_device(const core::c2d_message& m);

/// The feedback message for a locked batch (spec §2.2): content-type
/// `application/vnd.microsoft.iothub.feedback.json`, user-id = `hub_name` (binary),
/// message annotation `iothub-enqueuedtime` = the batch's creation time (timestamp), and ONE
/// data section holding `core::feedback_json(batch)`.
std::vector<char> encode_feedback(const core::feedback_batch& batch, std::string_view hub_name);

/// The 16-byte delivery tag of a feedback delivery (spec §2.2: C# turns it into a GUID lock
/// token): the batch id then the lock id, both big-endian.
std::string feedback_delivery_tag(std::uint64_t batch_id, std::uint64_t lock_id);

/// Encodes a message built by this front. Returns nullopt only if Proton refuses to encode.
std::optional<std::vector<char>> encode_message(const proton::message& m);

}  // namespace emu::amqp
