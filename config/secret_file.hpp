// Reading a credential (AUTH password, OAuth token) from a file of its own.
//
// The file must be a regular file with no group or other permissions (0600 or stricter):
// one that others can read may already be leaked and we refuse to spread it further. The
// secret is the file's content without its trailing line break; it must be non-empty, one
// line, at most 64 KiB. Reentrant; does file I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tlsrelay::config {

// Returns the secret, or throws ConfigError whose message is the reason without a
// position (the caller knows which key named the file).
std::string read_secret(const std::string& path);

// The one way we read a file that must be ours alone (secrets, the STARTTLS key): open it,
// then check the descriptor we got (fstat: a regular file, no group or other permissions,
// at most max_bytes), so that nothing can swap the file between a check and the open.
// `kind` names it in the message ("key file"). Throws ConfigError without a position.
std::string read_private_file(const std::string& path, std::string_view kind,
                              std::size_t max_bytes);

}  // namespace tlsrelay::config
