#pragma once
/// How an HTTPS request reaches the hub without the hub executor doing HTTP work (issue 12):
/// the request is parsed on the front's I/O thread into a `hub_call` (a closure over plain
/// values), the executor runs only that call, which returns plain hub values (`hub_answer`),
/// and the answer is rendered to JSON back on the I/O thread.
///
///     auto p = prepare_registry(route, request);      // I/O thread: parse the body, or fail
///     hub_answer a = p.call(hub, now);                 // executor: auth + the hub operation
///     http_response r = render(route, a);              // I/O thread: JSON
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/ca_certificate.hpp"
#include "emulator/core/device.hpp"
#include "emulator/core/device_faults.hpp"
#include "emulator/core/device_presence.hpp"
#include "emulator/core/device_twin.hpp"
#include "emulator/core/device_twins.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/hub_faults.hpp"
#include "emulator/core/hub_statistics.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"
#include "emulator/core/twin_query.hpp"

namespace emu::core {
class hub;
}

namespace emu::https {

/// A device as the registry shows it: the identity and its queue length.
struct device_view {
  core::device device;
  int queued = 0;
  core::device_presence presence;
};
/// A module as the registry shows it (issue 16).
struct module_view {
  core::module_identity module;
  core::device_presence presence;
};
/// A twin with what the service JSON shows of its device (and, for a module twin, of the
/// module).
struct twin_view {
  core::device_twin twin;
  core::device device;
  int queued = 0;
  core::device_presence presence;
  std::optional<core::module_identity> module{};
};
/// A twin with its recent writes (test control).
struct twin_history_view {
  twin_view view;
  std::vector<core::twin_change> history;
};
/// The answer of a twin query (`POST /devices/query`): every twin, in device id order; the
/// front filters, counts and pages them (twin_query runs on the I/O thread).
struct twin_list {
  std::vector<twin_view> twins;
  std::shared_ptr<const core::twin_query> query;  // parsed on the I/O thread
  std::size_t offset = 0;                         // from x-ms-continuation
  std::size_t page_size = 100;                    // x-ms-max-item-count
};
/// Success without a body (204).
struct no_content {};
/// Success with `{}`.
struct empty_object {};
struct purged {
  std::string device_id;
  int count = 0;
};
/// GET /statistics/devices (Azure's RegistryStatistics).
struct registry_statistics {
  std::size_t total = 0, enabled = 0, disabled = 0;
};
/// GET /statistics/service (Azure's ServiceStatistics).
struct service_statistics {
  std::size_t connected = 0;
};
struct enqueued {
  std::uint64_t seq = 0;
};
struct feedback_state {
  std::vector<core::feedback_record> pending;
  std::vector<core::feedback_batch> batches;
};

/// The device API's C2D receive (GET …/messages/devicebound): the message now locked for the
/// device, or none (204).
struct c2d_received {
  std::optional<core::c2d_delivery> delivery;
};

/// A direct method call that waits for the device: the session answers when the hub's
/// event::method_result for `call_id` arrives, at the latest after `wait`.
struct method_pending {
  std::uint64_t call_id = 0;
  core::duration wait{};
};

/// One entry of a bulk identity operation that failed (Azure's DeviceRegistryOperationError).
struct bulk_error {
  std::string device_id;
  core::error error;
};
/// `POST /devices` (Azure's BulkRegistryOperationResult).
struct bulk_result {
  std::vector<bulk_error> errors;
};
/// A CA certificate (`with_code`: the answer of generateVerificationCode shows the code).
struct certificate_view {
  core::ca_certificate value;
  bool with_code = false;
};

/// One dashboard refresh (dashboard_api.hpp), shared: it is large and only read.
struct dashboard_view;

/// What a hub call returns: a hub error, or one of the plain values above.
using hub_answer =
    std::variant<core::error, device_view, std::vector<device_view>, no_content, empty_object,
                 purged, std::vector<core::c2d_message>, enqueued, feedback_state,
                 std::vector<core::telemetry_message>, twin_view, method_pending, twin_list,
                 twin_history_view, c2d_received, registry_statistics, service_statistics,
                 bulk_result, certificate_view, std::vector<core::ca_certificate>, module_view,
                 std::vector<module_view>, std::vector<core::fault_record>, core::hub_faults,
                 core::hub_statistics, std::shared_ptr<const dashboard_view>>;

/// The hub's part of one request; runs on the hub executor.
using hub_call = std::function<hub_answer(core::hub&, core::time_point now)>;

}  // namespace emu::https
