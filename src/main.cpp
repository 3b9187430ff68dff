// The only file not linked into tests.
#include "clawgate/cli/cli.hpp"

int main(int argc, char** argv) { return clawgate::cli::run(argc, argv); }
