#include "node/container_env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace migdra::node {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json Pod() {
  return json::parse(R"json({
    "metadata": {"name": "trainer-0", "namespace": "ml", "uid": "u-1",
                 "labels": {"app": "train"}, "annotations": {"team.example.com/owner": "ana"}},
    "spec": {"nodeName": "node-a", "serviceAccountName": "default"},
    "status": {"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}, {"ip": "fd00::5"}]}})json");
}

TEST(ExpandReferences, ReplacesDefinedNamesKeepsUnknownOnesAndUnescapesDollars) {
  std::map<std::string, std::string> vars = {{"A", "x"}, {"B", "y"}};
  EXPECT_EQ(ExpandReferences("$(A)-$(B)", vars), "x-y");
  EXPECT_EQ(ExpandReferences("$(C) stays", vars), "$(C) stays");
  EXPECT_EQ(ExpandReferences("$$(A) is escaped, $$ is $", vars), "$(A) is escaped, $ is $");
  EXPECT_EQ(ExpandReferences("no close $(A", vars), "no close $(A");
  EXPECT_EQ(ExpandReferences("trailing $", vars), "trailing $");
}

TEST(BuildContainerCommand, FieldRefsAndReferencesToEarlierVariables) {
  json container = json::parse(R"json({"name": "c",
    "command": ["python3", "train.py"], "args": ["--rank=$(RANK)", "--pod=$(POD)", "$(LATER)"],
    "env": [
      {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
      {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
      {"name": "OWNER", "valueFrom": {"fieldRef":
          {"fieldPath": "metadata.annotations['team.example.com/owner']"}}},
      {"name": "IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}},
      {"name": "RANK", "value": "$(POD)@$(NS)/$(LATER)"},
      {"name": "LATER", "value": "late"}]})json");
  auto built = BuildContainerCommand(Pod(), container);
  ASSERT_TRUE(built.ok()) << built.error().message;
  std::map<std::string, std::string> env(built->env.begin(), built->env.end());
  EXPECT_EQ(env["POD"], "trainer-0");
  EXPECT_EQ(env["NS"], "ml");
  EXPECT_EQ(env["OWNER"], "ana");
  EXPECT_EQ(env["IPS"], "10.0.0.5,fd00::5");
  // LATER is defined after RANK, so the kubelet leaves that reference as written.
  EXPECT_EQ(env["RANK"], "trainer-0@ml/$(LATER)");
  EXPECT_EQ(built->argv,
            (std::vector<std::string>{"python3", "train.py", "--rank=trainer-0@ml/$(LATER)",
                                      "--pod=trainer-0", "late"}));
}

TEST(BuildContainerCommand, SourcesServeCannotProvideAreErrorsNamingTheVariable) {
  json container = json::parse(R"json({"name": "c", "command": ["true"], "env": [
      {"name": "OK", "value": "1"},
      {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})json");
  auto built = BuildContainerCommand(Pod(), container);
  ASSERT_FALSE(built.ok());
  EXPECT_THAT(built.error().message, HasSubstr("container c: env[1] (TOKEN): "
                                               "valueFrom.secretKeyRef is not supported"));
  container["env"][1] = json::parse(
      R"json({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.hostname"}}})json");
  built = BuildContainerCommand(Pod(), container);
  ASSERT_FALSE(built.ok());
  EXPECT_THAT(built.error().message, HasSubstr("unsupported fieldPath \"spec.hostname\""));
}

}  // namespace
}  // namespace migdra::node
