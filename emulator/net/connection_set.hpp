#pragma once
/// The open connections of one front: their owner (a connection lives while it is open, even
/// when no I/O of it is pending, e.g. while the hub authenticates it), its connection limit,
/// and what the front does to all of them at once (tell them the clock moved, shut them down
/// at stop or hub reset). A connection removes itself when it has closed; clear() drops what
/// is left when the front goes away. Owned by shared_ptr, so a connection that outlives its
/// front finds the set gone instead of dangling.
///
/// Thread safety: every member may be called from any thread (one mutex).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "emulator/net/connection_handle.hpp"
#include "emulator/net/refusal_counts.hpp"

namespace emu::net {

class stream_connection;

class connection_set {
 public:
  explicit connection_set(std::size_t max_connections) : max_(max_connections) {}

  /// Adds a connection; false (not added) when `max_connections` are open or after close().
  bool add(std::shared_ptr<stream_connection> c);
  /// Forgets a closed connection.
  void remove(std::uint64_t id);
  std::size_t size() const;
  /// Connections ever added (accepted within the limit).
  std::uint64_t accepted() const;
  /// What the transport refused: over the limit, failed or timed-out TLS handshakes.
  refusal_counts& refusals() { return refusals_; }
  const refusal_counts& refusals() const { return refusals_; }
  std::vector<connection_handle> handles() const;

  /// Refuses new connections from now on and asks every open one to shut down
  /// (connection_handle::shutdown). Idempotent.
  void close(const std::string& reason);
  /// Re-evaluates every connection's deadline (clock travel).
  void poke_all() const;
  /// Pauses (test control, hub_faults.hpp) or resumes every connection of the set, present and
  /// future: a paused connection accepts TCP but neither handshakes, reads, writes nor runs
  /// its protocol's deadlines, as a hung server would.
  void set_paused(bool paused);
  /// The flag the set's connections read (stream_connection::start).
  std::shared_ptr<const std::atomic<bool>> pause_flag() const { return paused_; }
  /// Waits until no connection is left, at most `timeout`; true when empty.
  bool wait_empty(std::chrono::milliseconds timeout);
  /// Drops the connections that are still here (after the io pool stopped: nothing of them
  /// runs any more).
  void clear();

 private:
  const std::size_t max_;
  mutable std::mutex mutex_;
  std::condition_variable empty_;
  bool open_ = true;
  std::uint64_t accepted_ = 0;
  refusal_counts refusals_;
  std::map<std::uint64_t, std::shared_ptr<stream_connection>> connections_;
  std::shared_ptr<std::atomic<bool>> paused_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace emu::net
