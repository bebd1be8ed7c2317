// Errors are values: Result<T> holds a T or an Error {errno, what}.
#pragma once
#include <cerrno>
#include <utility>

namespace oxinit {

// Trivially copyable: `what` always points at a string literal.
struct Error {
  int err = 0;
  const char* what = "";
};

inline Error errno_error(const char* what) { return Error{errno, what}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Error e) : error_(e), ok_(false) {}     // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T* operator->() { return &value_; }
  T& operator*() { return value_; }
  const Error& error() const { return error_; }

 private:
  T value_{};
  Error error_{};
  bool ok_ = true;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error e) : error_(e), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_{};
  bool ok_ = true;
};

}  // namespace oxinit
