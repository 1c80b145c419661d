#pragma once
/// IoT Hub-shaped HTTP errors (spec §6.3, sdk-wire §3): the status code, the body
/// `{"Message":"ErrorCode:<Code>;<text>","ExceptionMessage":""}` and the header
/// `iothub-errorcode: <Code>`. The Node SDK splits `Message` on `;` and `:` to get the code and
/// the text, and maps a 404 to `DeviceNotFoundError` only when the code is `DeviceNotFound`.
#include <string_view>

#include "emulator/core/errors.hpp"
#include "emulator/https/http_message.hpp"

namespace emu::https {

/// The HTTP status of a hub error (spec §6.3: the first three digits of the error number).
int http_status(core::hub_error e);

/// An error response with an explicit status and IoT Hub error code name, for errors that the
/// HTTP layer finds itself (e.g. 413 for an oversized body, 503 when the hub does not answer in
/// time). `text` must not contain secrets; a `;` in it is replaced, because the Node SDK would
/// cut the message there.
http_response error_response(int status, std::string_view code, std::string_view text);

/// The response for a hub error.
http_response error_response(const core::error& e);

}  // namespace emu::https
