// Catch2 (v2) entry point, shared by every test executable (see tests/CMakeLists.txt).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
