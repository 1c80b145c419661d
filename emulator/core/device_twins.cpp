#include "emulator/core/device_twins.hpp"

#include "emulator/core/crypto.hpp"

namespace emu::core {

using json = nlohmann::json;

namespace {

error not_found(std::string_view device_id) {
  return error{hub_error::device_not_found,
               "The device '" + std::string(device_id) + "' does not exist."};
}

status check_etag(const device_twin& t, std::string_view if_match) {
  // The service SDKs quote the etag (next-capabilities §2.4, azure-iot-sdk-node#606); the
  // front strips the quotes.
  if (!if_match.empty() && if_match != "*" && if_match != t.etag)
    return error{hub_error::precondition_failed, "The etag does not match the twin's etag."};
  return success();
}

}  // namespace

void device_twins::restore(const std::vector<device_twin>& stored,
                           const std::vector<std::string>& devices) {
  twins_.clear();
  for (const auto& t : stored) twins_[t.device_id] = t;
  for (const auto& id : devices) {
    if (twins_.contains(id)) continue;
    device_twin t;
    t.device_id = id;
    t.etag = base64_encode("0");
    twins_[id] = std::move(t);
  }
}

void device_twins::create(std::string_view device_id, time_point now) {
  device_twin t;
  t.device_id = std::string(device_id);
  t.etag = new_etag();
  const auto stamp = to_iso8601(now);
  t.desired.metadata = metadata_for(json::object(), stamp, t.desired.version);
  t.reported.metadata = metadata_for(json::object(), stamp, std::nullopt);
  journal_.record(change::put_twin{t});
  twins_[t.device_id] = std::move(t);
}

const device_twin* device_twins::find(std::string_view device_id) const {
  const auto it = twins_.find(device_id);
  return it == twins_.end() ? nullptr : &it->second;
}

std::vector<twin_change> device_twins::history(std::string_view device_id) const {
  const auto it = history_.find(device_id);
  if (it == history_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

void device_twins::remember(const device_twin& t, std::string part, std::string by, json patch,
                            time_point now) {
  auto& h = history_[t.device_id];
  h.push_back(twin_change{t.version, std::move(part), std::move(by), std::move(patch), now});
  while (h.size() > max_history) h.pop_front();
}

device_twin* device_twins::modify(std::string_view device_id) {
  const auto it = twins_.find(device_id);
  return it == twins_.end() ? nullptr : &it->second;
}

std::string device_twins::new_etag() {
  return base64_encode(std::to_string(journal_.next(&hub_counters::next_generation)));
}

void device_twins::changed(const device_twin& t, const json* desired_patch) {
  journal_.record(change::put_twin{t});
  if (desired_patch != nullptr) {
    json body = *desired_patch;
    body["$version"] = t.desired.version;
    journal_.emit(event::desired_patch{t.device_id, t.desired.version, std::move(body)});
  }
}

result<device_twin> device_twins::update(std::string_view device_id, const twin_update& u,
                                         std::string_view if_match, time_point now) {
  device_twin* current = modify(device_id);
  if (current == nullptr) return not_found(device_id);
  if (auto ok = check_etag(*current, if_match); !ok) return ok.error();
  if (u.tags && !u.tags->is_null())
    if (auto ok = check_twin_patch(*u.tags, twin_part::tags); !ok) return ok.error();
  if (u.desired && !u.desired->is_null())
    if (auto ok = check_twin_patch(*u.desired, twin_part::desired); !ok) return ok.error();

  // Built on a copy: a part over its size leaves the twin as it was.
  device_twin t = *current;
  const auto stamp = to_iso8601(now);
  json desired_patch;
  if (u.tags) {
    if (u.tags->is_null()) {
      t.tags = json::object();
    } else {
      json unused = json::object();
      merge_twin_patch(t.tags, unused, *u.tags, stamp, std::nullopt);
    }
    if (auto ok = check_twin_size(t.tags, twin_part::tags); !ok) return ok.error();
  }
  if (u.desired) {
    ++t.desired.version;
    if (u.desired->is_null()) {
      // Every member removed; the device is told with an explicit null for each
      // (next-capabilities §2.2, UNCONFIRMED payload).
      desired_patch = top_level_diff(t.desired.values, json::object());
      t.desired.values = json::object();
      t.desired.metadata = metadata_for(t.desired.values, stamp, t.desired.version);
    } else {
      desired_patch = *u.desired;
      merge_twin_patch(t.desired.values, t.desired.metadata, *u.desired, stamp, t.desired.version);
    }
    if (auto ok = check_twin_size(t.desired.values, twin_part::desired); !ok) return ok.error();
  }
  if (!u.tags && !u.desired) return *current;  // nothing to write
  ++t.version;
  t.etag = new_etag();
  *current = t;
  changed(*current, u.desired ? &desired_patch : nullptr);
  json written = json::object();
  if (u.tags) written["tags"] = *u.tags;
  if (u.desired) written["properties"]["desired"] = *u.desired;
  remember(*current, "update", "service", std::move(written), now);
  return *current;
}

result<device_twin> device_twins::replace(std::string_view device_id, const twin_replacement& r,
                                          std::string_view if_match, time_point now) {
  device_twin* current = modify(device_id);
  if (current == nullptr) return not_found(device_id);
  if (auto ok = check_etag(*current, if_match); !ok) return ok.error();
  if (auto ok = check_twin_patch(r.tags, twin_part::tags); !ok) return ok.error();
  if (auto ok = check_twin_patch(r.desired, twin_part::desired); !ok) return ok.error();
  // A replacement holds values, not deletions.
  const auto strip_nulls = [](const json& doc) {
    json meta = json::object();
    json out = json::object();
    merge_twin_patch(out, meta, doc, "", std::nullopt);
    return out;
  };
  device_twin t = *current;
  const auto stamp = to_iso8601(now);
  t.tags = strip_nulls(r.tags);
  if (auto ok = check_twin_size(t.tags, twin_part::tags); !ok) return ok.error();
  const json desired = strip_nulls(r.desired);
  if (auto ok = check_twin_size(desired, twin_part::desired); !ok) return ok.error();
  ++t.desired.version;
  const json desired_patch = top_level_diff(t.desired.values, desired);
  t.desired.values = desired;
  t.desired.metadata = metadata_for(desired, stamp, t.desired.version);
  ++t.version;
  t.etag = new_etag();
  *current = t;
  changed(*current, &desired_patch);
  remember(*current, "replace", "service",
           json{{"tags", t.tags}, {"properties", {{"desired", t.desired.values}}}}, now);
  return *current;
}

result<std::int64_t> device_twins::patch_reported(std::string_view device_id, const json& patch,
                                                  time_point now) {
  device_twin* current = modify(device_id);
  if (current == nullptr) return not_found(device_id);
  if (auto ok = check_twin_patch(patch, twin_part::reported); !ok) return ok.error();
  twin_properties reported = current->reported;
  merge_twin_patch(reported.values, reported.metadata, patch, to_iso8601(now), std::nullopt);
  if (auto ok = check_twin_size(reported.values, twin_part::reported); !ok) return ok.error();
  ++reported.version;
  current->reported = std::move(reported);
  ++current->version;
  changed(*current, nullptr);
  remember(*current, "reported", "device", patch, now);
  return current->reported.version;
}

}  // namespace emu::core
