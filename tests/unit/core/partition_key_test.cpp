// The partition of a device's telemetry (issue 14, next-capabilities §1.8).
//
// Expected values: produced outside the repository by the Azure IoT C SDK's own code: the
// functions ConvertToUnsignedInt, GetByteArray, ComputeHash and ResolvePartitionIndex copied
// unchanged from azure-iot-sdk-c testtools/iothub_test/src/iothubtest.c (commit c86b2d6a) into
// a scratch C file, compiled with gcc -std=c11 on x86-64 (glibc, "C" locale), called for
// partition counts 1, 2, 4, 16, 32. The same program agreed with partition_of on 300,000 random
// ids (0..79 bytes, any non-NUL byte) for every count 1..32.
// The ids cover every lookup3 tail length 0..12, one, two and ten full 12-byte blocks (128 is
// the longest device id), letter case, '-', '.', '%', the other punctuation device ids allow,
// and non-ASCII bytes (which toupper leaves alone).
#include <doctest/doctest.h>

#include <string>

#include "emulator/core/partition_key.hpp"

using emu::core::partition_of;

namespace {

struct known_partition {
  const char* id;
  int expected[5];  // for 1, 2, 4, 16, 32 partitions
};

const known_partition vectors[] = {
    {"", {0, 0, 0, 0, 0}},
    {"a", {0, 0, 1, 4, 9}},
    {"myDevice", {0, 0, 0, 3, 6}},
    {"MYDEVICE", {0, 0, 0, 3, 6}},
    {"dev1", {0, 1, 2, 9, 18}},
    {"dev2", {0, 0, 1, 7, 14}},
    {"dev3", {0, 0, 1, 5, 11}},
    {"simulated-device", {0, 1, 2, 8, 17}},
    {"device.with.dots", {0, 1, 3, 12, 24}},
    {"id%with%percent", {0, 1, 2, 9, 19}},
    {"abcdefghijk", {0, 1, 3, 14, 28}},
    {"abcdefghijkl", {0, 1, 2, 11, 22}},
    {"abcdefghijklm", {0, 0, 0, 0, 1}},
    {"0123456789abcdefghijklmnopqrstuvwxyz", {0, 0, 1, 7, 14}},
    {"eh-dev", {0, 0, 1, 5, 11}},
    {"ab", {0, 0, 0, 1, 2}},
    {"abc", {0, 0, 0, 2, 4}},
    {"abcde", {0, 0, 0, 0, 1}},
    {"abcdefg", {0, 1, 3, 12, 24}},
    {"abcdefghi", {0, 1, 3, 14, 29}},
    {"abcdefghij", {0, 0, 1, 6, 12}},
    {"\xc3\xa9t\xc3\xa9", {0, 1, 3, 15, 30}},
    {"DEV1", {0, 1, 2, 9, 18}},
    {"Dev1", {0, 1, 2, 9, 18}},
    {"device_1", {0, 0, 1, 6, 12}},
    {"a:b@c$d'e(f)g,h=i*j!k", {0, 1, 3, 12, 25}},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZ", {0, 1, 2, 11, 23}},
    {"abcdefghijklmnopqrstuvwxyz", {0, 1, 2, 11, 23}},
    {"LongDevice-0123456789.LongDevice-0123456789.LongDevice-0123456789.LongDevice-0123456789."
     "LongDevice-0123456789.LongDevice-0123456",
     {0, 1, 3, 13, 27}},
};

}  // namespace

TEST_CASE("partition_of matches the C SDK e2e reader's ResolvePartitionIndex") {
  const int counts[] = {1, 2, 4, 16, 32};
  for (const auto& v : vectors) {
    for (int i = 0; i < 5; ++i) {
      INFO("device '" << v.id << "', " << counts[i] << " partitions");
      CHECK(partition_of(v.id, counts[i]) == v.expected[i]);
    }
  }
  const std::string longest(128, 'x');  // 128 bytes: ten full blocks and an 8-byte tail
  const int expected[5] = {0, 1, 3, 12, 25};
  for (int i = 0; i < 5; ++i) CHECK(partition_of(longest, counts[i]) == expected[i]);
}

TEST_CASE("partition_of ignores letter case and stays in range") {
  CHECK(partition_of("MyDevice", 16) == partition_of("mydevice", 16));
  for (int n = 1; n <= 32; ++n) {
    CHECK(partition_of("Simulated-Device.01", n) == partition_of("SIMULATED-DEVICE.01", n));
    CHECK(partition_of("Simulated-Device.01", n) == partition_of("simulated-device.01", n));
  }
  for (int n = 1; n <= 32; ++n) {
    for (int i = 0; i < 200; ++i) {
      const int p = partition_of("device-" + std::to_string(i), n);
      CHECK(p >= 0);
      CHECK(p < n);
    }
  }
}

TEST_CASE("partition_of spreads devices over the partitions") {
  int seen[4] = {};
  for (int i = 0; i < 400; ++i) ++seen[partition_of("d" + std::to_string(i), 4)];
  for (const int s : seen) CHECK(s > 50);
}

TEST_CASE("partition_of clamps a partition count outside 1..32") {
  CHECK(partition_of("dev1", 0) == 0);
  CHECK(partition_of("dev1", -5) == 0);
  CHECK(partition_of("dev1", 33) == partition_of("dev1", 32));
  CHECK(partition_of("dev1", 1000) == partition_of("dev1", 32));
}
