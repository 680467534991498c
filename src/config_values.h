// Text -> values for the config parser, and values back to text: no knowledge of keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

// Strips blanks and line ends from both ends.
std::string trim(const std::string& s);
// "a, b,,c" -> {"a", "b", "c"}: items trimmed, empty ones dropped.
std::vector<std::string> split_list(const std::string& s);
// An HTTP token (RFC 7230): what a subprotocol name must be.
bool is_token(const std::string& s);
// Reads an unsigned decimal prefix; returns the rest in `suffix`.
bool parse_number(const std::string& s, uint64_t& n, std::string& suffix);
// Splits "HOST:PORT" or "[V6]:PORT" (port optional when default_port is set).
bool parse_host_port(std::string hp, int default_port, std::string& host, int& port);
// A numeric "IPv4:PORT" or "[IPv6]:PORT" with a port other than 0; false if not.
bool parse_listen_address(const std::string& v, ListenAddr& a);
// A backend target: tcp://, tls://, unix:, ws://, wss:// or echo; false with err naming the forms.
bool parse_backend(const std::string& v, BackendAddr& b, std::string& err);
// Whether a POSIX ERE would be too costly for regcomp (see config_values.cc).
bool regex_too_complex(const std::string& re);
// Bytes as a size would be written: 16777216 -> "16M", 1000 -> "1000".
std::string format_size(uint64_t bytes);
// Milliseconds as a duration would be written: 10000 -> "10s", 0 -> "0".
std::string format_duration(uint64_t ms);
