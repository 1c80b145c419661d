// The partition of a device's telemetry (issue 14, next-capabilities §1.8).
//
// Expected values: produced by a scratch C program transcribing the Azure IoT C SDK's e2e
// reader (testtools/iothub_test/src/iothubtest.c: GetByteArray, ComputeHash,
// ResolvePartitionIndex), compiled with gcc on x86-64, for partition counts 1, 2, 4, 16, 32.
// The ids cover every lookup3 tail length 0..12, one and two full 12-byte blocks, letter case,
// '-', '.', '%' and non-ASCII bytes (which toupper leaves alone).
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
}

TEST_CASE("partition_of ignores letter case and stays in range") {
  CHECK(partition_of("MyDevice", 16) == partition_of("mydevice", 16));
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
