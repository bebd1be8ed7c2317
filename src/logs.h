// Service output: per-service pipes -> line splitter -> a bounded queue per
// output (oxinit's stdout and stderr) -> non-blocking writes when the output
// is writable. A flooding service or a stdout nobody reads never blocks the
// loop: lines that do not fit are dropped and counted.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

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
  std::vector<char> buf_;
  size_t head_ = 0;
  uint64_t dropped_ = 0;        // since the last notice
  uint64_t dropped_total_ = 0;
};

class Logs {
 public:
  // token_base: the loop token kind for log events (low 32 bits: the slot).
  // Outputs default to oxinit's stdout and stderr.
  void init(Loop* loop, uint64_t token_base, bool timestamps, int out_fd = 1, int err_fd = 2);
  // A pipe for one stream of a service; returns the write end for the child,
  // or an Error (e.g. EMFILE: the caller then lets the service inherit).
  // *ref names the stream for drain_stream(): slot and generation, so a
  // reference kept after the stream closed can never reach a stream that
  // later reuses the slot. 0 is no stream.
  Result<UniqueFd> open_stream(std::string_view name, bool is_stderr, uint64_t* ref = nullptr);
  // Reads what a stream holds now (its writer exited): the last lines of a
  // service come out before oxinit reports the exit. A stale ref is ignored.
  void drain_stream(uint64_t ref);
  // oxinit's own messages join the queues (log.h's sink) until release.
  void take_own_messages();
  void release_own_messages();
  // One line of oxinit's own (ends with '\n'), stamped like service lines.
  void own_line(bool to_stderr, std::string_view line);
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
    Str prefix;  // "name | "
    bool is_stderr = false;
    std::vector<char> partial;
  };
  bool read_stream(size_t slot);
  void emit(Stream& s, std::string_view line);
  void push_line(bool to_stderr, std::string_view prefix, std::string_view line, std::string_view end);
  void close_stream(size_t slot);

  void open_outputs();
  void flush_outputs();

  Loop* loop_ = nullptr;
  uint64_t token_base_ = 0;
  int out_fds_[2] = {1, 2};
  bool outputs_open_ = false;  // opened at first use: exec mode never needs them
  bool timestamps_ = false;
  std::vector<Stream> streams_;
  OutputSink out_[2];
  bool watching_out_[2] = {false, false};
  bool own_messages_ = false;
};

// After our own write got EPIPE, the kernel also queued a SIGPIPE for this
// thread; take it off so it is not mistaken for one to forward.
void swallow_own_sigpipe();

}  // namespace oxinit
