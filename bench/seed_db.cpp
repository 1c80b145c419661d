// seed_db: writes an emulator database file with a backlog, for the cost curves (issue 19,
// item 4): D devices, M queued C2D messages spread round-robin over them, and T telemetry
// events spread over the devices (so over the partitions). The state is made by the hub core
// itself (create_device, enqueue, record_telemetry) and committed by the storage module in
// rounds, exactly as the emulator would have stored it; only the network is skipped, so a
// million-message backlog takes seconds instead of the minutes its sends would.
//
//   seed_db --out FILE [--devices 20000] [--messages 0] [--telemetry 0] [--payload 200]
//           [--partitions 4] [--max-events N] [--round 5000]
//
// --max-events and --partitions must match the eventHubs settings of the emulator that opens
// the file (the hub trims its log to maxEvents at the next append). The messages expire 47 h
// after seeding (Azure's maximum TTL is 48 h), so a benchmark never sees them expire.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "bench/common/util.hpp"
#include "emulator/core/hub.hpp"
#include "storage/sqlite_store.hpp"

namespace {

using namespace bench;
namespace core = emu::core;

constexpr const char* backlog_key = "QmFja2xvZ0RldmljZUtleTAxMjM0NTY3ODlhYmNkZWY=";  // public

std::string backlog_device(std::int64_t k) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "backlog-%05lld", static_cast<long long>(k));
  return buf;
}

/// Commits the hub's changes in one transaction, as the executor does after a round.
void commit(core::hub& h, emu::storage::sqlite_store& store) {
  auto changes = h.take_changes();
  store.commit(changes);
  h.round_committed();
  (void)h.take_events();
}

}  // namespace

int main(int argc, char** argv) {
  const args a(argc, argv,
               {"--out", "--devices", "--messages", "--telemetry", "--payload", "--partitions",
                "--max-events", "--round"},
               {});
  const std::filesystem::path out = a.text("--out", "");
  if (out.empty()) {
    std::cerr << "seed_db: --out FILE is required\n";
    return 2;
  }
  const std::int64_t devices = a.number("--devices", 20000);
  const std::int64_t messages = a.number("--messages", 0);
  const std::int64_t telemetry = a.number("--telemetry", 0);
  const auto payload = static_cast<std::size_t>(a.number("--payload", 200));
  const std::int64_t round = std::max<std::int64_t>(1, a.number("--round", 5000));

  core::hub_settings s;
  s.partition_count = static_cast<int>(a.number("--partitions", s.partition_count));
  s.telemetry_capacity = static_cast<std::size_t>(
      a.number("--max-events", static_cast<long long>(s.telemetry_capacity)));
  s.telemetry_retention_bytes = std::size_t{64} * 1024 * 1024 * 1024;
  if (devices <= 0 || messages > devices * s.c2d_max_queue_depth) {
    std::cerr << "seed_db: " << messages << " messages do not fit " << devices
              << " devices' queues of " << s.c2d_max_queue_depth << "\n";
    return 2;
  }
  std::filesystem::remove(out);
  std::filesystem::remove(out.string() + "-wal");
  emu::storage::database_options dbo;
  dbo.synchronous = emu::storage::sync_mode::normal;  // a seed needs no power-loss safety
  emu::storage::sqlite_store store(out.string(), dbo);
  core::hub h(s);
  const auto now = std::chrono::time_point_cast<core::duration>(std::chrono::system_clock::now());
  const auto started = steady::now();

  for (std::int64_t k = 0; k < devices; ++k) {
    core::device_spec d;
    d.id = backlog_device(k);
    d.primary_key = backlog_key;
    d.secondary_key = backlog_key;
    if (!h.create_device(d, now)) {
      std::cerr << "seed_db: cannot create " << d.id << "\n";
      return 1;
    }
    if ((k + 1) % round == 0) commit(h, store);
  }
  commit(h, store);

  const std::string body(payload, 'b');
  for (std::int64_t i = 0; i < messages; ++i) {
    core::c2d_content c;
    c.message_id = "backlog-" + std::to_string(i);
    c.body = body;
    c.ack = core::ack_mode::full;
    c.absolute_expiry = now + std::chrono::hours(47);
    if (!h.enqueue(backlog_device(i % devices), std::move(c), now)) {
      std::cerr << "seed_db: message " << i << " refused\n";
      return 1;
    }
    if ((i + 1) % round == 0) commit(h, store);
  }
  commit(h, store);

  for (std::int64_t i = 0; i < telemetry; ++i) {
    if (!h.record_telemetry(backlog_device(i % devices), {}, body, now)) {
      std::cerr << "seed_db: event " << i << " refused\n";
      return 1;
    }
    if ((i + 1) % round == 0) commit(h, store);
  }
  commit(h, store);
  store.checkpoint();

  const double seconds = std::chrono::duration<double>(steady::now() - started).count();
  std::cout << "seed_db: " << devices << " devices, " << messages << " queued messages, "
            << telemetry << " telemetry events of " << payload << " bytes in " << fmt(seconds, 1)
            << " s; " << out.string() << " is "
            << fmt(static_cast<double>(std::filesystem::file_size(out)) / (1024.0 * 1024.0), 1)
            << " MiB" << std::endl;
  return 0;
}
