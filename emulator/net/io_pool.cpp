#include "emulator/net/io_pool.hpp"

#include <asio/post.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace emu::net {

io_pool::io_pool(std::size_t threads)
    : io_(static_cast<int>(threads == 0 ? 1 : threads)), count_(threads == 0 ? 1 : threads) {}

io_pool::~io_pool() {
  stop();
}

void io_pool::start() {
  if (!threads_.empty()) return;
  io_.restart();
  work_.emplace(asio::make_work_guard(io_));
  for (std::size_t i = 0; i < count_; ++i) threads_.emplace_back([this] { io_.run(); });
}

void io_pool::stop(std::chrono::milliseconds grace) {
  if (threads_.empty()) {
    // Never started (a failed start-up): run what was queued (closing handlers) here.
    work_.reset();
    io_.restart();
    io_.poll();
    return;
  }
  work_.reset();
  // The threads return once nothing is pending. A timer or socket wait that somebody forgot
  // would keep them forever: after `grace`, stop the context.
  struct done_state {
    std::mutex m;
    std::condition_variable cv;
    std::size_t finished = 0;
  };
  auto done = std::make_shared<done_state>();
  std::vector<std::thread> waiters;
  for (auto& t : threads_) {
    waiters.emplace_back([&t, done] {
      t.join();
      std::lock_guard lock(done->m);
      ++done->finished;
      done->cv.notify_all();
    });
  }
  {
    std::unique_lock lock(done->m);
    if (!done->cv.wait_for(lock, grace, [&] { return done->finished == threads_.size(); }))
      io_.stop();
  }
  for (auto& w : waiters) w.join();
  threads_.clear();
}

}  // namespace emu::net
