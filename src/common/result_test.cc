#include "common/result.h"

#include <gtest/gtest.h>

namespace migdra {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return MakeError("odd", "x");
  return x / 2;
}

Result<int> Quarter(int x) {
  MIGDRA_ASSIGN_OR_RETURN(int half, Half(x));
  return Half(half);
}

TEST(Result, ValueAndErrorPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().ToString(), "x: odd");
}

TEST(Error, UnderBuildsFieldPaths) {
  Error e = MakeError("must be > 0", "count");
  e.Under("exactly").Under("[0]").Under("requests");
  EXPECT_EQ(e.field, "requests[0].exactly.count");
  Error bare = MakeError("required");
  bare.Under("spec");
  EXPECT_EQ(bare.ToString(), "spec: required");
}

}  // namespace
}  // namespace migdra
