#pragma once
/// The one result type of the emulator: a value, or the error that stands in its place.
/// (std::expected is C++23; this is the subset we need.) Used by the hub (`core::result<T>`,
/// with `core::error`), the parsers of untrusted text (MQTT user names and property bags, with
/// an error enum) and the AMQP message decoder (with the AMQP error to send).
///
///     result<int, std::string> r = parse(...);
///     if (!r) return r.error();
///     use(*r);
#include <type_traits>
#include <utility>
#include <variant>

namespace emu {

/// Wraps an error value so that result<T, E> can be built from it even when T and E are the
/// same type or convertible (result<std::string, std::string>{failure("…")}).
template <class E>
struct failure {
  E value;
};
template <class E>
failure(E) -> failure<E>;

template <class T, class E>
class result {
 public:
  using value_type = T;
  using error_type = E;

  result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  template <class U = E, std::enable_if_t<!std::is_convertible_v<U, T>, int> = 0>
  result(E error) : v_(std::in_place_index<1>, std::move(error)) {}
  template <class F>
  result(failure<F> f) : v_(std::in_place_index<1>, E(std::move(f.value))) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::get<0>(std::move(v_)); }

  /// The error; only when !ok().
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

/// The value of a result<ok_t, E>: success without a value.
struct ok_t {
  friend bool operator==(ok_t, ok_t) = default;
};

}  // namespace emu
