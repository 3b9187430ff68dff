#include "clawgate/proxy/session_locks.hpp"

namespace clawgate::proxy {

SessionLocks::Guard::~Guard() {
  if (owner_ != nullptr) owner_->release(key_, held_);
}

task<SessionLocks::Guard> SessionLocks::acquire(std::string key) {
  Channel* ch = nullptr;
  {
    std::lock_guard lock(mu_);
    auto& e = entries_[key];
    if (!e.channel) {
      e.channel = std::make_unique<Channel>(ioc_.get_executor(), 1);
      e.channel->try_send(error_code{});  // the one token
    }
    ++e.users;
    ch = e.channel.get();
  }
  // The entry (and so `ch`) lives while users > 0, and we are one of them until release().
  auto [ec] = co_await ch->async_receive(use_tuple);
  co_return Guard(this, std::move(key), !ec);
}

void SessionLocks::release(const std::string& key, bool held) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  if (held) it->second.channel->try_send(error_code{});
  if (--it->second.users == 0) entries_.erase(it);
}

std::size_t SessionLocks::active_keys() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace clawgate::proxy
