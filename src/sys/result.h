// Errors are values: Result<T, E> holds a T or an E. One idiom for every
// error in oxinit: E is Error {errno, what} for a failed system call (the
// default), ConfigError {file, line, col, message} for a config, or a Str
// message.
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

template <class T, class E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(E e) : error_(std::move(e)), ok_(false) {}     // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  T& value() { return value_; }
  const T& value() const { return value_; }
  T* operator->() { return &value_; }
  T& operator*() { return value_; }
  const E& error() const { return error_; }

 private:
  T value_{};
  E error_{};
  bool ok_ = true;
};

template <class E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E e) : error_(std::move(e)), ok_(false) {}  // NOLINT: implicit by design
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { return error_; }

 private:
  E error_{};
  bool ok_ = true;
};

}  // namespace oxinit
