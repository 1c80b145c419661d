#include "storage/sqlite_store.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/identity_key.hpp"
#include "storage/schema.hpp"
#include "storage/statement.hpp"

namespace emu::storage {

namespace core = emu::core;

namespace {

// ---- value mappings --------------------------------------------------------------------
// Stable on-disk names, independent of the enums' numeric values (and of core .cpp code).

[[noreturn]] void damaged(sqlite3* db, const std::string& what) {
  throw storage_error(describe_file(db) + ": " + what + "; the database is damaged",
                      SQLITE_CORRUPT);
}

std::string_view db_name(core::device_status s) {
  switch (s) {
    case core::device_status::enabled:
      return "enabled";
    case core::device_status::disabled:
      return "disabled";
  }
  throw storage_error("unknown device_status " + std::to_string(static_cast<int>(s)));
}

core::device_status parse_device_status(sqlite3* db, const std::string& s) {
  if (s == "enabled") return core::device_status::enabled;
  if (s == "disabled") return core::device_status::disabled;
  damaged(db, "unknown device status '" + s + "'");
}

std::string_view db_name(core::c2d_state s) {
  switch (s) {
    case core::c2d_state::enqueued:
      return "enqueued";
    case core::c2d_state::invisible:
      return "invisible";
  }
  throw storage_error("unknown c2d_state " + std::to_string(static_cast<int>(s)));
}

core::c2d_state parse_c2d_state(sqlite3* db, const std::string& s) {
  if (s == "enqueued") return core::c2d_state::enqueued;
  if (s == "invisible") return core::c2d_state::invisible;
  damaged(db, "unknown message state '" + s + "'");
}

std::string_view db_name(core::ack_mode a) {
  switch (a) {
    case core::ack_mode::none:
      return "none";
    case core::ack_mode::positive:
      return "positive";
    case core::ack_mode::negative:
      return "negative";
    case core::ack_mode::full:
      return "full";
  }
  throw storage_error("unknown ack_mode " + std::to_string(static_cast<int>(a)));
}

core::ack_mode parse_ack_mode(sqlite3* db, const std::string& s) {
  if (s == "none") return core::ack_mode::none;
  if (s == "positive") return core::ack_mode::positive;
  if (s == "negative") return core::ack_mode::negative;
  if (s == "full") return core::ack_mode::full;
  damaged(db, "unknown ack mode '" + s + "'");
}

std::string_view db_name(core::feedback_status s) {
  switch (s) {
    case core::feedback_status::success:
      return "success";
    case core::feedback_status::expired:
      return "expired";
    case core::feedback_status::delivery_count_exceeded:
      return "delivery_count_exceeded";
    case core::feedback_status::rejected:
      return "rejected";
    case core::feedback_status::purged:
      return "purged";
  }
  throw storage_error("unknown feedback_status " + std::to_string(static_cast<int>(s)));
}

core::feedback_status parse_feedback_status(sqlite3* db, const std::string& s) {
  if (s == "success") return core::feedback_status::success;
  if (s == "expired") return core::feedback_status::expired;
  if (s == "delivery_count_exceeded") return core::feedback_status::delivery_count_exceeded;
  if (s == "rejected") return core::feedback_status::rejected;
  if (s == "purged") return core::feedback_status::purged;
  damaged(db, "unknown feedback status '" + s + "'");
}

std::int64_t ms(core::time_point t) {
  return core::to_unix_ms(t);
}

std::optional<std::int64_t> ms(const std::optional<core::time_point>& t) {
  if (!t) return std::nullopt;
  return core::to_unix_ms(*t);
}

core::time_point time_column(const statement& s, int column) {
  return core::from_unix_ms(s.column_int64(column));
}

// batch_id 0 (not yet batched) is NULL on disk, so the foreign key ignores it.
std::optional<std::uint64_t> batch_ref(std::uint64_t batch_id) {
  if (batch_id == 0) return std::nullopt;
  return batch_id;
}

// ---- property lists: (varint length, name, varint length, value)* --------------------------

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

std::optional<std::uint64_t> get_varint(std::string_view& in) {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64 && !in.empty(); shift += 7) {
    const auto byte = static_cast<std::uint8_t>(in.front());
    in.remove_prefix(1);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  return std::nullopt;
}

std::string encode_properties(const std::vector<core::property>& props) {
  std::string out;
  std::size_t size = 0;
  for (const auto& p : props) size += p.name.size() + p.value.size() + 4;
  out.reserve(size);
  for (const auto& p : props) {
    put_varint(out, p.name.size());
    out += p.name;
    put_varint(out, p.value.size());
    out += p.value;
  }
  return out;
}

std::optional<std::string> get_string(std::string_view& in) {
  const auto n = get_varint(in);
  if (!n || *n > in.size()) return std::nullopt;
  std::string s(in.substr(0, static_cast<std::size_t>(*n)));
  in.remove_prefix(static_cast<std::size_t>(*n));
  return s;
}

std::vector<core::property> decode_properties(sqlite3* db, std::string_view in) {
  std::vector<core::property> props;
  while (!in.empty()) {
    auto name = get_string(in);
    auto value = name ? get_string(in) : std::nullopt;
    if (!value) damaged(db, "malformed property list");
    props.push_back(core::property{std::move(*name), std::move(*value)});
  }
  return props;
}

// ---- SQL --------------------------------------------------------------------------------

constexpr const char* put_device_sql = R"sql(
INSERT INTO devices (id, status, status_reason, primary_key, secondary_key, generation_id, etag,
                     status_updated_ms, auth_type, primary_thumbprint, secondary_thumbprint,
                     iot_edge, device_scope, parent_scopes)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
ON CONFLICT (id) DO UPDATE SET
  status = excluded.status, status_reason = excluded.status_reason,
  primary_key = excluded.primary_key, secondary_key = excluded.secondary_key,
  generation_id = excluded.generation_id, etag = excluded.etag,
  status_updated_ms = excluded.status_updated_ms, auth_type = excluded.auth_type,
  primary_thumbprint = excluded.primary_thumbprint,
  secondary_thumbprint = excluded.secondary_thumbprint, iot_edge = excluded.iot_edge,
  device_scope = excluded.device_scope, parent_scopes = excluded.parent_scopes)sql";

constexpr const char* put_module_sql = R"sql(
INSERT INTO modules (device_id, module_id, managed_by, auth_type, primary_key, secondary_key,
                     primary_thumbprint, secondary_thumbprint, generation_id, etag)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT (device_id, module_id) DO UPDATE SET
  managed_by = excluded.managed_by, auth_type = excluded.auth_type,
  primary_key = excluded.primary_key, secondary_key = excluded.secondary_key,
  primary_thumbprint = excluded.primary_thumbprint,
  secondary_thumbprint = excluded.secondary_thumbprint, generation_id = excluded.generation_id,
  etag = excluded.etag)sql";

constexpr const char* put_ca_certificate_sql = R"sql(
INSERT INTO ca_certificates (name, pem, subject, thumbprint, not_before_ms, not_after_ms,
                             verified, verification_code, etag, created_ms, updated_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
ON CONFLICT (name) DO UPDATE SET
  pem = excluded.pem, subject = excluded.subject, thumbprint = excluded.thumbprint,
  not_before_ms = excluded.not_before_ms, not_after_ms = excluded.not_after_ms,
  verified = excluded.verified, verification_code = excluded.verification_code,
  etag = excluded.etag, created_ms = excluded.created_ms, updated_ms = excluded.updated_ms)sql";

constexpr const char* put_message_sql = R"sql(
INSERT INTO c2d_messages (seq, device_id, device_generation_id, message_id, correlation_id,
                          user_id, amqp_to, content_type, content_encoding, properties, ack, body,
                          absolute_expiry_ms, enqueued_ms, expiry_ms, state, delivery_count,
                          lock_id, lock_expiry_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)
ON CONFLICT (seq) DO UPDATE SET
  device_id = excluded.device_id, device_generation_id = excluded.device_generation_id,
  message_id = excluded.message_id, correlation_id = excluded.correlation_id,
  user_id = excluded.user_id, amqp_to = excluded.amqp_to, content_type = excluded.content_type,
  content_encoding = excluded.content_encoding, properties = excluded.properties,
  ack = excluded.ack, body = excluded.body, absolute_expiry_ms = excluded.absolute_expiry_ms,
  enqueued_ms = excluded.enqueued_ms, expiry_ms = excluded.expiry_ms, state = excluded.state,
  delivery_count = excluded.delivery_count, lock_id = excluded.lock_id,
  lock_expiry_ms = excluded.lock_expiry_ms)sql";

constexpr const char* put_feedback_record_sql = R"sql(
INSERT INTO feedback_records (id, original_message_id, device_id, device_generation_id, status,
                              enqueued_ms, batch_id)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (id) DO UPDATE SET
  original_message_id = excluded.original_message_id, device_id = excluded.device_id,
  device_generation_id = excluded.device_generation_id, status = excluded.status,
  enqueued_ms = excluded.enqueued_ms, batch_id = excluded.batch_id)sql";

constexpr const char* put_feedback_batch_sql = R"sql(
INSERT INTO feedback_batches (id, created_ms, expiry_ms, delivery_count, lock_id, lock_expiry_ms)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (id) DO UPDATE SET
  created_ms = excluded.created_ms, expiry_ms = excluded.expiry_ms,
  delivery_count = excluded.delivery_count, lock_id = excluded.lock_id,
  lock_expiry_ms = excluded.lock_expiry_ms)sql";

// schema.cpp v3: an event's key is partition * 2^40 + sequence number.
constexpr int event_key_shift = 40;
std::int64_t event_key(int partition, std::int64_t sequence_number) {
  return (static_cast<std::int64_t>(partition) << event_key_shift) + sequence_number;
}

constexpr const char* put_telemetry_sql = R"sql(
INSERT INTO telemetry_events (id, byte_offset, device_id, module_id, source, enqueued_ms,
                              properties, body)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8))sql";

constexpr const char* put_partition_sql = R"sql(
INSERT INTO telemetry_partitions (partition, next_sequence, next_offset) VALUES (?1, ?2, ?3)
ON CONFLICT (partition) DO UPDATE SET
  next_sequence = excluded.next_sequence, next_offset = excluded.next_offset)sql";

constexpr const char* put_counters_sql = R"sql(
INSERT INTO counters (id, next_message_seq, next_lock_id, next_feedback_id, next_batch_id,
                      next_telemetry_id, next_generation, last_batch_ms)
VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7)
ON CONFLICT (id) DO UPDATE SET
  next_message_seq = excluded.next_message_seq, next_lock_id = excluded.next_lock_id,
  next_feedback_id = excluded.next_feedback_id, next_batch_id = excluded.next_batch_id,
  next_telemetry_id = excluded.next_telemetry_id, next_generation = excluded.next_generation,
  last_batch_ms = excluded.last_batch_ms)sql";

constexpr const char* message_columns =
    "seq, device_id, device_generation_id, message_id, correlation_id, user_id, amqp_to, "
    "content_type, content_encoding, properties, ack, body, absolute_expiry_ms, enqueued_ms, "
    "expiry_ms, state, delivery_count, lock_id, lock_expiry_ms";

constexpr const char* record_columns =
    "id, original_message_id, device_id, device_generation_id, status, enqueued_ms, batch_id";

std::string select(const char* columns, const char* rest) {
  return std::string("SELECT ") + columns + " " + rest;
}

// Child tables first, so no foreign key is ever violated in between.
constexpr std::array<const char*, 12> clear_sql{"DELETE FROM feedback_records",
                                                "DELETE FROM feedback_batches",
                                                "DELETE FROM c2d_messages",
                                                "DELETE FROM subscriptions",
                                                "DELETE FROM twins",
                                                "DELETE FROM module_twins",
                                                "DELETE FROM modules",
                                                "DELETE FROM devices",
                                                "DELETE FROM telemetry_events",
                                                "DELETE FROM telemetry_partitions",
                                                "DELETE FROM counters",
                                                "DELETE FROM ca_certificates"};

}  // namespace

struct sqlite_store::prepared {
  explicit prepared(sqlite3* conn)
      : db(conn),
        begin_write(conn, "BEGIN IMMEDIATE"),
        begin_read(conn, "BEGIN DEFERRED"),
        commit(conn, "COMMIT"),
        rollback(conn, "ROLLBACK"),
        put_device(conn, put_device_sql),
        delete_device(conn, "DELETE FROM devices WHERE id = ?1"),
        delete_device_messages(conn, "DELETE FROM c2d_messages WHERE device_id = ?1"),
        delete_device_unbatched(
            conn, "DELETE FROM feedback_records WHERE device_id = ?1 AND batch_id IS NULL"),
        put_message(conn, put_message_sql),
        put_message_state(conn,
                          "UPDATE c2d_messages SET state = ?2, delivery_count = ?3, lock_id = ?4, "
                          "lock_expiry_ms = ?5 WHERE seq = ?1"),
        delete_message(conn, "DELETE FROM c2d_messages WHERE seq = ?1"),
        put_feedback_record(conn, put_feedback_record_sql),
        put_feedback_batch(conn, put_feedback_batch_sql),
        batch_pending_records(conn,
                              "UPDATE feedback_records SET batch_id = ?1 "
                              "WHERE batch_id IS NULL AND id <= ?2"),
        put_feedback_batch_state(conn,
                                 "UPDATE feedback_batches SET delivery_count = ?2, lock_id = ?3, "
                                 "lock_expiry_ms = ?4 WHERE id = ?1"),
        delete_batch_records(conn, "DELETE FROM feedback_records WHERE batch_id = ?1"),
        delete_batch(conn, "DELETE FROM feedback_batches WHERE id = ?1"),
        put_subscription(conn,
                         "INSERT INTO subscriptions (device_id, qos) VALUES (?1, ?2) "
                         "ON CONFLICT (device_id) DO UPDATE SET qos = excluded.qos"),
        delete_subscription(conn, "DELETE FROM subscriptions WHERE device_id = ?1"),
        put_twin(conn,
                 "INSERT INTO twins (device_id, document) VALUES (?1, ?2) "
                 "ON CONFLICT (device_id) DO UPDATE SET document = excluded.document"),
        delete_twin(conn, "DELETE FROM twins WHERE device_id = ?1"),
        put_module(conn, put_module_sql),
        delete_module(conn, "DELETE FROM modules WHERE device_id = ?1 AND module_id = ?2"),
        delete_device_modules(conn, "DELETE FROM modules WHERE device_id = ?1"),
        put_module_twin(conn,
                        "INSERT INTO module_twins (device_id, module_id, document) "
                        "VALUES (?1, ?2, ?3) ON CONFLICT (device_id, module_id) "
                        "DO UPDATE SET document = excluded.document"),
        delete_module_twin(conn,
                           "DELETE FROM module_twins WHERE device_id = ?1 AND module_id = ?2"),
        delete_device_module_twins(conn, "DELETE FROM module_twins WHERE device_id = ?1"),
        put_telemetry(conn, put_telemetry_sql),
        delete_telemetry_up_to(conn, "DELETE FROM telemetry_events WHERE id BETWEEN ?1 AND ?2"),
        put_partition(conn, put_partition_sql),
        put_counters(conn, put_counters_sql),
        clear{statement(conn, clear_sql[0]),  statement(conn, clear_sql[1]),
              statement(conn, clear_sql[2]),  statement(conn, clear_sql[3]),
              statement(conn, clear_sql[4]),  statement(conn, clear_sql[5]),
              statement(conn, clear_sql[6]),  statement(conn, clear_sql[7]),
              statement(conn, clear_sql[8]),  statement(conn, clear_sql[9]),
              statement(conn, clear_sql[10]), statement(conn, clear_sql[11])},
        put_ca_certificate(conn, put_ca_certificate_sql),
        delete_ca_certificate(conn, "DELETE FROM ca_certificates WHERE name = ?1"),
        load_devices(conn,
                     "SELECT id, status, status_reason, primary_key, secondary_key, "
                     "generation_id, etag, status_updated_ms, auth_type, primary_thumbprint, "
                     "secondary_thumbprint, iot_edge, device_scope, parent_scopes "
                     "FROM devices ORDER BY id"),
        load_ca_certificates(conn,
                             "SELECT name, pem, subject, thumbprint, not_before_ms, "
                             "not_after_ms, verified, verification_code, etag, created_ms, "
                             "updated_ms FROM ca_certificates ORDER BY name"),
        count_messages(conn, "SELECT count(*) FROM c2d_messages"),
        load_messages(conn, select(message_columns, "FROM c2d_messages ORDER BY seq")),
        load_unbatched(conn, select(record_columns,
                                    "FROM feedback_records WHERE batch_id IS NULL ORDER BY id")),
        load_batched(conn, select(record_columns,
                                  "FROM feedback_records WHERE batch_id IS NOT NULL "
                                  "ORDER BY batch_id, id")),
        load_batches(conn,
                     "SELECT id, created_ms, expiry_ms, delivery_count, lock_id, lock_expiry_ms "
                     "FROM feedback_batches ORDER BY id"),
        load_subscriptions(conn, "SELECT device_id, qos FROM subscriptions ORDER BY device_id"),
        load_twins(conn, "SELECT device_id, document FROM twins ORDER BY device_id"),
        load_modules(conn,
                     "SELECT device_id, module_id, managed_by, auth_type, primary_key, "
                     "secondary_key, primary_thumbprint, secondary_thumbprint, generation_id, "
                     "etag FROM modules ORDER BY device_id, module_id"),
        load_module_twins(conn,
                          "SELECT device_id, module_id, document FROM module_twins "
                          "ORDER BY device_id, module_id"),
        count_telemetry(conn, "SELECT count(*) FROM telemetry_events"),
        load_telemetry(conn,
                       "SELECT id, byte_offset, device_id, module_id, source, enqueued_ms, "
                       "properties, body FROM telemetry_events ORDER BY id"),
        load_partitions(conn,
                        "SELECT partition, next_sequence, next_offset FROM telemetry_partitions "
                        "ORDER BY partition"),
        load_counters(conn,
                      "SELECT next_message_seq, next_lock_id, next_feedback_id, next_batch_id, "
                      "next_telemetry_id, next_generation, last_batch_ms FROM counters "
                      "WHERE id = 1") {}

  sqlite3* db;
  statement begin_write, begin_read, commit, rollback;
  statement put_device, delete_device, delete_device_messages, delete_device_unbatched;
  statement put_message, put_message_state, delete_message;
  statement put_feedback_record, put_feedback_batch, batch_pending_records,
      put_feedback_batch_state, delete_batch_records, delete_batch;
  statement put_subscription, delete_subscription;
  statement put_twin, delete_twin;
  statement put_module, delete_module, delete_device_modules, put_module_twin, delete_module_twin,
      delete_device_module_twins;
  statement put_telemetry, delete_telemetry_up_to, put_partition;
  statement put_counters;
  std::array<statement, clear_sql.size()> clear;
  statement put_ca_certificate, delete_ca_certificate;
  statement load_devices, load_ca_certificates, count_messages, load_messages, load_unbatched,
      load_batched, load_batches, load_subscriptions, load_twins, load_modules, load_module_twins,
      count_telemetry, load_telemetry, load_partitions, load_counters;

  // ---- one change each ----------------------------------------------------------------
  void apply(const core::change::put_device& c) {
    const core::device& d = c.value;
    put_device.run(d.id, db_name(d.status), d.status_reason, d.primary_key, d.secondary_key,
                   d.generation_id, d.etag, ms(d.status_updated_time),
                   std::string(core::to_string(d.authentication)), d.primary_thumbprint,
                   d.secondary_thumbprint, d.iot_edge ? 1 : 0, d.device_scope,
                   nlohmann::json(d.parent_scopes).dump());
  }
  void apply(const core::change::put_ca_certificate& c) {
    const core::ca_certificate& a = c.value;
    put_ca_certificate.run(a.name, a.pem, a.subject, a.thumbprint, ms(a.not_before),
                           ms(a.not_after), a.verified ? 1 : 0, a.verification_code, a.etag,
                           ms(a.created), ms(a.updated));
  }
  void apply(const core::change::remove_ca_certificate& c) { delete_ca_certificate.run(c.name); }
  void apply(const core::change::remove_device& c) {
    delete_device_messages.run(c.device_id);
    delete_device_unbatched.run(c.device_id);
    delete_subscription.run(c.device_id);
    delete_twin.run(c.device_id);
    delete_device_module_twins.run(c.device_id);
    delete_device_modules.run(c.device_id);
    delete_device.run(c.device_id);
  }
  void apply(const core::change::put_module& c) {
    const core::module_identity& m = c.value;
    put_module.run(m.device_id, m.id, m.managed_by, std::string(core::to_string(m.authentication)),
                   m.primary_key, m.secondary_key, m.primary_thumbprint, m.secondary_thumbprint,
                   m.generation_id, m.etag);
  }
  void apply(const core::change::remove_module& c) {
    delete_module_twin.run(c.device_id, c.module_id);
    delete_module.run(c.device_id, c.module_id);
  }
  void apply(const core::change::put_message& c) {
    const core::c2d_message& m = c.value;
    const core::c2d_content& k = m.content;
    put_message.run(m.seq, m.device_id, m.device_generation_id, k.message_id, k.correlation_id,
                    k.user_id, k.to, k.content_type, k.content_encoding,
                    blob{encode_properties(k.properties)}, db_name(k.ack), blob{k.body},
                    ms(k.absolute_expiry), ms(m.enqueued_time), ms(m.expiry_time), db_name(m.state),
                    m.delivery_count, m.lock_id, ms(m.lock_expiry));
  }
  void apply(const core::change::put_message_state& c) {
    if (put_message_state.run(c.seq, db_name(c.state), c.delivery_count, c.lock_id,
                              ms(c.lock_expiry)) == 0) {
      throw storage_error(describe_file(db) + ": put_message_state for message seq " +
                          std::to_string(c.seq) + ", which is not stored");
    }
  }
  void apply(const core::change::remove_message& c) { delete_message.run(c.seq); }
  void apply(const core::change::put_feedback_record& c) {
    const core::feedback_record& r = c.value;
    put_feedback_record.run(r.id, r.original_message_id, r.device_id, r.device_generation_id,
                            db_name(r.status), ms(r.enqueued_time), batch_ref(r.batch_id));
  }
  void apply(const core::change::cut_feedback_batch& c) {
    // The batch's row, then its records, which are stored already (as not yet batched): the
    // hub cut them from the front of its pending records, in id order (state_store.hpp).
    const core::feedback_batch& b = c.value;
    put_feedback_batch.run(b.id, ms(b.created), ms(b.expiry), b.delivery_count, b.lock_id,
                           ms(b.lock_expiry));
    if (b.records.empty()) return;
    const auto moved = batch_pending_records.run(b.id, b.records.back().id);
    if (moved != static_cast<int>(b.records.size())) {
      throw storage_error(describe_file(db) + ": feedback batch " + std::to_string(b.id) + " has " +
                          std::to_string(b.records.size()) + " records, but " +
                          std::to_string(moved) + " unbatched records were stored for it");
    }
  }
  void apply(const core::change::put_feedback_batch_state& c) {
    if (put_feedback_batch_state.run(c.batch_id, c.delivery_count, c.lock_id, ms(c.lock_expiry)) ==
        0) {
      throw storage_error(describe_file(db) + ": put_feedback_batch_state for batch " +
                          std::to_string(c.batch_id) + ", which is not stored");
    }
  }
  void apply(const core::change::remove_feedback_batch& c) {
    delete_batch_records.run(c.batch_id);
    delete_batch.run(c.batch_id);
  }
  void apply(const core::change::put_subscription& c) {
    put_subscription.run(c.value.device_id, c.value.qos);
  }
  void apply(const core::change::remove_subscription& c) { delete_subscription.run(c.device_id); }
  void apply(const core::change::put_twin& c) {
    // A module twin is keyed `{deviceId}/{moduleId}` (state_store.hpp): its own table.
    const auto ref = core::split_identity(c.value.device_id);
    if (ref.is_module())
      put_module_twin.run(std::string(ref.device_id), std::string(ref.module_id),
                          core::to_stored(c.value));
    else
      put_twin.run(c.value.device_id, core::to_stored(c.value));
  }
  void apply(const core::change::put_telemetry& c) {
    const core::telemetry_message& t = *c.value;
    put_telemetry.run(event_key(t.partition, t.sequence_number), t.offset, t.device_id, t.module_id,
                      t.source, ms(t.enqueued_time), blob{encode_properties(t.properties)},
                      blob{t.body});
  }
  void apply(const core::change::remove_telemetry_up_to& c) {
    if (c.up_to_sequence < 0) return;
    delete_telemetry_up_to.run(event_key(c.partition, 0), event_key(c.partition, c.up_to_sequence));
  }
  void apply(const core::change::put_partition_counters& c) {
    put_partition.run(c.value.partition, c.value.next_sequence_number, c.value.next_offset);
  }
  void apply(const core::change::put_counters& c) {
    const core::hub_counters& n = c.value;
    put_counters.run(n.next_message_seq, n.next_lock_id, n.next_feedback_id, n.next_batch_id,
                     n.next_telemetry_id, n.next_generation, ms(n.last_batch_time));
  }
  void apply(const core::change::clear_all&) {
    for (statement& s : clear) s.run();
  }

  // ---- load -----------------------------------------------------------------------------
  static std::size_t count_of(statement& count) {
    auto q = count.query();
    return count.step() ? static_cast<std::size_t>(count.column_int64(0)) : 0;
  }

  core::feedback_record record_row(const statement& s) const {
    core::feedback_record r;
    r.id = s.column_uint64(0);
    r.original_message_id = s.column_text(1);
    r.device_id = s.column_text(2);
    r.device_generation_id = s.column_text(3);
    r.status = parse_feedback_status(db, s.column_text(4));
    r.enqueued_time = time_column(s, 5);
    r.batch_id = s.is_null(6) ? 0 : s.column_uint64(6);
    return r;
  }

  core::hub_snapshot load() {
    core::hub_snapshot snap;
    {
      auto q = load_devices.query();
      while (load_devices.step()) {
        const statement& s = load_devices;
        core::device d;
        d.id = s.column_text(0);
        d.status = parse_device_status(db, s.column_text(1));
        d.status_reason = s.column_text(2);
        d.primary_key = s.column_text(3);
        d.secondary_key = s.column_text(4);
        d.generation_id = s.column_text(5);
        d.etag = s.column_text(6);
        d.status_updated_time = time_column(s, 7);
        const auto type = core::parse_auth_type(s.column_text(8));
        if (!type) damaged(db, "device '" + d.id + "' has an unknown authentication type");
        d.authentication = *type;
        d.primary_thumbprint = s.column_text(9);
        d.secondary_thumbprint = s.column_text(10);
        d.iot_edge = s.column_int(11) != 0;
        d.device_scope = s.column_text(12);
        const auto scopes = nlohmann::json::parse(s.column_text(13), nullptr, false);
        if (!scopes.is_array()) damaged(db, "device '" + d.id + "' has unreadable parent scopes");
        for (const auto& p : scopes)
          if (p.is_string()) d.parent_scopes.push_back(p.get<std::string>());
        snap.devices.push_back(std::move(d));
      }
    }
    {
      auto q = load_ca_certificates.query();
      while (load_ca_certificates.step()) {
        const statement& s = load_ca_certificates;
        core::ca_certificate a;
        a.name = s.column_text(0);
        a.pem = s.column_text(1);
        a.subject = s.column_text(2);
        a.thumbprint = s.column_text(3);
        a.not_before = time_column(s, 4);
        a.not_after = time_column(s, 5);
        a.verified = s.column_int(6) != 0;
        a.verification_code = s.column_text(7);
        a.etag = s.column_text(8);
        a.created = time_column(s, 9);
        a.updated = time_column(s, 10);
        snap.ca_certificates.push_back(std::move(a));
      }
    }
    // The vectors are sized first: growing them moves every element again (a 1M-message
    // backlog is 350 MB of them).
    snap.messages.reserve(count_of(count_messages));
    {
      auto q = load_messages.query();
      while (load_messages.step()) {
        const statement& s = load_messages;
        core::c2d_message m;
        m.seq = s.column_uint64(0);
        m.device_id = s.column_text(1);
        m.device_generation_id = s.column_text(2);
        m.content.message_id = s.column_text(3);
        m.content.correlation_id = s.column_text(4);
        m.content.user_id = s.column_text(5);
        m.content.to = s.column_text(6);
        m.content.content_type = s.column_text(7);
        m.content.content_encoding = s.column_text(8);
        m.content.properties = decode_properties(db, s.column_blob(9));
        m.content.ack = parse_ack_mode(db, s.column_text(10));
        m.content.body = s.column_blob(11);
        if (!s.is_null(12)) m.content.absolute_expiry = time_column(s, 12);
        m.enqueued_time = time_column(s, 13);
        m.expiry_time = time_column(s, 14);
        m.state = parse_c2d_state(db, s.column_text(15));
        m.delivery_count = s.column_int(16);
        m.lock_id = s.column_uint64(17);
        m.lock_expiry = time_column(s, 18);
        snap.messages.push_back(std::move(m));
      }
    }
    {
      auto q = load_unbatched.query();
      while (load_unbatched.step()) snap.pending_feedback.push_back(record_row(load_unbatched));
    }
    std::unordered_map<std::uint64_t, std::size_t> batch_index;
    {
      auto q = load_batches.query();
      while (load_batches.step()) {
        const statement& s = load_batches;
        core::feedback_batch b;
        b.id = s.column_uint64(0);
        b.created = time_column(s, 1);
        b.expiry = time_column(s, 2);
        b.delivery_count = s.column_int(3);
        b.lock_id = s.column_uint64(4);
        b.lock_expiry = time_column(s, 5);
        batch_index.emplace(b.id, snap.batches.size());
        snap.batches.push_back(std::move(b));
      }
    }
    {
      auto q = load_batched.query();
      while (load_batched.step()) {
        core::feedback_record r = record_row(load_batched);
        const auto it = batch_index.find(r.batch_id);
        if (it == batch_index.end()) {
          damaged(db, "feedback record " + std::to_string(r.id) + " is in batch " +
                          std::to_string(r.batch_id) + ", which does not exist");
        }
        snap.batches[it->second].records.push_back(std::move(r));
      }
    }
    {
      auto q = load_subscriptions.query();
      while (load_subscriptions.step()) {
        snap.subscriptions.push_back(core::c2d_subscription{load_subscriptions.column_text(0),
                                                            load_subscriptions.column_int(1)});
      }
    }
    {
      auto q = load_twins.query();
      while (load_twins.step()) {
        const auto id = load_twins.column_text(0);
        auto twin = core::from_stored(id, load_twins.column_text(1));
        if (!twin) damaged(db, "the twin of device '" + id + "' is not a twin document");
        snap.twins.push_back(std::move(*twin));
      }
    }
    {
      auto q = load_modules.query();
      while (load_modules.step()) {
        const statement& s = load_modules;
        core::module_identity m;
        m.device_id = s.column_text(0);
        m.id = s.column_text(1);
        m.managed_by = s.column_text(2);
        const auto type = core::parse_auth_type(s.column_text(3));
        if (!type)
          damaged(db,
                  "module '" + m.device_id + "/" + m.id + "' has an unknown authentication type");
        m.authentication = *type;
        m.primary_key = s.column_text(4);
        m.secondary_key = s.column_text(5);
        m.primary_thumbprint = s.column_text(6);
        m.secondary_thumbprint = s.column_text(7);
        m.generation_id = s.column_text(8);
        m.etag = s.column_text(9);
        snap.modules.push_back(std::move(m));
      }
      // By identity key, as the twins below (`dev1/…` sorts after `dev1-x/…` by key).
      std::sort(snap.modules.begin(), snap.modules.end(), [](const auto& x, const auto& y) {
        return core::module_key(x.device_id, x.id) < core::module_key(y.device_id, y.id);
      });
    }
    {
      auto q = load_module_twins.query();
      while (load_module_twins.step()) {
        const auto key =
            core::module_key(load_module_twins.column_text(0), load_module_twins.column_text(1));
        auto twin = core::from_stored(key, load_module_twins.column_text(2));
        if (!twin) damaged(db, "the twin of module '" + key + "' is not a twin document");
        snap.twins.push_back(std::move(*twin));
      }
      // One order for device and module twins: by identity key.
      std::sort(snap.twins.begin(), snap.twins.end(),
                [](const auto& x, const auto& y) { return x.device_id < y.device_id; });
    }
    snap.telemetry.reserve(count_of(count_telemetry));
    {
      auto q = load_telemetry.query();
      while (load_telemetry.step()) {
        const statement& s = load_telemetry;
        core::telemetry_message t;
        const auto key = s.column_int64(0);
        t.partition = static_cast<int>(key >> event_key_shift);
        t.sequence_number = key & ((std::int64_t{1} << event_key_shift) - 1);
        t.offset = s.column_int64(1);
        t.device_id = s.column_text(2);
        t.module_id = s.column_text(3);
        t.source = s.column_text(4);
        t.enqueued_time = time_column(s, 5);
        t.properties = decode_properties(db, s.column_blob(6));
        t.body = s.column_blob(7);
        snap.telemetry.push_back(std::move(t));
      }
    }
    {
      auto q = load_partitions.query();
      while (load_partitions.step()) {
        const statement& s = load_partitions;
        snap.partitions.push_back(
            core::partition_counters{s.column_int(0), s.column_int64(1), s.column_int64(2)});
      }
    }
    {
      auto q = load_counters.query();
      if (load_counters.step()) {
        const statement& s = load_counters;
        core::hub_counters& n = snap.counters;
        n.next_message_seq = s.column_uint64(0);
        n.next_lock_id = s.column_uint64(1);
        n.next_feedback_id = s.column_uint64(2);
        n.next_batch_id = s.column_uint64(3);
        n.next_telemetry_id = s.column_uint64(4);
        n.next_generation = s.column_uint64(5);
        n.last_batch_time = time_column(s, 6);
      }
    }
    return snap;
  }
};

namespace {
database_options with_vfs(database_options options, const fault_vfs* vfs) {
  if (vfs != nullptr) options.vfs = vfs->name();
  return options;
}
}  // namespace

sqlite_store::sqlite_store(const std::string& path, const database_options& options,
                           io_fault_injection faults)
    : vfs_(faults == io_fault_injection::on ? std::make_unique<fault_vfs>() : nullptr),
      db_(path, schema_ladder(), with_vfs(options, vfs_.get())),
      st_(std::make_unique<prepared>(db_.handle())) {}

void sqlite_store::arm_io_faults(const core::storage_io_faults& faults) {
  if (vfs_) vfs_->arm(faults);
}

core::storage_io_faults sqlite_store::pending_io_faults() const {
  return vfs_ ? vfs_->remaining() : core::storage_io_faults{};
}

sqlite_store::~sqlite_store() = default;

core::hub_snapshot sqlite_store::load() {
  if (sqlite3_get_autocommit(db_.handle()) == 0) rollback();  // a leftover of a failed rollback
  st_->begin_read.run();                                      // one consistent view of all tables
  try {
    core::hub_snapshot snap = st_->load();
    st_->commit.run();
    return snap;
  } catch (...) {
    rollback();
    throw;
  }
}

void sqlite_store::commit(std::span<const core::state_change> changes) {
  if (changes.empty()) return;
  if (sqlite3_get_autocommit(db_.handle()) == 0) rollback();  // a leftover of a failed rollback
  st_->begin_write.run();
  try {
    for (const core::state_change& change : changes) {
      std::visit([this](const auto& c) { st_->apply(c); }, change);
    }
    st_->commit.run();  // deferred foreign keys are checked here
  } catch (const storage_error& e) {
    rollback();
    const char* hint = e.sqlite_code() == SQLITE_CONSTRAINT_FOREIGNKEY
                           ? " (a message or session without its device, or a feedback record in "
                             "a batch that does not exist)"
                           : "";
    throw storage_error(std::string(e.what()) + hint + " (commit of " +
                            std::to_string(changes.size()) + " changes rolled back; none applied)",
                        e.sqlite_code());
  } catch (...) {
    rollback();
    throw;
  }
}

void sqlite_store::checkpoint() {
  db_.checkpoint();
}

void sqlite_store::rollback() noexcept {
  // SQLite rolls back by itself after some errors (SQLITE_FULL, I/O errors, …): only roll back
  // a transaction that is still open. If ROLLBACK itself fails, the next commit()/load() tries
  // again before it begins.
  if (sqlite3_get_autocommit(db_.handle()) != 0) return;
  try {
    st_->rollback.run();
  } catch (...) {
  }
}

}  // namespace emu::storage
