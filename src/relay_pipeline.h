// The ws:// and wss:// proxy's pipeline: frames relayed untouched in both directions, with
// wsgate's own frames toward the client only between relayed ones.
#pragma once

#include <memory>

#include "pipeline.h"

std::unique_ptr<Pipeline> make_relay_pipeline(uint64_t max_message_size, bool deflate,
                                              PipelineEvents& events);
