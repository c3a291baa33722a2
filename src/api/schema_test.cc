#include "api/schema.h"

#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "api/codec.h"

namespace migdra::api {
namespace {

using json = nlohmann::json;

std::vector<std::string> UnknownPaths(const json& document) {
  std::vector<Error> errors;
  (void)DecodeObjectAll(document, errors);
  std::vector<std::string> paths;
  for (const Error& e : errors) {
    EXPECT_EQ(e.message, "unknown field") << e.ToString();
    paths.push_back(e.field);
  }
  return paths;
}

json JobWith(const json& spec_extra) {
  json job = {{"apiVersion", "batch/v1"},
              {"kind", "Job"},
              {"metadata", {{"name", "j"}}},
              {"spec",
               {{"template",
                 {{"spec",
                   {{"restartPolicy", "Never"},
                    {"containers", {{{"name", "c"}, {"image", "busybox"}}}}}}}}}}};
  job["spec"].update(spec_extra);
  return job;
}

TEST(Schema, AMisspeltJobFieldIsUnknownInStrictDecoding) {
  EXPECT_EQ(UnknownPaths(JobWith({{"paralelism", 2}})),
            std::vector<std::string>{"spec.paralelism"});
  EXPECT_TRUE(UnknownPaths(JobWith({{"parallelism", 2}, {"suspend", false}})).empty());
}

TEST(Schema, FieldsThatCoreKindsKeepVerbatimAreKnownDownToTheirLeaves) {
  json pod = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", "p"}, {"managedFields", {{{"manager", "kubectl"}}}}}},
              {"spec",
               {{"securityContext", {{"runAsUser", 1000}, {"fsGroup", 2000}}},
                {"volumes", {{{"name", "v"}, {"emptyDir", {{"sizeLimit", "1Gi"}}}}}},
                {"containers",
                 {{{"name", "c"},
                   {"image", "busybox"},
                   {"imagePullPolicy", "Always"},
                   {"resources", {{"limits", {{"cpu", "1"}}}}},
                   {"readinessProbe", {{"httpGet", {{"port", 80}, {"path", "/"}}}}},
                   {"volumeMounts", {{{"name", "v"}, {"mountPath", "/v"}}}}}}}}}};
  EXPECT_TRUE(UnknownPaths(pod).empty());
  pod["spec"]["containers"][0]["readinessProbe"]["httpGet"]["prot"] = 80;
  pod["spec"]["volumes"][0]["emptyDir"]["size"] = "1Gi";
  pod["spec"]["containers"][0]["imagePullPolice"] = "Always";
  EXPECT_EQ(UnknownPaths(pod), (std::vector<std::string>{
                                   "spec.containers[0].imagePullPolice",
                                   "spec.containers[0].readinessProbe.httpGet.prot",
                                   "spec.volumes[0].emptyDir.size",
                               }));
}

TEST(Schema, PruningRemovesExactlyTheUnknownFields) {
  json job = JobWith({{"paralelism", 2}, {"parallelism", 3}});
  std::vector<Error> unknown;
  PruneUnknownFields(job, *KindDefinition("batch/v1", "Job"), unknown);
  ASSERT_EQ(unknown.size(), 1u);
  EXPECT_FALSE(job["spec"].contains("paralelism"));
  EXPECT_EQ(job["spec"]["parallelism"], 3);
}

TEST(Schema, EveryReferencedDefinitionExists) {
  for (const SchemaKind& kind : SchemaKinds()) {
    EXPECT_NE(KindDefinition(kind.ApiVersion(), kind.kind), nullptr) << kind.kind;
  }
  std::function<void(const SchemaType&, const std::string&)> check = [&](const SchemaType& t,
                                                                         const std::string& where) {
    if (t.kind == SchemaType::Kind::kObject) {
      EXPECT_NE(FindSchemaDefinition(t.definition), nullptr) << where << ": " << t.definition;
    }
    if (t.element) check(*t.element, where);
  };
  for (const auto& [name, definition] : SchemaDefinitions()) {
    // A table entry that names no field of a modelled struct would leave a typeless property.
    EXPECT_FALSE(definition.properties.empty()) << name;
    for (const SchemaProperty& p : definition.properties) check(p.type, name + "." + p.name);
  }
}

TEST(Schema, DuplicateKeysAreReportedWithTheirPaths) {
  EXPECT_EQ(
      DuplicateFields(R"({"metadata":{"name":"a","name":"b"},
      "spec":{"paused":true,"template":{"spec":{"containers":[{"name":"x"},
      {"name":"y","imagePullPolicy":"Always","imagePullPolicy":"Never"}]}},"paused":false}})"),
      (std::vector<std::string>{"metadata.name", "spec.template.spec.containers[1].imagePullPolicy",
                                "spec.paused"}));
  EXPECT_TRUE(DuplicateFields(R"({"a":{"b":1},"c":{"b":2},"d":["b","b"]})").empty());
}

}  // namespace
}  // namespace migdra::api
