// frame_timeout: a client frame must arrive whole within the limit of its first byte, so that a
// client trickling one frame for ever does not hold its slot. No timer per frame: each read
// only notes when the frame under way began, and one deadline, pushed back lazily, checks it.
#include <event2/buffer.h>

#include "log.h"
#include "route.h"
#include "session.h"

// After the pipeline took what it could of a read: a frame is under way if the decoder is
// inside one or bytes of the next (a partial header) wait in the input.
void Session::watch_frame() {
  uint64_t limit = route_->limits().frame_timeout_ms;
  if (!limit || !client_) return;
  bool ended = pipeline_->take_client_frame_ended();
  if (!pipeline_->client_mid_frame() && evbuffer_get_length(client_->input()) == 0) {
    frame_since_ms_ = 0;  // a deadline still pending finds nothing under way
    return;
  }
  // A frame ended in this read: the one now under way began in it too.
  if (!frame_since_ms_ || ended) frame_since_ms_ = deadlines_.now_ms();
  if (!deadlines_.pending(Deadlines::kFrame))
    deadlines_.set_at(Deadlines::kFrame, frame_since_ms_ + limit);
}

// The deadline may be early (set for an older frame): then it is set again for this one.
void Session::check_frame() {
  uint64_t limit = route_->limits().frame_timeout_ms;
  if (!frame_since_ms_ || !limit || !client_) return;
  uint64_t now = deadlines_.now_ms();
  // While wsgate has stopped reading the client (the other side is full), the frame's rest
  // may be waiting on us, not on the client: its time starts again.
  if (backed_up(client_) || backed_up(backend_)) frame_since_ms_ = now;
  if (now < frame_since_ms_ + limit) {
    deadlines_.set_at(Deadlines::kFrame, frame_since_ms_ + limit);
    return;
  }
  log_info("%s \"%s\": closing with 1008: frame timeout (a client frame took over %llu ms)",
           peer_.c_str(), log_escape(path_).c_str(), static_cast<unsigned long long>(limit));
  close_both(close_code::kPolicy, close_code::kGoingAway, "frame timeout");
}
