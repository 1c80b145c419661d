#include "emulator/amqp/device_link_sessions.hpp"

#include <vector>

#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/device_link.hpp"
#include "emulator/amqp/errors.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/limits.hpp"

namespace emu::amqp {

namespace {

void end_on_hub(executor::hub_executor& executor, std::string device, std::uint64_t epoch) {
  executor.post([device = std::move(device), epoch](core::hub& h, core::time_point now) {
    h.disconnect_device(device, epoch, now);  // what it still held goes back to the queue
    return executor::hub_executor::completion{};
  });
}

}  // namespace

void device_link_sessions::join(const std::string& device_id, std::uint64_t serial,
                                const core::device_credential& credential) {
  auto [it, created] = sessions_.try_emplace(device_id);
  it->second.links.insert(serial);
  if (created) {
    it->second.attempt = next_attempt_++;
    open(device_id, credential, it->second.attempt);
    return;
  }
  if (it->second.epoch != 0) {
    if (auto* link = conn_.find<device_link>(serial)) link->session_opened(it->second.epoch);
  }
  // Otherwise the hub is opening it: the answer reaches every link that joined by then.
}

void device_link_sessions::open(const std::string& device_id,
                                const core::device_credential& credential, std::uint64_t attempt) {
  conn_.submit(
      [device = device_id, credential, window = conn_.settings().device_c2d_window,
       routes = &conn_.routes(), handle = conn_.handle(), transport = conn_.transport()](
          core::hub& h, core::time_point now) -> core::result<std::uint64_t> {
        core::session_request r;
        r.transport = transport;
        r.device_id = device;
        r.token = credential.token;
        r.certificate = credential.certificate;
        r.clean_session = true;  // AMQP has no persistent session; the queue is kept
        r.inflight_window = window;
        auto grant = h.connect_device(r, now);
        if (!grant) return grant.error();
        // Routed before this round's events go out (they follow the commit).
        routes->device_sessions.set(device, grant->epoch, handle);
        return grant->epoch;
      },
      [device = device_id, attempt, exec = &conn_.executor(), routes = &conn_.routes()](
          amqp_connection* c, bool committed, core::result<std::uint64_t> epoch) {
        if (c == nullptr) {  // the connection went away meanwhile
          if (epoch) {
            routes->device_sessions.remove(device, *epoch);
            if (committed) end_on_hub(*exec, device, *epoch);
          }
          return;
        }
        c->device_sessions().opened(device, attempt, committed, epoch);
      });
}

void device_link_sessions::opened(const std::string& device_id, std::uint64_t attempt,
                                  bool committed, const core::result<std::uint64_t>& epoch) {
  const auto it = sessions_.find(device_id);
  const bool wanted = it != sessions_.end() && it->second.attempt == attempt;
  if (!wanted || !committed || !epoch) {
    if (epoch) {  // every link left meanwhile, or the round was undone
      conn_.routes().device_sessions.remove(device_id, *epoch);
      if (committed) end_on_hub(conn_.executor(), device_id, *epoch);
    }
    if (!wanted) return;
    const amqp_error why = !committed ? commit_failed() : to_amqp_error(epoch.error());
    auto links = std::move(it->second.links);
    sessions_.erase(it);
    if (committed && epoch.error().code == core::hub_error::throttled) {
      // Held before it is sent (deviceConnectRate, --throttling; Azure shapes throttled
      // traffic: "excess is queued, then rejected", spec §6.1). tick() asks refuse_due() next.
      held_.push_back({std::chrono::steady_clock::now() + core::limits::throttled_refusal_delay,
                       std::move(links), why});
      return;
    }
    for (const auto serial : links)
      if (auto* link = conn_.find<device_link>(serial)) link->session_refused(why);
    conn_.pump();
    return;
  }
  it->second.epoch = *epoch;
  conn_.log(log_level::info, "device '" + device_id + "' has a session over AMQP (session " +
                                 std::to_string(*epoch) + ")");
  // A copy: a link may close while it starts (and leave).
  const std::vector<std::uint64_t> links(it->second.links.begin(), it->second.links.end());
  for (const auto serial : links)
    if (auto* link = conn_.find<device_link>(serial)) link->session_opened(*epoch);
  conn_.pump();
}

void device_link_sessions::leave(const std::string& device_id, std::uint64_t serial) {
  const auto it = sessions_.find(device_id);
  if (it == sessions_.end()) return;
  it->second.links.erase(serial);
  if (!it->second.links.empty()) return;
  const auto epoch = it->second.epoch;
  sessions_.erase(it);
  if (epoch != 0) {  // else the hub's answer finds no session and ends it
    conn_.routes().device_sessions.remove(device_id, epoch);
    end_on_hub(conn_.executor(), device_id, epoch);
  }
}

void device_link_sessions::ended(const std::string& device_id, std::uint64_t epoch,
                                 core::session_end why) {
  const auto it = sessions_.find(device_id);
  if (it == sessions_.end() || it->second.epoch != epoch) return;
  const auto links = std::move(it->second.links);
  sessions_.erase(it);
  conn_.routes().device_sessions.remove(device_id, epoch);
  for (const auto serial : links)
    if (auto* link = conn_.find<device_link>(serial)) link->end(why);
  conn_.pump();
}

std::uint64_t device_link_sessions::epoch(const std::string& device_id) const {
  const auto it = sessions_.find(device_id);
  return it == sessions_.end() ? 0 : it->second.epoch;
}

}  // namespace emu::amqp

namespace emu::amqp {

void device_link_sessions::refuse_due(
    std::chrono::steady_clock::time_point now,
    const std::function<void(std::chrono::steady_clock::time_point)>& sooner) {
  if (held_.empty()) return;
  std::vector<held_refusal> due;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->due <= now) {
      due.push_back(std::move(*it));
      it = held_.erase(it);
    } else {
      sooner(it->due);
      ++it;
    }
  }
  for (const auto& r : due)
    for (const auto serial : r.links)
      if (auto* link = conn_.find<device_link>(serial)) link->session_refused(r.why);
}

}  // namespace emu::amqp
