#include "logs.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "log.h"
#include "sys/format.h"

namespace oxinit {

void swallow_own_sigpipe() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  struct timespec zero = {0, 0};
  // A thread-directed signal is dequeued before a process-directed one
  // (dequeue_signal in kernel/signal.c), so this takes our own SIGPIPE.
  sigtimedwait(&s, nullptr, &zero);
}

void drop_front(Str& s, size_t n) { s = s.view().substr(n); }

void* grow(void* p, size_t n) {
  p = realloc(p, n);
  if (!p) abort();  // out of memory: nothing sensible is left to do
  return p;
}

void OutputSink::open(int fd) {
  fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) < 0) return;
  if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) return;  // never blocks for long
  if (S_ISSOCK(st.st_mode)) {
    is_socket_ = true;  // send(MSG_DONTWAIT) does not block
    pollable_ = true;
    return;
  }
  // A pipe, FIFO or terminal: a new open file description via /proc has its
  // own O_NONBLOCK, so children that share fd 1 keep their blocking writes
  // (setting O_NONBLOCK on the shared description would break them: fcntl(2)).
  char path[40] = "/proc/self/fd/";
  format_int(path + 14, fd);
  int own = ::open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (own >= 0) {
    own_.reset(own);
    fd_ = own;
  }
  pollable_ = true;
}

void OutputSink::push(std::string_view a, std::string_view b, std::string_view c) {
  size_t n = a.size() + b.size() + c.size();
  if (head_ == buf_.size()) {
    buf_.clear();
    head_ = 0;
  }
  if (buf_.size() - head_ + n > kOutputQueueCap) {
    dropped_++;
    dropped_total_++;
    return;
  }
  if (head_ > kOutputQueueCap / 2) {  // compact now and then
    drop_front(buf_, head_);
    head_ = 0;
  }
  buf_ += a;
  buf_ += b;
  buf_ += c;
}

void OutputSink::note_drops() {
  if (!dropped_ || pending()) return;
  char line[96];
  size_t n = format(line, sizeof line, "oxinit | dropped %llu lines: output was not being read\n",
                   static_cast<unsigned long long>(dropped_));
  dropped_ = 0;
  push(std::string_view(line, n), {}, {});
}

bool OutputSink::flush() {
  for (int round = 0; round < 64 && pending(); round++) {
    size_t n = buf_.size() - head_;
    // Without a private non-blocking handle, a pipe write of at most PIPE_BUF
    // after EPOLLOUT cannot block (pipe(7)).
    if (!own_.valid() && !is_socket_ && pollable_ && n > 4096) n = 4096;
    ssize_t w = is_socket_ ? send(fd_, buf_.c_str() + head_, n, MSG_DONTWAIT | MSG_NOSIGNAL)
                           : write(fd_, buf_.c_str() + head_, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      if (errno == EPIPE) swallow_own_sigpipe();
      // The output is gone (EPIPE, EIO): count the queue as dropped.
      dropped_total_++;
      buf_.clear();
      head_ = 0;
      return false;
    }
    head_ += static_cast<size_t>(w);
    if (!own_.valid() && !is_socket_ && pollable_) break;  // one write per EPOLLOUT
    if (!pending()) note_drops();
  }
  if (!pending()) note_drops();
  return pending();
}

void Logs::init(Loop* loop, uint64_t token_base, bool timestamps, int out_fd, int err_fd) {
  loop_ = loop;
  token_base_ = token_base;
  timestamps_ = timestamps;
  out_fds_[0] = out_fd;
  out_fds_[1] = err_fd;
}


void Logs::open_outputs() {
  if (outputs_open_) return;
  outputs_open_ = true;
  out_[0].open(out_fds_[0]);
  out_[1].open(out_fds_[1]);
}

Result<UniqueFd> Logs::open_stream(std::string_view name, bool is_stderr, uint64_t* ref, const ServiceSpec* spec) {
  int p[2];
  open_outputs();
  if (pipe2(p, O_CLOEXEC) < 0) return errno_error("pipe2");
  UniqueFd rd(p[0]), wr(p[1]);
  // Only oxinit's end is non-blocking: the child's is its stdout (fcntl(2);
  // a new pipe's end has no other status flag to keep).
  fcntl(rd.get(), F_SETFL, O_NONBLOCK);
  size_t slot = 0;
  while (slot < streams_.size() && streams_[slot].fd.valid()) slot++;
  if (slot == streams_.size()) streams_.add();
  Stream& s = streams_[slot];
  s.channel = bind_channel(name, spec);
  s.is_stderr = is_stderr;
  s.partial.clear();
  if (auto r = loop_->add(rd.get(), EPOLLIN, token_base_ | slot); !r) return r.error();
  s.fd = std::move(rd);
  s.gen++;
  if (ref) *ref = static_cast<uint64_t>(s.gen) << 32 | slot;
  return wr;
}

void Logs::emit(Stream& s, std::string_view line) {
  if (keep(s, line)) return;  // it went to its log file
  format_line(channels_[s.channel].name, s.is_stderr ? "stderr" : "stdout", line, true);
  out_[s.is_stderr ? 1 : 0].push(line_, {}, {});
}

namespace {
Logs* g_own = nullptr;
void own_sink(void* ctx, int level, std::string_view line, size_t head) {
  static_cast<Logs*>(ctx)->own_line(level, line, head);
}
}  // namespace

void Logs::take_own_messages() {
  own_messages_ = true;
  g_own = this;
  set_log_sink(own_sink, this);
}

void Logs::release_own_messages() {
  if (g_own == this) set_log_sink(nullptr, nullptr);
  g_own = nullptr;
  own_messages_ = false;
}

void Logs::own_line(int level, std::string_view line, size_t head) {
  open_outputs();
  OutputSink& o = out_[level <= 1 ? 1 : 0];
  if (json_) {
    own_json(level, line, head);
    o.push(line_, {}, {});
  } else if (timestamps_) {
    format_line({}, "", line.substr(0, line.size() - 1), true);
    o.push(line_, {}, {});
  } else {
    o.push(line, {}, {});
  }
  flush_outputs();
}

void Logs::flush_outputs() {
  out_[0].flush();
  out_[1].flush();
  update_interest();
}

// One line as it goes out: text ("TIME name | line") or a JSON object.
// name "" is oxinit itself (kv: its level; else kv is the stream).
void Logs::format_line(std::string_view name, const char* kv, std::string_view line, bool prefix) {
  line_.clear();
  char stamp[40];
  size_t n = 0;
  if (timestamps_ || json_) {
    // RFC 3339 in UTC: a static binary has no time zone database.
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t secs = ts.tv_sec, rem = secs % 86400;
    // The civil date, counted from 1970-01-01 a year and then a month at a
    // time: a few dozen steps, less code than a closed form.
    int days = static_cast<int>(secs / 86400), year = 1970, month = 0;
    auto length = [&](int m) {  // of month m of `year`, or of the year for m = 12
      bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
      return m == 12 ? 365 + leap : m == 1 ? 28 + leap : 31 - ((m + (m > 6)) & 1);
    };
    for (; days >= length(12); year++) days -= length(12);
    for (; days >= length(month); month++) days -= length(month);
    n = format(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month + 1, days + 1,
               static_cast<int>(rem / 3600),
               static_cast<int>(rem / 60 % 60), static_cast<int>(rem % 60),
               static_cast<int>(ts.tv_nsec / 1000000));
  }
  if (json_) return json_line(std::string_view(stamp, n), name, kv, line);
  if (timestamps_) {
    line_ += std::string_view(stamp, n);
    line_ += ' ';
  }
  if (prefix && !name.empty()) {
    line_ += name;
    line_ += " | ";
  }
  line_ += line;
  line_ += '\n';
}

bool Logs::read_stream(size_t slot) {
  Stream& s = streams_[slot];
  char buf[16384];
  // One read per event: a flooding service gets its turn like everyone else.
  ssize_t n = read(s.fd.get(), buf, sizeof buf);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;
  std::string_view data(buf, static_cast<size_t>(n));
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view piece = data.substr(0, nl);
    if (nl == std::string_view::npos) {
      // Keep the partial line; cut it when it grows past kMaxLine.
      s.partial += piece;
      while (s.partial.size() >= kMaxLine) {
        emit(s, s.partial.view().substr(0, kMaxLine));
        drop_front(s.partial, kMaxLine);
      }
      break;
    }
    if (!s.partial.empty()) {
      s.partial += piece;
      emit(s, s.partial);
      s.partial.clear();
    } else {
      emit(s, piece);
    }
    data.remove_prefix(nl + 1);
  }
  return true;
}

void Logs::drain_stream(uint64_t ref) {
  size_t i = static_cast<size_t>(ref & 0xffffffffu);
  if (!ref || i >= streams_.size() || !streams_[i].fd.valid() || streams_[i].gen != ref >> 32) return;
  for (int k = 0; k < 16; k++) {
    if (!read_stream(i)) {
      close_stream(i);
      break;
    }
    // read_stream returns true on EAGAIN too; stop once the pipe is empty.
    int avail = 0;
    if (ioctl(streams_[i].fd.get(), FIONREAD, &avail) < 0 || avail == 0) break;
  }
  flush_outputs();
}

void Logs::close_stream(size_t slot) {
  Stream& s = streams_[slot];
  if (!s.partial.empty()) emit(s, s.partial);
  s.partial = Str();
  loop_->remove(s.fd.get());
  s.fd.reset();
}

void Logs::on_event(uint64_t token, uint32_t events) {
  uint32_t low = static_cast<uint32_t>(token & 0xffffffffu);
  if (low >= 0x80000000u) {  // an output became writable
    int i = static_cast<int>(low & 1);
    out_[i].flush();
  } else if (low < streams_.size() && streams_[low].fd.valid()) {
    bool open = true;
    if (events & EPOLLIN) open = read_stream(low);
    else if (events & (EPOLLHUP | EPOLLERR)) open = false;
    if (!open) close_stream(low);
    out_[streams_[low].is_stderr ? 1 : 0].flush();
  }
  update_interest();
}

void Logs::update_interest() {
  if (!outputs_open_) return;
  for (int i = 0; i < 2; i++) {
    if (!out_[i].pollable()) {
      if (out_[i].pending()) out_[i].flush();  // a file: plain writes
      continue;
    }
    bool want = out_[i].pending();
    if (want == watching_out_[i]) continue;
    uint64_t tok = token_base_ | 0x80000000u | static_cast<uint64_t>(i);
    if (want) {
      if (!loop_->add(out_[i].fd(), EPOLLOUT, tok)) {
        // Both outputs may be the same open file (2>&1); epoll refuses a
        // second registration of the same description: modify instead.
        if (!loop_->modify(out_[i].fd(), EPOLLOUT, tok)) continue;
      }
    } else {
      loop_->remove(out_[i].fd());
    }
    watching_out_[i] = want;
  }
}

void Logs::drain(Millis deadline) {
  for (size_t i = 0; i < streams_.size(); i++) {
    if (!streams_[i].fd.valid()) continue;
    for (int k = 0; k < 64 && read_stream(i); k++) {
    }
    close_stream(i);
  }
  for (int i = 0; i < 2; i++) {
    if (watching_out_[i]) loop_->remove(out_[i].fd());
    watching_out_[i] = false;
  }
  // Bounded: a stdout nobody reads must not keep PID 1 from exiting.
  while ((out_[0].pending() || out_[1].pending()) && now_ms() < deadline) {
    bool more0 = out_[0].flush(), more1 = out_[1].flush();
    if (!more0 && !more1) break;
    struct timespec t = {0, 10L * 1000 * 1000};
    nanosleep(&t, nullptr);
  }
}

}  // namespace oxinit
