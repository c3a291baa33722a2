// `migdra container-shim`: the supervisor the pod runner of `migdra serve` starts for each
// container when no migdra-container-shim is installed beside migdra (src/node/container_shim.h).
// Not for users: hidden from `migdra --help`.
#include "cli/command.h"
#include "node/container_shim.h"

MIGDRA_REGISTER_COMMAND(container_shim, "container-shim", nullptr, migdra::node::RunContainerShim);
