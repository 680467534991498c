#include "http.h"

#include <event2/buffer.h>

#include <cstdio>
#include <cstring>

const char* http_reason(int status) {
  switch (status) {
    case 101:
      return "Switching Protocols";
    case 400:
      return "Bad Request";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 426:
      return "Upgrade Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

void http_write_error(evbuffer* out, int status, const char* detail, int retry_after) {
  const char* extra = "";
  char retry[40];
  if (retry_after > 0) {
    snprintf(retry, sizeof retry, "Retry-After: %d\r\n", retry_after);
    extra = retry;
  } else if (status == http_status::kUpgradeRequired)
    extra = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
  else if (status == http_status::kMethodNotAllowed)
    extra = "Allow: GET\r\n";
  evbuffer_add_printf(out,
                      "HTTP/1.1 %d %s\r\n"
                      "Server: wsgate\r\n"
                      "Content-Type: text/plain; charset=utf-8\r\n"
                      "Content-Length: %zu\r\n"
                      "%s"
                      "Connection: close\r\n"
                      "\r\n"
                      "%d %s: %s\n",
                      status, http_reason(status),
                      std::strlen(detail) + std::strlen(http_reason(status)) + 7, extra, status,
                      http_reason(status), detail);
}
