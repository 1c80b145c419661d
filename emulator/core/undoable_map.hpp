#pragma once
/// A map of the hub's volatile state (device sessions, feedback receivers: what exists only
/// while connections exist and is never stored) that can be put back as it was at the last
/// commit. The hub executor commits every round; when a commit fails, the stored state is
/// reloaded and the volatile state must go back to the same moment, or a session could
/// point at locks that no longer exist (hub::round_failed).
///
/// Cost: the first change of an entry in a round copies its old value; nothing else.
///
/// Thread safety: none; part of the hub.
#include <map>
#include <optional>
#include <utility>

namespace emu::core {

template <class K, class V>
class undoable_map {
 public:
  using map_type = std::map<K, V, std::less<>>;

  const map_type& entries() const { return map_; }

  template <class Key>
  const V* find(const Key& key) const {
    const auto it = map_.find(key);
    return it == map_.end() ? nullptr : &it->second;
  }
  /// The entry, for changing it (its old value is kept until commit()); null if absent.
  template <class Key>
  V* modify(const Key& key) {
    const auto it = map_.find(key);
    if (it == map_.end()) return nullptr;
    remember(it->first, it->second);
    return &it->second;
  }
  /// Inserts or replaces.
  V& put(const K& key, V value) {
    const auto it = map_.find(key);
    if (it == map_.end()) {
      remember(key, std::nullopt);
      return map_.emplace(key, std::move(value)).first->second;
    }
    remember(key, it->second);
    it->second = std::move(value);
    return it->second;
  }
  template <class Key>
  void erase(const Key& key) {
    const auto it = map_.find(key);
    if (it == map_.end()) return;
    remember(it->first, it->second);
    map_.erase(it);
  }
  void clear() {
    for (const auto& [k, v] : map_) remember(k, v);
    map_.clear();
  }

  /// The current entries are the committed ones from now on.
  void commit() { undo_.clear(); }
  /// Back to the entries of the last commit().
  void rollback() {
    for (auto& [k, old] : undo_) {
      if (old) {
        map_.insert_or_assign(k, std::move(*old));
      } else {
        map_.erase(k);
      }
    }
    undo_.clear();
  }

 private:
  void remember(const K& key, std::optional<V> old) {
    undo_.try_emplace(key, std::move(old));  // only the first change of a round counts
  }

  map_type map_;
  std::map<K, std::optional<V>, std::less<>> undo_;
};

}  // namespace emu::core
