#include "emulator/core/partition_key.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace emu::core {

namespace {

constexpr std::uint32_t rotl(std::uint32_t x, int k) {
  return (x << k) | (x >> (32 - k));
}

/// Little-endian 32-bit word of `p[i..i+3]`.
std::uint32_t word(const std::string& p, std::size_t i) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(p[i + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(p[i + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(p[i + 3])) << 24;
}

std::uint32_t byte(const std::string& p, std::size_t i) {
  return static_cast<unsigned char>(p[i]);
}

/// Bob Jenkins' lookup3 `hashlittle2` with both seeds 0: returns c ^ b (the two 32-bit
/// results XORed, as the SDK does). Public-domain algorithm (burtleburtle.net/bob/c/lookup3.c).
std::uint32_t lookup3(const std::string& key) {
  std::uint32_t a = 0xdeadbeef + static_cast<std::uint32_t>(key.size());
  std::uint32_t b = a;
  std::uint32_t c = a;
  std::size_t i = 0;
  std::size_t left = key.size();
  while (left > 12) {
    a += word(key, i);
    b += word(key, i + 4);
    c += word(key, i + 8);
    // mix(a, b, c)
    a -= c;
    a ^= rotl(c, 4);
    c += b;
    b -= a;
    b ^= rotl(a, 6);
    a += c;
    c -= b;
    c ^= rotl(b, 8);
    b += a;
    a -= c;
    a ^= rotl(c, 16);
    c += b;
    b -= a;
    b ^= rotl(a, 19);
    a += c;
    c -= b;
    c ^= rotl(b, 4);
    b += a;
    i += 12;
    left -= 12;
  }
  // The last 1..12 bytes (the tail); an empty tail returns without the final mix.
  if (left == 0) return c ^ b;
  if (left >= 9) {
    a += word(key, i);
    b += word(key, i + 4);
    for (std::size_t k = 8; k < left; ++k) c += byte(key, i + k) << (8 * (k - 8));
  } else if (left >= 5) {
    a += word(key, i);
    for (std::size_t k = 4; k < left; ++k) b += byte(key, i + k) << (8 * (k - 4));
  } else {
    for (std::size_t k = 0; k < left; ++k) a += byte(key, i + k) << (8 * k);
  }
  // final(a, b, c)
  c ^= b;
  c -= rotl(b, 14);
  a ^= c;
  a -= rotl(c, 11);
  b ^= a;
  b -= rotl(a, 25);
  c ^= b;
  c -= rotl(b, 16);
  a ^= c;
  a -= rotl(c, 4);
  b ^= a;
  b -= rotl(a, 14);
  c ^= b;
  c -= rotl(b, 24);
  return c ^ b;
}

}  // namespace

int partition_of(std::string_view device_id, int partition_count) {
  const int n = std::clamp(partition_count, 1, 32);
  // The key is upper-cased byte-wise (ASCII) first: device ids are case-sensitive, but the
  // partition key is not.
  std::string key(device_id);
  for (auto& ch : key)
    if (ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 'a' + 'A');
  // 32767 logical partitions (the short range), then ranges of them onto n partitions: the
  // first `remaining` ranges are one wider.
  constexpr int logical_count = 32767;
  const auto truncated = static_cast<std::int16_t>(lookup3(key) & 0xffff);
  const int logical = std::abs(truncated % logical_count);
  const int short_width = logical_count / n;
  const int remaining = logical_count - n * short_width;
  const int long_width = short_width + 1;
  const int long_span = long_width * remaining;
  return logical < long_span ? logical / long_width
                             : remaining + (logical - long_span) / short_width;
}

}  // namespace emu::core
