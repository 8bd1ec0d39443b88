// Logical message lines back onto the wire for the upstream, and header fields we add.
//
// DataWriter is the other half of the anti-smuggling design (data_reader.hpp): the upstream
// only ever sees octets we produced, so every line ends in CRLF, CR and LF occur nowhere
// else, no NUL is sent, and a line beginning with "." is stuffed (RFC 5321 4.5.2). That
// holds whatever the caller passes: a CR or LF inside a "line" starts a new line, a NUL is
// dropped. For a BDAT upstream (RFC 3030) use Framing::Bdat: no stuffing and no final ".".
//
// format_header_field() builds an RFC 5322 header field whose value cannot inject another
// field: CR, LF, NUL and other control characters (HTAB aside) are removed, and it is
// folded at 78 characters where possible and never past 998.
//
// lines() takes a run of CleanLines from the reader, whose every line is already what this
// writer would put on the wire, and copies it whole (issue 22: no per-line work for the
// bulk of a message).
//
// No I/O; appends to the caller's string, which must outlive the writer. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/server/data_reader.hpp"
#include "proxy/server/limits.hpp"

namespace tlsrelay::proxy {

class DataWriter {
 public:
  enum class Framing { Data, Bdat };

  explicit DataWriter(std::string& out, Framing framing = Framing::Data);

  // Appends one logical line (without its line ending) and CRLF.
  void line(std::string_view content);
  // Appends lines the reader checked (data_reader.hpp), as they are.
  void lines(const CleanLines& run);
  // Framing::Data: appends ".\r\n", ending the message. Framing::Bdat: nothing to append;
  // the caller's last BDAT says LAST. Lines after finish() are a bug.
  void finish();

  std::uint64_t lines() const { return lines_; }
  bool finished() const { return finished_; }

 private:
  void one_line(std::string_view content);

  std::string* out_;
  Framing framing_;
  std::uint64_t lines_ = 0;
  bool finished_ = false;
};

// "Name: value" as one header field, without the final CRLF; when folded, the lines are
// joined by CRLF and each continuation begins with a space or tab. Folds before a space or
// tab; where a stretch has none, after a ";" (inserting a space, which is CFWS in
// structured fields such as Received or Authentication-Results); a single run longer than
// 998 characters is cut there. The result can be passed to DataWriter::line() as it is.
std::string format_header_field(std::string_view name, std::string_view value);

}  // namespace tlsrelay::proxy
