// Must not compile: store/ is below loop/, and feedloop_store does not link
// feedloop_loop, so loop's headers are not on its include path. The test
// LayeringUpwardIncludeFails builds this file and expects that error; were
// the whole tree ever put back on the include path, it would fail.
#include "store/item_store.h"  // its own layer: found
#include "loop/run_driver.h"   // a layer above: "No such file or directory"

namespace feedloop::store {
int ReachesUp() { return 0; }
}  // namespace feedloop::store
