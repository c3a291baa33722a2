#include "control/http_request.h"

#include <gtest/gtest.h>

namespace migdra::control {
namespace {

std::multimap<std::string, std::string> QueryOf(const std::string& target) {
  Result<RequestHead> head = ParseRequestHead("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(head.ok()) << target;
  return head.ok() ? head->query : std::multimap<std::string, std::string>{};
}

TEST(QueryValue, TellsAnAbsentParameterFromAnEmptyOneAndTakesTheFirstSent) {
  EXPECT_EQ(QueryValue(QueryOf("/p?watch"), "watch"), "");
  EXPECT_EQ(QueryValue(QueryOf("/p?watch="), "watch"), "");
  EXPECT_EQ(QueryValue(QueryOf("/p?watchers=1"), "watch"), std::nullopt);
  EXPECT_EQ(QueryValue(QueryOf("/p"), "watch"), std::nullopt);
  EXPECT_EQ(QueryValue(QueryOf("/p?a=1&watch=0&watch=1&z"), "watch"), "0");
  EXPECT_EQ(QueryValue(QueryOf("/p?a=1&watch=0&watch=1&z"), "z"), "");
}

// Cases of apimachinery's Convert_Slice_string_To_bool: false only when absent, "0" or "false"
// under Go's strings.EqualFold (which folds U+017F "ſ" with "s"); never an error.
TEST(QueryBool, IsFalseOnlyWhenAbsentZeroOrFalseInAnyCase) {
  struct Case {
    const char* target;
    bool want;
  };
  for (const Case& c : std::vector<Case>{
           {"/p", false},
           {"/p?watch=0", false},
           {"/p?watch=false", false},
           {"/p?watch=FALSE", false},
           {"/p?watch=fAlSe", false},
           {"/p?watch=fal%C5%BFe", false},
           {"/p?watch=0&watch=true", false},
           {"/p?watch", true},
           {"/p?watch=", true},
           {"/p?watch=true", true},
           {"/p?watch=1", true},
           {"/p?watch=yes", true},
           {"/p?watch=True", true},
           {"/p?watch=no", true},
           {"/p?watch=00", true},
           {"/p?watch=+false", true},
           {"/p?watch=false%20", true},
           {"/p?watch=falsee", true},
           {"/p?watch=fals", true},
           {"/p?watch=%C5%BF", true},
           {"/p?watch=true&watch=0", true},
       }) {
    EXPECT_EQ(QueryBool(QueryValue(QueryOf(c.target), "watch")), c.want) << c.target;
  }
}

}  // namespace
}  // namespace migdra::control
