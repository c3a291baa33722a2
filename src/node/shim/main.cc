// migdra-container-shim: the container shim as its own executable (node/container_shim.h).
#include "node/container_shim.h"

int main(int argc, char** argv) { return migdra::node::RunContainerShim(argc, argv); }
