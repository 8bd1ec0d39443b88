// Catch2 (v2) entry point for the test peer's self-test.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
