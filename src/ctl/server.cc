#include "ctl/server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>

#include "ctl/protocol.h"
#include "log.h"
#include "supervisor.h"
#include "sys/format.h"

namespace oxinit::ctl {

namespace {

constexpr uint64_t kListenSlot = 0xffffff;

void tap(void* ctx, uint32_t channel, std::string_view line) { static_cast<Server*>(ctx)->on_line(channel, line); }

// "web" names web and, when it has instances, each of web.0, web.1, ...
bool names(std::string_view service, std::string_view name) {
  return service.starts_with(name) && (service.size() == name.size() || (service[name.size()] == '.' &&
                                                                          name.find('.') == std::string_view::npos));
}

void add(Str& a, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void add(Str& a, const char* fmt, ...) {
  char b[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = vformat(b, sizeof b, fmt, ap);
  va_end(ap);
  a += std::string_view(b, n);
}

// How it last ended: "exited with 3", "killed by SIGKILL" (JSON: {"code":3},
// {"signal":"SIGKILL"}); none when it never ended. b holds 48 bytes.
const char* last_exit(const Service& s, char* b, const char* none = nullptr, bool json = false) {
  if (!s.exited && s.starts <= 1) return none;
  if (s.last_signal) {
    char sig[16];
    format(b, 48, json ? "{\"signal\":\"%s\"}" : "killed by %s", signal_name(s.last_signal, sig));
  } else {
    format(b, 48, json ? "{\"code\":%d}" : "exited with %d", s.last_code);
  }
  return b;
}

}  // namespace

// path "": OXINIT_CONTROL_SOCKET, else the default.
Server::Server(Supervisor& sup, std::string_view path) : sup_(sup) {
  const char* env = getenv("OXINIT_CONTROL_SOCKET");
  path_ += !path.empty() ? path : env && *env ? env : kDefaultSocket;
}
Server::~Server() { delete[] clients_; }

void Server::start(Loop& loop, uint64_t kind) {
  loop_ = &loop;
  kind_ = kind;
  const char* path = path_.c_str();
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  auto* sa = reinterpret_cast<sockaddr*>(&a);
  int r = -1;
  errno = ENAMETOOLONG;
  if (path_.size() < sizeof a.sun_path && path[0] == '/') {
    std::memcpy(a.sun_path, path, path_.size());
    // Its directory, private when oxinit makes it (the default /run/oxinit).
    char* slash = strrchr(a.sun_path, '/');  // path starts with '/'
    *slash = 0;
    if (*a.sun_path) mkdir(a.sun_path, 0700);
    *slash = '/';
    listen_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    r = bind(listen_.get(), sa, sizeof a);
    struct stat st;
    if (r < 0 && errno == EADDRINUSE && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
      // A socket file nobody accepts on (its oxinit is gone) is replaced;
      // one that answers belongs to another oxinit.
      UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      if (connect(probe.get(), sa, sizeof a) < 0 && errno == ECONNREFUSED) {
        unlink(path);
        r = bind(listen_.get(), sa, sizeof a);
      } else {
        errno = EADDRINUSE;
      }
    }
    if (r == 0 && (chmod(path, 0600) < 0 || listen(listen_.get(), 16) < 0 ||
                   !loop.add(listen_.get(), EPOLLIN, kind | kListenSlot))) {
      unlink(path);
      r = -1;
    }
  }
  if (r == 0) return;
  OX_WARN("control socket %s: unable to listen: %s; oxinit goes on without one", path, strerror(errno));
  listen_.reset();
}

void Server::stop() {
  for (size_t i = 0; clients_ && i < kMaxClients; i++) close_client(clients_[i]);
  if (listen_.valid()) {
    listen_.reset();
    unlink(path_.c_str());
  }
}

Millis Server::deadline() const {
  Millis d = relisten_at_;
  for (size_t i = 0; clients_ && i < kMaxClients; i++) {
    Millis c = clients_[i].deadline;
    if (c != kNoDeadline && (d == kNoDeadline || c < d)) d = c;
  }
  return d;
}

void Server::on_deadline(Millis now) {
  if (relisten_at_ != kNoDeadline && relisten_at_ <= now) {
    relisten_at_ = kNoDeadline;
    (void)loop_->add(listen_.get(), EPOLLIN, kind_ | kListenSlot);
  }
  for (size_t i = 0; clients_ && i < kMaxClients; i++) {
    if (clients_[i].deadline != kNoDeadline && clients_[i].deadline <= now) close_client(clients_[i]);
  }
}

void Server::on_event(uint64_t token, uint32_t) {
  size_t slot = token & 0xffffff;
  if (slot == kListenSlot) {
    accept_clients();
  } else if (slot < kMaxClients && clients_[slot].fd.valid() && clients_[slot].gen == static_cast<uint32_t>(token >> 24)) {
    serve(clients_[slot]);
  }
}

void Server::accept_clients() {
  if (!clients_) clients_ = new Client[kMaxClients]();
  for (int k = 0; k < 16; k++) {
    UniqueFd fd(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
        // Out of descriptors or memory: the connection stays queued and the
        // listener readable; stop watching it for a second instead of
        // waking for it in a loop.
        OX_WARN("control socket: unable to accept a client: %s", strerror(errno));
        loop_->remove(listen_.get());
        relisten_at_ = now_ms() + 1000;
      }
      return;
    }
    ucred cr{};
    socklen_t len = sizeof cr;
    const char* refusal = nullptr;
    if (getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || (cr.uid != 0 && cr.uid != geteuid()))
      refusal = "1\noxinit ctl: permission denied: only root and oxinit's own user may use the control socket\n";
    // A free slot; when there is none, the client that has been silent
    // longest without a whole request makes room. Clients accepted in the
    // same millisecond share a deadline: the older one (lower gen) goes, or
    // each newcomer would evict the one before it.
    Client* slot = nullptr;
    for (size_t i = 0; i < kMaxClients && !refusal; i++) {
      Client& c = clients_[i];
      if (!c.fd.valid()) {
        slot = &c;
        break;
      }
      if (!c.answered && (!slot || c.deadline < slot->deadline || (c.deadline == slot->deadline && c.gen < slot->gen)))
        slot = &c;
    }
    if (!refusal && !slot) refusal = "1\noxinit ctl: too many clients; try again\n";
    if (refusal) {
      send(fd.get(), refusal, strlen(refusal), MSG_DONTWAIT | MSG_NOSIGNAL);
      continue;
    }
    close_client(*slot);
    slot->gen = ++gen_;
    uint64_t tok = kind_ | static_cast<uint64_t>(slot - clients_) | static_cast<uint64_t>(slot->gen) << 24;
    // Edge-triggered: one registration for the whole conversation; serve()
    // reads and writes until the socket would block.
    if (!loop_->add(fd.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, tok)) continue;
    slot->fd = std::move(fd);
    slot->deadline = now_ms() + kIdle;
  }
}

void Server::close_client(Client& c) {
  if (!c.fd.valid()) return;
  loop_->remove(c.fd.get());
  bool followed = c.follow >= 0;
  c.~Client();
  new (&c) Client();
  if (!followed) return;
  for (size_t i = 0; i < kMaxClients; i++) {
    if (clients_[i].follow >= 0) return;
  }
  sup_.logs().set_tap(nullptr, nullptr);
}

void Server::serve(Client& c) {
  char buf[1024];
  for (;;) {
    ssize_t r = recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) break;
    // Gone, or more than one request (the answer to the first goes out as
    // far as it fits). A client that shut down its side after its request
    // still gets the whole answer.
    if (r == 0 && c.answered && c.follow < 0) break;
    if (r <= 0 || c.answered) {
      flush(c);
      return close_client(c);
    }
    c.deadline = now_ms() + kIdle;
    size_t keep = static_cast<size_t>(r);
    if (c.in.size() + keep > kMaxRequest) keep = kMaxRequest - c.in.size();
    c.in += std::string_view(buf, keep);
    std::string_view in = c.in;
    size_t nl = in.find('\n');
    if (nl != std::string_view::npos) answer(c, std::string_view(in.data(), nl));
    else if (c.in.size() >= kMaxRequest) queue(c, "2\noxinit ctl: request too long\n");
    if (!c.fd.valid()) return;
  }
  flush(c);
}

void Server::queue(Client& c, std::string_view data) {
  c.answered = true;
  size_t total = 0;
  for (size_t i = 0; i < kMaxClients; i++) total += clients_[i].out.size() - clients_[i].sent;
  if (c.out.size() - c.sent + data.size() > kMaxPending || total + data.size() > kMaxPendingTotal)
    return close_client(c);  // it does not read what it asked for
  if (c.sent > c.out.size() / 2) {
    drop_front(c.out, c.sent);
    c.sent = 0;
  }
  c.out += data;
}

void Server::flush(Client& c) {
  while (c.fd.valid() && c.sent < c.out.size()) {
    ssize_t w = send(c.fd.get(), c.out.c_str() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) return;
    if (w <= 0) return close_client(c);
    c.sent += static_cast<size_t>(w);
    c.deadline = now_ms() + kIdle;
  }
  if (!c.fd.valid() || !c.answered) return;
  if (c.follow < 0) return close_client(c);
  c.deadline = kNoDeadline;  // following, all written: it may wait for lines as long as it likes
}

void Server::on_line(uint32_t channel, std::string_view line) {
  for (size_t i = 0; i < kMaxClients; i++) {
    Client& c = clients_[i];
    if (c.follow != static_cast<int>(channel)) continue;
    queue(c, line);
    queue(c, "\n");
    flush(c);
  }
}

void Server::answer(Client& c, std::string_view line) {
  Request rq;
  Str a, body;
  bool ok = parse_request(line, rq, body);
  add(a, ok ? "%d\n" : "%d\noxinit ctl: ", ok ? run(c, rq, body) : kUsage);
  a += body;
  if (!ok) a += '\n';
  c.in.clear();
  queue(c, a);
}

bool Server::wanted(const Request& rq, size_t i) const {
  if (sup_.services()[i].removed) return false;
  for (size_t k = 0; k < rq.count; k++) {
    if (names(sup_.services()[i].spec->name, rq.names[k])) return true;
  }
  return false;
}

int Server::run(Client& c, const Request& rq, Str& a) {
  const std::vector<Service>& all = sup_.services();
  size_t n = all.size(), first = n;
  // Every name must stand for a service.
  for (size_t k = 0; k < rq.count; k++) {
    for (first = 0; first < n && (all[first].removed || !names(all[first].spec->name, rq.names[k]));) first++;
    if (first == n) {
      add(a, "oxinit ctl: no service named %.*s\n", static_cast<int>(rq.names[k].size()), rq.names[k].data());
      return kFailed;
    }
  }
  // (ifs, not a switch: its jump table is larger.)
  Verb v = rq.verb;
  if (v == Verb::Status) {
    status(rq, a);
    return kOk;
  }
  if (v == Verb::Health) return health(a);
  if (v == Verb::Reload) return reload(a);
  if (v == Verb::Shutdown) {
    sup_.shutdown_by_hand(rq.action);
    a += "shutting down\n";
    return kOk;
  }
  if (v == Verb::Logs) {
    const ServiceSpec& spec = *all[first].spec;
    const char* name = spec.name.c_str();
    if (std::string_view(name, spec.name.size()) != rq.names[0]) {
      add(a, "oxinit ctl: %s has instances: name one (%s, ...)\n", name, name);
      return kUsage;
    }
    if (spec.log == LogMode::Inherit || spec.log == LogMode::Null) {
      add(a, "oxinit ctl: %s: oxinit keeps none of its output (log = %s)\n", name,
          spec.log == LogMode::Null ? "null" : "inherit");
      return kFailed;
    }
    Logs& logs = sup_.logs();
    int ch = logs.channel(spec.name, rq.follow);
    a += logs.tail(ch, rq.lines);  // (a comes empty)
    if (rq.follow) {
      c.follow = ch;
      logs.set_tap(tap, this);
    }
    return kOk;
  }
  int code = kOk;
  for (size_t i = 0; i < n; i++) {
    if (!wanted(rq, i)) continue;
    Service& s = sup_.at(i);  // acted on through the supervisor only
    const char* name = s.spec->name.c_str();
    const char* why = nullptr;  // what kept it from being done
    char b[24] = "";
    if (v == Verb::Signal) {
      if (s.pid > 0 && kill(s.pid, rq.signal) == 0) {
        add(a, "%s: %s sent to pid %d\n", name, signal_name(rq.signal, b), s.pid);
        continue;
      }
      why = "not running";
    } else if (s.spec->is_main) {
      why = "the main command is not started or stopped by hand (oxinit ctl shutdown)";
    } else if (v == Verb::Start) {
      if (sup_.start_by_hand(s) == Supervisor::ByHand::DepDown)
        why = "not started: a service it comes after is failed or stopped";
    } else if (v == Verb::Stop) {
      sup_.stop_by_hand(s);
    } else {
      sup_.restart_by_hand(s);
    }
    if (why) {
      add(a, "%s: %s\n", name, why);
      code = kFailed;
      continue;
    }
    if (s.pid > 0) format(b, sizeof b, ", pid %d", s.pid);
    add(a, "%s: %s%s%s%s\n", name, state_name(s.state), b,
        s.state == State::Waiting ? ", waiting for the services it comes after" : "",
        s.start_after_stop ? ", starts again once stopped" : "");
  }
  return code;
}

// memory.current (with the memory controller on) and cpu.stat's usage_usec
// of its group (k 0, 1), while it has one: JSON as read, text in MiB and
// seconds ("%.0llu" of 0 prints nothing); none without. Out of line: GCC
// would unroll the two calls' loop. cg: null when s has no group (Supervisor::cgroup_of).
[[gnu::noinline]] static const char* cgroup_usage(const Cgroups* cg, const Service& s, size_t k, bool json,
                                                  char* b, const char* none) {
  static const char* const kCgroupUsage[] = {"memory.current", "\n", "cpu.stat", "\nusage_usec "};
  uint64_t v, unit = json ? 1 : k ? 1000000 : 1048576;
  if (!cg || !cg->number(s.spec->name, kCgroupUsage[2 * k], kCgroupUsage[2 * k + 1], v))
    return none;
  format(b, 24, json ? "%llu%.0llu" : k ? "%llu.%02llus" : "%llu.%lluM", static_cast<unsigned long long>(v / unit),
         static_cast<unsigned long long>(v % unit * (k ? 100 : 10) / unit));
  return b;
}

// JSON: s as a string, or null when empty.
[[gnu::noinline]] static void json_or_null(Str& a, std::string_view s) {
  if (s.empty()) add(a, "null");
  else json_string(a, s);
}

void Server::status(const Request& rq, Str& a) {
  const std::vector<Service>& all = sup_.services();
  const Cgroups* cg = sup_.cgroups();  // usage columns where cgroups are in use
  Millis now = now_ms();
  bool json = rq.json;
  int width = 7;
  for (size_t i = 0; i < all.size(); i++) {
    int w = static_cast<int>(all[i].spec->name.size());
    if (w > width && (!rq.count || wanted(rq, i))) width = w;
  }
  // (a comes empty. The titles are padded as the rows' columns.)
  if (json) add(a, "{\"services\":[");
  else
    add(a, "%-*s  STATE         PID  UPTIME RESTARTS%s  LAST EXIT\n", width, "SERVICE", cg ? "   MEMORY      CPU" : "");
  const char* comma = "";
  for (size_t i = 0; i < all.size(); i++) {
    const Service& s = all[i];
    bool running = is_running(s.state);
    if ((rq.count && !wanted(rq, i)) || (s.removed && !running)) continue;
    const char* state = s.removed ? "removed" : state_name(s.state);
    unsigned restarts = s.starts > 1 ? s.starts - 1 : 0;
    const char* none = json ? "null" : "-";
    char pid[24], upt[24], last[48];
    const char* p = none;
    const char* up = none;
    if (s.pid > 0) {
      format(pid, sizeof pid, "%d", s.pid);
      p = pid;
    }
    if (running) {
      // Text: 4m05s, or 2h05m from an hour on.
      long long t = (now - s.started_at) / 1000;
      bool h = t >= 3600;
      format(upt, sizeof upt, json ? "%lld%.0lld" : h ? "%lldh%02lldm" : "%lldm%02llds",
             t / (json ? 1 : h ? 3600 : 60), json ? 0 : t / (h ? 60 : 1) % 60);
      up = upt;
    }
    const char* l = last_exit(s, last, none, json);
    std::string_view st = sup_.status_text(s);
    char use[2][24];
    const Cgroups* own = sup_.cgroup_of(s);
    const char* shown[2] = {cgroup_usage(own, s, 0, json, use[0], none), cgroup_usage(own, s, 1, json, use[1], none)};
    unsigned long long ooms = s.oom_kills;
    if (!json) {
      char cols[48] = "";
      if (cg) format(cols, sizeof cols, " %8s %8s", shown[0], shown[1]);
      add(a, "%-*s  %-9s %7s %7s %8u%s  %s%s%.*s", width, s.spec->name.c_str(), state, p, up, restarts, cols, l,
          st.empty() ? "" : "; ", static_cast<int>(st.size()), st.data());
      if (ooms) add(a, "; OOM kills: %llu", ooms);
      a += '\n';
      continue;
    }
    // A name is letters, digits, '_', '-' and '.' (the schema's valid_name):
    // nothing in it to escape.
    add(a,
        "%s{\"name\":\"%s\",\"state\":\"%s\",\"pid\":%s,\"uptime\":%s,\"restarts\":%u,\"last_exit\":%s,"
        "\"memory\":%s,\"cpu_usec\":%s,\"oom_kills\":%llu,\"probe\":",
        comma, s.spec->name.c_str(), state, p, up, restarts, l, shown[0], shown[1], ooms);
    comma = ",";
    // The last check's result and the STATUS= text, null without them.
    json_or_null(a, sup_.last_check(s));
    add(a, ",\"status\":");
    json_or_null(a, st);
    a += '}';
  }
  if (json) add(a, "]}\n");
}

// For HEALTHCHECK and exec probes: every service that should run is up
// (ready), every oneshot has succeeded; else one line saying why.
int Server::health(Str& a) {
  const std::vector<Service>& all = sup_.services();
  size_t bad = 0, n = 0;
  const Service* first = nullptr;
  for (const Service& s : all) {
    if (s.removed) continue;
    n++;
    // Stopped: by hand, so not meant to run now.
    bool ok = s.state == State::Done || s.state == State::Stopped ||
              (s.spec->type != ServiceType::Oneshot && s.state == State::Ready);
    if (!ok && !bad++) first = &s;
  }
  char b[48];
  if (!sup_.running()) {
    add(a, "unhealthy: oxinit is shutting down\n");
  } else if (first) {
    add(a, "unhealthy: %s is %s", first->spec->name.c_str(), state_name(first->state));
    if (!is_running(first->state) && last_exit(*first, b)) add(a, " (%s)", b);
    if (bad > 1) add(a, "; %zu services are not up", bad);
    a += '\n';
  } else {
    add(a, "healthy: %zu services\n", n);
    return kOk;
  }
  return kFailed;
}

int Server::reload(Str& a) {
  ReloadReport r;
  if (!sup_.reload(r)) {
    add(a, "oxinit ctl: reload: ");
    a += r.error.format();  // (any length: not through add)
    add(a, "\noxinit ctl: nothing changed\n");
    return kFailed;
  }
  a = r.summary;
  a += '\n';
  return kOk;
}

}  // namespace oxinit::ctl
