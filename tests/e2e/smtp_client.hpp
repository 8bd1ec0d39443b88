// A minimal blocking SMTP client for end-to-end tests: exact control of the bytes sent
// (pipelining, bare LF, oversize lines, stalls) and whole replies read back.
//
// Every read has a time-out so a broken server fails the test instead of hanging it.
// Not thread-safe.
#pragma once

#include <chrono>
#include <string>

namespace tlsrelay::e2e {

class SmtpClient {
 public:
  explicit SmtpClient(unsigned short port, const std::string& host = "127.0.0.1");
  ~SmtpClient();
  SmtpClient(const SmtpClient&) = delete;
  SmtpClient& operator=(const SmtpClient&) = delete;

  void send(const std::string& bytes);
  // Reads one whole (multi-line) reply; "" when the connection closed or timed out.
  std::string reply(std::chrono::milliseconds limit = std::chrono::seconds(30));
  // send(line + "\r\n") then reply().
  std::string cmd(const std::string& line);
  // Code of a reply text, 0 for "".
  static int code(const std::string& reply);
  // True when the server has closed the connection (reads EOF within `limit`).
  bool closed(std::chrono::milliseconds limit = std::chrono::seconds(5));

 private:
  int fd_ = -1;
  std::string buffer_;
};

}  // namespace tlsrelay::e2e
