// Fault injection on an AMQP connection (issue 17): what each `AzIoTHub_FaultOperationType`
// does to the connection that carries the device (next-capabilities §7.2). Part of
// amqp_connection (connection.hpp), on the connection's strand.
#include <proton/connection.h>
#include <proton/session.h>

#include <algorithm>
#include <set>

#include "emulator/amqp/cbs_node.hpp"
#include "emulator/amqp/connection.hpp"
#include "emulator/amqp/device_c2d_sender.hpp"
#include "emulator/amqp/device_method_links.hpp"
#include "emulator/amqp/device_twin_links.hpp"
#include "emulator/amqp/reply_link.hpp"
#include "emulator/amqp/telemetry_receiver.hpp"

namespace emu::amqp {

namespace {

/// The error a cut link or session carries: `AzIoTHub_FaultOperationCloseReason` as the
/// description (next-capabilities §7.1, UNCONFIRMED), the fault's name otherwise.
amqp_error fault_error(std::string_view condition, const core::fault_request& r) {
  std::string text = "Fault injection: " + std::string(core::to_string(r.kind));
  if (!r.reason.empty()) text += " (" + r.reason + ")";
  return amqp_error{std::string(condition), std::move(text), 0};
}

constexpr std::string_view detach_forced = "amqp:link:detach-forced";

}  // namespace

void amqp_connection::schedule_fault(const std::string& device_id, core::fault_request r) {
  if (r.kind == core::fault_kind::shut_down_mqtt) {
    note_fault(device_id, r.kind, "ignored", "an MQTT fault on an AMQP connection");
    return;
  }
  const auto due = executor_.now() + r.delay;
  pending_faults_.push_back(pending_fault{device_id, std::move(r), due});
  // The session asks tick() for its next deadline after this callback.
}

void amqp_connection::apply_due_faults(core::time_point hub_now, steady_time now,
                                       const std::function<void(steady_time)>& sooner) {
  while (!pending_faults_.empty()) {
    const auto due = std::find_if(pending_faults_.begin(), pending_faults_.end(),
                                  [hub_now](const pending_fault& f) { return f.due <= hub_now; });
    if (due == pending_faults_.end()) break;
    const pending_fault f = std::move(*due);
    pending_faults_.erase(due);
    apply_fault(f);
  }
  for (const auto& f : pending_faults_)
    sooner(now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(f.due - hub_now));
}

template <class T, class Pick>
int amqp_connection::detach_links(const amqp_error& e, Pick&& pick) {
  int n = 0;
  for (auto& [serial, h] : links_) {
    auto* t = dynamic_cast<T*>(h.get());
    if (t == nullptr || (pn_link_state(t->link()) & PN_LOCAL_CLOSED) != 0 || !pick(*t)) continue;
    if constexpr (std::is_base_of_v<device_link, T>) {
      t->end(e);  // leaves the device's hub session too
    } else {
      set_condition(pn_link_condition(t->link()), e);
      pn_link_close(t->link());
    }
    ++n;
  }
  return n;
}

void amqp_connection::end_all_sessions(const amqp_error* e) {
  // Every session ends before the connection closes (UNCONFIRMED how Azure orders it): the
  // Node SDK, on a close alone, first detaches each of its links and waits for answers that
  // can no longer come (45 s, its "rundown"); an ended session tells it the links are gone.
  pn_connection_t* c = driver_.connection();
  if (c == nullptr) return;
  for (pn_session_t* s = pn_session_head(c, PN_LOCAL_ACTIVE); s != nullptr;
       s = pn_session_next(s, PN_LOCAL_ACTIVE)) {
    if (e != nullptr) set_condition(pn_session_condition(s), *e);
    pn_session_close(s);
  }
}

void amqp_connection::apply_fault(const pending_fault& f) {
  using core::fault_kind;
  const auto& r = f.request;
  const auto of_device = [&f](const auto& l) { return l.device_id() == f.device_id; };
  const auto any = [](const auto&) { return true; };
  int cut = 0;
  std::string what;
  switch (r.kind) {
    case fault_kind::kill_tcp:
      // amqp_session cuts the transport once the output written so far is out.
      abort_requested_ = true;
      what = "TCP connection cut";
      cut = 1;
      break;
    case fault_kind::kill_amqp_connection: {
      // amqp:internal-error: the Node SDK's suites expected it to recover from this fault
      // without the application noticing (next-capabilities §7.3), which it does for a
      // retryable error only (InternalServerError); amqp:connection:forced is not one.
      const amqp_error e = fault_error(condition::internal_error, r);
      end_all_sessions(&e);
      close(e);
    }
      what = "AMQP connection closed with an error";
      cut = 1;
      break;
    case fault_kind::shut_down_amqp: {
      pn_connection_t* c = driver_.connection();
      if (c != nullptr && (pn_connection_state(c) & PN_LOCAL_CLOSED) == 0) {
        log(log_level::info, "closing (fault injection: ShutDownAmqp)");
        end_all_sessions(nullptr);
        pn_connection_close(c);  // a close frame without an error: a clean shutdown
      }
      drop_all_links();
      what = "AMQP connection closed cleanly";
      cut = 1;
      break;
    }
    case fault_kind::kill_amqp_session: {
      // Every session that carries one of the device's links ends (the SDKs open one session
      // per link, or one for all).
      std::set<pn_session_t*> sessions;
      for (auto& [serial, h] : links_) {
        const auto* d = dynamic_cast<device_link*>(h.get());
        const auto* t = dynamic_cast<telemetry_receiver*>(h.get());
        if ((d != nullptr && d->device_id() == f.device_id) ||
            (t != nullptr && t->device_id() == f.device_id))
          sessions.insert(pn_link_session(h->link()));
      }
      const amqp_error e = fault_error(condition::internal_error, r);
      for (pn_session_t* s : sessions) {
        if ((pn_session_state(s) & PN_LOCAL_CLOSED) != 0) continue;
        set_condition(pn_session_condition(s), e);
        pn_session_close(s);
        ++cut;
      }
      what = std::to_string(cut) + " AMQP session(s) ended";
      break;
    }
    case fault_kind::kill_amqp_cbs_link_req:
      cut = detach_links<cbs_request_link>(fault_error(detach_forced, r), any);
      what = "CBS request link detached";
      break;
    case fault_kind::kill_amqp_cbs_link_resp:
      cut = detach_links<reply_link>(fault_error(detach_forced, r), [](const reply_link& l) {
        return l.node() == node_kind::cbs;
      });
      what = "CBS response link detached";
      break;
    case fault_kind::kill_amqp_d2c_link:
      cut = detach_links<telemetry_receiver>(fault_error(detach_forced, r), of_device);
      what = "telemetry link detached";
      break;
    case fault_kind::kill_amqp_c2d_link:
      cut = detach_links<device_c2d_sender>(fault_error(detach_forced, r), of_device);
      what = "C2D link detached";
      break;
    // "Req" is the link that carries requests: the twin's from the device, the methods' to it.
    case fault_kind::kill_amqp_twin_link_req:
      cut = detach_links<twin_request_receiver>(fault_error(detach_forced, r), of_device);
      what = "twin request link detached";
      break;
    case fault_kind::kill_amqp_twin_link_resp:
      cut = detach_links<twin_sender>(fault_error(detach_forced, r), of_device);
      what = "twin response link detached";
      break;
    case fault_kind::kill_amqp_method_req_link:
      cut = detach_links<method_request_sender>(fault_error(detach_forced, r), of_device);
      what = "method request link detached";
      break;
    case fault_kind::kill_amqp_method_resp_link:
      cut = detach_links<method_response_receiver>(fault_error(detach_forced, r), of_device);
      what = "method response link detached";
      break;
    case fault_kind::shut_down_mqtt:
    case fault_kind::invoke_throttling:
    case fault_kind::invoke_max_message_quota:
    case fault_kind::invoke_auth_error:
      return;  // not connection faults of AMQP (schedule_fault, hub::record_telemetry)
  }
  if (cut == 0) {
    note_fault(f.device_id, r.kind, "ignored", "no such link open on the AMQP connection");
    return;
  }
  log(log_level::info, "device '" + f.device_id + "': fault injection " +
                           std::string(core::to_string(r.kind)) + ": " + what);
  note_fault(f.device_id, r.kind, "applied", "AMQP: " + what);
  pump();
}

void amqp_connection::expire_all_tokens() {
  const auto expired = executor_.now() - std::chrono::milliseconds(1);
  if (grant_) grant_->expiry = expired;
  for (auto& [device, g] : device_grants_) g.expiry = expired;
  // amqp_session::run calls tick() next, which ends what these grants admitted.
}

void amqp_connection::note_fault(const std::string& device_id, core::fault_kind kind,
                                 std::string event, std::string detail) {
  executor_.post([identity = device_id, kind, event = std::move(event), detail = std::move(detail)](
                     core::hub& h, core::time_point now) mutable {
    h.note_fault(identity, kind, std::move(event), std::move(detail), now);
    return executor::hub_executor::completion{};
  });
}

}  // namespace emu::amqp
