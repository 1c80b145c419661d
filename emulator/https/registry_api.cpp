#include "emulator/https/registry_api.hpp"

#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "emulator/core/identity_key.hpp"
#include "emulator/https/device_json.hpp"
#include "emulator/https/error_response.hpp"
#include "emulator/https/method_json.hpp"
#include "emulator/https/twin_json.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;

http_response device_response(const device_view& v) {
  http_response r = json_response(device_json(v.device, v.queued, v.presence));
  // C# treats the header as authoritative (spec §7); weak ETag quoted per RFC 7232.
  r.headers.emplace_back("ETag", "\"" + v.device.etag + "\"");
  return r;
}

device_view view_of(const core::hub& hub, const core::device& d) {
  return device_view{d, hub.queued_count(d.id), hub.presence(d.id)};
}

}  // namespace

core::permission required_permission(route_kind k) {
  switch (k) {
    case route_kind::list_devices:
    case route_kind::get_device:
    case route_kind::list_modules:
    case route_kind::get_module:
    case route_kind::list_certificates:
    case route_kind::get_certificate:
    case route_kind::get_twin:
    case route_kind::query_twins:
    case route_kind::registry_statistics:
      return core::permission::registry_read;
    case route_kind::service_statistics:
      return core::permission::service_connect;
    case route_kind::update_twin:
    case route_kind::replace_twin:
    case route_kind::invoke_method:
      // SAS-DOC: ServiceConnect covers "twin desired/tags" and direct methods (spec §5.3).
      return core::permission::service_connect;
    case route_kind::put_device:
    case route_kind::delete_device:
    case route_kind::put_module:
    case route_kind::delete_module:
      return core::permission::registry_write;
    case route_kind::purge_queue:
      return core::permission::service_connect;
    default:
      return core::permission::registry_write;
  }
}

std::optional<core::throttled_operation> throttled_as(route_kind k) {
  switch (k) {
    case route_kind::list_devices:
    case route_kind::get_device:
    case route_kind::put_device:
    case route_kind::delete_device:
    case route_kind::bulk_devices:
    case route_kind::list_modules:
    case route_kind::get_module:
    case route_kind::put_module:
    case route_kind::delete_module:
    case route_kind::registry_statistics:
      return core::throttled_operation::registry;
    case route_kind::get_twin:
    case route_kind::query_twins:
      return core::throttled_operation::twin_read;
    case route_kind::update_twin:
    case route_kind::replace_twin:
      return core::throttled_operation::twin_update;
    default:
      // Method invocations are counted by the hub (hub::invoke_method); purge, statistics of
      // the service and CA certificates (ARM on Azure) have no IoT Hub throttle.
      return std::nullopt;
  }
}

namespace {

/// One entry of a bulk identity request (Azure's ExportImportDevice), parsed on the I/O thread.
enum class import_mode {
  create,
  create_or_update,
  create_or_update_if_match_etag,
  update,
  update_if_match_etag,
  remove,
  remove_if_match_etag,
};
struct bulk_entry {
  std::string id;
  import_mode mode = import_mode::create_or_update;
  std::string etag;
  core::result<core::device_spec> spec = core::error{core::hub_error::argument_invalid, ""};
};

/// Azure's importMode names, compared without case (the Node SDK writes `create`,
/// `Update`, `UpdateIfMatchETag`, `Delete`, `DeleteIfMatchETag`).
std::optional<import_mode> parse_import_mode(std::string_view text) {
  static constexpr std::pair<std::string_view, import_mode> names[] = {
      {"create", import_mode::create},
      {"createorupdate", import_mode::create_or_update},
      {"createorupdateifmatchetag", import_mode::create_or_update_if_match_etag},
      {"update", import_mode::update},
      {"updateifmatchetag", import_mode::update_if_match_etag},
      {"delete", import_mode::remove},
      {"deleteifmatchetag", import_mode::remove_if_match_etag},
  };
  std::string lower;
  for (const char c : text)
    lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  for (const auto& [name, mode] : names)
    if (lower == name) return mode;
  return std::nullopt;
}

/// `POST /devices`: a JSON array of 1..100 ExportImportDevice objects. The request fails as a
/// whole only when the body is not such an array; a bad entry becomes that entry's error.
core::result<std::vector<bulk_entry>> parse_bulk_request(std::string_view body) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_array())
    return core::error{core::hub_error::argument_invalid,
                       "The body must be a JSON array of devices with an importMode."};
  // REST-BULK: at most 100 devices per call.
  if (doc.empty() || doc.size() > 100)
    return core::error{
        core::hub_error::argument_invalid,
        "A bulk operation names 1 to 100 devices, not " + std::to_string(doc.size()) + "."};
  std::vector<bulk_entry> out;
  for (const auto& item : doc) {
    bulk_entry e;
    if (item.is_object() && item.contains("id") && item["id"].is_string())
      e.id = item["id"].get<std::string>();
    const auto mode_it = item.is_object() ? item.find("importMode") : item.end();
    const auto mode = mode_it != item.end() && mode_it->is_string()
                          ? parse_import_mode(mode_it->get<std::string>())
                          : std::optional<import_mode>(import_mode::create_or_update);
    if (!mode) {
      e.spec = core::error{core::hub_error::argument_invalid,
                           "importMode must be create, createOrUpdate, "
                           "createOrUpdateIfMatchETag, update, updateIfMatchETag, delete or "
                           "deleteIfMatchETag (the twin modes are not supported)."};
      out.push_back(std::move(e));
      continue;
    }
    e.mode = *mode;
    if (item.is_object() && item.contains("eTag") && item["eTag"].is_string())
      e.etag = if_match_etag(item["eTag"].get<std::string>());
    e.spec = parse_device_object(item, "id", "");
    out.push_back(std::move(e));
  }
  return out;
}

/// Applies one entry; its error, if any.
std::optional<core::error> apply_bulk_entry(core::hub& hub, const bulk_entry& e,
                                            core::time_point now) {
  if (!e.spec) return e.spec.error();
  const core::device_spec& spec = *e.spec;
  const bool exists = hub.find_device(spec.id) != nullptr;
  const auto outcome = [](core::result<core::device> r) -> std::optional<core::error> {
    if (!r) return r.error();
    return std::nullopt;
  };
  switch (e.mode) {
    case import_mode::create:
      return outcome(hub.create_device(spec, now));
    case import_mode::create_or_update:
      return outcome(exists ? hub.update_device(spec, "*", now) : hub.create_device(spec, now));
    case import_mode::create_or_update_if_match_etag:
      if (!exists) return outcome(hub.create_device(spec, now));
      [[fallthrough]];
    case import_mode::update_if_match_etag:
      if (e.etag.empty())
        return core::error{core::hub_error::precondition_failed,
                           "The entry has no eTag for an IfMatchETag import mode."};
      return outcome(hub.update_device(spec, e.etag, now));
    case import_mode::update:
      return outcome(hub.update_device(spec, "*", now));
    case import_mode::remove:
    case import_mode::remove_if_match_etag: {
      if (e.mode == import_mode::remove_if_match_etag && e.etag.empty())
        return core::error{core::hub_error::precondition_failed,
                           "The entry has no eTag for an IfMatchETag import mode."};
      const auto done =
          hub.delete_device(spec.id, e.mode == import_mode::remove ? "*" : e.etag, now);
      if (!done) return done.error();
      return std::nullopt;
    }
  }
  return std::nullopt;
}

/// `?top=N` of `GET /devices` (1..1000); 1000 when absent, nullopt when malformed.
std::optional<std::size_t> parse_top(std::string_view target) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return 1000;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    if (item.starts_with("top=")) {
      const auto digits = item.substr(4);
      if (digits.empty() || digits.size() > 4) return std::nullopt;
      std::size_t n = 0;
      for (const char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + static_cast<std::size_t>(c - '0');
      }
      if (n == 0 || n > 1000) return std::nullopt;
      return n;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return 1000;
}

/// A certificate upload (ARM's CertificateDescription body: `{"properties": {"certificate":
/// "…", "isVerified": bool}}`) or a proof (`{"certificate": "…"}`).
struct certificate_body {
  std::string certificate;
  bool verified = false;
};
core::result<certificate_body> parse_certificate_body(std::string_view body, bool proof) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  const json* holder = &doc;
  if (!doc.is_discarded() && doc.is_object() && !proof && doc.contains("properties"))
    holder = &doc["properties"];
  if (doc.is_discarded() || !holder->is_object() || !holder->contains("certificate") ||
      !(*holder)["certificate"].is_string())
    return core::error{core::hub_error::argument_invalid,
                       proof ? "The body must be {\"certificate\": \"<PEM or base64 DER>\"}."
                             : "The body must be {\"properties\": {\"certificate\": \"<PEM "
                               "or base64 DER>\", \"isVerified\": false}}."};
  certificate_body out;
  out.certificate = (*holder)["certificate"].get<std::string>();
  if (const auto v = holder->find("isVerified"); v != holder->end() && v->is_boolean())
    out.verified = v->get<bool>();
  return out;
}

json certificate_json(const certificate_view& v) {
  const core::ca_certificate& c = v.value;
  json properties = {
      {"subject", c.subject},
      {"expiry", core::to_iso8601(c.not_after)},
      {"thumbprint", c.thumbprint},
      {"isVerified", c.verified},
      {"created", core::to_iso8601(c.created)},
      {"updated", core::to_iso8601(c.updated)},
      {"certificate", c.pem},
  };
  if (v.with_code) properties["verificationCode"] = c.verification_code;
  return json{{"properties", properties},
              {"id", "/certificates/" + c.name},
              {"name", c.name},
              {"etag", c.etag},
              {"type", "Microsoft.Devices/IotHubs/Certificates"}};
}

/// A `POST /devices/query` request: `{"query": "…"}` and the paging headers.
core::result<twin_list> parse_query_request(const http_request& request) {
  const json doc = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("query") || !doc["query"].is_string())
    return core::error{core::hub_error::argument_invalid,
                       "The body must be {\"query\": \"SELECT ...\"}."};
  auto q = core::twin_query::parse(doc["query"].get<std::string>());
  if (!q) return q.error();
  twin_list out;
  out.query = std::make_shared<const core::twin_query>(std::move(*q));
  // The continuation token is the offset of the next page (opaque to clients).
  const auto number = [](const std::string& text, std::size_t& value) {
    if (text.empty() || text.size() > 9) return false;
    value = 0;
    for (const char c : text) {
      if (c < '0' || c > '9') return false;
      value = value * 10 + static_cast<std::size_t>(c - '0');
    }
    return true;
  };
  if (!request.continuation.empty() && !number(request.continuation, out.offset))
    return core::error{core::hub_error::argument_invalid, "Invalid x-ms-continuation token."};
  if (!request.max_item_count.empty() && (!number(request.max_item_count, out.page_size) ||
                                          out.page_size == 0 || out.page_size > 1000))
    return core::error{core::hub_error::argument_invalid,
                       "x-ms-max-item-count must be between 1 and 1000."};
  return out;
}

/// Filters, counts or pages the twins (next-capabilities §2.5): a page of service twin JSON
/// with `x-ms-continuation` when more follow; COUNT() gives `[{"<alias>": n}]`.
http_response query_response(const twin_list& list) {
  json matched = json::array();
  std::size_t count = 0;
  for (const auto& v : list.twins) {
    json doc = twin_json(v.twin, v.device, v.queued, v.presence);
    if (!list.query->matches(doc)) continue;
    if (!list.query->is_count() && count >= list.offset && count < list.offset + list.page_size)
      matched.push_back(std::move(doc));
    ++count;
  }
  if (list.query->is_count())
    return json_response(json::array({json{{*list.query->count_alias(), count}}}));
  http_response r = json_response(matched);
  r.headers.emplace_back("x-ms-item-type", "Twin");
  if (list.offset + list.page_size < count)
    r.headers.emplace_back("x-ms-continuation", std::to_string(list.offset + list.page_size));
  return r;
}

}  // namespace

std::variant<http_response, hub_call> prepare_registry(const route& r,
                                                       const http_request& request) {
  if (request.authorization.empty())
    return error_response(401, "IotHubUnauthorizedAccess",
                          "The request has no Authorization header (SharedAccessSignature).");
  // Parsed here, on the I/O thread; the hub only sees the values.
  std::optional<core::result<core::device_spec>> spec;
  if (r.kind == route_kind::put_device) spec = parse_device_body(request.body, r.device_id);
  std::optional<core::result<core::module_spec>> module_spec;
  if (r.kind == route_kind::put_module)
    module_spec = parse_module_body(request.body, r.device_id, r.module_id);
  std::optional<core::result<core::twin_update>> twin_patch;
  if (r.kind == route_kind::update_twin) twin_patch = parse_twin_patch(request.body);
  std::optional<core::result<core::twin_replacement>> twin_doc;
  if (r.kind == route_kind::replace_twin) twin_doc = parse_twin_replacement(request.body);
  std::optional<core::result<core::method_call>> call;
  if (r.kind == route_kind::invoke_method) call = parse_method_invocation(request.body);
  std::optional<core::result<twin_list>> query;
  if (r.kind == route_kind::query_twins) query = parse_query_request(request);
  std::optional<core::result<std::vector<bulk_entry>>> bulk;
  if (r.kind == route_kind::bulk_devices) bulk = parse_bulk_request(request.body);
  std::optional<core::result<certificate_body>> cert;
  if (r.kind == route_kind::put_certificate || r.kind == route_kind::verify_certificate)
    cert = parse_certificate_body(request.body, r.kind == route_kind::verify_certificate);
  std::size_t top = 1000;
  if (r.kind == route_kind::list_devices) {
    const auto t = parse_top(request.target);
    if (!t) return error_response(400, "ArgumentInvalid", "top must be a number from 1 to 1000.");
    top = *t;
  }
  return hub_call{[r, token = request.authorization, if_match = if_match_etag(request.if_match),
                   create = request.if_match.empty(), spec = std::move(spec),
                   module_spec = std::move(module_spec), twin_patch = std::move(twin_patch),
                   twin_doc = std::move(twin_doc), call = std::move(call), query = std::move(query),
                   bulk = std::move(bulk), cert = std::move(cert),
                   top](core::hub& hub, core::time_point now) -> hub_answer {
    auto grant = hub.authenticate_service(token, required_permission(r.kind), now);
    // Reading a twin is a registry read and also part of ServiceConnect (SAS-DOC: back ends
    // "retrieve and update device twins" with ServiceConnect).
    if (!grant && (r.kind == route_kind::get_twin || r.kind == route_kind::query_twins))
      grant = hub.authenticate_service(token, core::permission::service_connect, now);
    if (!grant) return grant.error();
    if (const auto op = throttled_as(r.kind))
      if (auto throttled = hub.throttle(*op, now)) return std::move(*throttled);
    switch (r.kind) {
      case route_kind::list_devices: {
        std::vector<device_view> list;
        for (const auto& d : hub.list_devices()) {
          if (list.size() == top) break;
          list.push_back(view_of(hub, d));
        }
        return list;
      }
      case route_kind::bulk_devices: {
        if (!*bulk) return bulk->error();
        bulk_result out;
        for (const auto& e : **bulk)
          if (auto failed = apply_bulk_entry(hub, e, now))
            out.errors.push_back({e.spec ? e.spec->id : e.id, std::move(*failed)});
        return out;
      }
      case route_kind::list_certificates:
        return hub.certificates().list();
      case route_kind::get_certificate: {
        const core::ca_certificate* c = hub.certificates().find(r.certificate);
        if (c == nullptr)
          return core::error{core::hub_error::certificate_not_found,
                             "Certificate '" + r.certificate + "' not found."};
        return certificate_view{*c};
      }
      case route_kind::put_certificate: {
        if (!*cert) return cert->error();
        auto c = hub.put_ca_certificate(r.certificate, (*cert)->certificate, (*cert)->verified,
                                        if_match, now);
        if (!c) return c.error();
        return certificate_view{*c};
      }
      case route_kind::delete_certificate: {
        const auto done = hub.remove_ca_certificate(r.certificate, if_match, now);
        if (!done) return done.error();
        return no_content{};
      }
      case route_kind::certificate_verification_code: {
        auto c = hub.certificates().generate_verification_code(r.certificate, if_match, now);
        if (!c) return c.error();
        return certificate_view{*c, /*with_code=*/true};
      }
      case route_kind::verify_certificate: {
        if (!*cert) return cert->error();
        auto c = hub.certificates().verify(r.certificate, if_match, (*cert)->certificate, now);
        if (!c) return c.error();
        return certificate_view{*c};
      }
      case route_kind::get_device: {
        const core::device* d = hub.find_device(r.device_id);
        if (d == nullptr)
          return core::error{core::hub_error::device_not_found,
                             "Device " + r.device_id + " not found."};
        return view_of(hub, *d);
      }
      case route_kind::put_device: {
        if (!*spec) return spec->error();
        // Spec §7: no If-Match creates (409 if the id is taken); an If-Match updates.
        auto done = create ? hub.create_device(**spec, now)
                           : hub.update_device(**spec, if_match.empty() ? "*" : if_match, now);
        if (!done) return done.error();
        return view_of(hub, *done);
      }
      case route_kind::delete_device: {
        const auto deleted = hub.delete_device(r.device_id, if_match, now);
        if (!deleted) return deleted.error();
        return no_content{};
      }
      case route_kind::list_modules: {
        const auto modules = hub.modules_of(r.device_id);
        if (!modules) return modules.error();
        std::vector<module_view> out;
        for (const auto& m : *modules)
          out.push_back({m, hub.presence(core::module_key(m.device_id, m.id))});
        return out;
      }
      case route_kind::get_module: {
        const auto key = core::module_key(r.device_id, r.module_id);
        if (auto ok = hub.identity_exists(key); !ok) return ok.error();
        return module_view{*hub.find_module(r.device_id, r.module_id), hub.presence(key)};
      }
      case route_kind::put_module: {
        if (!*module_spec) return module_spec->error();
        // As for devices: no If-Match creates (409 if taken), an If-Match updates.
        auto done = create
                        ? hub.create_module(**module_spec, now)
                        : hub.update_module(**module_spec, if_match.empty() ? "*" : if_match, now);
        if (!done) return done.error();
        return module_view{*done, hub.presence(core::module_key(done->device_id, done->id))};
      }
      case route_kind::delete_module: {
        const auto deleted = hub.delete_module(r.device_id, r.module_id, if_match, now);
        if (!deleted) return deleted.error();
        return no_content{};
      }
      case route_kind::registry_statistics: {
        registry_statistics st;
        for (const auto& d : hub.list_devices()) {
          ++st.total;
          ++(d.status == core::device_status::enabled ? st.enabled : st.disabled);
        }
        return st;
      }
      case route_kind::service_statistics: {
        service_statistics st;
        for (const auto& d : hub.list_devices())
          if (hub.presence(d.id).connected) ++st.connected;
        return st;
      }
      case route_kind::purge_queue: {
        const auto n = hub.purge(r.device_id, now);
        if (!n) return n.error();
        return purged{r.device_id, *n};
      }
      case route_kind::get_twin:
      case route_kind::update_twin:
      case route_kind::replace_twin: {
        core::result<core::device_twin> t = core::error{core::hub_error::server_error, ""};
        if (r.kind == route_kind::get_twin) {
          t = hub.twin(r.device_id);
        } else if (r.kind == route_kind::update_twin) {
          if (!*twin_patch) return twin_patch->error();
          t = hub.update_twin(r.device_id, **twin_patch, if_match, now);
        } else {
          if (!*twin_doc) return twin_doc->error();
          t = hub.replace_twin(r.device_id, **twin_doc, if_match, now);
        }
        if (!t) return t.error();
        const auto ref = core::split_identity(r.device_id);
        const core::device* d = hub.find_device(ref.device_id);
        if (d == nullptr) return core::error{core::hub_error::device_not_found, "Device gone."};
        std::optional<core::module_identity> module;
        if (ref.is_module()) {
          const core::module_identity* m = hub.find_module(ref.device_id, ref.module_id);
          if (m == nullptr) return core::error{core::hub_error::module_not_found, "Module gone."};
          module = *m;
        }
        return twin_view{std::move(*t), *d, ref.is_module() ? 0 : hub.queued_count(r.device_id),
                         hub.presence(r.device_id), std::move(module)};
      }
      case route_kind::query_twins: {
        // Copies of every twin, in device id order; filtering, counting and paging happen
        // on the I/O thread (query_response).
        if (!*query) return query->error();
        twin_list out = **query;
        for (const auto& d : hub.list_devices()) {
          auto t = hub.twin(d.id);
          if (t)
            out.twins.push_back({std::move(*t), d, hub.queued_count(d.id), hub.presence(d.id)});
        }
        return out;
      }
      case route_kind::invoke_method: {
        if (!*call) return call->error();
        const auto wait = (*call)->response_timeout + (*call)->connect_timeout;
        const auto id = hub.invoke_method(r.device_id, **call, now);
        if (!id) return id.error();
        return method_pending{*id, wait};
      }
      default:
        return core::error{core::hub_error::argument_invalid, "No such registry operation."};
    }
  }};
}

http_response render_registry(const hub_answer& a) {
  return std::visit(
      [](const auto& x) -> http_response {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, core::error>) {
          return error_response(x);
        } else if constexpr (std::is_same_v<T, device_view>) {
          return device_response(x);
        } else if constexpr (std::is_same_v<T, std::vector<device_view>>) {
          json list = json::array();
          for (const auto& v : x) list.push_back(device_json(v.device, v.queued, v.presence));
          return json_response(list);
        } else if constexpr (std::is_same_v<T, no_content>) {
          http_response ok;
          ok.status = 204;
          return ok;
        } else if constexpr (std::is_same_v<T, twin_view>) {
          http_response r = json_response(
              twin_json(x.twin, x.device, x.queued, x.presence, x.module ? &*x.module : nullptr));
          r.headers.emplace_back("ETag", "\"" + x.twin.etag + "\"");
          return r;
        } else if constexpr (std::is_same_v<T, twin_list>) {
          return query_response(x);
        } else if constexpr (std::is_same_v<T, registry_statistics>) {
          return json_response(json{{"totalDeviceCount", x.total},
                                    {"enabledDeviceCount", x.enabled},
                                    {"disabledDeviceCount", x.disabled}});
        } else if constexpr (std::is_same_v<T, service_statistics>) {
          return json_response(json{{"connectedDeviceCount", x.connected}});
        } else if constexpr (std::is_same_v<T, bulk_result>) {
          // Azure's BulkRegistryOperationResult; 400 when an entry failed (UNCONFIRMED: the
          // entries that succeeded stay applied, README "Identities").
          json errors = json::array();
          for (const auto& e : x.errors)
            errors.push_back(json{{"deviceId", e.device_id},
                                  {"errorCode", std::string(core::error_name(e.error.code))},
                                  {"errorStatus", e.error.message}});
          return json_response(json{{"isSuccessful", x.errors.empty()},
                                    {"errors", errors},
                                    {"warnings", json::array()}},
                               x.errors.empty() ? 200 : 400);
        } else if constexpr (std::is_same_v<T, certificate_view>) {
          http_response r = json_response(certificate_json(x));
          r.headers.emplace_back("ETag", "\"" + x.value.etag + "\"");
          return r;
        } else if constexpr (std::is_same_v<T, std::vector<core::ca_certificate>>) {
          json list = json::array();
          for (const auto& c : x) list.push_back(certificate_json(certificate_view{c}));
          return json_response(json{{"value", list}});
        } else if constexpr (std::is_same_v<T, module_view>) {
          http_response r = json_response(module_json(x.module, x.presence));
          r.headers.emplace_back("ETag", "\"" + x.module.etag + "\"");
          return r;
        } else if constexpr (std::is_same_v<T, std::vector<module_view>>) {
          json list = json::array();
          for (const auto& v : x) list.push_back(module_json(v.module, v.presence));
          return json_response(list);
        } else if constexpr (std::is_same_v<T, purged>) {
          return json_response(json{{"deviceId", x.device_id}, {"totalMessagesPurged", x.count}});
        } else {
          return error_response(500, "ServerError", "Unexpected answer of the hub.");
        }
      },
      a);
}

http_response handle_registry(core::hub& hub, core::time_point now, const route& r,
                              const http_request& request) {
  auto prepared = prepare_registry(r, request);
  if (auto* immediate = std::get_if<http_response>(&prepared)) return std::move(*immediate);
  return render_registry(std::get<hub_call>(prepared)(hub, now));
}

}  // namespace emu::https
