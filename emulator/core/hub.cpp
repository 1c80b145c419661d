#include "emulator/core/hub.hpp"

#include <algorithm>
#include <cctype>

#include "emulator/core/crypto.hpp"
#include "emulator/core/host_name.hpp"
#include "emulator/core/limits.hpp"
#include "emulator/core/sas_token.hpp"

namespace emu::core {

namespace {

error fail(hub_error code, std::string message) {
  return error{code, std::move(message)};
}

/// Splits a decoded `sr` into host and path ("host/devices/d" → "host", "/devices/d").
std::pair<std::string_view, std::string_view> split_resource(std::string_view sr) {
  const auto slash = sr.find('/');
  if (slash == std::string_view::npos) return {sr, {}};
  return {sr.substr(0, slash), sr.substr(slash)};
}

bool valid_key(std::string_view key) {
  // Azure accepts symmetric keys of 16 to 64 bytes, base64-encoded (REST-PUT).
  const auto raw = base64_decode(key);
  return raw && raw->size() >= 16 && raw->size() <= 64;
}

/// Message ids: at most 128 ASCII characters from alphanumerics and
/// `- : . + % _ # * ? ! ( ) , = @ ; $ '` (spec §1.4, MSG-DOC).
bool valid_message_id(std::string_view id) {
  if (id.size() > limits::message_id_max_length) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    if (std::isalnum(static_cast<unsigned char>(c))) return true;
    return std::string_view("-:.+%_#*?!(),=@;$'").find(c) != std::string_view::npos;
  });
}

bool wants_feedback(ack_mode ack, feedback_status s) {
  if (ack == ack_mode::full) return true;
  if (ack == ack_mode::none) return false;
  return (s == feedback_status::success) == (ack == ack_mode::positive);
}

}  // namespace

hub::hub(hub_settings settings) : settings_(std::move(settings)) {}

// ---- state ----------------------------------------------------------------------------

void hub::restore(const hub_snapshot& snapshot) {
  counters_ = snapshot.counters;
  devices_.clear();
  messages_.clear();
  queues_.clear();
  expiries_.clear();
  locks_.clear();
  subscriptions_.clear();
  pending_feedback_ = snapshot.pending_feedback;
  batches_.clear();
  telemetry_.clear();
  for (const auto& d : snapshot.devices) {
    devices_.emplace(d.id, d);
    queues_[d.id];
  }
  for (const auto& m : snapshot.messages) {
    messages_.emplace(m.seq, m);
    queues_[m.device_id].insert(m.seq);
    expiries_.emplace(m.expiry_time, m.seq);
    if (m.state == c2d_state::invisible) locks_.emplace(m.lock_expiry, m.seq);
  }
  for (const auto& b : snapshot.batches) batches_.emplace(b.id, b);
  for (const auto& s : snapshot.subscriptions) subscriptions_[s.device_id] = s.qos;
  for (const auto& t : snapshot.telemetry) telemetry_.emplace(t.id, t);
  changes_.clear();
  events_.clear();
  counters_dirty_ = false;
}

void hub::release_all_locks(time_point now) {
  while (!locks_.empty()) unlock_message(messages_.at(locks_.begin()->second), false, now);
  for (auto& [id, b] : batches_) {
    if (b.lock_id == 0) continue;
    b.lock_id = 0;
    b.lock_expiry = {};
    record(change::put_feedback_batch{b});
    emit(event::feedback_available{});
  }
}

void hub::reset(time_point) {
  hub_snapshot empty;
  const auto counters = counters_;  // ids are never reused, not even across a reset
  restore(empty);
  counters_ = counters;
  record(change::clear_all{});
  counters_dirty_ = true;
  emit(event::hub_reset{});
}

std::vector<state_change> hub::take_changes() {
  if (counters_dirty_) {
    changes_.push_back(change::put_counters{counters_});
    counters_dirty_ = false;
  }
  return std::exchange(changes_, {});
}

std::vector<hub_event> hub::take_events() {
  return std::exchange(events_, {});
}

std::string hub::new_generation_id() {
  // Azure's generation ids look like 18-digit .NET tick counts (spec §7, UNCONFIRMED format).
  counters_dirty_ = true;
  return std::to_string(638000000000000000ULL + counters_.next_generation++);
}

// ---- registry -------------------------------------------------------------------------

result<device> hub::create_device(const device_spec& spec, time_point now) {
  if (!is_valid_device_id(spec.id))
    return fail(hub_error::argument_invalid, "DeviceId '" + spec.id + "' is invalid");
  if (devices_.contains(spec.id))
    return fail(hub_error::device_already_exists,
                "A device with ID '" + spec.id + "' is already registered.");
  for (const auto* key : {&spec.primary_key, &spec.secondary_key})
    if (!key->empty() && !valid_key(*key))
      return fail(hub_error::argument_invalid, "The device key must be base64 of 16 to 64 bytes.");
  device d;
  d.id = spec.id;
  d.status = spec.status;
  d.status_reason = spec.status_reason;
  d.primary_key = spec.primary_key.empty() ? random_key_base64() : spec.primary_key;
  d.secondary_key = spec.secondary_key.empty() ? random_key_base64() : spec.secondary_key;
  d.generation_id = new_generation_id();
  d.etag = base64_encode(std::to_string(counters_.next_generation++));
  d.status_updated_time = now;
  devices_.emplace(d.id, d);
  queues_[d.id];
  record(change::put_device{d});
  return d;
}

result<device> hub::update_device(const device_spec& spec, std::string_view if_match,
                                  time_point now) {
  const auto it = devices_.find(spec.id);
  if (it == devices_.end())
    return fail(hub_error::device_not_found, "Device " + spec.id + " not found.");
  device& d = it->second;
  if (!if_match.empty() && if_match != "*" && if_match != d.etag)
    return fail(hub_error::precondition_failed, "The etag does not match the device's etag.");
  for (const auto* key : {&spec.primary_key, &spec.secondary_key})
    if (!key->empty() && !valid_key(*key))
      return fail(hub_error::argument_invalid, "The device key must be base64 of 16 to 64 bytes.");
  const bool access_changed =
      spec.status != d.status || (!spec.primary_key.empty() && spec.primary_key != d.primary_key) ||
      (!spec.secondary_key.empty() && spec.secondary_key != d.secondary_key);
  if (spec.status != d.status) d.status_updated_time = now;
  d.status = spec.status;
  d.status_reason = spec.status_reason;
  if (!spec.primary_key.empty()) d.primary_key = spec.primary_key;
  if (!spec.secondary_key.empty()) d.secondary_key = spec.secondary_key;
  d.etag = base64_encode(std::to_string(counters_.next_generation++));
  counters_dirty_ = true;
  record(change::put_device{d});
  if (access_changed) emit(event::device_changed{d.id});
  return d;
}

status hub::delete_device(std::string_view id, std::string_view if_match, time_point) {
  const auto it = devices_.find(id);
  if (it == devices_.end())
    return fail(hub_error::device_not_found, "Device " + std::string(id) + " not found.");
  if (!if_match.empty() && if_match != "*" && if_match != it->second.etag)
    return fail(hub_error::precondition_failed, "The etag does not match the device's etag.");
  // Spec §1.7: the queue goes with the identity, and so does its not-yet-batched feedback.
  if (const auto q = queues_.find(id); q != queues_.end()) {
    for (const auto seq : std::set<std::uint64_t>(q->second)) remove_message(seq);
    queues_.erase(q);
  }
  std::erase_if(pending_feedback_, [&](const feedback_record& r) { return r.device_id == id; });
  subscriptions_.erase(std::string(id));
  const std::string device_id{id};
  devices_.erase(it);
  record(change::remove_device{device_id});
  emit(event::device_changed{device_id});
  return success();
}

const device* hub::find_device(std::string_view id) const {
  const auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : &it->second;
}

std::vector<device> hub::list_devices() const {
  std::vector<device> out;
  out.reserve(devices_.size());
  for (const auto& [id, d] : devices_) out.push_back(d);
  return out;
}

int hub::queued_count(std::string_view device_id) const {
  const auto q = queues_.find(device_id);
  return q == queues_.end() ? 0 : static_cast<int>(q->second.size());
}

// ---- authentication -------------------------------------------------------------------

result<auth_grant> hub::authenticate_device(std::string_view token, std::string_view device_id,
                                            time_point now) const {
  auto parsed = parse_sas_token(token);
  if (!parsed) return fail(hub_error::unauthorized, parsed.err().message);
  const sas_token& t = *parsed;
  const auto expiry = time_point{std::chrono::seconds{t.expiry}} + settings_.token_clock_skew;
  if (now >= expiry) return fail(hub_error::unauthorized, "The SAS token has expired.");
  const auto [host, path] = split_resource(t.resource_uri);
  if (!names_this_hub(host, settings_.host_name))
    return fail(hub_error::unauthorized, "The SAS token is for another hub (sr host).");
  const device* d = find_device(device_id);
  // Spec §3.3 / REG-DOC: a disabled device cannot use device endpoints; unknown and disabled
  // devices are refused the same way (MQTT: CONNACK 5).
  if (d == nullptr) return fail(hub_error::unauthorized, "Device not found.");
  if (d->status != device_status::enabled)
    return fail(hub_error::unauthorized, "The device is disabled.");

  auth_grant grant;
  grant.device_id = d->id;
  grant.expiry = expiry;
  const std::string target = "/devices/" + d->id;
  if (t.key_name.empty()) {
    // A device-key token: its scope must cover this device (spec §5.2).
    if (!resource_covers(path, target))
      return fail(hub_error::unauthorized, "The SAS token's sr does not cover this device.");
    if (!signature_matches(t, d->primary_key) && !signature_matches(t, d->secondary_key))
      return fail(hub_error::unauthorized, "The SAS token's signature does not match.");
    grant.permissions = static_cast<permission_set>(permission::device_connect);
    return grant;
  }
  // A hub-policy token with DeviceConnect (gateways): `{host}` or `{host}/devices[/id]`.
  const auto policy = std::find_if(settings_.policies.begin(), settings_.policies.end(),
                                   [&](const access_policy& p) { return p.name == t.key_name; });
  if (policy == settings_.policies.end())
    return fail(hub_error::unauthorized, "Unknown shared access policy.");
  if (!path.empty() && !resource_covers(path, target))
    return fail(hub_error::unauthorized, "The SAS token's sr does not cover this device.");
  if (!signature_matches(t, policy->primary_key) && !signature_matches(t, policy->secondary_key))
    return fail(hub_error::unauthorized, "The SAS token's signature does not match.");
  if (!has(policy->permissions, permission::device_connect))
    return fail(hub_error::unauthorized, "The policy does not grant DeviceConnect.");
  grant.policy = policy->name;
  grant.permissions = static_cast<permission_set>(permission::device_connect);
  return grant;
}

result<auth_grant> hub::authenticate_service(std::string_view token, permission needed,
                                             time_point now) const {
  auto parsed = parse_sas_token(token);
  if (!parsed) return fail(hub_error::unauthorized, parsed.err().message);
  const sas_token& t = *parsed;
  const auto expiry = time_point{std::chrono::seconds{t.expiry}} + settings_.token_clock_skew;
  if (now >= expiry) return fail(hub_error::unauthorized, "The SAS token has expired.");
  if (t.key_name.empty())
    return fail(hub_error::unauthorized,
                "A device token cannot be used on a service endpoint (no skn).");
  const auto [host, path] = split_resource(t.resource_uri);
  if (!names_this_hub(host, settings_.host_name))
    return fail(hub_error::unauthorized, "The SAS token is for another hub (sr host).");
  const auto policy = std::find_if(settings_.policies.begin(), settings_.policies.end(),
                                   [&](const access_policy& p) { return p.name == t.key_name; });
  if (policy == settings_.policies.end())
    return fail(hub_error::unauthorized, "Unknown shared access policy.");
  if (!signature_matches(t, policy->primary_key) && !signature_matches(t, policy->secondary_key))
    return fail(hub_error::unauthorized, "The SAS token's signature does not match.");
  if (!has(policy->permissions, needed))
    return fail(hub_error::unauthorized, "The policy '" + policy->name + "' does not grant " +
                                             std::string(to_string(needed)) + ".");
  auth_grant grant;
  grant.policy = policy->name;
  grant.permissions = policy->permissions;
  grant.expiry = expiry;
  return grant;
}

// ---- C2D ------------------------------------------------------------------------------

c2d_message* hub::find_message(std::uint64_t seq) {
  const auto it = messages_.find(seq);
  return it == messages_.end() ? nullptr : &it->second;
}

result<std::uint64_t> hub::enqueue(std::string_view device_id, c2d_content content,
                                   time_point now) {
  const device* d = find_device(device_id);
  // ERR-404001: unknown and disabled devices both answer DeviceNotFound.
  if (d == nullptr || d->status != device_status::enabled)
    return fail(hub_error::device_not_found, "Device " + std::string(device_id) + " not found.");
  if (!valid_message_id(content.message_id))
    return fail(hub_error::argument_invalid,
                "The message id is invalid (at most 128 characters "
                "from alphanumerics and -:.+%_#*?!(),=@;$').");
  if (const auto size = message_size(content); size > settings_.c2d_max_message_size)
    return fail(hub_error::message_too_large,
                "Message size " + std::to_string(size) + " exceeds the maximum of " +
                    std::to_string(settings_.c2d_max_message_size) + " bytes.");
  if (queued_count(device_id) >= settings_.c2d_max_queue_depth)
    return fail(hub_error::device_maximum_queue_depth_exceeded,
                "Device " + std::string(device_id) + " already has " +
                    std::to_string(settings_.c2d_max_queue_depth) + " messages queued.");

  c2d_message m;
  m.seq = counters_.next_message_seq++;
  counters_dirty_ = true;
  m.device_id = d->id;
  m.device_generation_id = d->generation_id;
  m.enqueued_time = now;
  // Spec §1.3: an absolute expiry is clamped to 2 days ahead; one in the past expires at once
  // (emulator choice, with Expired feedback). Without one, the hub's default TTL applies.
  if (content.absolute_expiry)
    m.expiry_time = std::min(*content.absolute_expiry, now + limits::c2d_ttl_max);
  else
    m.expiry_time = now + settings_.c2d_default_ttl;
  m.content = std::move(content);
  const auto seq = m.seq;
  expiries_.emplace(m.expiry_time, seq);
  queues_[m.device_id].insert(seq);
  record(change::put_message{m});
  emit(event::c2d_available{m.device_id});
  messages_.emplace(seq, std::move(m));
  return seq;
}

std::optional<c2d_delivery> hub::lock_next(std::string_view device_id, time_point now) {
  const device* d = find_device(device_id);
  if (d == nullptr || d->status != device_status::enabled) return std::nullopt;
  const auto q = queues_.find(device_id);
  if (q == queues_.end()) return std::nullopt;
  for (auto it = q->second.begin(); it != q->second.end();) {
    const auto seq = *it++;  // advance first: dead_letter() erases seq from the set
    c2d_message& m = messages_.at(seq);
    if (m.state != c2d_state::enqueued) continue;
    if (m.expiry_time <= now) {
      dead_letter(seq, feedback_status::expired, now);
      continue;
    }
    m.state = c2d_state::invisible;
    m.lock_id = counters_.next_lock_id++;
    counters_dirty_ = true;
    m.lock_expiry = now + settings_.c2d_lock_timeout;
    locks_.emplace(m.lock_expiry, seq);
    record(change::put_message_state{seq, m.state, m.delivery_count, m.lock_id, m.lock_expiry});
    return c2d_delivery{m, m.lock_id};
  }
  return std::nullopt;
}

void hub::unlock_message(c2d_message& m, bool count_delivery, time_point now) {
  locks_.erase({m.lock_expiry, m.seq});
  m.lock_id = 0;
  m.lock_expiry = {};
  m.state = c2d_state::enqueued;
  if (count_delivery && ++m.delivery_count >= settings_.c2d_max_delivery_count) {
    dead_letter(m.seq, feedback_status::delivery_count_exceeded, now);
    return;
  }
  record(change::put_message_state{m.seq, m.state, m.delivery_count, 0, {}});
  emit(event::c2d_available{m.device_id});
}

status hub::settle(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                   settlement how, time_point now) {
  c2d_message* m = find_message(seq);
  if (m == nullptr || m->device_id != device_id || m->state != c2d_state::invisible ||
      m->lock_id != lock_id || m->lock_expiry <= now)
    return fail(hub_error::device_message_lock_lost, "The message lock was lost.");
  switch (how) {
    case settlement::complete:
      if (wants_feedback(m->content.ack, feedback_status::success))
        add_feedback(*m, feedback_status::success, now);
      remove_message(seq);
      break;
    case settlement::reject:
      dead_letter(seq, feedback_status::rejected, now);
      break;
    case settlement::abandon:
      unlock_message(*m, /*count_delivery=*/true, now);
      break;
  }
  return success();
}

void hub::release(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                  time_point now) {
  c2d_message* m = find_message(seq);
  if (m == nullptr || m->device_id != device_id || m->state != c2d_state::invisible ||
      m->lock_id != lock_id)
    return;
  unlock_message(*m, /*count_delivery=*/false, now);
}

result<int> hub::purge(std::string_view device_id, time_point now) {
  if (find_device(device_id) == nullptr)
    return fail(hub_error::device_not_found, "Device " + std::string(device_id) + " not found.");
  const auto q = queues_.find(device_id);
  if (q == queues_.end()) return 0;
  const std::set<std::uint64_t> seqs = q->second;
  // UNCONFIRMED (spec §1.1): Azure lists a `Purged` feedback status; we emit it for messages
  // that asked for negative or full feedback, since a purge is a non-delivery.
  for (const auto seq : seqs) dead_letter(seq, feedback_status::purged, now);
  return static_cast<int>(seqs.size());
}

std::vector<c2d_message> hub::queue_of(std::string_view device_id) const {
  std::vector<c2d_message> out;
  if (const auto q = queues_.find(device_id); q != queues_.end())
    for (const auto seq : q->second) out.push_back(messages_.at(seq));
  return out;
}

void hub::dead_letter(std::uint64_t seq, feedback_status why, time_point now) {
  const c2d_message& m = messages_.at(seq);
  if (wants_feedback(m.content.ack, why)) add_feedback(m, why, now);
  remove_message(seq);
}

void hub::remove_message(std::uint64_t seq) {
  const auto it = messages_.find(seq);
  if (it == messages_.end()) return;
  const c2d_message& m = it->second;
  expiries_.erase({m.expiry_time, seq});
  if (m.state == c2d_state::invisible) locks_.erase({m.lock_expiry, seq});
  if (const auto q = queues_.find(m.device_id); q != queues_.end()) q->second.erase(seq);
  messages_.erase(it);
  record(change::remove_message{seq});
}

// ---- MQTT sessions --------------------------------------------------------------------

void hub::set_subscription(std::string_view device_id, int qos) {
  const auto it = subscriptions_.find(device_id);
  if (it != subscriptions_.end() && it->second == qos) return;
  subscriptions_[std::string(device_id)] = qos;
  record(change::put_subscription{c2d_subscription{std::string(device_id), qos}});
}

void hub::clear_subscription(std::string_view device_id) {
  const auto it = subscriptions_.find(device_id);
  if (it == subscriptions_.end()) return;
  subscriptions_.erase(it);
  record(change::remove_subscription{std::string(device_id)});
}

std::optional<int> hub::subscription(std::string_view device_id) const {
  const auto it = subscriptions_.find(device_id);
  if (it == subscriptions_.end()) return std::nullopt;
  return it->second;
}

// ---- feedback -------------------------------------------------------------------------

void hub::add_feedback(const c2d_message& m, feedback_status s, time_point now) {
  feedback_record r;
  r.id = counters_.next_feedback_id++;
  counters_dirty_ = true;
  r.original_message_id = m.content.message_id;
  r.device_id = m.device_id;
  r.device_generation_id = m.device_generation_id;
  r.status = s;
  r.enqueued_time = now;
  record(change::put_feedback_record{r});
  pending_feedback_.push_back(std::move(r));
  if (pending_feedback_.size() >= settings_.feedback_batch_max_records) cut_batches(now);
}

void hub::cut_batches(time_point now) {
  // Spec §2.3: a batch goes out at 64 records or 15 s after the last batch, whichever first;
  // never empty.
  while (!pending_feedback_.empty() &&
         (pending_feedback_.size() >= settings_.feedback_batch_max_records ||
          now >= counters_.last_batch_time + settings_.feedback_batch_interval)) {
    feedback_batch b;
    b.id = counters_.next_batch_id++;
    b.created = now;
    b.expiry = now + settings_.feedback_ttl;
    const auto n = std::min(pending_feedback_.size(), settings_.feedback_batch_max_records);
    b.records.assign(pending_feedback_.begin(), pending_feedback_.begin() + static_cast<long>(n));
    pending_feedback_.erase(pending_feedback_.begin(),
                            pending_feedback_.begin() + static_cast<long>(n));
    for (auto& r : b.records) {
      r.batch_id = b.id;
      record(change::put_feedback_record{r});
    }
    counters_.last_batch_time = now;
    counters_dirty_ = true;
    record(change::put_feedback_batch{b});
    batches_.emplace(b.id, std::move(b));
    emit(event::feedback_available{});
  }
}

std::optional<feedback_batch> hub::lock_next_batch(time_point now) {
  for (auto& [id, b] : batches_) {
    if (b.lock_id != 0 || b.expiry <= now) continue;
    b.lock_id = counters_.next_lock_id++;
    counters_dirty_ = true;
    b.lock_expiry = now + settings_.feedback_lock_duration;
    record(change::put_feedback_batch{b});
    return b;
  }
  return std::nullopt;
}

status hub::settle_batch(std::uint64_t batch_id, std::uint64_t lock_id, batch_outcome how,
                         time_point now) {
  const auto it = batches_.find(batch_id);
  if (it == batches_.end() || it->second.lock_id != lock_id || it->second.lock_expiry <= now)
    return fail(hub_error::device_message_lock_lost, "The feedback batch lock was lost.");
  feedback_batch& b = it->second;
  // Spec §2.4 (emulator reading of "same semantics as C2D"): accepted deletes, rejected drops,
  // released re-queues with the delivery count +1 until the feedback max delivery count.
  if (how == batch_outcome::released &&
      ++b.delivery_count < settings_.feedback_max_delivery_count) {
    b.lock_id = 0;
    b.lock_expiry = {};
    record(change::put_feedback_batch{b});
    emit(event::feedback_available{});
    return success();
  }
  batches_.erase(it);
  record(change::remove_feedback_batch{batch_id});
  return success();
}

void hub::release_batch(std::uint64_t batch_id, std::uint64_t lock_id, time_point) {
  const auto it = batches_.find(batch_id);
  if (it == batches_.end() || it->second.lock_id != lock_id) return;
  it->second.lock_id = 0;
  it->second.lock_expiry = {};
  record(change::put_feedback_batch{it->second});
  emit(event::feedback_available{});
}

std::vector<feedback_record> hub::pending_feedback() const {
  return pending_feedback_;
}

std::vector<feedback_batch> hub::feedback_batches() const {
  std::vector<feedback_batch> out;
  for (const auto& [id, b] : batches_) out.push_back(b);
  return out;
}

// ---- telemetry ------------------------------------------------------------------------

std::uint64_t hub::record_telemetry(std::string_view device_id, std::vector<property> properties,
                                    std::string body, time_point now) {
  telemetry_message t;
  t.id = counters_.next_telemetry_id++;
  counters_dirty_ = true;
  t.device_id = std::string(device_id);
  t.enqueued_time = now;
  t.properties = std::move(properties);
  t.body = std::move(body);
  const auto id = t.id;
  record(change::put_telemetry{t});
  telemetry_.emplace(id, std::move(t));
  if (telemetry_.size() > settings_.telemetry_capacity) {
    std::uint64_t up_to = 0;
    while (telemetry_.size() > settings_.telemetry_capacity) {
      up_to = telemetry_.begin()->first;
      telemetry_.erase(telemetry_.begin());
    }
    record(change::remove_telemetry_up_to{up_to});
  }
  return id;
}

std::vector<telemetry_message> hub::telemetry() const {
  std::vector<telemetry_message> out;
  out.reserve(telemetry_.size());
  for (const auto& [id, t] : telemetry_) out.push_back(t);
  return out;
}

// ---- time -----------------------------------------------------------------------------

void hub::advance(time_point now) {
  while (!expiries_.empty() && expiries_.begin()->first <= now)
    dead_letter(expiries_.begin()->second, feedback_status::expired, now);
  while (!locks_.empty() && locks_.begin()->first <= now) {
    c2d_message& m = messages_.at(locks_.begin()->second);
    // Spec §1.1: the 2026 rule returns a timed-out message without counting a delivery; the
    // 2018 rule (a setting) counts it.
    unlock_message(m, settings_.lock_timeout_counts_as_delivery, now);
  }
  for (auto it = batches_.begin(); it != batches_.end();) {
    feedback_batch& b = it->second;
    if (b.expiry <= now) {  // feedback TTL passed: the outcome is lost (spec §2.3)
      record(change::remove_feedback_batch{b.id});
      it = batches_.erase(it);
      continue;
    }
    if (b.lock_id != 0 && b.lock_expiry <= now) {
      b.lock_id = 0;
      b.lock_expiry = {};
      if (settings_.lock_timeout_counts_as_delivery &&
          ++b.delivery_count >= settings_.feedback_max_delivery_count) {
        record(change::remove_feedback_batch{b.id});
        it = batches_.erase(it);
        continue;
      }
      record(change::put_feedback_batch{b});
      emit(event::feedback_available{});
    }
    ++it;
  }
  cut_batches(now);
}

std::optional<time_point> hub::next_deadline() const {
  std::optional<time_point> next;
  const auto consider = [&](time_point t) {
    if (!next || t < *next) next = t;
  };
  if (!expiries_.empty()) consider(expiries_.begin()->first);
  if (!locks_.empty()) consider(locks_.begin()->first);
  if (!pending_feedback_.empty())
    consider(counters_.last_batch_time + settings_.feedback_batch_interval);
  for (const auto& [id, b] : batches_) {
    consider(b.expiry);
    if (b.lock_id != 0) consider(b.lock_expiry);
  }
  return next;
}

}  // namespace emu::core
