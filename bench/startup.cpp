// startup: time from exec to the ready file, and idle RSS, over N runs (medians).
//
// The first run uses an empty data directory (it creates the development CA and server
// certificate and a new database file) and is reported on its own. Then N runs with
// --in-memory and N runs with the database file, both reusing the certificates. The ready file is
// watched with inotify (no polling), from just before fork() to the file's rename. Idle RSS is
// VmRSS after --idle-ms of idleness past the ready file.
//
// Options: --runs N [10]  --idle-ms MS [1000]  --emulator PATH  --work-dir DIR  --keep
#include <algorithm>
#include <csignal>
#include <iostream>
#include <thread>

#include "bench/common/util.hpp"

namespace {
using namespace bench;

struct sample {
  double ready_ms;
  long rss_kib;
};

sample one_run(const std::string& binary, const std::filesystem::path& dir, bool in_memory,
               int idle_ms) {
  emulator_options o;
  o.binary = binary;
  o.work_dir = dir;
  o.in_memory = in_memory;
  auto e = start_emulator(o);
  const double ms = std::chrono::duration<double, std::milli>(e.ready_at - e.process.started_at())
                        .count();
  std::this_thread::sleep_for(std::chrono::milliseconds(idle_ms));
  const long rss = rss_kib(e.process.pid());
  e.process.stop();
  return {ms, rss};
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const args a(argc, argv, {"--runs", "--idle-ms", "--emulator", "--work-dir"}, {"--keep"});
  const int runs = static_cast<int>(a.number("--runs", 10));
  const int idle_ms = static_cast<int>(a.number("--idle-ms", 1000));
  const std::string binary = a.text("--emulator", EMU_BENCH_EMULATOR);
  const auto work = a.text("--work-dir", "").empty()
                        ? make_temp_dir("startup")
                        : std::filesystem::path(a.text("--work-dir", ""));
  std::cout << "startup on " << machine_line() << "\n  " << runs << " runs per mode, idle RSS after "
            << idle_ms << " ms" << std::endl;

  const auto first = one_run(binary, work, false, idle_ms);
  std::cout << "  first start (creates CA, certificate, database): " << fmt(first.ready_ms, 1)
            << " ms, RSS " << first.rss_kib << " KiB" << std::endl;
  table t({"mode", "runs", "ready ms (median)", "ready ms (min)", "ready ms (max)",
           "idle RSS KiB (median)", "idle RSS MiB"});
  t.add({"first start, file (creates certs)", "1", fmt(first.ready_ms, 1), fmt(first.ready_ms, 1),
         fmt(first.ready_ms, 1), std::to_string(first.rss_kib), fmt(static_cast<double>(first.rss_kib) / 1024.0, 1)});
  double memory_median = 0, memory_rss = 0;
  for (const bool in_memory : {true, false}) {
    std::vector<double> ms, rss;
    for (int i = 0; i < runs; ++i) {
      const auto s = one_run(binary, work, in_memory, idle_ms);
      ms.push_back(s.ready_ms);
      rss.push_back(static_cast<double>(s.rss_kib));
    }
    const double med = median(ms), med_rss = median(rss);
    if (in_memory) {
      memory_median = med;
      memory_rss = med_rss;
    }
    t.add({in_memory ? "--in-memory" : "database file (restart)", std::to_string(runs), fmt(med, 1),
           fmt(*std::min_element(ms.begin(), ms.end()), 1),
           fmt(*std::max_element(ms.begin(), ms.end()), 1), fmt(med_rss),
           fmt(med_rss / 1024.0, 1)});
  }
  std::cout << "\n";
  t.print();
  std::cout << "\nSUMMARY startup: exec -> ready " << fmt(memory_median, 1)
            << " ms median in memory (target 200), idle RSS " << fmt(memory_rss / 1024.0, 1)
            << " MiB (target 30)" << std::endl;
  if (!a.flag("--keep")) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  }
  return 0;
}
