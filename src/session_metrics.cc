// A session's share of the metrics: counted when the handshake is answered, at close frames and
// when the session ends, never per message, so the relay itself pays nothing.
#include "session.h"

#include "counters.h"
#include "session_host.h"

void Session::count_status(int status) {
  if (status >= 0 && status < kStatusSlots) counter_add(host_.counters().statuses[status]);
}

// The 101 went out: the session counts on its route from now until it ends.
void Session::count_open() {
  count_status(status_);
  route_counters_ = host_.route_counters(*route_);
  if (!route_counters_) return;
  counter_add(route_counters_->opened);
  counter_add(route_counters_->open);
}

// A close frame from `from`, as on_peer_close reports it, or wsgate's own (from kBackend,
// not answered). The client hears a backend's code (relayed or passed on), and its own code
// back when the pipeline answered for wsgate.
void Session::count_close(Side from, uint16_t code, bool answered) {
  WorkerCounters& c = host_.counters();
  if (from == Side::kClient) counter_add(c.close_received[close_slot(code)]);
  bool to_client = from == Side::kBackend || answered;
  if (to_client && client_ && !client_closing_) counter_add(c.close_sent[close_slot(code)]);
}

// The session's figures go to its route once it is over; the client's transport is gone by now.
void Session::count_end() {
  WorkerCounters& c = host_.counters();
  if (client_info_ && client_info_->tls && !client_info_->tls_version.empty())
    counter_add(c.tls_handshakes);
  if (!route_counters_) return;
  counter_add(route_counters_->open, static_cast<uint64_t>(-1));
  counter_add(route_counters_->bytes_in, bytes_in_);
  counter_add(route_counters_->bytes_out, bytes_out_);
  counter_add(route_counters_->messages_in, pipeline_ ? pipeline_->messages_in() : 0);
  counter_add(route_counters_->messages_out, pipeline_ ? pipeline_->messages_out() : 0);
}
