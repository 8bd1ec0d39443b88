// The changes `tlsrelay setup --apply` makes, in order, and how each is taken back when a
// later step fails before Postfix reloads: the backup of main.cf and master.cf (once, before
// the first setup), tlsrelay.toml and the secret (checked as check-config does), the
// postconf commands and postfix check, the units, postfix reload. And `--undo`: main.cf
// and master.cf back byte for byte, Postfix reloaded, the units stopped.
//
// Needs root. One line per step done on `out`; SetupRefusal with one line when a step
// fails. Not thread-safe.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "proxy/cli/setup_files.hpp"
#include "proxy/cli/setup_plan.hpp"

namespace tlsrelay::proxy {

// The backup in --config-dir holds main.cf and master.cf: setup --apply ran and was not
// undone.
bool backup_complete(const SetupPaths& paths);

// `user` owns the secret (the service user).
void apply_setup(const SetupOptions& options, const SetupPlan& plan,
                 const std::optional<std::string>& secret, const FileOwner& user,
                 std::ostream& out);

int undo_setup(const SetupOptions& options, std::ostream& out);

}  // namespace tlsrelay::proxy
