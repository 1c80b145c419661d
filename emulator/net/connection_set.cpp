#include "emulator/net/connection_set.hpp"

#include "emulator/net/stream_connection.hpp"

namespace emu::net {

bool connection_set::add(std::shared_ptr<stream_connection> c) {
  std::lock_guard lock(mutex_);
  if (!open_ || connections_.size() >= max_) return false;
  const auto id = c->id();
  connections_.emplace(id, std::move(c));
  ++accepted_;
  return true;
}

void connection_set::remove(std::uint64_t id) {
  std::shared_ptr<stream_connection> gone;  // released outside the lock
  std::lock_guard lock(mutex_);
  if (const auto it = connections_.find(id); it != connections_.end()) {
    gone = std::move(it->second);
    connections_.erase(it);
  }
  if (connections_.empty()) empty_.notify_all();
}

void connection_set::clear() {
  std::map<std::uint64_t, std::shared_ptr<stream_connection>> gone;
  {
    std::lock_guard lock(mutex_);
    open_ = false;
    gone.swap(connections_);
  }
  empty_.notify_all();
}

std::size_t connection_set::size() const {
  std::lock_guard lock(mutex_);
  return connections_.size();
}

std::uint64_t connection_set::accepted() const {
  std::lock_guard lock(mutex_);
  return accepted_;
}

std::vector<connection_handle> connection_set::handles() const {
  std::lock_guard lock(mutex_);
  std::vector<connection_handle> out;
  out.reserve(connections_.size());
  for (const auto& [id, c] : connections_) out.push_back(c->handle());
  return out;
}

void connection_set::close(const std::string& reason) {
  {
    std::lock_guard lock(mutex_);
    open_ = false;
  }
  for (const auto& h : handles()) h.shutdown(reason);
}

void connection_set::poke_all() const {
  for (const auto& h : handles()) h.poke();
}

void connection_set::set_paused(bool paused) {
  // Either way each connection hears of it: a paused one disarms its timer (a hung server keeps
  // no time), a resumed one goes on.
  if (paused_->exchange(paused) != paused) poke_all();
}

bool connection_set::wait_empty(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return empty_.wait_for(lock, timeout, [this] { return connections_.empty(); });
}

}  // namespace emu::net
