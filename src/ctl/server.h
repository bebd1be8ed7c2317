// The control socket (`oxinit ctl`): a unix stream socket served in the one
// event loop. Only root and oxinit's own uid get in (SO_PEERCRED). A client
// sends one request line and gets one answer (protocol.h). Nobody can stall
// the loop or make oxinit allocate without bound: every descriptor is
// non-blocking, a request has at most kMaxRequest bytes, a client that sends
// nothing or reads nothing for kIdle is closed (a deadline, not a timer per
// client), there are at most kMaxClients at once, and what waits to be
// written is bounded per client and in total. The server only reads the
// supervisor's state and asks it to act (start, stop, reload): it never
// changes a service itself.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "loop.h"
#include "sys/fd.h"
#include "sys/str.h"

namespace oxinit {

class Supervisor;

namespace ctl {

struct Request;

constexpr const char* kDefaultSocket = "/run/oxinit/control.sock";
constexpr size_t kMaxClients = 32;
constexpr Millis kIdle = 10000;
constexpr size_t kMaxPending = size_t{1} << 20;      // unwritten answer bytes per client
constexpr size_t kMaxPendingTotal = size_t{8} << 20;  // ... and for all of them

class Server final : public Source {
 public:
  // Out of line: main.cc makes one in service mode only, and exec mode's
  // code keeps none of the server's. path "": OXINIT_CONTROL_SOCKET, else
  // kDefaultSocket.
  Server(Supervisor& sup, std::string_view path);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Makes the socket; a socket that cannot be made is a WARN, nothing more.
  void start(Loop& loop, uint64_t kind) override;
  void on_event(uint64_t token, uint32_t events) override;
  Millis deadline() const override;
  void on_deadline(Millis now) override;
  void stop() override;
  // A line a service wrote (Logs' tap), for `logs -f`.
  void on_line(uint32_t channel, std::string_view line);

 private:
  struct Client {
    UniqueFd fd;
    uint32_t gen = 0;
    bool answered = false;   // its answer is queued: closed once written (unless it follows)
    int follow = -1;         // logs -f: the log channel it follows
    Millis deadline = kNoDeadline;
    Str in;                  // the request so far
    Str out;                 // the answer, from `sent` on not yet written
    size_t sent = 0;
  };
  void accept_clients();
  void serve(Client& c);
  void answer(Client& c, std::string_view line);
  int run(Client& c, const Request& rq, Str& a);
  void status(const Request& rq, Str& a);
  int health(Str& a);
  int reload(Str& a);
  void queue(Client& c, std::string_view data);
  void flush(Client& c);
  void close_client(Client& c);
  bool wanted(const Request& rq, size_t i) const;

  Supervisor& sup_;
  Str path_;
  Loop* loop_ = nullptr;
  uint64_t kind_ = 0;
  UniqueFd listen_;
  uint32_t gen_ = 0;
  Millis relisten_at_ = kNoDeadline;  // accept ran out of descriptors: listen again then
  Client* clients_ = nullptr;  // kMaxClients of them, made when the first one comes
};

}  // namespace ctl
}  // namespace oxinit
