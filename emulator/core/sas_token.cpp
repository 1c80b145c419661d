#include "emulator/core/sas_token.hpp"

#include "emulator/core/ascii.hpp"

#include <limits>

#include "emulator/core/crypto.hpp"

namespace emu::core {

namespace {

constexpr std::string_view kPrefix = "SharedAccessSignature ";

error invalid(std::string reason) {
  return error{hub_error::argument_invalid, std::move(reason)};
}

// `se` is a plain non-negative decimal (spec §5.1). No sign, no fraction, no exponent, and it
// must fit in int64 (a millisecond timestamp still does; it is then simply far in the future).
std::optional<std::int64_t> parse_expiry(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const int digit = c - '0';
    if (value > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

}  // namespace

result<sas_token> parse_sas_token(std::string_view text) {
  // The prefix is matched exactly, with the single space (spec §5.1, CS-SAS Parse).
  if (text.substr(0, kPrefix.size()) != kPrefix) {
    return invalid("SAS token must start with 'SharedAccessSignature '");
  }
  std::string_view fields = text.substr(kPrefix.size());
  if (fields.empty()) return invalid("SAS token has no fields");

  sas_token token;
  bool have_sr = false, have_sig = false, have_se = false, have_skn = false;
  std::string_view raw_sr, raw_sig, raw_se, raw_skn;

  while (!fields.empty()) {
    const std::size_t amp = fields.find('&');
    const std::string_view field = fields.substr(0, amp);
    fields = amp == std::string_view::npos ? std::string_view{} : fields.substr(amp + 1);
    if (field.empty()) continue;  // tolerate `&&` and a trailing `&`

    // Split at the first `=`: a signature that was not URL-encoded still ends in `=`.
    const std::size_t eq = field.find('=');
    if (eq == std::string_view::npos) return invalid("SAS token field without '='");
    const std::string_view name = field.substr(0, eq);
    const std::string_view value = field.substr(eq + 1);

    // Field names are case-insensitive (spec §5.1); unknown fields are ignored, as the SDK
    // parsers do.
    auto take = [&](bool& seen, std::string_view& slot) -> bool {
      if (seen) return false;
      seen = true;
      slot = value;
      return true;
    };
    if (iequals(name, "sr")) {
      if (!take(have_sr, raw_sr)) return invalid("SAS token has a duplicate 'sr' field");
    } else if (iequals(name, "sig")) {
      if (!take(have_sig, raw_sig)) return invalid("SAS token has a duplicate 'sig' field");
    } else if (iequals(name, "se")) {
      if (!take(have_se, raw_se)) return invalid("SAS token has a duplicate 'se' field");
    } else if (iequals(name, "skn")) {
      if (!take(have_skn, raw_skn)) return invalid("SAS token has a duplicate 'skn' field");
    }
  }

  if (!have_sr || raw_sr.empty()) return invalid("SAS token is missing 'sr'");
  if (!have_sig || raw_sig.empty()) return invalid("SAS token is missing 'sig'");
  if (!have_se) return invalid("SAS token is missing 'se'");

  token.resource_uri_raw = std::string(raw_sr);
  auto sr = url_decode(raw_sr);
  if (!sr) return invalid("SAS token 'sr' has a malformed %-escape");
  token.resource_uri = std::move(*sr);

  auto sig = url_decode(raw_sig);
  if (!sig) return invalid("SAS token 'sig' has a malformed %-escape");
  token.signature = std::move(*sig);

  const auto expiry = parse_expiry(raw_se);
  if (!expiry) return invalid("SAS token 'se' is not a non-negative integer");
  token.expiry = *expiry;

  if (have_skn) {
    auto skn = url_decode(raw_skn);
    if (!skn) return invalid("SAS token 'skn' has a malformed %-escape");
    token.key_name = std::move(*skn);
  }
  return token;
}

bool signature_matches(const sas_token& token, std::string_view base64_key) {
  const auto key = base64_decode(base64_key);
  if (!key || key->empty()) return false;
  // Spec §5.1: sign `sr` exactly as it appears in the token (escape case preserved). `se` is
  // re-rendered from the integer, so a token written with leading zeros in `se` (no SDK does
  // that) fails here rather than verifying with a different expiry than it signed.
  const std::string string_to_sign = token.resource_uri_raw + "\n" + std::to_string(token.expiry);
  const std::string expected = base64_encode(hmac_sha256(*key, string_to_sign));
  return constant_time_equal(expected, token.signature);
}

bool signature_matches_text_key(const sas_token& token, std::string_view key_text) {
  if (key_text.empty()) return false;
  const std::string string_to_sign = token.resource_uri_raw + "\n" + std::to_string(token.expiry);
  const std::string expected = base64_encode(hmac_sha256(key_text, string_to_sign));
  return constant_time_equal(expected, token.signature);
}

std::string make_sas_token(std::string_view resource_uri, std::string_view base64_key,
                           std::string_view key_name, std::int64_t expiry) {
  // An undecodable key signs with no key bytes: the token then verifies against no real key,
  // which is the safe outcome for a caller that passed garbage.
  const std::string key = base64_decode(base64_key).value_or(std::string{});
  const std::string sr = url_encode(resource_uri);
  const std::string se = std::to_string(expiry);
  std::string token = std::string(kPrefix);
  token += "sr=" + sr;
  token += "&sig=" + url_encode(base64_encode(hmac_sha256(key, sr + "\n" + se)));
  // Node's toString order is sr, sig, skn, se (sdk-wire §1.3, §2.3).
  if (!key_name.empty()) token += "&skn=" + url_encode(key_name);
  token += "&se=" + se;
  return token;
}

bool resource_covers(std::string_view scope, std::string_view target) {
  while (!scope.empty() && scope.back() == '/') scope.remove_suffix(1);
  if (scope.empty()) return false;
  if (target.size() < scope.size()) return false;
  if (!iequals(scope, target.substr(0, scope.size()))) return false;
  // Segment-wise prefix (spec §5.2): the match must end at a segment boundary.
  return target.size() == scope.size() || target[scope.size()] == '/';
}

std::string describe_token(std::string_view token) {
  const auto t = parse_sas_token(token);
  if (!t) return "(not a SAS token)";
  std::string out = "sr=" + t->resource_uri;
  if (!t->key_name.empty()) out += " skn=" + t->key_name;
  out += " se=" + std::to_string(t->expiry);
  return out;
}

}  // namespace emu::core
