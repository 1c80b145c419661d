#pragma once
/// Server-side SASL for the service endpoint through Proton's SASL plugin interface
/// (proton/sasl_plugin.h, `pnx_sasl_set_implementation`): Proton's built-in server only offers
/// ANONYMOUS (ARCHITECTURE "Known technical hurdles"), while the clients need:
///   - PLAIN with `{policy}@sas.root.{hubName}` and a SAS token as password: the legacy C
///     service client, which hard-codes `iothubowner` (sdk-wire §7). The token is verified by
///     the hub, asynchronously, so the outcome is posted later (complete());
///   - MSSBCBS (C device SDK) and ANONYMOUS: succeed at once; a CBS put-token must follow
///     (spec §4.1).
/// Clients that send the bare AMQP header (Node rhea, C#) never reach this code: Proton's server
/// transport auto-detects the layers, and installing this implementation does not make
/// authentication mandatory (pn_transport_require_auth stays false).
///
/// Ownership: one per connection; it must outlive the pn_transport_t it is installed on
/// (Proton keeps pointers to its user name). Not thread-safe: the connection's strand only.
#include <proton/sasl_plugin.h>
#include <proton/transport.h>

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/host_name.hpp"

namespace emu::amqp {

/// The mechanisms we advertise (spec §4.1 "Emulator").
inline constexpr const char* offered_mechanisms = "MSSBCBS PLAIN ANONYMOUS";

/// A SASL PLAIN initial response (RFC 4616): `[authzid] NUL authcid NUL passwd`.
struct plain_response {
  std::string authzid;
  std::string authcid;
  std::string password;
};
/// nullopt unless there are exactly two NULs and a non-empty authcid.
std::optional<plain_response> parse_plain_response(std::string_view bytes);

/// The parts of a service user name `{policy}@sas.root.{hubName}`.
struct service_user {
  std::string policy;
  std::string hub;
};
/// nullopt for any other shape (for example a device's `{deviceId}@sas.{hubName}`).
std::optional<service_user> parse_service_user(std::string_view authcid);

/// The parts of a device user name `{deviceId}@sas.{hubName}` (the legacy device clients'
/// SASL PLAIN: the password is the device's SAS token). A device id may itself contain `@`, so
/// the last `@sas.` splits it. nullopt for any other shape (also a service user).
struct device_user {
  std::string device_id;
  std::string hub;
};
std::optional<device_user> parse_device_user(std::string_view authcid);

/// True if `hub` names this hub: its hub name or the first label of one of its host names (the
/// C SDK takes the HostName up to the first dot), compared case-insensitively.
bool names_this_hub(std::string_view hub, std::string_view hub_name, const core::host_names& hosts);

class sasl_authenticator {
 public:
  /// Receives a parsed PLAIN response; must eventually call complete() (possibly at once).
  using plain_handler = std::function<void(plain_response)>;

  explicit sasl_authenticator(plain_handler on_plain) : on_plain_(std::move(on_plain)) {}
  sasl_authenticator(const sasl_authenticator&) = delete;
  sasl_authenticator& operator=(const sasl_authenticator&) = delete;

  /// Creates the transport's SASL object and installs this implementation. Call after
  /// pn_transport_set_server() and before the transport is bound.
  void install(pn_transport_t* transport);
  /// Posts the outcome of a pending PLAIN exchange. `user` is kept for Proton.
  void complete(bool ok, std::string user);

  /// A PLAIN password is being verified: the connection must not offer more input.
  bool waiting() const { return state_ == state::waiting; }
  /// The mechanism the client chose ("" before sasl-init or without SASL).
  const std::string& mechanism() const { return mechanism_; }

 private:
  enum class state { idle, waiting, done };

  static sasl_authenticator* self(pn_transport_t* t);
  static void on_free(pn_transport_t*) {}
  static const char* on_list_mechanisms(pn_transport_t*) { return offered_mechanisms; }
  static bool on_init_server(pn_transport_t* t);
  static bool on_init_client(pn_transport_t*) { return false; }
  static void on_prepare_write(pn_transport_t*) {}
  static void on_process_init(pn_transport_t* t, const char* mechanism, const pn_bytes_t* recv);
  static void on_process_response(pn_transport_t* t, const pn_bytes_t* recv);
  static bool on_process_mechanisms(pn_transport_t*, const char*) { return false; }
  static void on_process_challenge(pn_transport_t*, const pn_bytes_t*) {}
  static void on_process_outcome(pn_transport_t*, const pn_bytes_t*) {}
  static bool on_can_encrypt(pn_transport_t*) { return false; }
  static ssize_t on_max_encrypt_size(pn_transport_t*) { return 0; }
  static ssize_t on_encode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }
  static ssize_t on_decode(pn_transport_t*, pn_bytes_t, pn_bytes_t*) { return 0; }

  static const pnx_sasl_implementation implementation;

  void succeed(std::string user);
  void fail();

  plain_handler on_plain_;
  pn_transport_t* transport_ = nullptr;
  state state_ = state::idle;
  std::string mechanism_;
  std::string user_;  // Proton keeps this pointer (pnx_sasl_set_succeeded does not copy)
};

}  // namespace emu::amqp
