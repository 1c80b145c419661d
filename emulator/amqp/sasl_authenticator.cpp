#include "emulator/amqp/sasl_authenticator.hpp"

#include <proton/sasl.h>

#include <algorithm>
#include <cctype>

#include "emulator/core/ascii.hpp"

namespace emu::amqp {

namespace {

using core::iequals;

}  // namespace

std::optional<plain_response> parse_plain_response(std::string_view bytes) {
  const auto first = bytes.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = bytes.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  if (bytes.find('\0', second + 1) != std::string_view::npos) return std::nullopt;
  plain_response r;
  r.authzid = std::string(bytes.substr(0, first));
  r.authcid = std::string(bytes.substr(first + 1, second - first - 1));
  r.password = std::string(bytes.substr(second + 1));
  if (r.authcid.empty()) return std::nullopt;
  return r;
}

std::optional<service_user> parse_service_user(std::string_view authcid) {
  static constexpr std::string_view marker = "@sas.root.";
  const auto at = authcid.find('@');
  if (at == std::string_view::npos || at == 0) return std::nullopt;
  if (authcid.size() < at + marker.size() || !iequals(authcid.substr(at, marker.size()), marker)) {
    return std::nullopt;
  }
  service_user u;
  u.policy = std::string(authcid.substr(0, at));
  u.hub = std::string(authcid.substr(at + marker.size()));
  if (u.hub.empty()) return std::nullopt;
  return u;
}

std::optional<device_user> parse_device_user(std::string_view authcid) {
  static constexpr std::string_view marker = "@sas.";
  if (parse_service_user(authcid)) return std::nullopt;
  std::string lower(authcid);
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const auto at = lower.rfind(marker);
  if (at == std::string::npos || at == 0) return std::nullopt;
  device_user u;
  u.device_id = std::string(authcid.substr(0, at));
  u.hub = std::string(authcid.substr(at + marker.size()));
  if (u.hub.empty()) return std::nullopt;
  return u;
}

bool names_this_hub(std::string_view hub, std::string_view hub_name,
                    const core::host_names& hosts) {
  return iequals(hub, hub_name) || hosts.has_label(hub);
}

// ---- the Proton plugin ----------------------------------------------------------------

const pnx_sasl_implementation sasl_authenticator::implementation = {
    &sasl_authenticator::on_free,
    &sasl_authenticator::on_list_mechanisms,
    &sasl_authenticator::on_init_server,
    &sasl_authenticator::on_init_client,
    &sasl_authenticator::on_prepare_write,
    &sasl_authenticator::on_process_init,
    &sasl_authenticator::on_process_response,
    &sasl_authenticator::on_process_mechanisms,
    &sasl_authenticator::on_process_challenge,
    &sasl_authenticator::on_process_outcome,
    &sasl_authenticator::on_can_encrypt,
    &sasl_authenticator::on_max_encrypt_size,
    &sasl_authenticator::on_encode,
    &sasl_authenticator::on_decode,
};

void sasl_authenticator::install(pn_transport_t* transport) {
  transport_ = transport;
  // pn_sasl() creates the transport's SASL state now, so the server's layer auto-detection
  // finds it when a SASL header arrives instead of creating one with the default
  // implementation. The context is non-null, so Proton calls on_free (a no-op: we own `this`).
  pn_sasl_t* sasl = pn_sasl(transport);
  // PLAIN over the optional plain-TCP listener (tests, TLS-terminating proxies): the password
  // is a SAS token, not a reusable secret, and the listener is documented as insecure.
  pn_sasl_set_allow_insecure_mechs(sasl, true);
  pnx_sasl_set_implementation(transport, &implementation, this);
}

sasl_authenticator* sasl_authenticator::self(pn_transport_t* t) {
  return static_cast<sasl_authenticator*>(pnx_sasl_get_context(t));
}

bool sasl_authenticator::on_init_server(pn_transport_t* t) {
  pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
  return true;
}

void sasl_authenticator::on_process_init(pn_transport_t* t, const char* mechanism,
                                         const pn_bytes_t* recv) {
  sasl_authenticator* a = self(t);
  if (a == nullptr) return;
  a->mechanism_ = mechanism != nullptr ? mechanism : "";
  const std::string_view mech = a->mechanism_;
  if (mech == "ANONYMOUS") {
    a->succeed("anonymous");
  } else if (mech == "MSSBCBS") {
    // uAMQP's MSSBCBS sends an empty initial response; authorisation follows over CBS.
    a->succeed("mssbcbs");
  } else if (mech == "PLAIN") {
    auto response = parse_plain_response(recv != nullptr && recv->start != nullptr
                                             ? std::string_view(recv->start, recv->size)
                                             : std::string_view{});
    if (!response) {
      a->fail();
      return;
    }
    a->state_ = state::waiting;
    a->on_plain_(std::move(*response));
  } else {
    a->fail();
  }
}

void sasl_authenticator::on_process_response(pn_transport_t* t, const pn_bytes_t*) {
  // None of our mechanisms sends a challenge, so a response is a protocol violation.
  if (sasl_authenticator* a = self(t)) a->fail();
}

void sasl_authenticator::complete(bool ok, std::string user) {
  if (state_ != state::waiting) return;
  if (ok) {
    succeed(std::move(user));
  } else {
    fail();
  }
}

void sasl_authenticator::succeed(std::string user) {
  user_ = std::move(user);
  state_ = state::done;
  pnx_sasl_set_succeeded(transport_, user_.c_str(), nullptr);
  pnx_sasl_set_desired_state(transport_, SASL_POSTED_OUTCOME);
}

void sasl_authenticator::fail() {
  state_ = state::done;
  pnx_sasl_set_failed(transport_);
  pnx_sasl_set_desired_state(transport_, SASL_POSTED_OUTCOME);
}

}  // namespace emu::amqp
