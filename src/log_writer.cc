#include "log_writer.h"

#include <errno.h>
#include <pthread.h>
#include <syslog.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace {

// Queued bytes beyond which lines are dropped: far more than a healthy disk ever lags by.
constexpr size_t kMaxQueued = 8 << 20;
// How long a stop waits for the queue to drain; a stuck destination must not keep the
// process from exiting.
constexpr auto kStopWait = std::chrono::seconds(2);

struct Entry {
  int fd;
  std::string line;
};

struct Writer {
  std::mutex mu;
  std::condition_variable wake;
  std::deque<Entry> queue;
  size_t queued = 0;      // bytes queued or being written
  uint64_t dropped = 0;   // in all
  uint64_t reported = 0;  // of `dropped`, already logged
  bool running = false;
  bool stop = false;
  bool exited = false;  // the thread has written all and returned
  std::condition_variable done;
  int report_fd = -1;
  std::thread thread;
};

Writer& writer() {
  static Writer* w = new Writer;  // never freed: a worker may log until the process ends
  return *w;
}

// All of it, however the kernel splits it; a failing destination loses the line.
void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return;
    p += k;
    n -= static_cast<size_t>(k);
  }
}

// Says how many lines the full queue cost, once it has room again.
void report_drops(Writer& w, uint64_t n) {
  std::string msg =
      "log: " + std::to_string(n) + " lines dropped: the log destination could not keep up";
  if (w.report_fd < 0) {
    syslog(LOG_WARNING, "%s", msg.c_str());
  } else {
    msg = "[warn] " + msg + "\n";
    write_all(w.report_fd, msg.data(), msg.size());
  }
}

// The writer thread: takes the queue whole, writes it without the lock, until stopped and empty.
void run(Writer& w) {
  std::unique_lock<std::mutex> lock(w.mu);
  for (;;) {
    w.wake.wait(lock, [&] { return w.stop || !w.queue.empty(); });
    if (w.queue.empty() && w.stop) {
      w.exited = true;
      w.done.notify_all();
      return;
    }
    std::deque<Entry> batch;
    batch.swap(w.queue);
    lock.unlock();
    size_t bytes = 0;
    for (const Entry& e : batch) {
      write_all(e.fd, e.line.data(), e.line.size());
      bytes += e.line.size();
    }
    lock.lock();
    w.queued -= bytes;  // counted until written, so the bound holds lines in flight too
    uint64_t drops = w.dropped - w.reported;
    w.reported = w.dropped;
    if (drops) {
      lock.unlock();
      report_drops(w, drops);
      lock.lock();
    }
  }
}

}  // namespace

void log_write(int fd, std::string_view line) {
  Writer& w = writer();
  {
    std::lock_guard<std::mutex> lock(w.mu);
    if (w.running) {
      if (w.queued + line.size() > kMaxQueued) {
        w.dropped++;
        return;
      }
      w.queued += line.size();
      w.queue.push_back({fd, std::string(line)});
      w.wake.notify_one();
      return;
    }
  }
  write_all(fd, line.data(), line.size());
}

void log_writer_start(int report_fd) {
  Writer& w = writer();
  std::lock_guard<std::mutex> lock(w.mu);
  if (w.running) return;
  w.running = true;
  w.stop = false;
  w.report_fd = report_fd;
  w.thread = std::thread([&w] {
    pthread_setname_np(pthread_self(), "wsgate log");
    run(w);
  });
}

void log_writer_stop() {
  Writer& w = writer();
  std::unique_lock<std::mutex> lock(w.mu);
  if (!w.running || w.thread.get_id() == std::this_thread::get_id()) return;
  w.stop = true;
  w.wake.notify_one();
  // A destination that takes nothing keeps the thread (and what is queued) to itself.
  if (!w.done.wait_for(lock, kStopWait, [&] { return w.exited; })) return;
  lock.unlock();
  w.thread.join();
  lock.lock();
  w.running = false;
  w.stop = w.exited = false;
}

uint64_t log_writer_dropped() {
  Writer& w = writer();
  std::lock_guard<std::mutex> lock(w.mu);
  return w.dropped;
}
