#pragma once
/// The string and topic rules of MQTT 3.1.1 that the decoder enforces, exposed so that other
/// layers (topic classification, tests) apply exactly the same rules.
#include <string_view>

namespace emu::mqtt {

/// True when `s` is well-formed UTF-8 as MQTT 1.5.3 requires: no ill-formed sequences
/// (overlong forms, code points above U+10FFFF), no surrogates U+D800..U+DFFF (MQTT-1.5.3-1)
/// and no U+0000 (MQTT-1.5.3-2). Other control characters and non-characters are allowed
/// (MQTT 1.5.3 only says SHOULD NOT for them).
bool is_valid_mqtt_utf8(std::string_view s);

/// A topic name for PUBLISH/Will: at least one character (MQTT-4.7.3-1) and no `+` or `#`
/// (MQTT-3.3.2-2). UTF-8 is checked separately.
bool is_valid_topic_name(std::string_view s);

/// A topic filter for SUBSCRIBE/UNSUBSCRIBE: at least one character (MQTT-4.7.3-1); `#` only as
/// the whole last level (MQTT-4.7.1-2); `+` only as a whole level (MQTT-4.7.1-3).
bool is_valid_topic_filter(std::string_view s);

}  // namespace emu::mqtt
