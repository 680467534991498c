// A session's few deadlines behind one timer, armed for the earliest: nothing polls.
#pragma once

#include <cstdint>

struct event;
struct event_base;

class Deadlines {
 public:
  enum Kind : uint8_t { kHandshake, kConnect, kIdle, kPing, kCloseWait, kFrame, kCount };
  // Called with the deadline that passed; it is cleared first, and the owner may free the
  // Deadlines from inside the call.
  using Fire = void (*)(void* owner, Kind k);

  Deadlines(event_base* base, Fire fire, void* owner);
  ~Deadlines();
  Deadlines(const Deadlines&) = delete;
  Deadlines& operator=(const Deadlines&) = delete;

  // The loop's cached clock, in ms.
  uint64_t now_ms() const;
  void set(Kind k, uint64_t ms_from_now) { set_at(k, now_ms() + ms_from_now); }
  void set_at(Kind k, uint64_t at_ms);
  void clear(Kind k);
  void clear_all();
  bool pending(Kind k) const { return due_[k] != 0; }

 private:
  static void on_timer(int fd, short what, void* ctx);
  void rearm();

  event_base* base_;
  event* timer_;
  Fire fire_;
  void* owner_;
  uint64_t due_[kCount] = {};  // ms on now_ms()'s clock; 0 for none
  uint64_t armed_at_ = 0;      // what the timer is set for
};
