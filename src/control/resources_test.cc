// The pod table's STATUS column, as kubectl's pod printer works it out.
#include "control/resources.h"

#include <gtest/gtest.h>

namespace migdra::control {
namespace {

std::string PodStatus(const json& container_status, const std::string& phase) {
  const ResourceInfo* pods = FindResource("", "v1", "pods");
  EXPECT_NE(pods, nullptr);
  json pod = {
      {"metadata", {{"name", "p"}, {"namespace", "default"}}},
      {"spec", {{"containers", json::array({{{"name", "c"}}})}}},
      {"status", {{"phase", phase}, {"containerStatuses", json::array({container_status})}}}};
  json table = BuildTable(*pods, {pod}, "None", "1");
  EXPECT_EQ(table["columnDefinitions"][2]["name"], "Status");
  return table["rows"][0]["cells"][2].get<std::string>();
}

TEST(PodTable, AFinishedPodShowsItsContainersTerminationReasonAsKubectlDoes) {
  EXPECT_EQ(PodStatus({{"state", {{"terminated", {{"exitCode", 0}, {"reason", "Completed"}}}}}},
                      "Succeeded"),
            "Completed");
  EXPECT_EQ(
      PodStatus({{"state", {{"terminated", {{"exitCode", 3}, {"reason", "Error"}}}}}}, "Failed"),
      "Error");
  EXPECT_EQ(PodStatus({{"state", {{"terminated", {{"exitCode", 3}}}}}}, "Failed"), "ExitCode:3");
  EXPECT_EQ(PodStatus({{"state", {{"terminated", {{"exitCode", 137}, {"signal", 9}}}}}}, "Failed"),
            "Signal:9");
}

TEST(PodTable, AWaitingContainerShowsItsReasonARunningOneThePhase) {
  EXPECT_EQ(PodStatus({{"state", {{"waiting", {{"reason", "CommandRequired"}}}}}}, "Pending"),
            "CommandRequired");
  EXPECT_EQ(PodStatus({{"ready", true}, {"state", {{"running", json::object()}}}}, "Running"),
            "Running");
}

}  // namespace
}  // namespace migdra::control
