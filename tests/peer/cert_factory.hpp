// gen-certs: builds the test PKI in-process with OpenSSL (no openssl CLI) and writes it as
// PEM files: a trusted root and intermediate, one "certificate set" per server misbehaviour
// (NAME.key + NAME.chain.pem, the chain holding exactly what the server sends, leaf first),
// an untrusted private hierarchy and a client-certificate CA.
// Limits: RSA only; serials are random, so two runs never produce the same files.
// Thread-safety: write_certificate_sets() shares no state and may run on any thread.
#pragma once

#include <filesystem>
#include <string_view>
#include <vector>

namespace tlsrelay::testpeer {

// The names of the certificate sets write_certificate_sets() produces, for --cert checks.
const std::vector<std::string_view>& certificate_set_names();

// Creates dir if needed and writes every file; throws std::runtime_error on failure.
void write_certificate_sets(const std::filesystem::path& dir);

}  // namespace tlsrelay::testpeer
