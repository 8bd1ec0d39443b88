// What the end-to-end tests share: the paths of the binaries under test, one set of test
// certificates per run, starting a misbehaving peer, running `tlsrelay probe --json`, and
// checking that an attempt record carries every field of the contract.
//
// Not thread-safe; Catch2 runs test cases one after another.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/process.hpp"

namespace tlsrelay::e2e {

const std::string& tlsrelay_bin();
const std::string& testpeer_bin();
// Certificates from `tlsrelay-testpeer gen-certs`, made once per test run.
const std::string& cert_dir();
std::string cert(const std::string& file);

// `tlsrelay-testpeer smtp --cert-dir ... --watch-stdin` plus extra, optionally prefixed by a
// command such as {"ip", "netns", "exec", NAME}.
std::vector<std::string> peer_argv(const std::vector<std::string>& extra,
                                   const std::vector<std::string>& prefix = {});

struct Probe {
  int exit_code = -1;
  nlohmann::json record;
  std::string raw;
  std::string err;
};
// Runs `[prefix...] tlsrelay probe --json ARGS`; fails the test unless stdout holds exactly
// one JSON object.
Probe probe(const std::vector<std::string>& args, const std::vector<std::string>& prefix = {});

// The usual local probe: --ca-file ca.pem --connect 127.0.0.1 --timeout T mx.test:PORT.
std::vector<std::string> local_args(unsigned short port, const std::vector<std::string>& extra = {},
                                    const std::string& timeout = "3");

// The whole content of a file ("" when it cannot be read).
std::string read_file(const std::string& path);
// A loopback port that was free a moment ago (bind to port 0, read it, close).
unsigned short free_port();

// Every required key of interfaces.md is present, with the right JSON type, and class,
// group, rfc8460, fault agree with failure-classes.md.
void require_complete_record(const nlohmann::json& record);

}  // namespace tlsrelay::e2e
