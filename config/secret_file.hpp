// Reading a credential (AUTH password, OAuth token) from a file of its own.
//
// The file must be a regular file with no group or other permissions (0600 or stricter):
// one that others can read may already be leaked and we refuse to spread it further. The
// secret is the file's content without its trailing line break; it must be non-empty, one
// line, at most 64 KiB. Reentrant; does file I/O.
#pragma once

#include <string>

namespace tlsrelay::config {

// Returns the secret, or throws ConfigError whose message is the reason without a
// position (the caller knows which key named the file).
std::string read_secret(const std::string& path);

}  // namespace tlsrelay::config
