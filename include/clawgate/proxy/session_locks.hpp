#pragma once
// upstream.serialize_sessions: requests for one OpenClaw session go upstream one at a time,
// because the gateway answers 500 to concurrent first turns on a new session. One binary
// semaphore (a channel holding one token) per active key; entries vanish when unused.

#include <boost/asio/experimental/concurrent_channel.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "clawgate/core/net.hpp"

namespace clawgate::proxy {

class SessionLocks {
  using Channel = net::experimental::concurrent_channel<void(error_code)>;
  struct Entry {
    std::unique_ptr<Channel> channel;
    std::size_t users = 0;
  };

 public:
  class Guard {
   public:
    Guard() = default;
    Guard(SessionLocks* owner, std::string key, bool held)
        : owner_(owner), key_(std::move(key)), held_(held) {}
    Guard(Guard&& o) noexcept
        : owner_(std::exchange(o.owner_, nullptr)), key_(std::move(o.key_)), held_(o.held_) {}
    Guard& operator=(Guard&&) = delete;
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard();
    bool held() const { return held_; }

   private:
    SessionLocks* owner_ = nullptr;
    std::string key_;
    bool held_ = false;
  };

  explicit SessionLocks(net::io_context& ioc) : ioc_(ioc) {}
  // Waits (cancellably) until no other request for `key` is upstream.
  task<Guard> acquire(std::string key);
  std::size_t active_keys();

 private:
  void release(const std::string& key, bool held);

  net::io_context& ioc_;
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace clawgate::proxy
