#include "bench/common/mqtt_pool.hpp"

#include <mosquitto.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>

namespace bench {

namespace {
std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct mqtt_pool::client {
  mqtt_pool* pool = nullptr;
  int index = 0;
  mosquitto* m = nullptr;
  mqtt_client_options options;
  int fd = -1;
  bool want_out = false;  // EPOLLOUT registered
  bool connected = false;
  bool ready = false;
};

mosquitto_library::mosquitto_library() {
  mosquitto_lib_init();
}
mosquitto_library::~mosquitto_library() {
  mosquitto_lib_cleanup();
}

mqtt_pool::mqtt_pool(std::string host, std::uint16_t port, std::string ca_file)
    : host_(std::move(host)), port_(port), ca_file_(std::move(ca_file)) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error("epoll_create1 failed");
}

mqtt_pool::~mqtt_pool() {
  for (auto* c : clients_) {
    if (c->m) mosquitto_destroy(c->m);
    delete c;
  }
  if (epfd_ >= 0) ::close(epfd_);
}

int mqtt_pool::add(const mqtt_client_options& o) {
  auto* c = new client;
  c->pool = this;
  c->index = static_cast<int>(clients_.size());
  c->options = o;
  clients_.push_back(c);
  c->m = mosquitto_new(o.client_id.c_str(), o.clean_session, c);
  if (c->m == nullptr) throw std::runtime_error("mosquitto_new failed");
  mosquitto_int_option(c->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
  mosquitto_int_option(c->m, MOSQ_OPT_TCP_NODELAY, 1);  // no 40 ms Nagle tails on PUBACKs
  if (o.max_inflight > 0) mosquitto_int_option(c->m, MOSQ_OPT_SEND_MAXIMUM, o.max_inflight);
  mosquitto_connect_callback_set(c->m, &on_connect_cb);
  mosquitto_subscribe_callback_set(c->m, &on_subscribe_cb);
  mosquitto_message_callback_set(c->m, &on_message_cb);
  mosquitto_publish_callback_set(c->m, &on_publish_cb);
  mosquitto_disconnect_callback_set(c->m, &on_disconnect_cb);
  if (!o.username.empty()) mosquitto_username_pw_set(c->m, o.username.c_str(), o.password.c_str());
  if (!ca_file_.empty()) {
    if (mosquitto_tls_set(c->m, ca_file_.c_str(), nullptr, nullptr, nullptr, nullptr) !=
        MOSQ_ERR_SUCCESS)
      throw std::runtime_error("mosquitto_tls_set failed for " + ca_file_);
  }
  const int rc = mosquitto_connect(c->m, host_.c_str(), port_, 600);
  if (rc != MOSQ_ERR_SUCCESS)
    throw std::runtime_error("mosquitto_connect to port " + std::to_string(port_) + ": " +
                             mosquitto_strerror(rc));
  register_socket(*c);
  return c->index;
}

void mqtt_pool::register_socket(client& c) {
  c.fd = mosquitto_socket(c.m);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &c;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev);
  c.want_out = false;
  update_events(c);
}

void mqtt_pool::update_events(client& c) {
  if (c.fd < 0) return;
  if (mosquitto_want_write(c.m)) mosquitto_loop_write(c.m, 1);
  const bool want = mosquitto_want_write(c.m);
  if (want == c.want_out) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  ::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
  c.want_out = want;
}

void mqtt_pool::on_connect_cb(mosquitto* m, void* obj, int rc) {
  auto& c = *static_cast<client*>(obj);
  if (rc != 0) {
    if (c.pool->error_.empty())
      c.pool->error_ = c.options.client_id + ": CONNACK " + std::to_string(rc);
    return;
  }
  c.connected = true;
  if (c.options.subscribe_topic.empty()) {
    c.ready = true;
    ++c.pool->ready_;
  } else if (c.options.more_topics.empty()) {
    mosquitto_subscribe(m, nullptr, c.options.subscribe_topic.c_str(), c.options.qos);
  } else {
    std::vector<char*> topics{c.options.subscribe_topic.data()};
    for (auto& t : c.options.more_topics) topics.push_back(t.data());
    mosquitto_subscribe_multiple(m, nullptr, static_cast<int>(topics.size()), topics.data(),
                                 c.options.qos, 0, nullptr);
  }
}

void mqtt_pool::on_subscribe_cb(mosquitto*, void* obj, int, int n, const int* granted) {
  auto& c = *static_cast<client*>(obj);
  bool refused = n < 1;
  for (int i = 0; i < n; ++i) refused = refused || granted[i] == 0x80;
  if (refused) {
    if (c.pool->error_.empty()) c.pool->error_ = c.options.client_id + ": SUBSCRIBE refused";
    return;
  }
  if (!c.ready) {
    c.ready = true;
    ++c.pool->ready_;
  }
}

void mqtt_pool::on_message_cb(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto& c = *static_cast<client*>(obj);
  if (c.pool->on_message) c.pool->on_message(c.index, *msg);
}

void mqtt_pool::on_publish_cb(mosquitto*, void* obj, int mid) {
  auto& c = *static_cast<client*>(obj);
  if (c.pool->on_published) c.pool->on_published(c.index, mid);
}

void mqtt_pool::on_disconnect_cb(mosquitto*, void* obj, int rc) {
  auto& c = *static_cast<client*>(obj);
  c.connected = false;
  if (rc != 0 && c.pool->error_.empty())
    c.pool->error_ = c.options.client_id + ": connection lost (" + mosquitto_strerror(rc) + ")";
}

void mqtt_pool::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (ready_ < static_cast<int>(clients_.size())) {
    if (!error_.empty()) throw std::runtime_error(error_);
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("only " + std::to_string(ready_) + " of " +
                               std::to_string(clients_.size()) + " MQTT clients became ready");
    poll(20);
  }
}

void mqtt_pool::poll(int timeout_ms) {
  epoll_event events[256];
  const int n = ::epoll_wait(epfd_, events, 256, timeout_ms);
  for (int i = 0; i < n; ++i) {
    auto& c = *static_cast<client*>(events[i].data.ptr);
    if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
      const int rc = mosquitto_loop_read(c.m, 1);
      if (rc != MOSQ_ERR_SUCCESS && c.fd >= 0) {
        // Connection gone: stop watching the socket (libmosquitto already closed it).
        ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
        c.fd = -1;
        if (error_.empty())
          error_ = c.options.client_id + ": read failed (" + mosquitto_strerror(rc) + ")";
        continue;
      }
    }
    if (events[i].events & EPOLLOUT) mosquitto_loop_write(c.m, 1);
    update_events(c);
  }
  const auto t = now_ms();
  if (t - last_misc_ms_ >= 1000) {
    last_misc_ms_ = t;
    for (auto* c : clients_)
      if (c->fd >= 0) mosquitto_loop_misc(c->m);
  }
}

int mqtt_pool::publish(int i, const std::string& topic, const void* payload, int len, int qos) {
  int mid = 0;
  const int rc = mosquitto_publish(clients_[static_cast<std::size_t>(i)]->m, &mid, topic.c_str(),
                                   len, payload, qos, false);
  if (rc != MOSQ_ERR_SUCCESS) return -1;
  return mid;
}

void mqtt_pool::flush() {
  for (auto* c : clients_) update_events(*c);
}

void mqtt_pool::disconnect_all() {
  for (auto* c : clients_) {
    if (c->fd >= 0) {
      mosquitto_disconnect(c->m);
      mosquitto_loop_write(c->m, 1);
      ::epoll_ctl(epfd_, EPOLL_CTL_DEL, c->fd, nullptr);
      c->fd = -1;
    }
  }
}

}  // namespace bench
