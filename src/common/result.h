// Errors as values. Every fallible call in migdra returns Result<T> (or Status, which is
// Result<void>) instead of throwing; exceptions never cross a module boundary.
//
// An Error carries a human-readable message and, when it is about user input, the path of the
// offending field in Kubernetes notation (`spec.devices.requests[0].exactly.count`), so that a
// caller can print `KIND/NAME: field.path: message` without parsing strings.
//
// It also carries a machine-readable `reason`, named after Kubernetes' StatusReason vocabulary,
// that says what kind of failure it is so that a caller can act on it (retry on kConflict, draw
// another generated name on kAlreadyExists, ...) without comparing messages. A plain error
// (MakeError(message)) is kInternal. For kInvalid, `causes` lists the offending fields as
// Kubernetes' StatusCause does (details.causes of a Status). The reason is the whole contract: HTTP
// status codes are not part of an Error; only the HTTP boundary (control/api_handler.h,
// HttpStatusFor) derives one.
//
// Thread safety: values; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace migdra {

// What kind of failure an Error is, in Kubernetes' StatusReason words (InternalError, NotFound,
// ...) where one exists. Only the reasons migdra produces are listed.
enum class ErrorReason {
  kInternal,  // a failure of migdra or of what it runs on, not of the caller's request
  kBadRequest,
  kInvalid,  // the request's object fails validation; `causes` says where
  kNotFound,
  kAlreadyExists,
  kConflict,  // a write raced another or its precondition no longer holds
  kExpired,   // a watch or list position older than what is kept
  kForbidden,
  kUnauthorized,
  kMethodNotAllowed,
  kUnsupportedMediaType,
  // Refusals of the HTTP request itself (its head, body or framing), before any API work.
  kRequestHeaderFieldsTooLarge,
  kRequestEntityTooLarge,
  kHttpVersionNotSupported,
  kExpectationFailed,
  kTooManyRequests,
  kServiceUnavailable,
  kNotImplemented,
  kBadGateway,  // a server migdra relays to (a runtime's streaming server) failed
};

// One offending field of a kInvalid error, as Kubernetes' StatusCause.
struct ErrorCause {
  std::string reason;  // the CauseType: FieldValueRequired, FieldValueInvalid, ...
  std::string field;   // the field path, as Error::field
  std::string message;
};

// The object an API error is about, as Kubernetes' StatusDetails names it (kubectl prints an
// Invalid error as `The <kind> "<name>" is invalid`): for NotFound, AlreadyExists and Conflict
// the resource (its plural) and group; for Invalid the Kind and group. Empty parts are omitted.
struct ErrorSubject {
  std::string name;
  std::string group;
  std::string kind;
};

struct Error {
  std::string message;
  // Path of the field the error is about; empty when it is not about one field.
  std::string field;
  ErrorReason reason = ErrorReason::kInternal;
  std::vector<ErrorCause> causes = {};  // for kInvalid; empty otherwise
  ErrorSubject subject = {};

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

// An error of the given kind, not about one field (an Invalid's fields are its causes).
inline Error MakeError(ErrorReason reason, std::string message,
                       std::vector<ErrorCause> causes = {}) {
  return Error{std::move(message), {}, reason, std::move(causes)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
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
#define MIGDRA_RETURN_IF_ERROR(expr)            \
  do {                                          \
    auto migdra_status_ = (expr);               \
    if (!migdra_status_.ok()) {                 \
      return std::move(migdra_status_).error(); \
    }                                           \
  } while (0)

#define MIGDRA_CONCAT_INNER_(a, b) a##b
#define MIGDRA_CONCAT_(a, b) MIGDRA_CONCAT_INNER_(a, b)
// `MIGDRA_ASSIGN_OR_RETURN(auto x, Compute());` binds the value or returns the error.
#define MIGDRA_ASSIGN_OR_RETURN(lhs, expr)                              \
  auto MIGDRA_CONCAT_(migdra_result_, __LINE__) = (expr);               \
  if (!MIGDRA_CONCAT_(migdra_result_, __LINE__).ok()) {                 \
    return std::move(MIGDRA_CONCAT_(migdra_result_, __LINE__)).error(); \
  }                                                                     \
  lhs = std::move(MIGDRA_CONCAT_(migdra_result_, __LINE__)).value()
