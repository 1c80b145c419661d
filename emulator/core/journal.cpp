#include "emulator/core/journal.hpp"

#include <map>
#include <optional>
#include <string>
#include <type_traits>

#include "emulator/core/identity_key.hpp"

namespace emu::core {

std::vector<state_change> journal::take_changes() {
  auto out = fold_changes(std::exchange(changes_, {}));
  if (dirty_) {
    out.push_back(change::put_counters{counters_});
    dirty_ = false;
  }
  return out;
}

namespace {

enum class row : std::uint8_t {
  device,
  message,
  record,
  batch,
  subscription,
  twin,
  partition,
  ca_certificate,
  module
};

/// The stored row a change writes, if it writes one row that a later change may supersede.
struct row_key {
  row kind;
  std::uint64_t number = 0;
  std::string name;
  friend auto operator<=>(const row_key&, const row_key&) = default;
};

std::optional<row_key> key_of(const state_change& c) {
  return std::visit(
      [](const auto& x) -> std::optional<row_key> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, change::put_device>)
          return row_key{row::device, 0, x.value.id};
        if constexpr (std::is_same_v<T, change::remove_device>)
          return row_key{row::device, 0, x.device_id};
        if constexpr (std::is_same_v<T, change::put_message>)
          return row_key{row::message, x.value.seq, {}};
        if constexpr (std::is_same_v<T, change::put_message_state>)
          return row_key{row::message, x.seq, {}};
        if constexpr (std::is_same_v<T, change::remove_message>)
          return row_key{row::message, x.seq, {}};
        if constexpr (std::is_same_v<T, change::put_feedback_record>)
          return row_key{row::record, x.value.id, {}};
        if constexpr (std::is_same_v<T, change::cut_feedback_batch>)
          return row_key{row::batch, x.value.id, {}};
        if constexpr (std::is_same_v<T, change::put_feedback_batch_state>)
          return row_key{row::batch, x.batch_id, {}};
        if constexpr (std::is_same_v<T, change::remove_feedback_batch>)
          return row_key{row::batch, x.batch_id, {}};
        if constexpr (std::is_same_v<T, change::put_subscription>)
          return row_key{row::subscription, 0, x.value.device_id};
        if constexpr (std::is_same_v<T, change::remove_subscription>)
          return row_key{row::subscription, 0, x.device_id};
        if constexpr (std::is_same_v<T, change::put_twin>)
          return row_key{row::twin, 0, x.value.device_id};
        if constexpr (std::is_same_v<T, change::put_module>)
          return row_key{row::module, 0, module_key(x.value.device_id, x.value.id)};
        if constexpr (std::is_same_v<T, change::remove_module>)
          return row_key{row::module, 0, module_key(x.device_id, x.module_id)};
        if constexpr (std::is_same_v<T, change::put_ca_certificate>)
          return row_key{row::ca_certificate, 0, x.value.name};
        if constexpr (std::is_same_v<T, change::remove_ca_certificate>)
          return row_key{row::ca_certificate, 0, x.name};
        if constexpr (std::is_same_v<T, change::put_partition_counters>)
          return row_key{row::partition, static_cast<std::uint64_t>(x.value.partition), {}};
        return std::nullopt;
      },
      c);
}

template <class T>
bool is(const std::optional<state_change>& c) {
  return c && std::holds_alternative<T>(*c);
}

}  // namespace

std::vector<state_change> fold_changes(std::vector<state_change> changes) {
  std::vector<std::optional<state_change>> out;
  out.reserve(changes.size());
  std::map<row_key, std::size_t> last;  // row -> index in `out` of its latest kept change

  for (auto& c : changes) {
    if (std::holds_alternative<change::clear_all>(c)) {
      out.clear();
      last.clear();
      out.emplace_back(std::move(c));
      continue;
    }
    const auto key = key_of(c);
    if (!key) {
      out.emplace_back(std::move(c));
      continue;
    }
    const auto it = last.find(*key);
    if (it != last.end()) {
      auto& earlier = out[it->second];
      // A state change folds into the full write earlier in the round, which keeps its place:
      // a cut's "the unbatched records up to id N" (state_store.hpp) is only right in the
      // order the hub cut its batches, so a cut must never move past a later cut.
      if (auto* state = std::get_if<change::put_message_state>(&c);
          state && is<change::put_message>(earlier)) {
        auto& merged = std::get<change::put_message>(*earlier);
        merged.value.state = state->state;
        merged.value.delivery_count = state->delivery_count;
        merged.value.lock_id = state->lock_id;
        merged.value.lock_expiry = state->lock_expiry;
        continue;
      }
      if (auto* bs = std::get_if<change::put_feedback_batch_state>(&c);
          bs && is<change::cut_feedback_batch>(earlier)) {
        auto& merged = std::get<change::cut_feedback_batch>(*earlier);
        merged.value.delivery_count = bs->delivery_count;
        merged.value.lock_id = bs->lock_id;
        merged.value.lock_expiry = bs->lock_expiry;
        continue;
      }
      if (!is<change::remove_device>(earlier) && !is<change::remove_module>(earlier) &&
          !is<change::cut_feedback_batch>(earlier)) {
        earlier.reset();  // superseded by `c`
      }
      // Otherwise both stay: a device or module removal cascades in the store, a cut moves
      // records.
    }
    last[*key] = out.size();
    out.emplace_back(std::move(c));
  }

  std::vector<state_change> folded;
  folded.reserve(out.size());
  for (auto& c : out)
    if (c) folded.push_back(std::move(*c));
  return folded;
}

}  // namespace emu::core
