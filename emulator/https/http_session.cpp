#include "emulator/https/http_session.hpp"

#include <spdlog/logger.h>

#include <cmath>
#include <exception>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

#include "emulator/core/hub.hpp"
#include "emulator/https/dashboard_api.hpp"
#include "emulator/https/dashboard_page.hpp"
#include "emulator/https/device_api.hpp"
#include "emulator/https/error_response.hpp"
#include "emulator/https/http_codec.hpp"
#include "emulator/https/https_state.hpp"
#include "emulator/https/method_json.hpp"
#include "emulator/https/registry_api.hpp"
#include "emulator/https/test_control_api.hpp"
#include "emulator/https/text_checks.hpp"
#include "emulator/websocket/handshake.hpp"
#include "emulator/websocket/websocket_stream.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;

http_response hub_unavailable() {
  return error_response(503, "ServiceUnavailable", "The hub did not answer in time.");
}

}  // namespace

http_session::http_session(std::shared_ptr<https_state> state) : state_(std::move(state)) {}

void http_session::on_open(net::link& l) {
  state_->log.debug("#{} {} {} up", l.id(), l.peer(), l.transport_name());
  await_request(true);
}

std::size_t http_session::input_limit() const {
  // Enough for the largest request the limits allow; the parser refuses anything larger before
  // the buffer reaches this, so overflow means a request beyond the bounds.
  const auto& l = state_->settings.limits;
  return l.max_head_bytes + l.max_body_bytes + 1;
}

std::optional<net::steady_time> http_session::deadline() const {
  if (phase_ == phase::closed) return std::nullopt;
  return deadline_;
}

void http_session::await_request(bool first) {
  phase_ = phase::reading;
  continue_sent_ = false;
  refused_ = false;
  request_started_ = false;
  lead_ = scanned_ = needed_ = line_from_ = 0;
  deadline_ = state_->now() +
              (first ? state_->settings.request_timeout : state_->settings.keep_alive_timeout);
}

// ---- input ------------------------------------------------------------------------------------

std::size_t http_session::on_input(std::span<const std::uint8_t> input) {
  if (phase_ == phase::streaming) return input.size();  // an event stream reads nothing more
  if (phase_ != phase::reading) return 0;
  if (!request_started_) {
    // The first byte of a request: from now on the whole request has `request_timeout` (a slow
    // client cannot stretch it byte by byte).
    request_started_ = true;
    deadline_ = state_->now() + state_->settings.request_timeout;
  }
  const std::string_view seen(reinterpret_cast<const char*>(input.data()), input.size());
  const auto& limits = state_->settings.limits;
  // parse_request() reads the whole head each time; call it only when it can say something
  // new, so a head or body trickling in byte by byte costs linear, not quadratic, work.
  if (needed_ > 0) {
    if (seen.size() < needed_) return 0;  // the body is not complete yet
    // A chunk size or trailer line: nothing new can be said before its LF arrives (or it
    // outgrows its bound), so framing trickled byte by byte is not parsed again per byte.
    if (line_from_ > 0 && seen.find('\n', line_from_) == std::string_view::npos &&
        seen.size() - line_from_ <= max_chunk_line_bytes)
      return 0;
  } else {
    while (lead_ < seen.size() && (seen[lead_] == '\r' || seen[lead_] == '\n')) ++lead_;
    const std::size_t from = std::max(lead_, scanned_ >= 2 ? scanned_ - 2 : 0);
    const bool head_end = seen.find("\n\n", from) != std::string_view::npos ||
                          seen.find("\n\r\n", from) != std::string_view::npos;
    scanned_ = seen.size();
    // Without the head's end the parser can only refuse a head over its bound.
    if (!head_end && lead_ <= limits.max_head_bytes && seen.size() - lead_ <= limits.max_head_bytes)
      return 0;
  }
  ++parses_;
  auto r = parse_request(seen, limits);
  switch (r.status) {
    case parse_status::need_more:
      // The connection's buffer grows as the body arrives, not to the announced size: a
      // Content-Length alone must not reserve memory.
      needed_ = r.needed;
      line_from_ = r.awaiting_line ? seen.size() : 0;
      if (r.expect_continue && !continue_sent_) {
        continue_sent_ = true;
        link_->output().insert(link_->output().end(), continue_response.begin(),
                               continue_response.end());
      }
      return 0;
    case parse_status::error:
      state_->log.debug("#{} refused: {} {}", link_->id(), r.error_status, r.error_text);
      refused_ = true;
      respond(parse_error_response(r), false);
      return input.size();
    case parse_status::complete:
      answer(std::move(r.request), r.keep_alive);
      return r.consumed;
  }
  return 0;
}

void http_session::on_input_overflow() {
  refused_ = true;
  respond(error_response(431, "ArgumentInvalid", "The request is too large."), false);
}

void http_session::on_input_closed(std::string_view error) {
  if (phase_ == phase::streaming) {
    link_->close_now(error.empty() ? "event stream closed by the client" : error);
    return;
  }
  if (phase_ == phase::answering || phase_ == phase::writing) {
    // The client half-closed after its request (curl, HTTP/1.0): it still reads the answer.
    keep_alive_ = false;
    if (!error.empty()) link_->close_now(error);
    return;
  }
  link_->close(!error.empty()     ? error
               : request_started_ ? "closed by the client inside a request"
                                  : "closed by the client");
}

// ---- time -------------------------------------------------------------------------------------

void http_session::on_deadline(net::steady_time) {
  switch (phase_) {
    case phase::reading:
      if (request_started_ && link_->output_pending() == 0) {
        // A request that began but did not finish in time is told so (RFC 9110 §15.5.9)
        // before the connection closes; the answer gets write_timeout like any other.
        state_->log.debug("#{} request timeout", link_->id());
        respond(
            error_response(408, "RequestTimeout",
                           "The request did not arrive within " +
                               std::to_string(state_->settings.request_timeout.count()) + " ms."),
            false);
        return;
      }
      link_->close(request_started_ ? "request timeout" : "keep-alive idle timeout");
      return;
    case phase::answering:
      // Queued behind slow requests or a busy hub for longer than the hub may take: answer
      // without it (its late answer is dropped: generation_).
      ++generation_;
      respond(hub_unavailable(), false);
      return;
    case phase::writing:
      link_->close_now("response write timeout");
      return;
    case phase::streaming:
      stream_tick();
      return;
    case phase::closed:
      return;
  }
}

// ---- requests ---------------------------------------------------------------------------------

void http_session::answer(http_request request, bool keep_alive) {
  phase_ = phase::answering;
  keep_alive_ = keep_alive && !stopping_;
  method_ = request.method;
  path_ = request.target.substr(0, request.target.find('?'));  // headers (the token) never
  deadline_ = state_->now() + state_->settings.hub_timeout;
  route_ = match_route(request.method, request.target);
  const route& r = route_;
  switch (r.kind) {
    case route_kind::bad_request:
      respond(error_response(400, "ArgumentInvalid", "The path has a malformed percent escape."),
              keep_alive_);
      return;
    case route_kind::not_found:
      respond(error_response(404, "NotFound", "No such resource."), keep_alive_);
      return;
    case route_kind::not_implemented:
      respond(error_response(501, "NotImplemented",
                             "The emulator does not implement " + r.feature + " yet."),
              keep_alive_);
      return;
    case route_kind::method_not_allowed:
      respond(error_response(405, "MethodNotAllowed", "The method is not allowed on this path."),
              keep_alive_);
      return;
    case route_kind::websocket_upgrade:
      upgrade(request);
      return;
    case route_kind::health:
      // Like the Event Hubs emulator's health contract: no auth, no secrets. It goes through a
      // hub round, so a hung hub (or store) answers 503 after hub_timeout instead of looking
      // healthy: a container's healthcheck asks this.
      ask_hub([](core::hub&, core::time_point) -> hub_answer { return empty_object{}; },
              api::health);
      return;
    case route_kind::metrics:
      if (!state_->settings.metrics) {
        respond(error_response(404, "NotFound", "Metrics are off (--no-metrics)."), keep_alive_);
        return;
      }
      ask_hub([](core::hub& h, core::time_point) -> hub_answer { return h.statistics(); },
              api::metrics);
      return;
    default:
      break;
  }
  if (is_dashboard(r.kind)) {
    dashboard(request);
    return;
  }
  if (is_device_api(r.kind)) {
    // An X.509 device over HTTPS: its TLS client certificate stands in for Authorization. The
    // chain is the connection's: parsed at its first such request, kept for the others.
    if (request.authorization.empty() && !certificate_parsed_) {
      certificate_parsed_ = true;
      if (!link_->peer_certificates().empty())
        if (auto parsed = core::parse_client_certificate(link_->peer_certificates()))
          certificate_ = std::make_shared<const core::client_certificate>(std::move(*parsed));
    }
    auto prepared =
        prepare_device_api(r, request, request.authorization.empty() ? certificate_ : nullptr);
    if (auto* immediate = std::get_if<http_response>(&prepared)) {
      respond(*immediate, keep_alive_);
      return;
    }
    ask_hub(std::get<hub_call>(std::move(prepared)), api::device);
    return;
  }
  if (!is_admin(r.kind)) {
    auto prepared = prepare_registry(r, request);
    if (auto* immediate = std::get_if<http_response>(&prepared)) {
      respond(*immediate, keep_alive_);
      return;
    }
    ask_hub(std::get<hub_call>(std::move(prepared)), api::registry);
    return;
  }
  // Test control does not exist unless enabled; when enabled it answers loopback peers only
  // (it needs no token: a local test harness drives it).
  if (!state_->settings.test_control) {
    respond(error_response(404, "NotFound", "No such resource."), keep_alive_);
    return;
  }
  if (!is_loopback_address(link_->peer_address())) {
    respond(error_response(403, "Forbidden", "Test control is served to loopback peers only."),
            keep_alive_);
    return;
  }
  if (r.kind == route_kind::admin_clock) {
    const auto& ex = state_->executor;
    respond(json_response(clock_json(ex.now(), ex.clock_offset())), keep_alive_);
    return;
  }
  if (r.kind == route_kind::admin_clock_wall_step) {
    step_wall_clock(request);
    return;
  }
  if (r.kind == route_kind::admin_clock_advance) {
    travel(request);
    return;
  }
  auto prepared = prepare_test_control(r, request);
  if (auto* immediate = std::get_if<http_response>(&prepared)) {
    respond(*immediate, keep_alive_);
    return;
  }
  ask_hub(std::get<hub_call>(std::move(prepared)), api::test_control);
}

void http_session::upgrade(const http_request& request) {
  const auto& protocols = state_->websockets;
  if (protocols.empty()) {
    respond(error_response(404, "NotFound", "WebSocket is not served here."), keep_alive_);
    return;
  }
  std::vector<std::string_view> names;
  for (const auto& p : protocols) names.push_back(p.subprotocol);
  const auto h = websocket::check_upgrade(
      {request.method, request.upgrade, request.connection, request.websocket_key,
       request.websocket_version, request.websocket_protocol},
      names);
  if (h.status != 101) {
    state_->log.debug("#{} WebSocket upgrade refused: {}", link_->id(), h.error);
    http_response refusal =
        error_response(h.status, h.status == 426 ? "UpgradeRequired" : "ArgumentInvalid", h.error);
    if (h.status == 426) refusal.headers.emplace_back("Sec-WebSocket-Version", "13");
    refused_ = true;
    respond(refusal, false);
    return;
  }
  http_response switching;
  switching.status = 101;
  switching.headers = {{"Upgrade", "websocket"},
                       {"Connection", "Upgrade"},
                       {"Sec-WebSocket-Accept", h.accept},
                       {"Sec-WebSocket-Protocol", h.protocol}};
  const auto bytes = encode_response(switching, true);
  link_->output().insert(link_->output().end(), bytes.begin(), bytes.end());
  state_->log.debug("#{} {} upgraded to WebSocket ({})", link_->id(), link_->peer(), h.protocol);
  phase_ = phase::closed;  // this session is done; the stream takes the connection
  link_->replace_protocol(std::make_unique<websocket::websocket_stream>(
      protocols[h.chosen].make(), state_->websocket_max_frame));
}

void http_session::ask_hub(hub_call call, api which) {
  const auto generation = ++generation_;
  state_->executor.submit(
      [call = std::move(call), log = &state_->log](core::hub& hub, core::time_point now) {
        // An exception must not escape onto the executor thread (it would end the process).
        try {
          return call(hub, now);
        } catch (const std::exception& e) {
          log->error("request failed: {}", e.what());
          return hub_answer{core::error{core::hub_error::server_error, "Internal error."}};
        }
      },
      [handle = link_->handle(), generation, which, state = state_](bool committed, hub_answer a) {
        // A direct method call: wait for its outcome (registered here, on the executor
        // thread, before a later round's event can look for it).
        if (const auto* m = std::get_if<method_pending>(&a); m != nullptr && committed)
          state->methods.add(m->call_id, {handle, generation});
        handle.post([generation, which, committed, a = std::move(a)](net::protocol& p) {
          static_cast<http_session&>(p).on_hub_answer(generation, committed, which, a);
        });
      });
}

void http_session::on_hub_answer(std::uint64_t generation, bool committed, api which,
                                 const hub_answer& a) {
  if (which == api::dashboard_stream) {
    if (phase_ == phase::streaming && generation == generation_) on_stream_view(committed, a);
    return;
  }
  // Answered meanwhile (503 after hub_timeout) or closed: the late answer is dropped.
  if (phase_ != phase::answering || generation != generation_) return;
  if (!committed) {
    respond(error_response(500, "ServerError", "The change could not be stored; nothing was done."),
            keep_alive_);
    return;
  }
  if (const auto* m = std::get_if<method_pending>(&a)) {
    // The hub ends the call by its own timeouts; this deadline only guards the guard.
    deadline_ = state_->now() + std::chrono::duration_cast<net::steady_clock::duration>(m->wait) +
                state_->settings.hub_timeout;
    return;
  }
  // JSON is rendered here, on the I/O thread, not on the hub executor.
  switch (which) {
    case api::device:
      respond(render_device_api(route_, a), keep_alive_);
      return;
    case api::test_control:
      respond(render_test_control(a), keep_alive_);
      return;
    case api::registry:
      respond(render_registry(a), keep_alive_);
      return;
    case api::health:
      respond(json_response(json{{"status", "healthy"}}), keep_alive_);
      return;
    case api::dashboard:
      if (const auto* v = std::get_if<std::shared_ptr<const dashboard_view>>(&a)) {
        const auto site = state_->site();
        http_response r = json_response(
            dashboard_json(**v, site.get(), state_->activity.newest(), dashboard_trusted_));
        r.headers.emplace_back("Cache-Control", "no-store");
        respond(r, keep_alive_);
      } else {
        respond(render_test_control(a), keep_alive_);  // the hub's error (401, …)
      }
      return;
    case api::dashboard_stream:
      return;
    case api::metrics:
      if (const auto* s = std::get_if<core::hub_statistics>(&a)) {
        metrics::metrics_input in;
        in.hub = *s;
        in.commits = state_->executor.commit_stats();
        if (state_->fronts) in.fronts = state_->fronts();
        http_response r;
        r.body = metrics::render_metrics(in);
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        respond(r, keep_alive_);
      } else {
        respond(error_response(500, "ServerError", "No statistics."), keep_alive_);
      }
      return;
  }
}

void http_session::on_method_result(std::uint64_t generation, const core::event::method_result& r) {
  if (phase_ != phase::answering || generation != generation_) return;
  respond(method_result_response(r), keep_alive_);
}

void http_session::travel(const http_request& request) {
  const json doc = json::parse(request.body, nullptr, false);
  const json* seconds = nullptr;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("seconds")) seconds = &doc["seconds"];
  // Forward only, at most ten years: the hub's clock never runs backwards.
  if (seconds == nullptr || !seconds->is_number() || !std::isfinite(seconds->get<double>()) ||
      seconds->get<double>() < 0 || seconds->get<double>() > 10.0 * 366 * 24 * 3600) {
    respond(error_response(400, "ArgumentInvalid",
                           "The body must be {\"seconds\": N} with 0 <= N <= 10 years."),
            keep_alive_);
    return;
  }
  const auto by = std::chrono::milliseconds{std::llround(seconds->get<double>() * 1000)};
  const auto generation = ++generation_;
  // The answer comes once a hub round has run at the new time and every front was told, so
  // the caller already sees what became due (TTL expiry, lock timeouts, feedback batches).
  state_->travel(by, [handle = link_->handle(), generation] {
    handle.post([generation](net::protocol& p) {
      auto& s = static_cast<http_session&>(p);
      if (s.phase_ != phase::answering || generation != s.generation_) return;
      const auto& ex = s.state_->executor;
      s.respond(json_response(clock_json(ex.now(), ex.clock_offset())), s.keep_alive_);
    });
  });
}

void http_session::step_wall_clock(const http_request& request) {
  // A step of the machine's clock, either way (issue 20 item 4): hub time follows it forward
  // and not back (executor/hub_clock.hpp). Answered at once: what follows happens in the
  // executor's next round, as after a real step.
  const json doc = json::parse(request.body, nullptr, false);
  const json* seconds = nullptr;
  if (!doc.is_discarded() && doc.is_object() && doc.contains("seconds")) seconds = &doc["seconds"];
  constexpr double ten_years = 10.0 * 366 * 24 * 3600;
  if (seconds == nullptr || !seconds->is_number() || !std::isfinite(seconds->get<double>()) ||
      std::abs(seconds->get<double>()) > ten_years) {
    respond(error_response(400, "ArgumentInvalid",
                           "The body must be {\"seconds\": N} with |N| <= 10 years."),
            keep_alive_);
    return;
  }
  auto& ex = state_->executor;
  ex.step_wall_clock(std::chrono::milliseconds{std::llround(seconds->get<double>() * 1000)});
  respond(json_response(clock_json(ex.now(), ex.clock_offset())), keep_alive_);
}

void http_session::respond(const http_response& response, bool keep_alive) {
  if (phase_ == phase::closed) return;
  phase_ = phase::writing;
  keep_alive_ = keep_alive && !stopping_;
  if (state_->log.should_log(spdlog::level::debug))
    state_->log.debug("#{} {} {} -> {}", link_->id(), method_, path_, response.status);
  const auto bytes = encode_response(response, keep_alive_);
  link_->output().insert(link_->output().end(), bytes.begin(), bytes.end());
  deadline_ = state_->now() + state_->settings.write_timeout;
}

void http_session::on_output_flushed() {
  if (phase_ == phase::streaming && stopping_) {
    link_->close("the emulator is stopping");
    return;
  }
  if (phase_ != phase::writing) return;
  if (refused_ && !stopping_) {
    link_->close("refused request", /*drain_input=*/true);
    return;
  }
  if (!keep_alive_ || stopping_) {
    link_->close(stopping_ ? "the emulator is stopping" : "response with Connection: close");
    return;
  }
  await_request(false);
}

void http_session::on_shutdown(std::string_view reason) {
  stopping_ = true;
  if (phase_ == phase::streaming) {
    link_->close(reason);
    return;
  }
  // A request being answered gets its response (with `Connection: close`) first.
  if (phase_ == phase::answering || phase_ == phase::writing) {
    keep_alive_ = false;
    return;
  }
  link_->close(reason);
}

// ---- the dashboard ----------------------------------------------------------------------------

void http_session::dashboard(const http_request& request) {
  const auto access = state_->settings.dashboard;
  if (access == dashboard_access::off) {
    respond(error_response(404, "NotFound", "The dashboard is off (--no-dashboard)."), keep_alive_);
    return;
  }
  const auto site = state_->site();
  // A loopback peer is trusted (no token, keys shown) only when it names this machine: a page
  // of another site whose name was made to resolve to 127.0.0.1 is not (DNS rebinding).
  const bool trusted =
      is_loopback_address(link_->peer_address()) &&
      is_own_host_header(request.host, site != nullptr ? site->host_name : std::string_view{});
  if (!trusted && access != dashboard_access::remote) {
    respond(error_response(403, "Forbidden",
                           "The dashboard is served to loopback peers only (start the emulator "
                           "with --dashboard-remote to serve others, who need a SAS token)."),
            keep_alive_);
    return;
  }
  const auto unauthorized = [&] {
    respond(error_response(401, "IotHubUnauthorizedAccess",
                           "The dashboard's data needs a service SAS token (Authorization: "
                           "SharedAccessSignature …) from a remote peer."),
            keep_alive_);
  };
  switch (route_.kind) {
    case route_kind::dashboard_page: {
      // The page holds no secret (it asks for the data): served to whoever may see the
      // dashboard. Its script and style are inline, nothing is loaded from elsewhere.
      http_response r;
      r.body = std::string(dashboard_page());
      r.content_type = "text/html; charset=utf-8";
      r.headers = {{"Cache-Control", "no-store"},
                   {"Content-Security-Policy",
                    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                    "connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'"},
                   {"X-Content-Type-Options", "nosniff"},
                   {"Referrer-Policy", "no-referrer"}};
      respond(r, keep_alive_);
      return;
    }
    case route_kind::dashboard_ca: {
      if (site == nullptr || site->ca_pem.empty()) {
        respond(error_response(404, "NotFound",
                               "The emulator was started with its own TLS certificate; its CA "
                               "is not known here."),
                keep_alive_);
        return;
      }
      http_response r;
      r.body = site->ca_pem;
      r.content_type = "application/x-pem-file";
      r.headers = {{"Content-Disposition", "attachment; filename=\"iothub-emulator-ca.pem\""}};
      respond(r, keep_alive_);
      return;
    }
    case route_kind::dashboard_state:
      if (!trusted && request.authorization.empty()) return unauthorized();
      dashboard_trusted_ = trusted;  // on_hub_answer renders keys for a trusted peer only
      ask_hub(dashboard_call(route_.device_id, request.authorization, trusted), api::dashboard);
      return;
    case route_kind::dashboard_events:
      if (!trusted && request.authorization.empty()) return unauthorized();
      start_stream(request, trusted);
      return;
    case route_kind::dashboard_send_c2d: {
      // Only a JSON body: a page of another site can post a form or text/plain to a loopback
      // address without asking, but not application/json (that needs a CORS preflight, which
      // the emulator never grants).
      if (request.content_type.find("application/json") == std::string::npos) {
        respond(error_response(415, "ArgumentInvalid",
                               "The message must be sent as Content-Type: application/json."),
                keep_alive_);
        return;
      }
      auto prepared = prepare_dashboard_send(route_.device_id, request, trusted);
      if (auto* immediate = std::get_if<http_response>(&prepared)) {
        respond(*immediate, keep_alive_);
        return;
      }
      ask_hub(std::get<hub_call>(std::move(prepared)), api::test_control);
      return;
    }
    default:
      respond(error_response(404, "NotFound", "No such resource."), keep_alive_);
      return;
  }
}

void http_session::start_stream(const http_request& request, bool trusted) {
  stream_ = std::make_unique<stream_state>();
  stream_->device = route_.device_id;
  stream_->token = request.authorization;
  stream_->trusted = trusted;
  phase_ = phase::streaming;
  if (state_->log.should_log(spdlog::level::debug))
    state_->log.debug("#{} {} {} -> event stream", link_->id(), method_, path_);
  // No Content-Length: the stream ends when the connection does (RFC 9112 §6.3).
  write_stream(
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
      "Connection: close\r\nX-Content-Type-Options: nosniff\r\n\r\nretry: 2000\n\n");
  stream_look();  // the first view at once, behind the head
}

void http_session::stream_tick() {
  const auto now = state_->now();
  if (link_->output_pending() > 0 &&
      now - stream_->unread_since >= state_->settings.write_timeout) {
    link_->close_now("event stream not read");  // it held one event; it holds nothing now
    return;
  }
  if (stream_->waiting) {
    // The hub did not answer within hub_timeout: the page reconnects when it is back.
    link_->close_now("the hub did not answer the event stream");
    return;
  }
  if (link_->output_pending() > 0) {  // the last event is unread: do not pile up more
    deadline_ = now + state_->settings.dashboard_refresh;
    return;
  }
  stream_look();
}

void http_session::stream_look() {
  stream_->waiting = true;
  deadline_ = state_->now() + state_->settings.hub_timeout;
  ask_hub(dashboard_call(stream_->device, stream_->token, stream_->trusted), api::dashboard_stream);
}

void http_session::on_stream_view(bool committed, const hub_answer& a) {
  stream_->waiting = false;
  const auto now = state_->now();
  deadline_ = now + state_->settings.dashboard_refresh;
  const auto* v = std::get_if<std::shared_ptr<const dashboard_view>>(&a);
  if (!committed || v == nullptr) {
    // A refused token (expired, say): said as an event, then the stream ends.
    const auto* e = std::get_if<core::error>(&a);
    const json err = {{"message", e != nullptr ? e->message : "The hub could not answer."}};
    write_stream("event: refused\ndata: " + err.dump() + "\n\n");
    link_->close("event stream refused");
    return;
  }
  const auto site = state_->site();
  // The view's `nowUtc` changes with every look; an event is sent when anything else did.
  json view = dashboard_json(**v, site.get(), state_->activity.newest(), stream_->trusted);
  std::string now_utc = view["hub"]["nowUtc"];
  view["hub"].erase("nowUtc");
  std::string text = view.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text != stream_->last) {
    stream_->last = text;
    view["hub"]["nowUtc"] = std::move(now_utc);
    write_stream("data: " + view.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n");
  } else if (now - stream_->last_write >= state_->settings.dashboard_keep_alive) {
    write_stream(": keep-alive\n\n");  // proxies and the page see the stream is alive
  }
}

void http_session::write_stream(std::string_view text) {
  const auto now = state_->now();
  if (link_->output_pending() == 0) stream_->unread_since = now;
  stream_->last_write = now;
  link_->output().insert(link_->output().end(), text.begin(), text.end());
}

void http_session::on_closed(std::string_view reason) {
  phase_ = phase::closed;
  state_->log.debug("#{} {} closed: {}", link_->id(), link_->peer(), reason);
}

}  // namespace emu::https
