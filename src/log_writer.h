// Log lines leave the event loops through a queue that one thread writes out, so that a slow
// disk (or a pipe nobody reads) never stalls a worker. The queue is bounded: past it, lines are
// dropped and counted, and the count is logged once writing catches up.
#pragma once

#include <cstdint>
#include <string_view>

// Writes `line` (a whole line, newline included) to fd: queued while the writer runs, else at
// once.
void log_write(int fd, std::string_view line);
// Starts the writer thread; drops are reported on report_fd (or to syslog when it is < 0).
void log_writer_start(int report_fd);
// Writes out what is queued, then stops the thread; later lines are written at once. If the
// queue does not drain within a few seconds, gives up and leaves the thread to it.
void log_writer_stop();
// Lines dropped so far because the queue was full.
uint64_t log_writer_dropped();
