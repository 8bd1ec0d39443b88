// Message data from our client, after "354" (DATA) or after a BDAT command, as logical
// lines: the anti-smuggling core of the relay.
//
// SMTP smuggling (SEC Consult 2023; CVE-2023-51764 Postfix, CVE-2023-51765 Sendmail,
// CVE-2023-51766 Exim) works when two servers disagree about where DATA ends, e.g. one
// accepts "\n.\n" and the other only "\r\n.\r\n". We end DATA only at the literal octets
// <CRLF>.<CRLF> (RFC 5321 4.1.1.4; the first CRLF may be the one that ended the DATA line),
// and we never forward the client's bytes: the lines come out of here and a DataWriter puts
// them on the upstream wire again, so no ambiguity survives the relay.
//
// Bare CR and bare LF (RFC 5321 2.3.8) are either refused (BareNewlines::Reject, the
// default) or turned into line breaks (Normalize). NUL is refused in both modes: removing it
// could turn a line into the empty line that ends the header section, or into a MIME
// boundary. Either way the reader goes on to the real <CRLF>.<CRLF> before it reports Done,
// so whatever was smuggled after a fake terminator is consumed as data and never seen as
// commands.
//
// The Normalize dot rule: a line that begins after a real CRLF is dot-unstuffed as RFC 5321
// 4.5.2 says; a line that begins after a bare CR or LF was never a line to the sender, so a
// dot there is content and is kept (the DataWriter stuffs it again). A "." line ended by a
// bare line ending is content ".", never end of data.
//
// Limits are checked before a byte is buffered: at most one line is held (max_line), and
// the message size (RFC 1870 counting: content and CRLFs, no stuffing dots) is capped.
// After an error no more lines are emitted and nothing is buffered; the caller must abandon
// whatever it has passed on (RSET upstream, never the final "."). I/O-free; one reader per
// message or reset() between messages; not thread-safe.
//
// Speed (issue 22): most lines of most messages need nothing done to them. At a line start
// the reader looks ahead through the block it was fed (memchr for LF, then for CR within the
// line; NUL once per block) and hands a run of such lines over whole, as CleanLines, which a
// DataWriter copies to the wire as they are. Any line that needs a decision (a leading dot, a bare
// CR or LF, a NUL, a limit, an unfinished line) goes through the octet-by-octet path above, which
// alone decides everything else; the fast path only ever takes lines that path would emit
// unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/modes.hpp"
#include "common/smtp_reply.hpp"
#include "proxy/server/limits.hpp"

namespace tlsrelay::proxy {

struct DataLimits {
  std::size_t max_line = kMaxTextLine;  // octets incl. CRLF, excl. a stuffing dot
  std::uint64_t max_size = kDefaultMaxMessageSize;
  BareNewlines bare_newlines = BareNewlines::Reject;
};

// Receives each logical line: content only, never CR, LF or NUL in it.
using LineSink = std::function<void(std::string_view line)>;

namespace detail {
class LineCore;
}

// A run of whole lines exactly as our client sent them, each checked by the reader: it ends
// in CRLF, holds no other CR, LF or NUL, does not begin with "." (so it needs no stuffing
// and cannot be the end of data) and is within the line and size limits. Only the reader
// makes one, so a DataWriter may copy it to the upstream wire as it is. A view into the
// bytes passed to feed(): valid only during the sink call.
class CleanLines {
 public:
  std::string_view bytes() const { return bytes_; }  // the lines with their CRLFs
  std::uint64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The first line's content (without its CRLF) and the lines after it (still clean).
  std::pair<std::string_view, CleanLines> split_first() const;
  // Each line's content, without its CRLF, in order.
  void each(const LineSink& sink) const;

 private:
  friend class detail::LineCore;
  CleanLines(std::string_view bytes, std::uint64_t count) : bytes_(bytes), count_(count) {}

  std::string_view bytes_;
  std::uint64_t count_ = 0;
};

// Receives runs of clean lines; they count in lines() like lines passed one by one.
using CleanLinesSink = std::function<void(const CleanLines& lines)>;

namespace detail {

// The line assembly shared by both readers: line endings, the bare CR/LF/NUL policy,
// limits and counters; with `dots`, also unstuffing and the end-of-data sequence.
class LineCore {
 public:
  LineCore(const DataLimits& limits, bool dots);
  // Consumes octets until all are used or (with dots) the end of data; returns how many.
  // Runs of clean lines go to `runs`, or (null) line by line to `sink`.
  std::size_t consume(std::string_view bytes, const LineSink& sink, const CleanLinesSink* runs);
  // BDAT LAST: the message ends here; a held CR or an unterminated line is settled.
  void finish(const LineSink& sink);
  void fail(Reply reply);
  void reset();

  bool done() const { return done_; }
  const std::optional<Reply>& error() const { return error_; }
  std::uint64_t size() const { return size_; }
  std::uint64_t lines() const { return lines_; }
  bool eight_bit() const { return eight_bit_; }
  std::uint64_t wire_bytes() const { return wire_bytes_; }
  const DataLimits& limits() const { return limits_; }

 private:
  // At a clean line start: the clean lines that begin `bytes` (which has no NUL before
  // nul_at), handed over as one run.
  std::size_t clean_run(std::string_view bytes, std::size_t nul_at, const LineSink& sink,
                        const CleanLinesSink* runs);
  void content(char c);
  void append(std::string_view run);
  void bare_ending(const LineSink& sink);
  void nul();
  void end_line(bool crlf, const LineSink& sink);

  DataLimits limits_;
  bool dots_;
  std::string line_;
  bool cr_ = false;           // a CR is held until the next octet says whether it is CRLF
  bool real_start_ = true;    // the current line began after CRLF (or at the start of data)
  std::size_t wire_len_ = 0;  // octets of the current line on the wire, ending excluded
  bool first_dot_ = false;    // the current line began with "." at a real start
  bool done_ = false;
  std::optional<Reply> error_;
  std::uint64_t size_ = 0;
  std::uint64_t lines_ = 0;
  bool eight_bit_ = false;
  std::uint64_t wire_bytes_ = 0;
};

}  // namespace detail

// DATA: fed whatever arrived after the 354, in chunks of any size.
class DataReader {
 public:
  enum class Status { NeedMore, Done };
  struct Result {
    Status status;
    // Octets of `bytes` that belonged to the message, the terminating "\r\n.\r\n" included.
    // The rest (bytes.substr(consumed)) is the client's next commands (RFC 2920
    // pipelining) and must go back to the command reader.
    std::size_t consumed;
  };

  explicit DataReader(DataLimits limits = {});

  // After Done, consumes nothing and returns Done again.
  Result feed(std::string_view bytes, const LineSink& sink);
  Result feed(std::string_view bytes, std::vector<std::string>& lines);
  // The same lines, runs of clean ones (in order with the others) to `runs`.
  Result feed(std::string_view bytes, const LineSink& sink, const CleanLinesSink& runs);

  bool done() const { return core_.done(); }
  // Set at the first problem and kept: the reply for the client after the final ".".
  // "554 5.5.2" bare CR/LF/NUL, "500 5.5.0" line too long, "552 5.3.4" too big.
  const std::optional<Reply>& error() const { return core_.error(); }
  std::uint64_t size() const { return core_.size(); }              // RFC 1870 size, up to an error
  std::uint64_t lines() const { return core_.lines(); }            // lines emitted
  bool eight_bit() const { return core_.eight_bit(); }             // an octet >= 0x80 was seen
  std::uint64_t wire_bytes() const { return core_.wire_bytes(); }  // all octets consumed
  void reset() { core_.reset(); }

 private:
  detail::LineCore core_;
};

// BDAT (RFC 3030): each chunk is exactly the announced number of octets; no dot handling,
// no terminator. The bare CR/LF/NUL policy holds across chunks (a CR ending one chunk and
// an LF starting the next are a CRLF). Not for BODY=BINARYMIME, whose content has no
// lines: do not advertise BINARYMIME to the client while this reader is in use.
class BdatReader {
 public:
  enum class Status {
    NeedMore,   // the chunk wants more octets
    ChunkDone,  // this chunk is complete (and not LAST): answer the BDAT, await the next
    Done        // the LAST chunk is complete: the message is whole (or error() says not)
  };
  struct Result {
    Status status;
    std::size_t consumed;  // octets of `bytes` that belonged to the chunk
  };

  explicit BdatReader(DataLimits limits = {});

  // "BDAT size [LAST]" was read. Only when no chunk is in progress. A chunk that would
  // take the message past max_size fails here, before any of it is read; its octets are
  // still consumed (the client sends them regardless) and discarded.
  void begin_chunk(std::uint64_t size, bool last);
  // Between chunks (no begin_chunk yet) consumes nothing and returns ChunkDone; after
  // Done, consumes nothing and returns Done. A zero-size chunk completes on an empty feed.
  Result feed(std::string_view bytes, const LineSink& sink);
  Result feed(std::string_view bytes, std::vector<std::string>& lines);
  Result feed(std::string_view bytes, const LineSink& sink, const CleanLinesSink& runs);

  bool in_chunk() const { return in_chunk_; }
  std::uint64_t chunk_remaining() const { return remaining_; }
  bool done() const { return core_.done(); }
  const std::optional<Reply>& error() const { return core_.error(); }
  std::uint64_t size() const { return core_.size(); }
  std::uint64_t lines() const { return core_.lines(); }
  bool eight_bit() const { return core_.eight_bit(); }
  std::uint64_t wire_bytes() const { return core_.wire_bytes(); }
  void reset();

 private:
  Result feed_runs(std::string_view bytes, const LineSink& sink, const CleanLinesSink* runs);

  detail::LineCore core_;
  bool in_chunk_ = false;
  bool last_ = false;
  std::uint64_t remaining_ = 0;
  std::uint64_t announced_ = 0;  // sum of chunk sizes so far
};

}  // namespace tlsrelay::proxy
