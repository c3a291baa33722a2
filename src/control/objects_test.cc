#include "control/objects.h"

#include <gtest/gtest.h>

namespace migdra::control {
namespace {

const ResourceInfo& Namespaces() {
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == "namespaces") return r;
  }
  return AllResources().front();
}

// The control plane's own writes are decoded by the write; the API handler's, which decode
// their object in the API server's order of checks, say so and are not decoded twice.
TEST(Writes, RefuseWireTypeErrorsUnlessTheCallerCheckedThem) {
  Result<std::unique_ptr<Store>> store = Store::Open("");
  ASSERT_TRUE(store.ok());
  const json self_link_not_a_string = {{"metadata", {{"name", "n"}, {"selfLink", 1}}}};
  const std::string decode_error =
      "Namespace in version \"v1\" cannot be handled as a Namespace: json: cannot unmarshal "
      "number into Go struct field ObjectMeta.metadata.selfLink of type string";

  Result<json> created = CreateObject(**store, Namespaces(), self_link_not_a_string);
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().reason, ErrorReason::kBadRequest);
  EXPECT_EQ(created.error().message, decode_error);
  Result<json> updated = UpdateObject(**store, Namespaces(), self_link_not_a_string, false);
  ASSERT_FALSE(updated.ok());
  EXPECT_EQ(updated.error().message, decode_error);

  WriteOptions checked;
  checked.wire_types_checked = true;
  created = CreateObject(**store, Namespaces(), self_link_not_a_string, checked);
  EXPECT_TRUE(created.ok() || created.error().message != decode_error);
  updated = UpdateObject(**store, Namespaces(), self_link_not_a_string, false, checked);
  EXPECT_TRUE(updated.ok() || updated.error().message != decode_error);
}

}  // namespace
}  // namespace migdra::control
