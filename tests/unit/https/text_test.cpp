// ISO 8601 parsing, UTF-8 validation and loopback detection used by the HTTPS front.
#include <doctest/doctest.h>

#include <string>

#include "emulator/core/time.hpp"
#include "emulator/https/iso8601.hpp"
#include "emulator/https/text_checks.hpp"

using namespace emu;
using namespace emu::https;

TEST_CASE("ISO 8601 UTC round-trips core::to_iso8601") {
  const auto t = core::from_unix_ms(1767268800123);  // 2026-01-01T12:00:00.123Z
  const auto parsed = parse_iso8601(core::to_iso8601(t));
  REQUIRE(parsed);
  CHECK(*parsed == t);
  CHECK(parse_iso8601("2026-01-01T12:00:00Z") == core::from_unix_ms(1767268800000));
  CHECK(parse_iso8601("2026-01-01T12:00:00.5+00:00") == core::from_unix_ms(1767268800500));
  CHECK(parse_iso8601("1970-01-01T00:00:00Z") == core::from_unix_ms(0));
}

TEST_CASE("ISO 8601: everything else is refused") {
  for (const char* bad : {"", "2026-01-01", "2026-01-01T12:00:00", "2026-01-01T12:00:00+01:00",
                          "2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-01-01T12:00:00.Z",
                          "2026-01-01 12:00:00Z", "20260101T120000Z", "2026-01-01T12:00:00Zx"})
    CHECK_MESSAGE(!parse_iso8601(bad), bad);
}

TEST_CASE("UTF-8 validation") {
  CHECK(is_valid_utf8(""));
  CHECK(is_valid_utf8("hello"));
  CHECK(is_valid_utf8("gr\xC3\xBC\xC3\x9F"));    // grüß
  CHECK(is_valid_utf8("\xE2\x82\xAC"));          // €
  CHECK(is_valid_utf8("\xF0\x9F\x98\x80"));      // U+1F600
  CHECK(is_valid_utf8(std::string("a\0b", 3)));  // NUL is valid UTF-8
  CHECK_FALSE(is_valid_utf8("\xFF"));
  CHECK_FALSE(is_valid_utf8("\xC3"));              // truncated
  CHECK_FALSE(is_valid_utf8("\xE2\x82"));          // truncated
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  CHECK_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // > U+10FFFF
  CHECK_FALSE(is_valid_utf8("\x80"));              // lone continuation
}

TEST_CASE("loopback peers") {
  CHECK(is_loopback_address("127.0.0.1"));
  CHECK(is_loopback_address("127.255.0.9"));
  CHECK(is_loopback_address("::1"));
  CHECK(is_loopback_address("::ffff:127.0.0.1"));
  CHECK_FALSE(is_loopback_address("10.0.0.1"));
  CHECK_FALSE(is_loopback_address("128.0.0.1"));
  CHECK_FALSE(is_loopback_address("::ffff:10.0.0.1"));
  CHECK_FALSE(is_loopback_address("::2"));
  CHECK_FALSE(is_loopback_address("localhost"));
  CHECK_FALSE(is_loopback_address(""));
}

TEST_CASE("the dashboard trusts Host names of this machine only (DNS rebinding)") {
  CHECK(is_own_host_header("localhost", ""));
  CHECK(is_own_host_header("localhost:8443", ""));
  CHECK(is_own_host_header("LocalHost:443", ""));
  CHECK(is_own_host_header("app.localhost", ""));
  CHECK(is_own_host_header("127.0.0.1:443", ""));
  CHECK(is_own_host_header("127.1.2.3", ""));
  CHECK(is_own_host_header("[::1]:443", ""));
  CHECK(is_own_host_header("[::1]", ""));
  CHECK(is_own_host_header("myhub.azure-devices.net:443", "myhub.azure-devices.net"));
  CHECK_FALSE(is_own_host_header("evil.example", "myhub"));
  CHECK_FALSE(is_own_host_header("evil.example:443", ""));
  CHECK_FALSE(is_own_host_header("localhost.evil.example", ""));
  CHECK_FALSE(is_own_host_header("10.0.0.1", ""));
  CHECK_FALSE(is_own_host_header("[::1", ""));
  CHECK_FALSE(is_own_host_header("", ""));
  CHECK_FALSE(is_own_host_header(":443", ""));
}
