#pragma once
/// The schema ladder of the iothub-emulator database (`PRAGMA user_version`).
///
/// Step N turns version N-1 into version N; version 1 creates everything from an empty file.
/// `database` applies the missing steps in one transaction and refuses files newer than the
/// last step. To change the schema, append one entry to the ladder in schema.cpp (never edit a
/// released step) and adapt the statements in sqlite_store.cpp.
#include <span>

#include "storage/database.hpp"

namespace emu::storage {

/// The whole ladder, versions 1..N in order. Static storage; valid for the program's lifetime.
std::span<const migration> schema_ladder();

/// The version this build writes: the last step of the ladder.
int current_schema_version();

}  // namespace emu::storage
