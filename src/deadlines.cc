#include "deadlines.h"

#include <sys/time.h>

#include <event2/event.h>

#include "log.h"

Deadlines::Deadlines(event_base* base, Fire fire, void* owner)
    : base_(base), timer_(evtimer_new(base, on_timer, this)), fire_(fire), owner_(owner) {
  if (!timer_) fatalx("out of memory for a new connection");
}

Deadlines::~Deadlines() {
  event_free(timer_);
}

uint64_t Deadlines::now_ms() const {
  timeval now;
  event_base_gettimeofday_cached(base_, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000 + static_cast<uint64_t>(now.tv_usec) / 1000;
}

void Deadlines::set_at(Kind k, uint64_t at_ms) {
  due_[k] = at_ms ? at_ms : 1;
  rearm();
}

void Deadlines::clear(Kind k) {
  if (!due_[k]) return;
  due_[k] = 0;
  rearm();
}

void Deadlines::clear_all() {
  for (uint64_t& d : due_) d = 0;
  rearm();
}

// Points the one timer at the earliest deadline; touches libevent only when that changes.
void Deadlines::rearm() {
  uint64_t next = 0;
  for (uint64_t d : due_)
    if (d && (!next || d < next)) next = d;
  if (next == armed_at_) return;
  armed_at_ = next;
  if (!next) {
    evtimer_del(timer_);
    return;
  }
  uint64_t now = now_ms(), wait = next > now ? next - now : 0;
  timeval tv = {static_cast<time_t>(wait / 1000), static_cast<suseconds_t>(wait % 1000 * 1000)};
  evtimer_add(timer_, &tv);
}

void Deadlines::on_timer(int, short, void* ctx) {
  Deadlines* d = static_cast<Deadlines*>(ctx);
  d->armed_at_ = 0;
  uint64_t now = d->now_ms();
  int fired = -1;
  for (int k = 0; k < kCount; k++)
    if (d->due_[k] && d->due_[k] <= now && (fired < 0 || d->due_[k] < d->due_[fired])) fired = k;
  if (fired < 0) {  // the cached clock lags the timer by a hair
    d->rearm();
    return;
  }
  d->due_[fired] = 0;
  d->rearm();  // any other passed deadline fires on the next loop turn
  d->fire_(d->owner_, static_cast<Kind>(fired));
}
