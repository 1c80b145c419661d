#include "emulator/core/device_twin.hpp"

namespace emu::core {

using json = nlohmann::json;

json section_for_service(const twin_properties& p) {
  json out = p.values;
  out["$metadata"] = p.metadata;
  out["$version"] = p.version;
  return out;
}

json section_for_device(const twin_properties& p) {
  json out = p.values;
  out["$version"] = p.version;
  return out;
}

json twin_for_device(const device_twin& t) {
  // Spec table §2.2: no `properties` wrapper, no tags, no `$metadata`.
  return json{{"desired", section_for_device(t.desired)},
              {"reported", section_for_device(t.reported)}};
}

namespace {

json section_to_stored(const twin_properties& p) {
  return json{{"values", p.values}, {"metadata", p.metadata}, {"version", p.version}};
}

bool section_from_stored(const json& j, twin_properties& p) {
  if (!j.is_object()) return false;
  const auto values = j.find("values");
  const auto metadata = j.find("metadata");
  const auto version = j.find("version");
  if (values == j.end() || !values->is_object() || metadata == j.end() || !metadata->is_object() ||
      version == j.end() || !version->is_number_integer())
    return false;
  p.values = *values;
  p.metadata = *metadata;
  p.version = version->get<std::int64_t>();
  return true;
}

}  // namespace

std::string to_stored(const device_twin& t) {
  return json{{"tags", t.tags},
              {"desired", section_to_stored(t.desired)},
              {"reported", section_to_stored(t.reported)},
              {"version", t.version},
              {"etag", t.etag}}
      .dump();
}

std::optional<device_twin> from_stored(std::string_view device_id, std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  device_twin t;
  t.device_id = std::string(device_id);
  const auto tags = j.find("tags");
  const auto version = j.find("version");
  const auto etag = j.find("etag");
  if (tags == j.end() || !tags->is_object() || version == j.end() ||
      !version->is_number_integer() || etag == j.end() || !etag->is_string())
    return std::nullopt;
  t.tags = *tags;
  t.version = version->get<std::int64_t>();
  t.etag = etag->get<std::string>();
  const auto desired = j.find("desired");
  const auto reported = j.find("reported");
  if (desired == j.end() || reported == j.end() || !section_from_stored(*desired, t.desired) ||
      !section_from_stored(*reported, t.reported))
    return std::nullopt;
  return t;
}

std::string twin_error_body(int error_number, std::string_view message, time_point now) {
  return nlohmann::json{{"errorCode", error_number},
                        {"trackingId", "iothub-emulator"},
                        {"message", message},
                        {"timestampUtc", to_iso8601(now)}}
      .dump();
}

}  // namespace emu::core
