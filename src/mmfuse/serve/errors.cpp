#include "mmfuse/serve/errors.h"

#include <nlohmann/json.hpp>

#include "mmfuse/runtime/batcher.h"

namespace mmfuse::serve {

HttpFailure http_failure(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const PayloadTooLarge& e) {
    return {413, e.what(), 0};
  } catch (const Unauthorized& e) {
    return {401, e.what(), 0};
  } catch (const NotFound& e) {
    return {404, e.what(), 0};
  } catch (const Unavailable& e) {
    return {503, e.what(), e.retry_after_seconds()};
  } catch (const runtime::QueueFull& e) {
    return {503, e.what(), 1};
  } catch (const InputError& e) {
    return {400, e.what(), 0};
  } catch (const UsageError& e) {
    return {400, e.what(), 0};
  } catch (const std::bad_alloc&) {
    return {500, "out of memory while handling the request", 0};
  } catch (const std::exception& e) {
    return {500, std::string("internal error: ") + e.what(), 0};
  } catch (...) {
    return {500, "internal error", 0};
  }
}

std::string error_body(const std::string& message) {
  return nlohmann::json{{"error", message}}.dump(-1, ' ', false,
                                                 nlohmann::json::error_handler_t::replace);
}

}  // namespace mmfuse::serve
