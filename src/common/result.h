// Errors as values. Every fallible call in migdra returns Result<T> (or Status, which is
// Result<void>) instead of throwing; exceptions never cross a module boundary.
//
// An Error carries a human-readable message and, when it is about user input, the path of the
// offending field in Kubernetes notation (`spec.devices.requests[0].exactly.count`), so that a
// caller can print `KIND/NAME: field.path: message` without parsing strings.
//
// Thread safety: values; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace migdra {

struct Error {
  std::string message;
  // Path of the field the error is about; empty when it is not about one field.
  std::string field;

  // "field: message", or just the message when field is empty.
  std::string ToString() const { return field.empty() ? message : field + ": " + message; }

  // Prefixes the field path with `parent` ("spec" + "devices" -> "spec.devices"; an index such
  // as "[0]" is appended without a dot).
  Error& Under(const std::string& parent) {
    if (parent.empty()) return *this;
    if (field.empty()) {
      field = parent;
    } else if (field.front() == '[') {
      field = parent + field;
    } else {
      field = parent + "." + field;
    }
    return *this;
  }
};

inline Error MakeError(std::string message, std::string field = {}) {
  return Error{std::move(message), std::move(field)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    assert(!ok());
    return std::get<1>(v_);
  }
  Error&& error() && {
    assert(!ok());
    return std::get<1>(std::move(v_));
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  const Error& error() const& {
    assert(!ok());
    return *error_;
  }
  Error&& error() && {
    assert(!ok());
    return std::move(*error_);
  }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

inline Status OkStatus() { return Status(); }

}  // namespace migdra

// Returns the error of `expr` (a Result or Status) from the enclosing function.
#define MIGDRA_RETURN_IF_ERROR(expr)              \
  do {                                            \
    auto migdra_status_ = (expr);                 \
    if (!migdra_status_.ok()) {                   \
      return std::move(migdra_status_).error();   \
    }                                             \
  } while (0)

#define MIGDRA_CONCAT_INNER_(a, b) a##b
#define MIGDRA_CONCAT_(a, b) MIGDRA_CONCAT_INNER_(a, b)
// `MIGDRA_ASSIGN_OR_RETURN(auto x, Compute());` binds the value or returns the error.
#define MIGDRA_ASSIGN_OR_RETURN(lhs, expr)                                      \
  auto MIGDRA_CONCAT_(migdra_result_, __LINE__) = (expr);                       \
  if (!MIGDRA_CONCAT_(migdra_result_, __LINE__).ok()) {                         \
    return std::move(MIGDRA_CONCAT_(migdra_result_, __LINE__)).error();         \
  }                                                                             \
  lhs = std::move(MIGDRA_CONCAT_(migdra_result_, __LINE__)).value()
