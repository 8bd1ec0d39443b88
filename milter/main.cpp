// tlsrelay-milter: the libmilter plugin that puts the relay's route health into each
// message at submission time (README "The milter", issue 7).
#include <iostream>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "milter/milter_command.hpp"
#include "milter/milter_daemon.hpp"

int main(int argc, char** argv) {
  tlsrelay::set_log_program("tlsrelay-milter");
  const std::vector<std::string> args(argv + 1, argv + argc);
  return tlsrelay::milter::milter_command(args, std::cout, std::cerr, tlsrelay::milter::run_milter);
}
