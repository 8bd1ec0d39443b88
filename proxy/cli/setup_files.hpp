// The file work of `tlsrelay setup`: reading Postfix's files whole, writing ours and
// restoring Postfix's byte for byte, each write atomic (a temporary file in the same
// directory, then rename), so that a crash leaves the old file or the new one, never half.
//
// Failures throw SetupRefusal with a one-line message naming the file. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tlsrelay::proxy {

// A reason to stop that is no usage error: exit status 1, one line.
struct SetupRefusal : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The whole file; SetupRefusal when it cannot be read.
std::string read_whole_file(const std::string& path);
// The whole file, or nullopt when there is none; SetupRefusal for other errors.
std::optional<std::string> read_file_if_any(const std::string& path);

struct FileOwner {
  uid_t uid;
  gid_t gid;
};

// Writes `content` to `path` through a temporary file in the same directory with `mode`
// and, when given, `owner` set before any byte is written, then renames it over `path`.
void write_file_atomic(const std::string& path, const std::string& content, mode_t mode,
                       std::optional<FileOwner> owner = std::nullopt);

// Puts `content` back at `path`, byte for byte, keeping the present file's mode and owner
// (those of a new file: `mode`, root).
void restore_file(const std::string& path, const std::string& content, mode_t mode = 0644);

// Copies `from` into the directory `to_dir` under `name`, byte for byte, with from's mode.
void copy_file_into(const std::string& from, const std::string& to_dir, const std::string& name);

// The file's lines, trimmed, the empty ones left out; none when there is no file.
std::vector<std::string> read_lines(const std::string& path);

bool file_exists(const std::string& path);
// Creates the directory (and its parents) with `mode` when it is missing.
void make_directory(const std::string& path, mode_t mode);

}  // namespace tlsrelay::proxy
