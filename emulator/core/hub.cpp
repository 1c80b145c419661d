#include "emulator/core/hub.hpp"

#include <algorithm>

#include "emulator/core/ascii.hpp"

namespace emu::core {

hub::hub(hub_settings settings) : settings_(std::move(settings)) {}

// ---- state ----------------------------------------------------------------------------------

void hub::restore(hub_snapshot snapshot) {
  journal_.load_counters(snapshot.counters);
  registry_.restore(snapshot.devices, snapshot.modules);
  cas_.restore(snapshot.ca_certificates);
  queue_.restore(std::move(snapshot.messages));
  feedback_.restore(snapshot.pending_feedback, snapshot.batches);
  sessions_.restore(snapshot.subscriptions);
  std::vector<std::string> ids;
  for (const auto& d : snapshot.devices) ids.push_back(d.id);
  for (const auto& m : snapshot.modules) ids.push_back(module_key(m.device_id, m.id));
  twins_.restore(snapshot.twins, ids);
  telemetry_.restore(std::move(snapshot.telemetry), snapshot.partitions);
  journal_.discard();
}

void hub::release_all_locks(time_point now) {
  queue_.release_all(now);
  feedback_.release_all(now);
  deliver_available(now);
}

void hub::reset(time_point) {
  registry_.clear();
  cas_.clear();
  queue_.clear();
  feedback_.clear();
  sessions_.clear();
  twins_.clear();
  methods_.end_all(hub_error::device_not_found, "The hub was reset.");
  iothub_topics_.clear();
  presence_.clear();
  readers_.clear();
  faults_.clear();
  const bool were_paused = !test_faults_.paused_fronts.empty();
  test_faults_ = hub_faults{};
  throttles_ = hub_throttles{settings_.throttling};  // a fresh day's quota, full buckets
  connect_limit_ = device_connect_limit{settings_.device_connects};
  if (were_paused) fronts_paused_changed();
  journal_.record(change::clear_all{});
  telemetry_.clear();  // after clear_all: it stores the partitions' counters again
  (void)journal_.counters_for_update();  // ids are never reused, not even across a reset
  journal_.emit(event::hub_reset{});
}

void hub::round_committed() {
  sessions_.commit_volatile();
  feedback_.commit_volatile();
  readers_.commit_volatile();
}

void hub::round_failed(const hub_snapshot& stored, time_point now) {
  sessions_.rollback_volatile();
  feedback_.rollback_volatile();
  readers_.rollback_volatile();
  restore(stored);
  // The lost round's deliveries were never sent: the messages are Enqueued again (the store
  // has them so) and the sessions' slots free; try again in the next round.
  sessions_.deliver_all(now);
  feedback_.advance(now);
}

// ---- registry -------------------------------------------------------------------------------

result<device> hub::create_device(const device_spec& spec, time_point now) {
  auto created = registry_.create(spec, now);
  // A new device starts with an empty twin (next-capabilities §2).
  if (created) twins_.create(created->id, now);
  return created;
}

result<device> hub::update_device(const device_spec& spec, std::string_view if_match,
                                  time_point now) {
  const device* before = registry_.find(spec.id);
  const bool was_enabled = before != nullptr && before->status == device_status::enabled;
  auto updated = registry_.update(spec, if_match, now);
  if (!updated) return updated.error();
  // Disabled, re-keyed: the grant its connection was admitted with may no longer hold. The
  // device reconnects and is checked again.
  if (updated->access_changed) sessions_.end(spec.id, session_end::device_changed, now);
  // A disabled device's modules may not connect either (spec §3.3): their sessions end too.
  if (was_enabled && updated->value.status != device_status::enabled)
    for (const auto& m : registry_.modules_of(spec.id))
      sessions_.end(module_key(spec.id, m.id), session_end::device_changed, now);
  return std::move(updated->value);
}

status hub::delete_device(std::string_view id, std::string_view if_match, time_point now) {
  if (auto ok = registry_.check_delete(id, if_match); !ok) return ok;
  // Spec §1.7: the queue goes with the identity, and so does its not-yet-batched feedback.
  queue_.remove_device(id);
  feedback_.remove_pending_of(id);
  forget_identity(id, now);
  // Its modules go with it (the store removes them with the device).
  for (const auto& m : registry_.modules_of(id)) forget_identity(module_key(id, m.id), now);
  registry_.erase(id);
  return success();
}

void hub::forget_identity(std::string_view identity, time_point now) {
  sessions_.remove_device(identity, now);
  twins_.remove(identity);  // the store deletes the twin with its identity
  methods_.end_device(identity,
                      split_identity(identity).is_module() ? hub_error::module_not_found
                                                           : hub_error::device_not_found,
                      "The identity was deleted.");
  iothub_topics_.erase(std::string(identity));
  presence_.erase(std::string(identity));
}

// ---- modules --------------------------------------------------------------------------------

result<module_identity> hub::create_module(const module_spec& spec, time_point now) {
  auto created = registry_.create_module(spec);
  if (created) twins_.create(module_key(created->device_id, created->id), now);
  return created;
}

result<module_identity> hub::update_module(const module_spec& spec, std::string_view if_match,
                                           time_point now) {
  auto updated = registry_.update_module(spec, if_match);
  if (!updated) return updated.error();
  if (updated->access_changed)
    sessions_.end(module_key(spec.device_id, spec.id), session_end::device_changed, now);
  return std::move(updated->value);
}

status hub::delete_module(std::string_view device_id, std::string_view module_id,
                          std::string_view if_match, time_point now) {
  if (auto ok = registry_.check_delete_module(device_id, module_id, if_match); !ok) return ok;
  forget_identity(module_key(device_id, module_id), now);
  registry_.erase_module(device_id, module_id);
  return success();
}

result<std::vector<module_identity>> hub::modules_of(std::string_view device_id) const {
  if (registry_.find(device_id) == nullptr)
    return error{hub_error::device_not_found, "Device " + std::string(device_id) + " not found."};
  return registry_.modules_of(device_id);
}

std::optional<hub::identity_version> hub::connectable(std::string_view identity) const {
  if (!is_identity_key(identity)) return std::nullopt;
  const auto ref = split_identity(identity);
  const device* d = registry_.find(ref.device_id);
  if (d == nullptr || d->status != device_status::enabled) return std::nullopt;
  if (!ref.is_module()) return identity_version{d->etag, d->generation_id};
  const module_identity* m = registry_.find_module(ref.device_id, ref.module_id);
  if (m == nullptr) return std::nullopt;
  return identity_version{d->etag + "/" + m->etag, m->generation_id};
}

status hub::identity_exists(std::string_view identity) const {
  if (!is_identity_key(identity))
    return error{hub_error::device_not_found,
                 "'" + std::string(identity) + "' is not a device or module id."};
  const auto ref = split_identity(identity);
  if (registry_.find(ref.device_id) == nullptr)
    return error{hub_error::device_not_found,
                 "The device '" + std::string(ref.device_id) + "' does not exist."};
  if (ref.is_module() && registry_.find_module(ref.device_id, ref.module_id) == nullptr)
    return error{hub_error::module_not_found, "The module '" + std::string(ref.module_id) +
                                                  "' on device '" + std::string(ref.device_id) +
                                                  "' does not exist."};
  return success();
}

// ---- twins ----------------------------------------------------------------------------------

result<device_twin> hub::twin(std::string_view device_id) const {
  if (auto ok = identity_exists(device_id); !ok) return ok.error();
  const device_twin* t = twins_.find(device_id);
  if (t == nullptr)
    return error{hub_error::device_not_found,
                 "The twin of '" + std::string(device_id) + "' does not exist."};
  return *t;
}

result<device_twin> hub::update_twin(std::string_view device_id, const twin_update& u,
                                     std::string_view if_match, time_point now) {
  if (auto ok = identity_exists(device_id); !ok) return ok.error();
  return twins_.update(device_id, u, if_match, now);
}

result<device_twin> hub::replace_twin(std::string_view device_id, const twin_replacement& r,
                                      std::string_view if_match, time_point now) {
  if (auto ok = identity_exists(device_id); !ok) return ok.error();
  return twins_.replace(device_id, r, if_match, now);
}

result<std::int64_t> hub::patch_reported(std::string_view device_id, std::uint64_t epoch,
                                         const nlohmann::json& patch, time_point now) {
  if (!sessions_.is_current(device_id, epoch))
    return error{hub_error::device_message_lock_lost, "The session is no longer current."};
  if (!registry_.enabled(device_id))
    return error{hub_error::device_not_found,
                 "The device '" + std::string(device_id) + "' is not enabled."};
  if (auto refused = faults_.refusal(device_id, now)) return std::move(*refused);
  if (auto throttled = throttles_.admit(throttled_operation::twin_update, now))
    return std::move(*throttled);
  touch(device_id, now);
  return twins_.patch_reported(device_id, patch, now);
}

// ---- authentication -------------------------------------------------------------------------

result<auth_grant> hub::authenticate_device(std::string_view token, std::string_view device_id,
                                            time_point now) const {
  return in_hub_time(
      core::authenticate_device(settings_, registry_, token, device_id, now - wall_lag_));
}

result<auth_grant> hub::authenticate_service(std::string_view token, permission needed,
                                             time_point now) const {
  return in_hub_time(core::authenticate_service(settings_, token, needed, now - wall_lag_));
}

// ---- CA certificates ------------------------------------------------------------------------

void hub::end_ca_device_sessions(time_point now) {
  for (const auto& d : registry_.list())
    if (d.authentication == auth_type::certificate_authority)
      sessions_.end(d.id, session_end::device_changed, now);
  for (const auto& m : registry_.all_modules())
    if (m.authentication == auth_type::certificate_authority)
      sessions_.end(module_key(m.device_id, m.id), session_end::device_changed, now);
}

result<ca_certificate> hub::put_ca_certificate(std::string_view name, std::string_view certificate,
                                               bool verified, std::string_view if_match,
                                               time_point now) {
  auto put = cas_.put(name, certificate, verified, if_match, now);
  if (put) end_ca_device_sessions(now);
  return put;
}

status hub::remove_ca_certificate(std::string_view name, std::string_view if_match,
                                  time_point now) {
  auto removed = cas_.remove(name, if_match);
  if (removed) end_ca_device_sessions(now);
  return removed;
}

// ---- device sessions ------------------------------------------------------------------------

result<session_grant> hub::connect_device(const session_request& r, time_point now) {
  auto grant = authenticate_device(device_credential{r.token, r.certificate}, r.device_id, now);
  if (!grant) return grant.error();
  // One identity reconnecting in a loop is refused before it drains the hub-wide throttle.
  if (auto storm = connect_limit_.admit(r.device_id, now)) return std::move(*storm);
  if (auto throttled = throttles_.admit(throttled_operation::device_connect, now))
    return std::move(*throttled);
  if (r.refuse_while_refusing) {
    if (auto refused = faults_.refusal(r.device_id, now)) return std::move(*refused);
    if (auto exhausted = throttles_.quota_exhausted(now)) return std::move(*exhausted);
  }
  session_grant g;
  g.epoch = sessions_.open(r.device_id, r.clean_session, r.inflight_window, now);
  g.expiry = grant->expiry;
  g.generation_id = registry_.generation_of(r.device_id).value_or("");
  g.hub_scope = !grant->policy.empty();
  if (!r.clean_session) g.subscription = sessions_.durable_subscription(r.device_id);
  if (r.clean_session) {
    iothub_topics_.erase(r.device_id);
  } else if (const auto it = iothub_topics_.find(r.device_id); it != iothub_topics_.end()) {
    g.iothub_topics = it->second;
  }
  methods_.subscribe(r.device_id, g.epoch, (g.iothub_topics & iothub_topic::methods) != 0, now);
  presence_changed(r.device_id, now);
  touch(r.device_id, now);
  presence_[r.device_id].transport = r.transport;
  deliver_available(now);
  sessions_.deliver(r.device_id, now);
  return g;
}

void hub::disconnect_device(std::string_view device_id, std::uint64_t epoch, time_point now) {
  if (sessions_.is_current(device_id, epoch)) presence_changed(device_id, now);
  sessions_.close(device_id, epoch, now);
  deliver_available(now);
}

status hub::subscribe_c2d(std::string_view device_id, std::uint64_t epoch, std::optional<int> qos,
                          time_point now) {
  // C2D is for devices: a module's durable subscription would name no device row.
  if (split_identity(device_id).is_module())
    return error{hub_error::argument_invalid, "Modules receive no cloud-to-device messages."};
  return sessions_.subscribe(device_id, epoch, qos, now);
}

status hub::stop_c2d(std::string_view device_id, std::uint64_t epoch, time_point now) {
  auto stopped = sessions_.stop_receiving(device_id, epoch, now);
  deliver_available(now);
  return stopped;
}

status hub::settle(std::string_view device_id, std::uint64_t epoch, std::uint64_t seq,
                   std::uint64_t lock_id, settlement how, time_point now) {
  if (!sessions_.is_current(device_id, epoch))
    return error{hub_error::device_message_lock_lost, "The session is no longer current."};
  auto settled = queue_.settle(device_id, seq, lock_id, how, now);
  touch(device_id, now);
  deliver_available(now);
  sessions_.deliver(device_id, now);
  return settled;
}

// ---- C2D ------------------------------------------------------------------------------------

result<std::uint64_t> hub::enqueue(std::string_view device_id, c2d_content content,
                                   time_point now) {
  const device* d = registry_.find(device_id);
  // ERR-404001: unknown and disabled devices both answer DeviceNotFound.
  if (d == nullptr)
    return error{hub_error::device_not_found, "Device " + std::string(device_id) + " not found."};
  if (auto throttled = throttles_.admit(throttled_operation::c2d_send, now))
    return std::move(*throttled);
  if (auto quota = throttles_.count_message(content.body.size(), now)) return std::move(*quota);
  auto seq = queue_.enqueue(*d, std::move(content), now);
  deliver_available(now);
  return seq;
}

std::optional<c2d_delivery> hub::lock_next(std::string_view device_id, time_point now) {
  if (!registry_.enabled(device_id)) return std::nullopt;
  return queue_.lock_next(device_id, now);
}

status hub::settle(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                   settlement how, time_point now) {
  auto settled = queue_.settle(device_id, seq, lock_id, how, now);
  deliver_available(now);
  return settled;
}

void hub::release(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                  time_point now) {
  queue_.release(device_id, seq, lock_id, now);
  deliver_available(now);
}

result<int> hub::purge(std::string_view device_id, time_point now) {
  if (registry_.find(device_id) == nullptr)
    return error{hub_error::device_not_found, "Device " + std::string(device_id) + " not found."};
  return queue_.purge(device_id, now);
}

void hub::set_subscription(std::string_view device_id, int qos) {
  if (split_identity(device_id).is_module()) return;  // C2D is for devices (subscribe_c2d)
  sessions_.set_durable_subscription(device_id, qos);
}

void hub::clear_subscription(std::string_view device_id) {
  sessions_.set_durable_subscription(device_id, std::nullopt);
}

std::optional<int> hub::subscription(std::string_view device_id) const {
  return sessions_.durable_subscription(device_id);
}

void hub::deliver_available(time_point now) {
  for (const auto& device_id : queue_.take_available()) sessions_.deliver(device_id, now);
}

// ---- feedback -------------------------------------------------------------------------------

std::uint64_t hub::attach_feedback_receiver() {
  return feedback_.attach_receiver();
}

std::uint64_t hub::set_feedback_credit(std::uint64_t receiver, std::uint64_t limit, bool drain,
                                       time_point now) {
  return feedback_.set_receiver_limit(receiver, limit, drain, now);
}

void hub::detach_feedback_receiver(std::uint64_t receiver, time_point now) {
  feedback_.detach_receiver(receiver, now);
}

std::optional<feedback_batch> hub::lock_next_batch(time_point now) {
  return feedback_.lock_next(now);
}

status hub::settle_batch(std::uint64_t batch_id, std::uint64_t lock_id, batch_outcome how,
                         time_point now) {
  return feedback_.settle(batch_id, lock_id, how, now);
}

void hub::release_batch(std::uint64_t batch_id, std::uint64_t lock_id, time_point now) {
  feedback_.release(batch_id, lock_id, now);
}

// ---- telemetry ------------------------------------------------------------------------------

result<recorded_telemetry> hub::record_telemetry(std::string_view device_id,
                                                 std::vector<property> properties, std::string body,
                                                 time_point now) {
  if (auto refused = faults_.refusal(device_id, now)) return std::move(*refused);
  if (auto throttled = throttles_.admit(throttled_operation::d2c_send, now))
    return std::move(*throttled);
  std::size_t size = body.size();
  for (const auto& p : properties) size += p.name.size() + p.value.size();
  if (auto quota = throttles_.count_message(size, now)) return std::move(*quota);
  touch(device_id, now);
  recorded_telemetry out;
  if (settings_.fault_injection) {
    auto parsed = parse_fault_request(properties);
    if (!parsed.problem.empty()) {
      const property* type = nullptr;
      for (const auto& p : properties)
        if (iequals(p.name, fault_type_property)) type = &p;
      faults_.record(device_id, type != nullptr ? type->value.substr(0, 64) : "", "ignored",
                     std::move(parsed.problem), now);
    } else if (parsed.request) {
      const auto& r = *parsed.request;
      faults_.record(device_id, to_string(r.kind), "requested", "telemetry", now);
      if (is_connection_fault(r.kind)) {
        out.fault = std::move(parsed.request);
      } else {
        faults_.open_window(device_id, r, now);
        faults_.record(device_id, to_string(r.kind), "applied",
                       "window of " + std::to_string(r.length.count()) + " ms after " +
                           std::to_string(r.delay.count()) + " ms",
                       now);
      }
    }
  }
  telemetry_message m;
  const auto ref = split_identity(device_id);
  m.device_id = std::string(ref.device_id);
  m.module_id = std::string(ref.module_id);
  m.properties = std::move(properties);
  m.body = std::move(body);
  // Readers get it at the end of the round (advance), with everything else appended in it.
  out.sequence_number = telemetry_.append(std::move(m), now)->sequence_number;
  return out;
}

hub_statistics hub::statistics() const {
  hub_statistics s;
  for (const auto& d : registry_.list()) {
    ++s.devices;
    s.modules += registry_.module_count(d.id);
  }
  for (const auto& [identity, p] : presence_)
    if (presence(identity).connected) ++s.connected_identities;
  s.c2d_enqueued = queue_.enqueued_count();
  s.c2d_invisible = queue_.invisible_count();
  s.c2d = queue_.tally();
  s.feedback_pending_records = feedback_.pending().size();
  s.feedback_waiting_batches = feedback_.batch_count();
  s.feedback = feedback_.tally();
  for (int p = 0; p < telemetry_.partition_count(); ++p) {
    const auto info = telemetry_.info(p);
    s.partitions.push_back(
        partition_statistics{p, static_cast<std::uint64_t>(info.last_sequence_number + 1),
                             readers_.read_from(p), telemetry_.retained(p)});
  }
  for (std::size_t op = 0; op < throttled_operation_count; ++op)
    s.throttled += throttles_.refused(static_cast<throttled_operation>(op));
  s.quota_refused = throttles_.quota_refused();
  s.connects_refused = connect_limit_.refused();
  return s;
}

status hub::inject_fault(std::string_view identity, const fault_request& r, time_point now) {
  if (auto ok = identity_exists(identity); !ok) return ok.error();
  if (!is_connection_fault(r.kind)) {
    faults_.record(identity, to_string(r.kind), "requested", "test control", now);
    faults_.open_window(identity, r, now);
    faults_.record(identity, to_string(r.kind), "applied",
                   "window of " + std::to_string(r.length.count()) + " ms after " +
                       std::to_string(r.delay.count()) + " ms",
                   now);
    return success();
  }
  const auto epoch = sessions_.current_epoch(identity);
  if (!epoch)
    return error{
        hub_error::device_not_online,
        "'" + std::string(identity) + "' is not connected: there is no connection to fault."};
  faults_.record(identity, to_string(r.kind), "requested", "test control", now);
  journal_.emit(event::fault_requested{std::string(identity), *epoch, r});
  return success();
}

std::vector<std::string> hub::consumer_groups() const {
  std::vector<std::string> out{"$Default"};
  for (const auto& g : settings_.consumer_groups)
    if (!iequals(g, "$Default")) out.push_back(g);
  return out;
}

namespace {

/// A partition id as Event Hubs spells it: a decimal number without sign or leading zeros.
std::optional<int> parse_partition_id(std::string_view id, int count) {
  if (id.empty() || id.size() > 2 || (id.size() > 1 && id[0] == '0')) return std::nullopt;
  int n = 0;
  for (const char c : id) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n >= count) return std::nullopt;
  return n;
}

error no_partition(std::string_view id, int count) {
  return error{hub_error::entity_not_found, "The partition '" + std::string(id) +
                                                "' does not exist (partitions 0.." +
                                                std::to_string(count - 1) + ")."};
}

}  // namespace

result<partition_info> hub::partition(std::string_view partition_id) const {
  const auto p = parse_partition_id(partition_id, telemetry_.partition_count());
  if (!p) return no_partition(partition_id, telemetry_.partition_count());
  return telemetry_.info(*p);
}

result<std::uint64_t> hub::attach_telemetry_reader(std::string_view partition_id,
                                                   reader_request r) {
  const auto groups = consumer_groups();
  if (std::none_of(groups.begin(), groups.end(),
                   [&](const std::string& g) { return iequals(g, r.consumer_group); }))
    return error{hub_error::entity_not_found,
                 "The consumer group '" + r.consumer_group + "' does not exist."};
  const auto p = parse_partition_id(partition_id, telemetry_.partition_count());
  if (!p) return no_partition(partition_id, telemetry_.partition_count());
  r.partition = *p;
  return readers_.attach(r, telemetry_);
}

std::uint64_t hub::set_telemetry_credit(std::uint64_t reader, std::uint64_t limit) {
  return readers_.set_limit(reader, limit, telemetry_);
}

// ---- time -----------------------------------------------------------------------------------

void hub::advance(time_point now) {
  faults_.expire(now);
  methods_.advance(now);
  queue_.advance(now);
  feedback_.advance(now);
  deliver_available(now);
  telemetry_.trim(now);
  readers_.deliver(telemetry_);
}

std::optional<time_point> hub::next_deadline() const {
  std::optional<time_point> out;
  for (const auto& d : {queue_.next_deadline(), feedback_.next_deadline(), methods_.next_deadline(),
                        telemetry_.next_deadline(), faults_.next_deadline()})
    if (d && (!out || *d < *out)) out = d;
  return out;
}

// ---- presence -------------------------------------------------------------------------------

device_presence hub::presence(std::string_view device_id) const {
  device_presence p;
  if (const auto it = presence_.find(device_id); it != presence_.end()) p = it->second;
  p.connected = sessions_.is_connected(device_id);
  return p;
}

void hub::touch(std::string_view device_id, time_point now) {
  const auto it = presence_.find(device_id);
  if (it != presence_.end())
    it->second.last_activity = now;
  else
    presence_[std::string(device_id)].last_activity = now;
}

void hub::presence_changed(std::string_view device_id, time_point now) {
  const auto it = presence_.find(device_id);
  if (it != presence_.end())
    it->second.state_updated = now;
  else
    presence_[std::string(device_id)].state_updated = now;
}

// ---- direct methods -------------------------------------------------------------------------

bool hub::methods_reachable(std::string_view device_id) const {
  const auto epoch = methods_.subscribed_epoch(device_id);
  return epoch && registry_.enabled(device_id) && sessions_.is_current(device_id, *epoch);
}

result<std::uint64_t> hub::invoke_method(std::string_view device_id, method_call call,
                                         time_point now) {
  if (auto ok = identity_exists(device_id); !ok) return ok.error();
  if (auto throttled = throttles_.admit(throttled_operation::method, now))
    return std::move(*throttled);
  const bool reachable = methods_reachable(device_id);
  const auto epoch = reachable ? *methods_.subscribed_epoch(device_id) : 0;
  return methods_.invoke(device_id, epoch, reachable, std::move(call), now);
}

status hub::set_iothub_topics(std::string_view device_id, std::uint64_t epoch, std::uint8_t topics,
                              time_point now) {
  if (!sessions_.is_current(device_id, epoch))
    return error{hub_error::device_message_lock_lost, "The session is no longer current."};
  if (topics == 0)
    iothub_topics_.erase(std::string(device_id));
  else
    iothub_topics_[std::string(device_id)] = topics;
  methods_.subscribe(device_id, epoch, (topics & iothub_topic::methods) != 0, now);
  return success();
}

bool hub::answer_method(std::string_view device_id, std::uint64_t epoch, std::string_view rid,
                        int device_status, std::string payload) {
  // An answer from an older connection of the device still answers its call: the call was
  // sent to that connection.
  (void)epoch;
  return methods_.answer(device_id, rid, device_status, std::move(payload));
}

}  // namespace emu::core
