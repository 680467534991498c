// HTTP statuses wsgate answers with, named once, and the error responses.
#pragma once

struct evbuffer;

namespace http_status {
constexpr int kSwitching = 101;
constexpr int kBadRequest = 400;
constexpr int kForbidden = 403;
constexpr int kNotFound = 404;
constexpr int kMethodNotAllowed = 405;
constexpr int kRequestTimeout = 408;
constexpr int kUpgradeRequired = 426;
constexpr int kTooManyRequests = 429;
constexpr int kHeadersTooLarge = 431;
constexpr int kBadGateway = 502;
constexpr int kUnavailable = 503;
constexpr int kGatewayTimeout = 504;
}  // namespace http_status

const char* http_reason(int status);
// A complete error response with Connection: close and a one-line text body.
// retry_after > 0 adds Retry-After with that many seconds.
void http_write_error(evbuffer* out, int status, const char* detail, int retry_after = 0);
