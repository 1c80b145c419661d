#pragma once
/// Many libmosquitto clients driven by ONE thread through epoll (libmosquitto's external-loop
/// API: mosquitto_socket / loop_read / loop_write / loop_misc), so a benchmark with 100 devices
/// does not need 100 threads competing with the server for the machine's 2 cores.
///
/// Not thread-safe: every call except `stop()` on the thread that calls `run()`.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct mosquitto;
struct mosquitto_message;

namespace bench {

struct mqtt_client_options {
  std::string client_id;
  std::string username;  // empty: none
  std::string password;
  bool clean_session = false;
  std::string subscribe_topic;           // empty: no subscription
  std::vector<std::string> more_topics;  // subscribed in the same SUBSCRIBE
  int qos = 1;
  int max_inflight = 0;  // client-side QoS 1 in-flight limit for publishing (0: library default)
};

class mqtt_pool {
 public:
  /// `ca_file` empty: plain TCP. Otherwise TLS, verifying the server against `ca_file`.
  mqtt_pool(std::string host, std::uint16_t port, std::string ca_file);
  ~mqtt_pool();
  mqtt_pool(const mqtt_pool&) = delete;
  mqtt_pool& operator=(const mqtt_pool&) = delete;

  /// Called on the pool's thread for every PUBLISH a client receives.
  std::function<void(int client, const mosquitto_message&)> on_message;
  /// Called when a client's QoS 1 publish is acknowledged (PUBACK).
  std::function<void(int client, int mid)> on_published;

  /// Creates and connects (TCP + TLS handshake start) a client; returns its index.
  int add(const mqtt_client_options& o);
  /// Drives the loop until every client is connected and subscribed, or the timeout. Throws
  /// with the first failure.
  void wait_ready(std::chrono::milliseconds timeout);

  /// One iteration: waits up to `timeout_ms` for socket events and handles them, writes what
  /// is queued, runs keep-alive housekeeping once a second.
  void poll(int timeout_ms);
  /// QoS `qos` publish from client `i`; returns the message id (or -1 on error).
  int publish(int i, const std::string& topic, const void* payload, int len, int qos);
  /// Flushes queued output of every client (after publishes made outside callbacks).
  void flush();

  std::size_t size() const { return clients_.size(); }
  /// DISCONNECT every client and close sockets.
  void disconnect_all();

  int ready_count() const { return ready_; }
  const std::string& first_error() const { return error_; }

 private:
  struct client;
  static void on_connect_cb(mosquitto*, void*, int rc);
  static void on_subscribe_cb(mosquitto*, void*, int, int, const int*);
  static void on_message_cb(mosquitto*, void*, const mosquitto_message*);
  static void on_publish_cb(mosquitto*, void*, int mid);
  static void on_disconnect_cb(mosquitto*, void*, int rc);
  void update_events(client& c);
  void register_socket(client& c);

  std::string host_;
  std::uint16_t port_;
  std::string ca_file_;
  int epfd_ = -1;
  std::vector<client*> clients_;
  int ready_ = 0;
  std::string error_;
  std::int64_t last_misc_ms_ = 0;
};

/// libmosquitto's global init/cleanup for the life of main().
struct mosquitto_library {
  mosquitto_library();
  ~mosquitto_library();
};

}  // namespace bench
