// Service output: per-service pipes -> line splitter -> a bounded queue per
// output (oxinit's stdout and stderr) -> non-blocking writes when the output
// is writable. A flooding service or a stdout nobody reads never blocks the
// loop: lines that do not fit are dropped and counted.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string_view>

#include "loop.h"
#include "sys/fd.h"
#include "sys/result.h"
#include "sys/str.h"

namespace oxinit {

constexpr size_t kMaxLine = 4096;           // a longer line is cut and flushed in pieces
constexpr size_t kOutputQueueCap = size_t{256} * 1024;

// Writes that never block: a private non-blocking handle on oxinit's stdout
// or stderr when one can be had, else the descriptor gated on EPOLLOUT.
class OutputSink {
 public:
  void open(int fd);
  int fd() const { return fd_; }
  bool pollable() const { return pollable_; }
  // Queues one whole line; drops it (and counts) when the queue is full.
  void push(std::string_view a, std::string_view b, std::string_view c);
  bool pending() const { return head_ < buf_.size(); }
  // Writes what the output takes now; true when something is still queued.
  bool flush();
  uint64_t dropped() const { return dropped_total_; }

 private:
  void note_drops();
  UniqueFd own_;
  int fd_ = -1;
  bool pollable_ = false;
  bool is_socket_ = false;
  Str buf_;
  size_t head_ = 0;
  uint64_t dropped_ = 0;        // since the last notice
  uint64_t dropped_total_ = 0;
};

// realloc(p, n > 0), which never fails (out of memory: abort, as operator new).
void* grow(void* p, size_t n);

// Logs' streams and channels: an array that only grows, its elements moved
// by realloc. Str and UniqueFd hold no pointer into themselves, so their
// bytes moved are them moved (trivially relocatable, as P1144 calls it);
// the allocator's power-of-two blocks make one realloc per append
// amortized O(1). One small grow() for both, where each std::vector<T> had
// its own reallocation and relocation code.
template <class T>
class Slots {
 public:
  Slots() = default;
  Slots(const Slots&) = delete;
  Slots& operator=(const Slots&) = delete;
  ~Slots() {
    for (T& t : *this) t.~T();  // cppcheck-suppress constVariable
    std::free(p_);
  }
  T& add() {
    p_ = static_cast<T*>(grow(p_, ++n_ * sizeof(T)));
    return *new (p_ + n_ - 1) T();
  }
  size_t size() const { return n_; }
  T& operator[](size_t i) { return p_[i]; }
  const T& operator[](size_t i) const { return p_[i]; }
  T* begin() { return p_; }
  T* end() { return p_ + n_; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

// Called with every line a service writes (`oxinit ctl logs -f`).
using LineTap = void (*)(void* ctx, uint32_t channel, std::string_view line);

class Logs {
 public:
  // token_base: the loop token kind for log events (low 32 bits: the slot).
  // Outputs default to oxinit's stdout and stderr.
  void init(Loop* loop, uint64_t token_base, bool timestamps, int out_fd = 1, int err_fd = 2);
  // [init] log_timestamps, log_format = "json", log_buffer (bytes kept per
  // service for `ctl logs`; 0: none).
  void configure(bool timestamps, bool json, uint32_t ring_bytes);
  // A pipe for one stream of a service; returns the write end for the child,
  // or an Error (e.g. EMFILE: the caller then lets the service inherit).
  // *ref names the stream for drain_stream(): slot and generation, so a
  // reference kept after the stream closed can never reach a stream that
  // later reuses the slot. 0 is no stream. With spec->log = File, its lines
  // go to that file (rotated) instead of oxinit's outputs.
  Result<UniqueFd> open_stream(std::string_view name, bool is_stderr, uint64_t* ref = nullptr,
                               const ServiceSpec* spec = nullptr);
  // A service's channel (its ring buffer and file; kept across restarts),
  // made when asked to (else -1 when it has none yet).
  int channel(std::string_view name, bool make = false);
  // Its last n lines, each ending in '\n' (a view into the ring).
  std::string_view tail(int channel, uint32_t n) const;
  void set_tap(LineTap tap, void* ctx) {
    tap_ = tap;
    tap_ctx_ = ctx;
  }
  // Reads what a stream holds now (its writer exited): the last lines of a
  // service come out before oxinit reports the exit. A stale ref is ignored.
  void drain_stream(uint64_t ref);
  // oxinit's own messages join the queues (log.h's sink) until release.
  void take_own_messages();
  void release_own_messages();
  // One line of oxinit's own (ends with '\n'; the text starts at `head`,
  // after "[WARN  oxinit (1)] "), stamped like service lines.
  void own_line(int level, std::string_view line, size_t head);
  // One loop event for `token`.
  void on_event(uint64_t token, uint32_t events);
  // Re-arms EPOLLOUT interest for outputs with queued data.
  void update_interest();
  // At exit: read what is left in the pipes, flush partial lines, and give
  // the outputs a bounded time to take the queue.
  void drain(Millis deadline);
  uint64_t dropped() const { return out_[0].dropped() + out_[1].dropped(); }

 private:
  struct Stream {
    UniqueFd fd;
    uint32_t gen = 0;  // bumped at every open_stream of this slot
    uint32_t channel = 0;
    bool is_stderr = false;
    Str partial;
  };
  // Per service, by name: what outlives its streams.
  struct Channel {
    Str name;
    Str ring;                // its last lines, each ending in '\n'
    Str path;                // log = "file:PATH"
    uint64_t max_size = 0;
    int keep = 0;
    UniqueFd file;
    uint64_t size = 0;
    bool file_failed = false;  // could not open it: lines go to oxinit's outputs
  };
  bool read_stream(size_t slot);
  void emit(Stream& s, std::string_view line);
  // One line, formatted (time stamp, JSON) into `line_`; name "" for oxinit's own.
  void format_line(std::string_view name, const char* kv, std::string_view line, bool prefix);
  bool write_file(Channel& c, std::string_view line, bool is_stderr);
  uint32_t bind_channel(std::string_view name, const ServiceSpec* spec);
  bool keep(Stream& s, std::string_view line);
  void own_json(int level, std::string_view line, size_t head);
  void json_line(std::string_view stamp, std::string_view name, const char* kv, std::string_view line);
  void close_stream(size_t slot);

  void open_outputs();
  void flush_outputs();

  Loop* loop_ = nullptr;
  uint64_t token_base_ = 0;
  int out_fds_[2] = {1, 2};
  bool outputs_open_ = false;  // opened at first use: exec mode never needs them
  bool timestamps_ = false;
  bool json_ = false;
  uint32_t ring_cap_ = 16384;
  LineTap tap_ = nullptr;
  void* tap_ctx_ = nullptr;
  Str line_;  // format_line's output
  Slots<Stream> streams_;
  Slots<Channel> channels_;
  OutputSink out_[2];
  bool watching_out_[2] = {false, false};
  bool own_messages_ = false;
};

// Drops the first n bytes of s (n <= s.size()): one call where the
// queues, the ring and the control socket's answers let go of what is done.
void drop_front(Str& s, size_t n);

// After our own write got EPIPE, the kernel also queued a SIGPIPE for this
// thread; take it off so it is not mistaken for one to forward.
void swallow_own_sigpipe();

}  // namespace oxinit
