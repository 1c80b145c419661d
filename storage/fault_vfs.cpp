#include "storage/fault_vfs.hpp"

#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <stdexcept>

namespace emu::storage {

struct fault_vfs::state {
  std::string name;
  sqlite3_vfs vfs{};
  sqlite3_vfs* base = nullptr;
  std::atomic<int> failing_writes{0};
  std::atomic<int> failing_syncs{0};
};

namespace {

/// An open file of the shim: our header, then the base VFS's file object (szOsFile bytes).
struct shim_file {
  sqlite3_file header;  // must be first: SQLite sees a sqlite3_file*
  sqlite3_io_methods methods;
  fault_vfs::state* owner;
  bool is_wal;
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};

shim_file* shim(sqlite3_file* f) {
  return reinterpret_cast<shim_file*>(f);
}

/// Takes one failure from `counter` if any is left.
bool take(std::atomic<int>& counter) {
  int n = counter.load();
  while (n > 0) {
    if (counter.compare_exchange_weak(n, n - 1)) return true;
  }
  return false;
}

int shim_close(sqlite3_file* f) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods != nullptr ? r->pMethods->xClose(r) : SQLITE_OK;
}
int shim_read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xRead(r, buf, n, off);
}
int shim_write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  shim_file* s = shim(f);
  if (s->is_wal && take(s->owner->failing_writes)) return SQLITE_IOERR_WRITE;
  return s->real()->pMethods->xWrite(s->real(), buf, n, off);
}
int shim_truncate(sqlite3_file* f, sqlite3_int64 size) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xTruncate(r, size);
}
int shim_sync(sqlite3_file* f, int flags) {
  shim_file* s = shim(f);
  // The write reached the page cache; its fsync "fails" as EIO from fsync() would. SQLite
  // then treats the commit as failed and rolls it back (it never retries the fsync).
  if (s->is_wal && take(s->owner->failing_syncs)) return SQLITE_IOERR_FSYNC;
  return s->real()->pMethods->xSync(s->real(), flags);
}
int shim_file_size(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xFileSize(r, size);
}
int shim_lock(sqlite3_file* f, int level) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xLock(r, level);
}
int shim_unlock(sqlite3_file* f, int level) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xUnlock(r, level);
}
int shim_check_reserved(sqlite3_file* f, int* out) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xCheckReservedLock(r, out);
}
int shim_file_control(sqlite3_file* f, int op, void* arg) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xFileControl(r, op, arg);
}
int shim_sector_size(sqlite3_file* f) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xSectorSize(r);
}
int shim_device_characteristics(sqlite3_file* f) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xDeviceCharacteristics(r);
}
int shim_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xShmMap(r, page, size, extend, out);
}
int shim_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xShmLock(r, offset, n, flags);
}
void shim_shm_barrier(sqlite3_file* f) {
  sqlite3_file* r = shim(f)->real();
  r->pMethods->xShmBarrier(r);
}
int shim_shm_unmap(sqlite3_file* f, int delete_flag) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xShmUnmap(r, delete_flag);
}
int shim_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xFetch(r, off, n, out);
}
int shim_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  sqlite3_file* r = shim(f)->real();
  return r->pMethods->xUnfetch(r, off, p);
}

int shim_open(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  auto* owner = static_cast<fault_vfs::state*>(vfs->pAppData);
  shim_file* s = shim(f);
  s->owner = owner;
  s->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
  s->header.pMethods = nullptr;
  const int rc = owner->base->xOpen(owner->base, name, s->real(), flags, out_flags);
  const sqlite3_io_methods* base = s->real()->pMethods;
  if (base == nullptr) return rc;  // nothing to close: SQLite will not call xClose
  // The same method set as the base file's version, each forwarding to it.
  s->methods = sqlite3_io_methods{};
  s->methods.iVersion = base->iVersion;
  s->methods.xClose = shim_close;
  s->methods.xRead = shim_read;
  s->methods.xWrite = shim_write;
  s->methods.xTruncate = shim_truncate;
  s->methods.xSync = shim_sync;
  s->methods.xFileSize = shim_file_size;
  s->methods.xLock = shim_lock;
  s->methods.xUnlock = shim_unlock;
  s->methods.xCheckReservedLock = shim_check_reserved;
  s->methods.xFileControl = shim_file_control;
  s->methods.xSectorSize = shim_sector_size;
  s->methods.xDeviceCharacteristics = shim_device_characteristics;
  if (base->iVersion >= 2) {
    s->methods.xShmMap = base->xShmMap != nullptr ? shim_shm_map : nullptr;
    s->methods.xShmLock = base->xShmLock != nullptr ? shim_shm_lock : nullptr;
    s->methods.xShmBarrier = base->xShmBarrier != nullptr ? shim_shm_barrier : nullptr;
    s->methods.xShmUnmap = base->xShmUnmap != nullptr ? shim_shm_unmap : nullptr;
  }
  if (base->iVersion >= 3) {
    s->methods.xFetch = base->xFetch != nullptr ? shim_fetch : nullptr;
    s->methods.xUnfetch = base->xUnfetch != nullptr ? shim_unfetch : nullptr;
  }
  s->header.pMethods = &s->methods;
  return rc;
}

// The rest of the VFS is the base VFS's.
sqlite3_vfs* base_of(sqlite3_vfs* vfs) {
  return static_cast<fault_vfs::state*>(vfs->pAppData)->base;
}
int shim_delete(sqlite3_vfs* v, const char* name, int sync_dir) {
  return base_of(v)->xDelete(base_of(v), name, sync_dir);
}
int shim_access(sqlite3_vfs* v, const char* name, int flags, int* out) {
  return base_of(v)->xAccess(base_of(v), name, flags, out);
}
int shim_full_pathname(sqlite3_vfs* v, const char* name, int n, char* out) {
  return base_of(v)->xFullPathname(base_of(v), name, n, out);
}
void* shim_dl_open(sqlite3_vfs* v, const char* name) {
  return base_of(v)->xDlOpen(base_of(v), name);
}
void shim_dl_error(sqlite3_vfs* v, int n, char* out) {
  base_of(v)->xDlError(base_of(v), n, out);
}
void (*shim_dl_sym(sqlite3_vfs* v, void* lib, const char* sym))(void) {
  return base_of(v)->xDlSym(base_of(v), lib, sym);
}
void shim_dl_close(sqlite3_vfs* v, void* lib) {
  base_of(v)->xDlClose(base_of(v), lib);
}
int shim_randomness(sqlite3_vfs* v, int n, char* out) {
  return base_of(v)->xRandomness(base_of(v), n, out);
}
int shim_sleep(sqlite3_vfs* v, int us) {
  return base_of(v)->xSleep(base_of(v), us);
}
int shim_current_time(sqlite3_vfs* v, double* out) {
  return base_of(v)->xCurrentTime(base_of(v), out);
}
int shim_get_last_error(sqlite3_vfs* v, int n, char* out) {
  return base_of(v)->xGetLastError(base_of(v), n, out);
}
int shim_current_time_int64(sqlite3_vfs* v, sqlite3_int64* out) {
  return base_of(v)->xCurrentTimeInt64(base_of(v), out);
}

std::atomic<unsigned> next_id{0};

}  // namespace

fault_vfs::fault_vfs() : state_(std::make_unique<state>()) {
  sqlite3_initialize();
  state_->base = sqlite3_vfs_find(nullptr);
  if (state_->base == nullptr) throw std::runtime_error("SQLite has no default VFS");
  state_->name = "emu-faults-" + std::to_string(next_id.fetch_add(1));
  sqlite3_vfs& v = state_->vfs;
  const sqlite3_vfs& b = *state_->base;
  v.iVersion = b.iVersion >= 2 ? 2 : b.iVersion;  // version 3 (system calls) is not forwarded
  v.szOsFile = static_cast<int>(sizeof(shim_file)) + b.szOsFile;
  v.mxPathname = b.mxPathname;
  v.zName = state_->name.c_str();
  v.pAppData = state_.get();
  v.xOpen = shim_open;
  v.xDelete = shim_delete;
  v.xAccess = shim_access;
  v.xFullPathname = shim_full_pathname;
  v.xDlOpen = shim_dl_open;
  v.xDlError = shim_dl_error;
  v.xDlSym = shim_dl_sym;
  v.xDlClose = shim_dl_close;
  v.xRandomness = shim_randomness;
  v.xSleep = shim_sleep;
  v.xCurrentTime = shim_current_time;
  v.xGetLastError = shim_get_last_error;
  if (v.iVersion >= 2) v.xCurrentTimeInt64 = shim_current_time_int64;
  if (sqlite3_vfs_register(&v, 0) != SQLITE_OK)
    throw std::runtime_error("cannot register the SQLite fault VFS");
}

fault_vfs::~fault_vfs() {
  sqlite3_vfs_unregister(&state_->vfs);
}

const std::string& fault_vfs::name() const noexcept {
  return state_->name;
}

void fault_vfs::arm(core::storage_io_faults counts) noexcept {
  state_->failing_writes = counts.failing_writes;
  state_->failing_syncs = counts.failing_syncs;
}

core::storage_io_faults fault_vfs::remaining() const noexcept {
  return {state_->failing_writes.load(), state_->failing_syncs.load()};
}

}  // namespace emu::storage
