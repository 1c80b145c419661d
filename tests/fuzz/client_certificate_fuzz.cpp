// libFuzzer target for the code that reads certificate bytes a client chooses (issue 16): a
// device's presented chain (parse_client_certificate, then the chain check against the hub's
// CAs) and an uploaded CA certificate or proof of possession (ca_certificates::put / verify:
// PEM, base64 of DER, base64 of PEM).
// Properties: no crash or sanitizer report; a parsed certificate has 40- and 64-digit upper-case
// thumbprints that thumbprint_matches accepts in lower case too; nothing is accepted as a CA
// that was not a certificate.
// Input: byte 0 chooses how the rest is split into a chain (at most 4 parts); the whole rest is
// also offered as an uploaded certificate text.
// Built by tests/fuzz/CMakeLists.txt: emu_fuzz_target(client_certificate ... emu_core)
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "emulator/core/ca_certificates.hpp"
#include "emulator/core/client_certificate.hpp"
#include "emulator/core/journal.hpp"

namespace {

using namespace emu::core;

void check(bool condition) {
  if (!condition) std::abort();
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t parts = 1 + data[0] % 4;
  std::vector<std::string> chain;
  const std::size_t step = rest.size() / parts + 1;
  for (std::size_t at = 0; at < rest.size(); at += step) chain.push_back(rest.substr(at, step));
  if (chain.empty()) chain.emplace_back();

  const time_point now{std::chrono::seconds{1'800'000'000}};
  journal j;
  ca_certificates cas(j);
  auto cert = parse_client_certificate(chain);
  if (cert) {
    check(cert->sha1_thumbprint.size() == 40 && cert->sha256_thumbprint.size() == 64);
    check(thumbprint_matches(*cert, lower(cert->sha1_thumbprint)));
    check(thumbprint_matches(*cert, cert->sha256_thumbprint));
    check(!thumbprint_matches(*cert, ""));
    check(!cas.check_chain(*cert, now) &&
          cas.check_chain(*cert, now).error().code == hub_error::unauthorized);
  }
  auto uploaded = cas.put("fuzz", rest, /*verified=*/true, "", now);
  if (uploaded) {
    check(uploaded->pem.starts_with("-----BEGIN CERTIFICATE-----"));
    check(uploaded->thumbprint.size() == 40);
    if (cert) (void)cas.check_chain(*cert, now);
    (void)cas.generate_verification_code("fuzz", "*", now);
    (void)cas.verify("fuzz", "*", rest, now);
  }
  return 0;
}
