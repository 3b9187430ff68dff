// SSE relay (SPEC §2 step 10): events reach the client as the upstream sends them, the bytes are
// identical, a cut stream never ends cleanly, and a client that leaves cancels the upstream.

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <sstream>

#include "integration/fixture.hpp"

namespace clawgate::itest {
namespace {

const char* kStreamChat =
    R"({"model":"openclaw","stream":true,"messages":[{"role":"user","content":"hi"}]})";

std::string chat_event(int n) {
  return "data: "
         "{\"id\":\"chatcmpl_1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":"
         "0,\"delta\":{\"content\":\"part " +
         std::to_string(n) + "\"},\"finish_reason\":null}]}\n\n";
}

class Streaming : public ProxyTest {
 protected:
  // Connects `c`, sends a streamed chat and reads the response head, which must be 200.
  HttpResponse open_stream(RawClient& c) {
    HttpResponse head;
    [&] {
      ASSERT_TRUE(c.connect(port()));
      ASSERT_TRUE(c.send(make_request("POST", kChatPath, port(), employee(), kStreamChat)));
      head = c.read_head(Millis{10000});
      ASSERT_EQ(head.status, 200) << head.describe();
    }();
    return head;
  }
};

TEST_F(Streaming, SseEventsRelayedAsTheyArrive) {
  const std::vector<std::string> events{chat_event(1), chat_event(2), "data: [DONE]\n\n"};
  std::mutex mu;
  std::vector<Clock::time_point> sending(events.size());
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (i > 0 && !c.sleep_for(Millis{300})) {
        return;
      }
      {
        std::lock_guard lk(mu);
        sending[i] = Clock::now();
      }
      c.sse_event(events[i]);
    }
    c.sse_end();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  RawClient c;
  HttpResponse head;
  ASSERT_NO_FATAL_FAILURE(head = open_stream(c));
  EXPECT_EQ(head.header("content-type").value_or("").rfind("text/event-stream", 0), 0u)
      << head.describe();
  EXPECT_TRUE(is_trace_id(head.header("x-clawgate-trace-id").value_or(""))) << head.describe();
  EXPECT_TRUE(head.chunked) << "SSE not relayed chunked\n" << head.describe();
  Clock::time_point first_at;
  const auto first = c.read_sse_event(Millis{10000}, &first_at);
  ASSERT_TRUE(first.has_value()) << c.last_error();
  EXPECT_EQ(*first, events[0]);
  bool complete = false;
  const std::string rest = c.read_body_rest(Millis{10000}, &complete);
  EXPECT_TRUE(complete) << "stream did not end cleanly: " << c.last_error();
  EXPECT_EQ(*first + rest, events[0] + events[1] + events[2]) << "stream bytes differ";
  std::lock_guard lk(mu);
  EXPECT_LT(first_at, sending[2])
      << "the first event reached the client only after the upstream began the last one: the "
         "stream was buffered";
}

// Media types are case-insensitive (RFC 9110 §8.3.1): an upstream that spells it
// "Text/Event-Stream" is still streaming, and is relayed as a stream (chunked, as it arrives),
// not buffered as one answer.
TEST_F(Streaming, EventStreamMediaTypeIsMatchedWithoutRegardToCase) {
  const std::string events = chat_event(1) + "data: [DONE]\n\n";
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.respond(200, events, "Text/Event-Stream; charset=utf-8");
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  HttpResponse head;
  ASSERT_NO_FATAL_FAILURE(head = open_stream(c));
  EXPECT_TRUE(head.chunked) << "relayed as one buffered answer, not as a stream\n"
                            << head.describe();
  bool complete = false;
  const std::string body = c.read_body_rest(Millis{10000}, &complete);
  EXPECT_TRUE(complete) << c.last_error();
  EXPECT_EQ(body, events);
}

// The relay waits for the next event without a read buffer once the parser needs more bytes;
// it must not wait while whole events are already buffered. Chunk framing split across writes
// (a chunk without its CRLF, a lone CRLF, a lone size line) and two chunks in one write: each
// event reaches the client before the upstream sends anything more, or the test hangs and fails.
TEST_F(Streaming, SplitOrJoinedChunkFramingRelaysEveryEventAtOnce) {
  const std::vector<std::string> events{chat_event(1), chat_event(2), chat_event(3)};
  const auto hex = [](std::size_t n) {
    std::ostringstream o;
    o << std::hex << n << "\r\n";
    return o.str();
  };
  std::atomic<int> seen{0};  // events the client has read
  const auto wait_seen = [&seen](UpstreamConn& c, int n) {
    for (int i = 0; i < 500 && seen.load() < n; ++i) {
      if (!c.sleep_for(Millis{20})) return false;
    }
    return seen.load() >= n;
  };
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    if (!c.send(hex(events[0].size()) + events[0]) || !wait_seen(c, 1)) return;
    if (!c.send("\r\n") || !c.send(hex(events[1].size())) ||
        !c.send(events[1] + "\r\n" + hex(events[2].size()) + events[2] + "\r\n") ||
        !wait_seen(c, 3)) {
      return;
    }
    c.sse_end();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());

  RawClient c;
  ASSERT_NO_FATAL_FAILURE(open_stream(c));
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto event = c.read_sse_event(Millis{10000});
    ASSERT_TRUE(event.has_value()) << "event " << i + 1 << ": " << c.last_error();
    EXPECT_EQ(*event, events[i]);
    seen.store(static_cast<int>(i) + 1);
  }
  bool complete = false;
  EXPECT_EQ(c.read_body_rest(Millis{10000}, &complete), "");
  EXPECT_TRUE(complete) << "stream did not end cleanly: " << c.last_error();
}

TEST_F(Streaming, CloseDelimitedSseRelayedAsTheyArrive) {
  // OpenResponses-style events with `event:` lines; the upstream ends the stream by closing.
  const std::vector<std::string> events{
      "event: response.created\ndata: {\"type\":\"response.created\"}\n\n",
      "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
      "\"delta\":\"Hello\"}\n\n",
      "event: response.completed\ndata: {\"type\":\"response.completed\"}\n\n", "data: [DONE]\n\n"};
  std::mutex mu;
  std::vector<Clock::time_point> sending(events.size());
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kResponsesPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(false);
    for (std::size_t i = 0; i < events.size(); ++i) {
      if (i > 0 && !c.sleep_for(Millis{250})) {
        return;
      }
      {
        std::lock_guard lk(mu);
        sending[i] = Clock::now();
      }
      c.sse_event(events[i]);
    }
    c.sse_end();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_TRUE(c.connect(port()));
  ASSERT_TRUE(c.send(make_request("POST", kResponsesPath, port(), employee(),
                                  R"({"model":"openclaw","stream":true,"input":"hi"})")));
  const HttpResponse head = c.read_head(Millis{10000});
  ASSERT_EQ(head.status, 200) << head.describe();
  Clock::time_point first_at;
  const auto first = c.read_sse_event(Millis{10000}, &first_at);
  ASSERT_TRUE(first.has_value()) << c.last_error();
  bool complete = false;
  const std::string rest = c.read_body_rest(Millis{10000}, &complete);
  EXPECT_TRUE(complete) << c.last_error();
  EXPECT_EQ(*first + rest, events[0] + events[1] + events[2] + events[3]);
  std::lock_guard lk(mu);
  EXPECT_LT(first_at, sending[3]) << "stream was buffered";
}

TEST_F(Streaming, SseCutMidStreamIsNotRelayedAsACleanEnd) {
  const std::string e1 = chat_event(1);
  const std::string e2 = chat_event(2);
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    c.sse_event(e1);
    c.sleep_for(Millis{100});
    c.sse_event(e2);
    c.sleep_for(Millis{100});
    c.send("4000\r\ndata: {\"trunc");  // half a chunk, then the connection dies
    c.close();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_NO_FATAL_FAILURE(open_stream(c));
  bool complete = true;
  const std::string all = c.read_body_rest(Millis{10000}, &complete);
  ASSERT_GE(all.size(), e1.size() + e2.size());
  EXPECT_EQ(all.substr(0, e1.size() + e2.size()), e1 + e2);
  const bool signalled = !complete || all.find("error", e1.size() + e2.size()) != std::string::npos;
  EXPECT_TRUE(signalled) << "a stream cut by the upstream ended like a complete one; tail: "
                         << all.substr(e1.size() + e2.size());
}

TEST_F(Streaming, ClientDisconnectClosesTheUpstreamConnection) {
  std::mutex mu;
  std::condition_variable cv;
  bool upstream_saw_close = false;
  int events_sent = 0;
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    for (int i = 0; i < 100; ++i) {  // 10 s of events unless the proxy hangs up
      const bool sent = c.sse_event(chat_event(i));
      if (sent) {
        std::lock_guard lk(mu);
        ++events_sent;
      }
      if (!sent || c.peer_closed()) {
        std::lock_guard lk(mu);
        upstream_saw_close = true;
        cv.notify_all();
        return;
      }
      if (!c.sleep_for(Millis{100})) {
        return;
      }
    }
    c.sse_end();
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  {
    RawClient c;
    ASSERT_NO_FATAL_FAILURE(open_stream(c));
    ASSERT_TRUE(c.read_sse_event(Millis{10000}).has_value()) << c.last_error();
    c.close();  // the client goes away mid-stream
  }
  std::unique_lock lk(mu);
  EXPECT_TRUE(cv.wait_for(lk, Millis{5000}, [&] { return upstream_saw_close; }))
      << "the proxy kept the upstream stream open after the client left (events sent: "
      << events_sent << ")";
}

TEST_F(Streaming, SseSilentPastStreamIdleTimeoutIsCut) {
  config_["upstream"]["stream_idle_timeout_ms"] = 300;
  std::atomic<bool> upstream_closed{false};
  const auto stop_fake = stop_upstream_at_exit();
  upstream_->on(kChatPath, [&](const UpstreamRequest&, UpstreamConn& c) {
    c.sse_head(true);
    c.sse_event(chat_event(1));
    upstream_closed = c.wait_peer_closed(Millis{8000});  // then silence
  });
  ASSERT_NO_FATAL_FAILURE(start_proxy());
  RawClient c;
  ASSERT_NO_FATAL_FAILURE(open_stream(c));
  bool complete = true;
  const std::string all = c.read_body_rest(Millis{6000}, &complete);
  ASSERT_GE(all.size(), chat_event(1).size()) << c.last_error();
  EXPECT_EQ(all.substr(0, chat_event(1).size()), chat_event(1));
  EXPECT_NE(c.last_error(), "timeout") << "stream still open 6 s into a 300 ms idle limit";
  const bool signalled = !complete || all.find("error", chat_event(1).size()) != std::string::npos;
  EXPECT_TRUE(signalled) << "an idle-cut stream ended like a complete one";
  const auto deadline = Clock::now() + Millis{3000};
  while (!upstream_closed.load() && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis{20});
  }
  EXPECT_TRUE(upstream_closed.load()) << "upstream connection left open after the idle cut";
}

}  // namespace
}  // namespace clawgate::itest
