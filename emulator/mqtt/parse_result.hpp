#pragma once
/// A value or an error enum, for parsers of untrusted text that must not throw.
/// (std::expected is C++23; this is the small subset the MQTT layer needs.)
#include <utility>
#include <variant>

namespace emu::mqtt {

template <class T, class E>
class parse_result {
 public:
  parse_result(T value) : v_(std::move(value)) {}
  parse_result(E error) : v_(error) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }

  /// The error; only meaningful when !ok().
  E error() const { return ok() ? E{} : std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace emu::mqtt
