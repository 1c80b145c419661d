#include "emulator/amqp/message_codec.hpp"

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/decoder.hpp>
#include <proton/error.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>

#include <cstdint>
#include <exception>

#include "emulator/amqp/address.hpp"
#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/proton_handles.hpp"

namespace emu::amqp {

namespace {

// AMQP 1.0 §3.2 section descriptors.
constexpr std::uint64_t section_header = 0x70;
constexpr std::uint64_t section_delivery_annotations = 0x71;
constexpr std::uint64_t section_message_annotations = 0x72;
constexpr std::uint64_t section_properties = 0x73;
constexpr std::uint64_t section_application_properties = 0x74;
constexpr std::uint64_t section_data = 0x75;
constexpr std::uint64_t section_sequence = 0x76;
constexpr std::uint64_t section_value = 0x77;
constexpr std::uint64_t section_footer = 0x78;

constexpr std::string_view ack_property = "iothub-ack";
constexpr std::string_view feedback_content_type = "application/vnd.microsoft.iothub.feedback.json";

std::string hex(const std::string& bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (const unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

/// Checks the section list of a message: known ulong descriptors, the right inner types, and
/// which body sections there are.
/// With `data_out`, also collects the data sections' contents (one walk for data_sections).
decoded<body_sections> scan_sections(std::span<const char> bytes,
                                     std::vector<std::string>* data_out = nullptr) {
  if (bytes.empty()) return decode_error("The message is empty.");
  if (!well_formed_values(bytes)) return decode_error("The message encoding is malformed.");
  body_sections body;
  data_ptr data = make_data();
  while (!bytes.empty()) {
    pn_data_clear(data.get());
    const auto used = pn_data_decode(data.get(), bytes.data(), bytes.size());
    if (used <= 0) return decode_error("The message encoding is malformed.");
    bytes = bytes.subspan(static_cast<std::size_t>(used));
    pn_data_rewind(data.get());
    if (!pn_data_next(data.get()) || pn_data_type(data.get()) != PN_DESCRIBED)
      return decode_error("A message section is not a described type.");
    pn_data_enter(data.get());
    if (!pn_data_next(data.get()) || pn_data_type(data.get()) != PN_ULONG)
      return decode_error("A message section has no numeric descriptor.");
    const std::uint64_t descriptor = pn_data_get_ulong(data.get());
    const pn_type_t inner = pn_data_next(data.get()) ? pn_data_type(data.get()) : PN_NULL;
    bool ok = true;
    switch (descriptor) {
      case section_header:
      case section_properties:
        ok = inner == PN_LIST;
        break;
      case section_delivery_annotations:
      case section_message_annotations:
      case section_application_properties:
      case section_footer:
        ok = inner == PN_MAP || inner == PN_NULL;
        break;
      case section_data:
        ok = inner == PN_BINARY;
        ++body.data;
        if (ok && data_out != nullptr) {
          const pn_bytes_t b = pn_data_get_binary(data.get());
          data_out->emplace_back(b.start, b.size);
        }
        break;
      case section_sequence:
        ok = inner == PN_LIST;
        body.sequence = true;
        break;
      case section_value:
        body.value = true;
        break;
      default:
        return decode_error("Unknown message section.");
    }
    if (!ok) return decode_error("A message section has the wrong type.");
  }
  return body;
}

/// A property value as text, or nullopt for types a C2D property cannot carry.
std::optional<std::string> value_text(const proton::value& v) {
  switch (v.type()) {
    case proton::STRING:
      return proton::get<std::string>(v);
    case proton::SYMBOL:
      return std::string(proton::get<proton::symbol>(v));
    case proton::BOOLEAN:
      return proton::get<bool>(v) ? "true" : "false";
    case proton::UBYTE:
      return std::to_string(proton::get<std::uint8_t>(v));
    case proton::BYTE:
      return std::to_string(proton::get<std::int8_t>(v));
    case proton::USHORT:
      return std::to_string(proton::get<std::uint16_t>(v));
    case proton::SHORT:
      return std::to_string(proton::get<std::int16_t>(v));
    case proton::UINT:
      return std::to_string(proton::get<std::uint32_t>(v));
    case proton::INT:
      return std::to_string(proton::get<std::int32_t>(v));
    case proton::ULONG:
      return std::to_string(proton::get<std::uint64_t>(v));
    case proton::LONG:
      return std::to_string(proton::get<std::int64_t>(v));
    case proton::TIMESTAMP:
      return std::to_string(proton::get<proton::timestamp>(v).milliseconds());
    case proton::FLOAT:
      return proton::to_string(v);
    case proton::DOUBLE:
      return proton::to_string(v);
    case proton::UUID:
      return proton::get<proton::uuid>(v).str();
    default:
      return std::nullopt;
  }
}

/// Reads the application properties into `out` (without `iothub-ack`, which sets `ack`).
std::optional<amqp_error> read_properties(const proton::message& m, core::c2d_content& out) {
  return for_each_application_property(
      m, [&out](std::string name, const proton::value& val) -> std::optional<amqp_error> {
        if (name == ack_property) {
          if (val.type() != proton::STRING)
            return invalid_field("iothub-ack must be a string: none, positive, negative or full.");
          const std::string text = proton::get<std::string>(val);
          const auto ack = core::parse_ack_mode(text);
          if (!ack)
            return invalid_field("Invalid iothub-ack value '" + text +
                                 "': expected none, positive, negative or full.");
          out.ack = *ack;
          return std::nullopt;
        }
        auto text = property_text(val);
        if (!text)
          return invalid_field("Application property '" + name +
                               "' has a type that is not supported.");
        out.properties.push_back(core::property{std::move(name), std::move(*text)});
        return std::nullopt;
      });
}

decoded<c2d_request> convert(const decoded_message& dm) {
  const proton::message& m = dm.message;
  if (dm.body.value || dm.body.sequence)
    return decode_error(
        "The message body must be a data section (amqp-value and "
        "amqp-sequence bodies are not supported).");
  if (dm.body.data > 1) return decode_error("The message body must be ONE data section.");

  c2d_request req;
  core::c2d_content& c = req.content;
  c.to = m.to();
  auto device = c2d_target_device(c.to);
  if (!device)
    return invalid_field(
        "The message's 'to' must be /devices/{deviceId}/messages/devicebound, "
        "not '" +
        c.to + "'.");
  req.device_id = std::move(*device);

  const proton::message_id id = m.id();
  if (!valid_id_type(id.type()))
    return invalid_field("message-id must be a string, uuid, ulong or binary.");
  c.message_id = message_id_to_string(id);
  const proton::message_id cid = m.correlation_id();
  if (!valid_id_type(cid.type()))
    return invalid_field("correlation-id must be a string, uuid, ulong or binary.");
  c.correlation_id = message_id_to_string(cid);
  c.user_id = m.user();
  c.content_type = m.content_type();
  c.content_encoding = m.content_encoding();
  if (const auto expiry = m.expiry_time().milliseconds(); expiry != 0)
    c.absolute_expiry = core::from_unix_ms(expiry);
  if (auto err = read_properties(m, c)) return *err;
  if (dm.body.data == 1) {
    const proton::value& body = m.body();
    if (body.type() != proton::BINARY) return decode_error("The data section is not binary.");
    const auto bin = proton::get<proton::binary>(body);
    c.body.assign(bin.begin(), bin.end());
  }
  return req;
}

}  // namespace

decoded<decoded_message> decode_message(std::span<const char> bytes) {
  auto sections = scan_sections(bytes);
  if (!sections) return sections.error();
  try {
    decoded_message out;
    out.message.decode(std::vector<char>(bytes.begin(), bytes.end()));
    out.body = *sections;
    return out;
  } catch (const std::exception& e) {
    return decode_error(std::string("The message cannot be decoded: ") + e.what());
  }
}

decoded<std::vector<std::string>> data_sections(std::span<const char> bytes) {
  std::vector<std::string> out;
  auto sections = scan_sections(bytes, &out);
  if (!sections) return sections.error();
  if (sections->value || sections->sequence)
    return decode_error("The message body must be data sections.");
  return out;
}

std::string message_id_to_string(const proton::message_id& id) {
  try {
    switch (id.type()) {
      case proton::STRING:
        return proton::get<std::string>(id);
      case proton::UUID:
        return proton::get<proton::uuid>(id).str();
      case proton::ULONG:
        return std::to_string(proton::get<std::uint64_t>(id));
      case proton::BINARY:
        return hex(std::string(proton::get<proton::binary>(id)));
      default:
        return {};
    }
  } catch (const std::exception&) {
    return {};
  }
}

decoded<c2d_request> to_c2d_request(const decoded_message& m) {
  try {
    return convert(m);
  } catch (const std::exception& e) {
    return invalid_field(std::string("The message has an invalid field: ") + e.what());
  }
}

decoded<c2d_request> decode_c2d(std::span<const char> bytes) {
  auto m = decode_message(bytes);
  if (!m) return m.error();
  return to_c2d_request(*m);
}

std::string feedback_delivery_tag(std::uint64_t batch_id, std::uint64_t lock_id) {
  std::string tag(16, '\0');
  for (int i = 0; i < 8; ++i) {
    tag[static_cast<std::size_t>(i)] = static_cast<char>((batch_id >> (56 - 8 * i)) & 0xff);
    tag[static_cast<std::size_t>(8 + i)] = static_cast<char>((lock_id >> (56 - 8 * i)) & 0xff);
  }
  return tag;
}

std::vector<char> encode_feedback(const core::feedback_batch& batch, std::string_view hub_name) {
  proton::message m;
  m.content_type(std::string(feedback_content_type));
  m.user(std::string(hub_name));
  m.message_annotations().put(proton::symbol("iothub-enqueuedtime"),
                              proton::timestamp(core::to_unix_ms(batch.created)));
  m.body(proton::binary(core::feedback_json(batch)));
  m.inferred(true);  // a binary body with `inferred` is sent as a data section
  auto bytes = encode_message(m);
  return bytes ? std::move(*bytes) : std::vector<char>{};
}

std::vector<char> encode_c2d_for_device(const core::c2d_message& msg) {
  const core::c2d_content& c = msg.content;
  proton::message m;
  if (!c.message_id.empty()) m.id(c.message_id);
  if (!c.correlation_id.empty()) m.correlation_id(c.correlation_id);
  if (!c.user_id.empty()) m.user(c.user_id);
  m.to(c.to.empty() ? "/devices/" + msg.device_id + "/messages/devicebound" : c.to);
  if (!c.content_type.empty()) m.content_type(c.content_type);
  if (!c.content_encoding.empty()) m.content_encoding(c.content_encoding);
  if (msg.expiry_time != core::time_point{} && msg.expiry_time != core::time_point::max())
    m.expiry_time(proton::timestamp(core::to_unix_ms(msg.expiry_time)));
  for (const auto& p : c.properties) m.properties().put(p.name, p.value);
  if (c.ack != core::ack_mode::none)
    m.properties().put(std::string(ack_property), std::string(core::to_string(c.ack)));
  m.body(proton::binary(c.body));
  m.inferred(true);  // one data section
  auto bytes = encode_message(m);
  return bytes ? std::move(*bytes) : std::vector<char>{};
}

std::optional<std::string> property_text(const proton::value& v) {
  return value_text(v);
}

bool valid_id_type(proton::type_id t) {
  return t == proton::NULL_TYPE || t == proton::STRING || t == proton::UUID || t == proton::ULONG ||
         t == proton::BINARY;
}

std::optional<amqp_error> for_each_application_property(
    const proton::message& m,
    const std::function<std::optional<amqp_error>(std::string, const proton::value&)>& fn) {
  const proton::value& map = m.properties().value();
  if (map.empty()) return std::nullopt;
  proton::codec::decoder dec(map);
  proton::codec::start start;
  dec >> start;
  for (std::size_t i = 0; i < start.size / 2; ++i) {
    proton::value key;
    proton::value val;
    dec >> key >> val;
    if (key.type() != proton::STRING)
      return invalid_field("Application property names must be strings.");
    if (auto refused = fn(proton::get<std::string>(key), val)) return refused;
  }
  dec >> proton::codec::finish();
  return std::nullopt;
}

std::string annotation_text(const proton::message& m, const char* key) {
  const proton::annotation_key k{proton::symbol(key)};
  if (!m.message_annotations().exists(k)) return {};
  return property_text(m.message_annotations().get(k)).value_or("");
}

std::string text_property(const proton::message& m, const std::string& name) {
  const auto& props = m.properties();
  if (!props.exists(name)) return {};
  const proton::scalar v = props.get(name);
  if (v.type() == proton::STRING) return proton::get<std::string>(v);
  if (v.type() == proton::SYMBOL) return std::string(proton::get<proton::symbol>(v));
  return {};
}

std::optional<std::vector<char>> encode_message(const proton::message& m) {
  try {
    std::vector<char> out;
    m.encode(out);
    return out;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

}  // namespace emu::amqp
