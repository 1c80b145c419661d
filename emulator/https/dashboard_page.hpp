#pragma once
/// The dashboard page (emulator/https/dashboard/index.html), embedded in the binary at build
/// time: one self-contained HTML document (inline style and script, nothing from a CDN).
#include <string_view>

namespace emu::https {

std::string_view dashboard_page();

}  // namespace emu::https
