#include "proxy/cli/setup_apply.hpp"

#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "common/text.hpp"
#include "config/config_error.hpp"
#include "proxy/cli/check_config_command.hpp"
#include "proxy/cli/subprocess.hpp"

namespace tlsrelay::proxy {

namespace {

constexpr const char* kSystemdRunning = "/run/systemd/system";

// main.cf and master.cf as this run found them: what a failure before the reload puts back
// (the same as the backup on the first run; after it, the state this run started from).
struct PostfixFiles {
  std::string dir, main_cf, master_cf;
  void restore() const {
    restore_file(dir + "/main.cf", main_cf);
    restore_file(dir + "/master.cf", master_cf);
  }
};

// True when this run made the backup (false: an earlier setup's is kept).
bool back_up(const SetupPlan& plan, std::ostream& out) {
  const auto& p = plan.paths;
  if (backup_complete(p)) {
    out << "kept the backup of an earlier setup in " << p.backup << "/\n";
    return false;
  }
  // Built aside, then renamed into place: a backup is complete or absent, never half.
  const std::string building = p.backup + ".new";
  std::filesystem::remove_all(building);
  std::filesystem::remove_all(p.backup);
  make_directory(building, 0700);
  copy_file_into(plan.postfix_dir + "/main.cf", building, "main.cf");
  copy_file_into(plan.postfix_dir + "/master.cf", building, "master.cf");
  write_file_atomic(building + "/config_directory", plan.postfix_dir + "\n", 0600);
  if (file_exists(p.config)) copy_file_into(p.config, building, "tlsrelay.toml");
  std::filesystem::rename(building, p.backup);
  out << "backed up main.cf and master.cf to " << p.backup << "/\n";
  return true;
}

// Writes the configuration and the secret and checks them as the relay will read them;
// puts back what was there when the check fails.
void write_relay_files(const SetupOptions& o, const SetupPlan& plan,
                       const std::optional<std::string>& secret, const FileOwner& user,
                       std::ostream& out) {
  const auto& p = plan.paths;
  const auto old_config = read_file_if_any(p.config);
  const auto old_secret = read_file_if_any(p.secret);
  if (secret) write_file_atomic(p.secret, *secret + "\n", 0600, user);
  write_file_atomic(p.config, plan.config_text, 0644);
  try {
    CheckOptions check;
    check.as_user = o.service_user;
    (void)check_config(p.config, check);
  } catch (const config::ConfigError& e) {
    for (const auto& line : e.lines()) std::cerr << line << "\n";
    if (old_config) {
      restore_file(p.config, *old_config);
    } else {
      ::unlink(p.config.c_str());
    }
    if (old_secret) {
      restore_file(p.secret, *old_secret);
    } else if (secret) {
      ::unlink(p.secret.c_str());
    }
    throw SetupRefusal(
        "the configuration fails check-config (above): taken back; Postfix is "
        "not changed");
  }
  if (secret) out << "wrote " << p.secret << " (mode 0600, owner " << o.service_user << ")\n";
  out << "wrote " << p.config << " (check-config: ok)\n";
}

void change_postfix(const SetupPlan& plan, const PostfixFiles& before, std::ostream& out) {
  for (const auto& c : plan.postfix.changes) {
    const ProgramResult r = run_program(c.argv);
    if (!r.ok()) {
      before.restore();
      throw SetupRefusal(c.command_line() + " failed: " + r.first_line() +
                         "; main.cf and master.cf are put back");
    }
    out << "ran " << c.command_line() << "\n";
  }
  const ProgramResult check = run_program({"postfix", "check"});
  if (!check.ok()) {
    before.restore();
    std::cerr << check.err << check.out;
    throw SetupRefusal(
        "postfix check failed (above): main.cf and master.cf are put back as "
        "they were; tlsrelay's files stay in " +
        plan.paths.dir);
  }
  if (!check.err.empty()) std::cerr << check.err;  // its warnings
  out << "postfix check: ok\n";
}

void start_units(const SetupPlan& plan, const PostfixFiles& before, std::ostream& out) {
  if (plan.units.empty()) {
    out << "start the relay yourself: " << plan.start_by_hand() << "\n";
    return;
  }
  // Noted first: --undo stops what setup started, whatever happens next.
  write_file_atomic(plan.paths.backup + "/units", join(plan.units, "\n") + "\n", 0600);
  for (const auto& unit : plan.units) {
    // restart, not enable --now: a relay already running from an earlier setup reads its
    // listen addresses only when it starts.
    for (const std::string verb : {"enable", "restart"}) {
      const ProgramResult r = run_program({"systemctl", verb, unit});
      if (!r.ok()) {
        before.restore();
        std::cerr << r.err;
        throw SetupRefusal("systemctl " + verb + " " + unit + " failed (journalctl -u " + unit +
                           " -n 20 says why); main.cf and master.cf are put back");
      }
    }
    out << "started " << unit << " (enabled at boot)\n";
  }
}

void reload_postfix(std::ostream& out) {
  if (!run_program({"postfix", "status"}).ok()) {
    out << "Postfix is not running: it reads the new settings when it starts\n";
    return;
  }
  const ProgramResult r = run_program({"postfix", "reload"});
  if (!r.ok()) throw SetupRefusal("postfix reload failed: " + r.first_line());
  out << "postfix reload: ok\n";
}

}  // namespace

bool backup_complete(const SetupPaths& p) {
  return file_exists(p.backup + "/main.cf") && file_exists(p.backup + "/master.cf");
}

void apply_setup(const SetupOptions& o, const SetupPlan& plan,
                 const std::optional<std::string>& secret, const FileOwner& user,
                 std::ostream& out) {
  out << "\nApplying:\n";
  const bool new_dir = !file_exists(plan.paths.dir);
  make_directory(plan.paths.dir, 0755);
  const bool new_backup = back_up(plan, out);
  try {
    const PostfixFiles before{plan.postfix_dir, read_whole_file(plan.postfix_dir + "/main.cf"),
                              read_whole_file(plan.postfix_dir + "/master.cf")};
    write_relay_files(o, plan, secret, user, out);
    change_postfix(plan, before, out);
    start_units(plan, before, out);
  } catch (const SetupRefusal&) {
    // Postfix is as it was: a backup of it from this run would only make a later --undo
    // take back what the admin changes in between.
    if (new_backup) std::filesystem::remove_all(plan.paths.backup);
    if (new_dir) ::rmdir(plan.paths.dir.c_str());  // only when nothing of ours stayed
    throw;
  }
  reload_postfix(out);
  out << "\nDone: Postfix -> tlsrelay 127.0.0.1:" << plan.values.relay_port << " -> " << o.host
      << ":" << o.port << ". Status page: http://127.0.0.1:" << plan.values.http_port
      << "/. To undo: tlsrelay setup --undo"
      << (o.config_dir == kDefaultConfigDir ? "" : " --config-dir " + shell_quote(o.config_dir))
      << "\n";
}

int undo_setup(const SetupOptions& o, std::ostream& out) {
  const SetupPaths p(o.config_dir);
  if (!backup_complete(p)) {
    throw SetupRefusal("nothing to undo: no backup in " + p.backup +
                       "/ (setup --apply did not run with this --config-dir, or was undone)");
  }
  if (::geteuid() != 0) throw SetupRefusal("--undo restores Postfix's files: run it as root");
  const auto where = read_lines(p.backup + "/config_directory");
  const std::string dir = where.empty() ? std::string("/etc/postfix") : where.front();
  for (const char* name : {"main.cf", "master.cf"}) {
    restore_file(dir + "/" + name, read_whole_file(p.backup + "/" + name));
  }
  out << "restored " << dir << "/main.cf and master.cf, byte for byte, from " << p.backup << "/\n";
  if (find_program("postfix")) reload_postfix(out);
  // After Postfix: mail goes the old way before the relay stops.
  const std::vector<std::string> units = read_lines(p.backup + "/units");
  for (const std::string& unit : units) {
    if (!std::filesystem::is_directory(kSystemdRunning)) break;
    const ProgramResult r = run_program({"systemctl", "disable", "--now", unit});
    if (r.ok()) {
      out << "stopped " << unit << " (disabled at boot)\n";
    } else {
      std::cerr << "tlsrelay setup: systemctl disable --now " << unit << ": " << r.first_line()
                << "\n";
    }
  }
  if (units.empty()) out << "stop the tlsrelay you started by hand, if it runs\n";
  const std::string done = p.backup + ".undone";
  std::filesystem::remove_all(done);
  std::filesystem::rename(p.backup, done);
  out << "kept tlsrelay's own files: " << p.config
      << (file_exists(p.secret) ? " and " + p.secret : std::string())
      << " (remove them yourself); the backup is now " << done << "/"
      << (file_exists(done + "/tlsrelay.toml") ? ", with the tlsrelay.toml setup replaced" : "")
      << "\n";
  return 0;
}

}  // namespace tlsrelay::proxy
