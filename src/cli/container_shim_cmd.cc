// `migdra container-shim`: the supervisor the pod runner of `migdra serve` starts for each
// container (see src/node/runner_process.h). Not for users: hidden from `migdra --help`.
#include "cli/command.h"
#include "node/runner_process.h"

MIGDRA_REGISTER_COMMAND(container_shim, "container-shim", nullptr,
                        migdra::node::RunContainerShim);
