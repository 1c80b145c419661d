#pragma once
/// Small checks on untrusted text: is a byte string valid UTF-8 (to show a C2D body as text in
/// test control), is a peer address loopback (test control is served to loopback peers only).
#include <string_view>

namespace emu::https {

/// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view bytes);

/// True for 127.0.0.0/8, ::1 and IPv4-mapped ::ffff:127.x.y.z, as printed by inet_ntop (the
/// peer address of an HTTPS connection). Anything unparsable is not loopback.
bool is_loopback_address(std::string_view address);

/// True when a request's `Host` field names this machine (`localhost`, `*.localhost`, a
/// loopback address, with or without a port) or the hub's own host name: the dashboard trusts
/// a loopback peer only then, so a page of another site that made its name resolve to
/// 127.0.0.1 (DNS rebinding) is not trusted.
bool is_own_host_header(std::string_view host, std::string_view hub_host);

}  // namespace emu::https
