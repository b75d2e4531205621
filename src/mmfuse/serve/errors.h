// The serving layer's failures and how every failure becomes an HTTP answer. The library throws
// (InputError, PayloadTooLarge, runtime::QueueFull, ...); only the HTTP handlers catch, and they
// map with http_failure():
//
//   InputError, UsageError        400  (the message names the request and the field)
//   Unauthorized                  401
//   NotFound                      404
//   PayloadTooLarge               413
//   Unavailable, QueueFull        503  with Retry-After
//   anything else                 500
#pragma once

#include <exception>
#include <string>

#include "mmfuse/core/error.h"

namespace mmfuse::serve {

/// A body, image, sound or text beyond a configured cap; the message names the field, the size
/// and the option that raises the cap.
class PayloadTooLarge : public Error {
 public:
  using Error::Error;
};

/// No valid API key.
class Unauthorized : public Error {
 public:
  using Error::Error;
};

/// No such model, route or item.
class NotFound : public Error {
 public:
  using Error::Error;
};

/// The server cannot take the request now (models loading, queues full, shutting down, timed
/// out): the client should retry after `retry_after_seconds`.
class Unavailable : public Error {
 public:
  explicit Unavailable(const std::string& message, int retry_after_seconds = 1)
      : Error(message), retry_after_(retry_after_seconds) {}
  int retry_after_seconds() const { return retry_after_; }

 private:
  int retry_after_;
};

struct HttpFailure {
  int status = 500;
  std::string message;
  int retry_after_seconds = 0;  ///< > 0: send Retry-After
};

/// The HTTP status and message of a caught exception.
HttpFailure http_failure(std::exception_ptr error);

/// {"error": message} as JSON text.
std::string error_body(const std::string& message);

}  // namespace mmfuse::serve
