// jemalloc's options for the iothub-emulator executable, read by the library itself at its
// first allocation (linked only when EMU_JEMALLOC is on; see the top-level CMakeLists.txt).
//
// narenas:1: one arena instead of four per CPU. The I/O threads' allocations are served by
// their thread caches either way; with one arena an idle TLS device costs what it does with
// glibc (16.6 KiB, against 17.6 KiB with jemalloc's default arenas), and the durable C2D
// throughput is unchanged (bench/RESULTS.md, issue 19). MALLOC_CONF in the environment still
// overrides it.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
extern const char* malloc_conf;
const char* malloc_conf = "narenas:1";
}
