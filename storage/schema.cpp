#include "storage/schema.hpp"

#include <array>

namespace emu::storage {

namespace {

// Conventions:
// - Times are INTEGER Unix milliseconds (`*_ms`), as emu::core::to_unix_ms.
// - Unsigned 64-bit ids are stored as the signed INTEGER with the same bits (they stay below
//   2^63 in practice, so ordering and range deletes work on them).
// - Enums are TEXT with a CHECK, so the file is readable with the sqlite3 shell. CHECKs with
//   more than two values are written as OR chains, not `IN (...)`: SQLite 3.40 evaluates an IN
//   list of three or more constants by building a temporary B-tree for every row written, which
//   was half of the store's instructions per C2D message (bench/RESULTS.md, callgrind).
// - Property lists are a BLOB of (varint length, name, varint length, value) pairs: binary-safe
//   for the percent-decoded MQTT property bytes, which need not be UTF-8.
// - Foreign keys are DEFERRABLE INITIALLY DEFERRED: they are checked at COMMIT, so the order of
//   the changes inside one group commit does not matter, but a commit that would leave a message
//   or session without its device, or a record in a missing batch, fails and is rolled back.
//   Cascades are not foreign-key actions: sqlite_store deletes dependents explicitly, exactly as
//   state_store.hpp describes.
constexpr const char* v1_initial = R"sql(
CREATE TABLE devices (
  id                TEXT    NOT NULL PRIMARY KEY,
  status            TEXT    NOT NULL CHECK (status IN ('enabled', 'disabled')),
  status_reason     TEXT    NOT NULL,
  primary_key       TEXT    NOT NULL,
  secondary_key     TEXT    NOT NULL,
  generation_id     TEXT    NOT NULL,
  etag              TEXT    NOT NULL,
  status_updated_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE c2d_messages (
  seq                  INTEGER PRIMARY KEY,
  device_id            TEXT    NOT NULL
                       REFERENCES devices (id) DEFERRABLE INITIALLY DEFERRED,
  device_generation_id TEXT    NOT NULL,
  message_id           TEXT    NOT NULL,
  correlation_id       TEXT    NOT NULL,
  user_id              TEXT    NOT NULL,
  amqp_to              TEXT    NOT NULL,
  content_type         TEXT    NOT NULL,
  content_encoding     TEXT    NOT NULL,
  properties           BLOB    NOT NULL,
  ack                  TEXT    NOT NULL CHECK (ack = 'none' OR ack = 'positive' OR
                                                ack = 'negative' OR ack = 'full'),
  body                 BLOB    NOT NULL,
  absolute_expiry_ms   INTEGER,  -- NULL: the sender set no absolute-expiry-time
  enqueued_ms          INTEGER NOT NULL,
  expiry_ms            INTEGER NOT NULL,
  state                TEXT    NOT NULL CHECK (state IN ('enqueued', 'invisible')),
  delivery_count       INTEGER NOT NULL CHECK (delivery_count >= 0),
  lock_id              INTEGER NOT NULL,
  lock_expiry_ms       INTEGER NOT NULL
);
CREATE INDEX c2d_messages_by_device ON c2d_messages (device_id);

CREATE TABLE feedback_batches (
  id             INTEGER PRIMARY KEY,
  created_ms     INTEGER NOT NULL,
  expiry_ms      INTEGER NOT NULL,
  delivery_count INTEGER NOT NULL CHECK (delivery_count >= 0),
  lock_id        INTEGER NOT NULL,
  lock_expiry_ms INTEGER NOT NULL
);

CREATE TABLE feedback_records (
  id                   INTEGER PRIMARY KEY,
  original_message_id  TEXT    NOT NULL,
  device_id            TEXT    NOT NULL,  -- no foreign key: batched records outlive the device
  device_generation_id TEXT    NOT NULL,
  status               TEXT    NOT NULL CHECK (status = 'success' OR status = 'expired' OR
                                 status = 'delivery_count_exceeded' OR status = 'rejected' OR
                                 status = 'purged'),
  enqueued_ms          INTEGER NOT NULL,
  batch_id             INTEGER  -- NULL: not yet batched (batch_id 0 in the core)
                       REFERENCES feedback_batches (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX feedback_records_by_batch ON feedback_records (batch_id, id);
CREATE INDEX feedback_records_unbatched_by_device ON feedback_records (device_id)
  WHERE batch_id IS NULL;

CREATE TABLE subscriptions (
  device_id TEXT    NOT NULL PRIMARY KEY
            REFERENCES devices (id) DEFERRABLE INITIALLY DEFERRED,
  qos       INTEGER NOT NULL CHECK (qos IN (0, 1))
) WITHOUT ROWID;

CREATE TABLE telemetry (
  id          INTEGER PRIMARY KEY,
  device_id   TEXT    NOT NULL,  -- no foreign key: telemetry outlives the device
  enqueued_ms INTEGER NOT NULL,
  properties  BLOB    NOT NULL,
  body        BLOB    NOT NULL
);

CREATE TABLE counters (
  id                INTEGER PRIMARY KEY CHECK (id = 1),  -- a single row
  next_message_seq  INTEGER NOT NULL,
  next_lock_id      INTEGER NOT NULL,
  next_feedback_id  INTEGER NOT NULL,
  next_batch_id     INTEGER NOT NULL,
  next_telemetry_id INTEGER NOT NULL,
  next_generation   INTEGER NOT NULL,
  last_batch_ms     INTEGER NOT NULL
);
)sql";

// Device twins (issue 13): one JSON document per device (core::to_stored). A version 1 file
// gains the table; its devices get an empty twin in memory, stored with its first change.
constexpr const char* v2_twins = R"sql(
CREATE TABLE twins (
  device_id TEXT NOT NULL PRIMARY KEY
            REFERENCES devices (id) DEFERRABLE INITIALLY DEFERRED,
  document  TEXT NOT NULL CHECK (json_valid(document))
) WITHOUT ROWID;
)sql";

// The partitioned telemetry log (issue 14). An event's key is `partition * 2^40 + sequence
// number`: one B-tree for the log, appends at each partition's end, and retention deletes one
// key range per partition. Each partition's counters have their own row, so sequence numbers
// and offsets survive trims and restarts. Telemetry of a version 2 file moves to partition 0
// in its old order (sequence numbers from 0, offsets from its sizes); the hub derives that
// partition's counters from it, and the partition count comes from the settings at the first
// start on schema 3.
constexpr const char* v3_telemetry_partitions = R"sql(
CREATE TABLE telemetry_partitions (
  partition     INTEGER PRIMARY KEY CHECK (partition >= 0 AND partition < 32),
  next_sequence INTEGER NOT NULL CHECK (next_sequence >= 0),
  next_offset   INTEGER NOT NULL CHECK (next_offset >= 0)
);

CREATE TABLE telemetry_events (
  id          INTEGER PRIMARY KEY,  -- partition * 2^40 + sequence number
  byte_offset INTEGER NOT NULL,
  device_id   TEXT    NOT NULL,     -- no foreign key: telemetry outlives the device
  module_id   TEXT    NOT NULL,
  source      TEXT    NOT NULL,
  enqueued_ms INTEGER NOT NULL,
  properties  BLOB    NOT NULL,
  body        BLOB    NOT NULL
);

INSERT INTO telemetry_events (id, byte_offset, device_id, module_id, source, enqueued_ms,
                              properties, body)
SELECT ROW_NUMBER() OVER w - 1,
       COALESCE(SUM(length(body) + length(properties) + 64)
                  OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0),
       device_id, '', 'Telemetry', enqueued_ms, properties, body
FROM telemetry WINDOW w AS (ORDER BY id);

DROP TABLE telemetry;
)sql";

// Identities (issue 16): a device's authentication type and X.509 thumbprints, its edge
// capability and scopes; the hub's CA certificates. Devices of a version 3 file are SAS
// devices without edge capability or scopes.
constexpr const char* v4_identities = R"sql(
ALTER TABLE devices ADD COLUMN auth_type TEXT NOT NULL DEFAULT 'sas'
  CHECK (auth_type = 'sas' OR auth_type = 'selfSigned' OR auth_type = 'certificateAuthority' OR
         auth_type = 'none');
ALTER TABLE devices ADD COLUMN primary_thumbprint TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN secondary_thumbprint TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN iot_edge INTEGER NOT NULL DEFAULT 0 CHECK (iot_edge IN (0, 1));
ALTER TABLE devices ADD COLUMN device_scope TEXT NOT NULL DEFAULT '';
ALTER TABLE devices ADD COLUMN parent_scopes TEXT NOT NULL DEFAULT '[]'
  CHECK (json_valid(parent_scopes) AND json_type(parent_scopes) = 'array');

CREATE TABLE ca_certificates (
  name              TEXT    NOT NULL PRIMARY KEY,
  pem               TEXT    NOT NULL,
  subject           TEXT    NOT NULL,
  thumbprint        TEXT    NOT NULL,
  not_before_ms     INTEGER NOT NULL,
  not_after_ms      INTEGER NOT NULL,
  verified          INTEGER NOT NULL CHECK (verified IN (0, 1)),
  verification_code TEXT    NOT NULL,
  etag              TEXT    NOT NULL,
  created_ms        INTEGER NOT NULL,
  updated_ms        INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Module identities (issue 16): below a device, with credentials and a twin of their own. A
// version 4 file has no modules.
constexpr const char* v5_modules = R"sql(
CREATE TABLE modules (
  device_id            TEXT NOT NULL REFERENCES devices (id) DEFERRABLE INITIALLY DEFERRED,
  module_id            TEXT NOT NULL,
  managed_by           TEXT NOT NULL,
  auth_type            TEXT NOT NULL
    CHECK (auth_type = 'sas' OR auth_type = 'selfSigned' OR auth_type = 'certificateAuthority' OR
           auth_type = 'none'),
  primary_key          TEXT NOT NULL,
  secondary_key        TEXT NOT NULL,
  primary_thumbprint   TEXT NOT NULL,
  secondary_thumbprint TEXT NOT NULL,
  generation_id        TEXT NOT NULL,
  etag                 TEXT NOT NULL,
  PRIMARY KEY (device_id, module_id)
) WITHOUT ROWID;

CREATE TABLE module_twins (
  device_id TEXT NOT NULL,
  module_id TEXT NOT NULL,
  document  TEXT NOT NULL CHECK (json_valid(document)),
  PRIMARY KEY (device_id, module_id),
  FOREIGN KEY (device_id, module_id) REFERENCES modules (device_id, module_id)
    DEFERRABLE INITIALLY DEFERRED
) WITHOUT ROWID;
)sql";

constexpr std::array<migration, 5> ladder{{
    {1, v1_initial},
    {2, v2_twins},
    {3, v3_telemetry_partitions},
    {4, v4_identities},
    {5, v5_modules},
    // {6, "ALTER TABLE …;"},  // the next schema change goes here
}};

}  // namespace

std::span<const migration> schema_ladder() {
  return ladder;
}

int current_schema_version() {
  return ladder.back().version;
}

}  // namespace emu::storage
