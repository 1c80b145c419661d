#pragma once
/// Exit codes shared by the sample clients, so scripts and tests can tell failures apart.
namespace iothub_samples {

enum exit_code : int {
  exit_ok = 0,
  exit_failure = 1,             ///< anything not listed below
  exit_bad_input = 2,           ///< bad command line or malformed connection string
  exit_unauthorized = 3,        ///< the hub refused the credentials (CONNACK 5, CBS != 200)
  exit_tls_failure = 4,         ///< TLS handshake failed, e.g. the server certificate is untrusted
  exit_connection_failure = 5,  ///< cannot connect, or the connection dropped
  exit_rejected = 6,            ///< the hub rejected a message (send-c2d)
  exit_timeout = 7,             ///< --timeout elapsed before the work was done
};

}  // namespace iothub_samples
