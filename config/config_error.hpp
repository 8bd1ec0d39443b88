// The one exception type of configuration loading, and the place in a file it points at.
//
// Every message line reads "FILE:LINE:COL: what was expected", so editors and people can
// jump to it; a ConfigError may carry several lines (one per problem found). Exceptions are
// for start-up only (STYLE: no exceptions on the data path). Plain values; thread-safe.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace tlsrelay::config {

// A position in a configuration file; line and column count from 1, 0 when unknown.
struct SourceLocation {
  std::string file;
  int line = 0;
  int column = 0;
  // "FILE:LINE:COL"
  std::string to_string() const;
};

class ConfigError : public std::runtime_error {
 public:
  // One problem; `message` is the whole line (it names its own position, if any).
  explicit ConfigError(const std::string& message);
  // Several problems, one line each; what() joins them with '\n'.
  explicit ConfigError(std::vector<std::string> lines);
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::vector<std::string> lines_;
};

}  // namespace tlsrelay::config
