// crypto.hpp: base64, HMAC-SHA256 (RFC 4231), URL encoding, constant-time compare, keys.
#include <doctest/doctest.h>

#include <string>

#include "emulator/core/crypto.hpp"

using namespace emu::core;

namespace {

std::string to_hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

std::string repeat(unsigned char byte, std::size_t n) {
  return std::string(n, static_cast<char>(byte));
}

}  // namespace

TEST_CASE("base64: RFC 4648 test vectors encode and decode") {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& vector : vectors) {
    const std::string plain = vector.first;  // not a structured binding: CAPTURE needs a lambda
    const std::string encoded = vector.second;
    CAPTURE(plain);
    CHECK(base64_encode(plain) == encoded);
    const auto decoded = base64_decode(encoded);
    REQUIRE(decoded.has_value());
    CHECK(*decoded == plain);
  }
}

TEST_CASE("base64: round trip of every byte value and every length up to 70") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len <= 70; ++len) {
    const std::string slice = all.substr(len, len);
    const auto back = base64_decode(base64_encode(slice));
    REQUIRE(back.has_value());
    CHECK(*back == slice);
  }
  const auto back = base64_decode(base64_encode(all));
  REQUIRE(back.has_value());
  CHECK(*back == all);
  CHECK(base64_encode("\xfb\xff") == "+/8=");
}

TEST_CASE("base64: invalid input is refused") {
  const char* bad[] = {
      "Zg",         // missing padding
      "Zg=",        // wrong length
      "Zm9",        // wrong length
      "Z===",       // three padding characters
      "====",       // only padding
      "Zg==Zg==",   // padding in the middle
      "Z=g=",       // padding before data
      "AB=C",       // `=` inside the final quantum
      "Zm9v\n",     // whitespace
      " Zm9v",      // whitespace
      "Zm9v Zm9v",  // whitespace
      "Zm-_",       // URL-safe alphabet
      "Zm9*",       // not base64 at all
      "Zm9v\x80\x80\x80\x80",
  };
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(base64_decode(text).has_value());
  }
  CHECK_FALSE(base64_decode(std::string("Zg\0=", 4)).has_value());
}

TEST_CASE("HMAC-SHA256: RFC 4231 test cases 1-7") {
  struct tc {
    std::string key, data, hex;
  };
  const tc cases[] = {
      {repeat(0x0b, 20), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
      {"Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
      {repeat(0xaa, 20), repeat(0xdd, 50),
       "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
      {"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16"
       "\x17\x18\x19",
       repeat(0xcd, 50), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
      // Test case 5 specifies only the first 128 bits; the full digest is checked below.
      {repeat(0x0c, 20), "Test With Truncation",
       "a3b6167473100ee06e0c796c2955552bfa6f7c0a6a8aef8b93f860aab0cd20c5"},
      {repeat(0xaa, 131), "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
      {repeat(0xaa, 131),
       "This is a test using a larger than block-size key and a larger than block-size data. The "
       "key needs to be hashed before being used by the HMAC algorithm.",
       "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
  };
  int n = 1;
  for (const auto& c : cases) {
    CAPTURE(n);
    const std::string mac = hmac_sha256(c.key, c.data);
    CHECK(mac.size() == 32);
    CHECK(to_hex(mac) == c.hex);
    ++n;
  }
  CHECK(to_hex(hmac_sha256(repeat(0x0c, 20), "Test With Truncation")).substr(0, 32) ==
        "a3b6167473100ee06e0c796c2955552b");
}

TEST_CASE("HMAC-SHA256: empty key and empty message are allowed") {
  CHECK(to_hex(hmac_sha256("", "")) ==
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  CHECK(hmac_sha256(std::string_view{}, std::string_view{}).size() == 32);
}

TEST_CASE("url_encode: encodeURIComponent-strict with upper-case hex") {
  CHECK(url_encode("") == "");
  CHECK(url_encode("AZaz09-_.~") == "AZaz09-_.~");
  CHECK(url_encode("/") == "%2F");
  CHECK(url_encode("$") == "%24");
  CHECK(url_encode("+") == "%2B");
  CHECK(url_encode(" ") == "%20");
  CHECK(url_encode("=") == "%3D");
  CHECK(url_encode(":") == "%3A");
  CHECK(url_encode("!'()*") == "%21%27%28%29%2A");
  CHECK(url_encode("localhost/devices/dev 1+x") == "localhost%2Fdevices%2Fdev%201%2Bx");
  CHECK(url_encode("d\xc3\xa9v") == "d%C3%A9v");  // UTF-8 bytes, as encodeURIComponent
  CHECK(url_encode(std::string("a\0b", 3)) == "a%00b");
  CHECK(url_encode("\xff") == "%FF");
}

TEST_CASE("url_decode: escapes, `+` and malformed input") {
  CHECK(url_decode("") == std::string());
  CHECK(url_decode("a+b") == std::string("a+b"));  // `+` stays `+` (spec §4.3)
  CHECK(url_decode("%2F%2f") == std::string("//"));
  CHECK(url_decode("%24") == std::string("$"));
  CHECK(url_decode("%20") == std::string(" "));
  CHECK(url_decode("%2B") == std::string("+"));
  CHECK(url_decode("%00") == std::string("\0", 1));
  CHECK(url_decode("%C3%A9") == std::string("\xc3\xa9"));
  CHECK(url_decode("%252F") == std::string("%2F"));  // decodes once only
  const char* bad[] = {"%", "%2", "a%", "a%2", "%G0", "%0G", "%%20", "%-1", "% 2", "%2 "};
  for (const char* text : bad) {
    CAPTURE(text);
    CHECK_FALSE(url_decode(text).has_value());
  }
}

TEST_CASE("url_encode/url_decode round trip every byte") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  const auto back = url_decode(url_encode(all));
  REQUIRE(back.has_value());
  CHECK(*back == all);
}

TEST_CASE("constant_time_equal") {
  CHECK(constant_time_equal("", ""));
  CHECK(constant_time_equal("abc", "abc"));
  CHECK_FALSE(constant_time_equal("abc", "abd"));
  CHECK_FALSE(constant_time_equal("abc", "ab"));
  CHECK_FALSE(constant_time_equal("", "a"));
  CHECK_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST_CASE("random_key_base64: 32 random bytes, base64") {
  const std::string a = random_key_base64();
  const std::string b = random_key_base64();
  CHECK(a.size() == 44);
  CHECK(a.back() == '=');
  const auto decoded = base64_decode(a);
  REQUIRE(decoded.has_value());
  CHECK(decoded->size() == 32);
  CHECK(a != b);
}
