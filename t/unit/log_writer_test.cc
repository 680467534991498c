// The log writer: lines reach their descriptor in order through the queue; a destination that
// takes nothing costs callers nothing but the lines past the bound, which are counted and
// reported once writing catches up.
#include "log_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace {

// Reads what `fd` holds until it has been quiet for `quiet_ms`.
std::string drain(int fd, int quiet_ms) {
  std::string out;
  char buf[65536];
  pollfd p = {fd, POLLIN, 0};
  while (poll(&p, 1, quiet_ms) > 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(LogWriter, LinesArriveInOrderAndStopFlushes) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  log_writer_start(fds[1]);
  std::string want;
  for (int i = 0; i < 1000; i++) {
    std::string line = "line " + std::to_string(i) + "\n";
    log_write(fds[1], line);
    want += line;
  }
  std::string got = drain(fds[0], 200);
  log_writer_stop();
  got += drain(fds[0], 50);
  EXPECT_EQ(got, want);
  log_write(fds[1], "after stop\n");  // written at once
  EXPECT_EQ(drain(fds[0], 50), "after stop\n");
  close(fds[0]);
  close(fds[1]);
}

TEST(LogWriter, AStuckDestinationNeverBlocksTheCaller) {
  int stuck[2], report[2];
  ASSERT_EQ(pipe(stuck), 0);
  ASSERT_EQ(pipe(report), 0);
  log_writer_start(report[1]);
  uint64_t dropped_before = log_writer_dropped();
  std::string line(1000, 'x');
  line += '\n';
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 12000; i++) log_write(stuck[1], line);  // 12 MB into a 64 KiB pipe
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_LT(took, std::chrono::seconds(5)) << "log_write waited for the destination";
  uint64_t dropped = log_writer_dropped() - dropped_before;
  EXPECT_GT(dropped, 0u) << "past the queue's bound lines are dropped, not held";
  EXPECT_LT(dropped, 12000u) << "up to the bound they are kept";
  size_t got = drain(stuck[0], 300).size();  // the destination catches up
  EXPECT_EQ(got + dropped * line.size(), 12000 * line.size());
  std::string said = drain(report[0], 300);
  EXPECT_NE(said.find(std::to_string(dropped) + " lines dropped"), std::string::npos) << said;
  log_writer_stop();
  for (int fd : {stuck[0], stuck[1], report[0], report[1]}) close(fd);
}

}  // namespace
