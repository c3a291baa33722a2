#include "api/codec.h"

#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

namespace migdra::api {
namespace {

using json = nlohmann::json;

std::string ReadExample(const std::string& name) {
  const char* root = std::getenv("MIGDRA_SOURCE_DIR");
  std::ifstream in(std::string(root ? root : ".") + "/examples/aks-mig/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

json ParseOne(std::string_view text) {
  auto docs = ParseDocuments(text);
  EXPECT_TRUE(docs.ok()) << (docs.ok() ? "" : docs.error().ToString());
  EXPECT_EQ(docs->size(), 1u);
  return docs->front();
}

TEST(ParseDocuments, YamlScalarsFollowTheCoreSchema) {
  json doc = ParseOne(R"(
a: true
b: "true"
c: 12
d: '12'
e: 1.5
f: 1.2.3
g: ~
h: 0x1f
i: yes
j: -7
k: 80Gi
)");
  EXPECT_EQ(doc["a"], true);
  EXPECT_EQ(doc["b"], "true");
  EXPECT_EQ(doc["c"], 12);
  EXPECT_EQ(doc["d"], "12");
  EXPECT_EQ(doc["e"], 1.5);
  EXPECT_EQ(doc["f"], "1.2.3");
  EXPECT_TRUE(doc["g"].is_null());
  EXPECT_EQ(doc["h"], 31);
  EXPECT_EQ(doc["i"], "yes");
  EXPECT_EQ(doc["j"], -7);
  EXPECT_EQ(doc["k"], "80Gi");
}

TEST(ParseDocuments, MultiDocumentSkipsEmptyAndExpandsLists) {
  auto docs = ParseDocuments(R"(
# only a comment
---
kind: A
---
---
apiVersion: v1
kind: List
items:
- kind: B
- kind: C
)");
  ASSERT_TRUE(docs.ok());
  ASSERT_EQ(docs->size(), 3u);
  EXPECT_EQ((*docs)[0]["kind"], "A");
  EXPECT_EQ((*docs)[1]["kind"], "B");
  EXPECT_EQ((*docs)[2]["kind"], "C");
}

TEST(ParseDocuments, JsonObjectAndArray) {
  auto one = ParseDocuments(R"({"kind": "A", "x": [1, 2]})");
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  auto many = ParseDocuments(R"([{"kind": "A"}, {"kind": "B"}])");
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->size(), 2u);
}

TEST(ParseDocuments, YamlMustBeValidUtf8) {
  auto ok = ParseDocuments("name: caf\xc3\xa9 \xe2\x9c\x93\n");
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ((*ok)[0]["name"], "caf\xc3\xa9 \xe2\x9c\x93");
  for (const char* bad :
       {"a: 1\nkind\xff: x\n", "a: \xc3\n", "a: \xed\xa0\x80\n", "a: \xc0\xaf\n"}) {
    auto r = ParseDocuments(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.error().message.find("invalid UTF-8"), std::string::npos) << r.error().message;
  }
  EXPECT_EQ(ParseDocuments("a: 1\nkind\xff: x\n").error().message,
            "yaml: line 2, column 5: invalid UTF-8");
}

TEST(ToYaml, KeysLongerThanYamlsImplicitKeyLimitRoundTrip) {
  json doc = {{"items", json::array({{{std::string(3000, 'k'), nullptr}, {"b", {{"c", 1}}}}})},
              {std::string(1500, 'x'), {{"nested", "v"}}}};
  auto back = ParseDocuments(ToYaml(doc));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ((*back)[0], doc);
}

TEST(ParseDocuments, ErrorsCarryTheLine) {
  auto bad_yaml = ParseDocuments("a: b\nc: [d\n");
  ASSERT_FALSE(bad_yaml.ok());
  EXPECT_NE(bad_yaml.error().message.find("yaml: line "), std::string::npos)
      << bad_yaml.error().message;
  auto bad_json = ParseDocuments("{\n \"a\": }");
  ASSERT_FALSE(bad_json.ok());
  EXPECT_EQ(bad_json.error().message.rfind("json: line 2, column", 0), 0u)
      << bad_json.error().message;
  auto duplicate = ParseDocuments("a: 1\na: 2\n");
  ASSERT_FALSE(duplicate.ok());
  EXPECT_EQ(duplicate.error().message, "yaml: line 2, column 1: duplicate key \"a\"");
}

TEST(FromJson, DecodesTheWalkthroughManifests) {
  auto objects =
      DecodeObjects(ReadExample("deviceclass.yaml") + "---\n" +
                    ReadExample("resourceclaimtemplate.yaml") + "---\n" + ReadExample("job.yaml"));
  ASSERT_TRUE(objects.ok()) << objects.error().ToString();
  ASSERT_EQ(objects->size(), 3u);
  const auto& cls = std::get<DeviceClass>((*objects)[0]);
  EXPECT_EQ(cls.metadata.name, "nvidia-mig");
  ASSERT_EQ(cls.spec.selectors.size(), 1u);
  EXPECT_EQ(cls.spec.selectors[0].cel->expression, "device.driver == 'gpu.nvidia.com'");
  const auto& tmpl = std::get<ResourceClaimTemplate>((*objects)[1]);
  ASSERT_EQ(tmpl.spec.spec.devices.requests.size(), 1u);
  EXPECT_EQ(tmpl.spec.spec.devices.requests[0].exactly->device_class_name, "nvidia-mig");
  EXPECT_EQ(tmpl.spec.spec.devices.requests[0].exactly->count, 1);
  const auto& job = std::get<Job>((*objects)[2]);
  const PodSpec& pod = job.spec.template_.spec;
  EXPECT_EQ(pod.restart_policy, "OnFailure");
  ASSERT_EQ(pod.containers.size(), 1u);
  EXPECT_EQ(pod.containers[0].args, (std::vector<std::string>{"--max_steps", "500"}));
  ASSERT_EQ(pod.containers[0].resources.claims.size(), 1u);
  EXPECT_EQ(pod.containers[0].resources.claims[0].name, "gpu");
  ASSERT_EQ(pod.resource_claims.size(), 1u);
  EXPECT_EQ(pod.resource_claims[0].resource_claim_template_name, "mig-gpu-1g");
  // imagePullPolicy is not modelled but kept.
  EXPECT_EQ(pod.containers[0].extra["imagePullPolicy"], "IfNotPresent");
}

TEST(FromJson, UnknownFieldNamesItsPath) {
  json doc = ParseOne(R"(
apiVersion: resource.k8s.io/v1
kind: ResourceClaim
metadata: {name: c}
spec:
  devices:
    requests:
    - name: gpu
      exactly:
        deviceClassName: x
        cout: 2
)");
  auto claim = FromJson<ResourceClaim>(doc);
  ASSERT_FALSE(claim.ok());
  EXPECT_EQ(claim.error().ToString(), "spec.devices.requests[0].exactly.cout: unknown field");
}

TEST(FromJson, WrongTypeNamesItsPath) {
  json doc = ParseOne(R"(
apiVersion: resource.k8s.io/v1
kind: ResourceSlice
metadata: {name: s}
spec:
  driver: d
  pool: {name: p, generation: 1, resourceSliceCount: "one"}
)");
  auto slice = FromJson<ResourceSlice>(doc);
  ASSERT_FALSE(slice.ok());
  EXPECT_EQ(slice.error().ToString(), "spec.pool.resourceSliceCount: expected integer, got string");
}

TEST(FromJson, CollectsEveryError) {
  json doc = ParseOne("kind: DeviceClass\nfoo: 1\nspec: {bar: 2, selectors: 3}\n");
  DeviceClass cls;
  std::vector<Error> errors;
  EXPECT_FALSE(DecodeAll(doc, cls, errors));
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0].ToString(), "spec.selectors: expected array, got number");
  // Unknown fields come after the type errors, in the schema walk's order (sorted keys).
  EXPECT_EQ(errors[1].ToString(), "foo: unknown field");
  EXPECT_EQ(errors[2].ToString(), "spec.bar: unknown field");
}

TEST(FromJson, LenientModeDropsUnknownResourceFields) {
  json doc = ParseOne(
      "kind: DeviceClass\nspec: {futureField: 2}\nmetadata: {name: a, managedFields: []}\n");
  auto cls = FromJson<DeviceClass>(doc, DecodeOptions{.strict = false});
  ASSERT_TRUE(cls.ok());
  EXPECT_FALSE(ToJson(*cls)["spec"].contains("futureField"));
}

TEST(FromJson, MetadataKeepsManagedFieldsInStrictMode) {
  json doc = ParseOne(R"(
apiVersion: resource.k8s.io/v1
kind: DeviceClass
metadata:
  name: a
  managedFields: [{manager: kubectl, operation: Apply}]
spec: {}
)");
  auto cls = FromJson<DeviceClass>(doc);
  ASSERT_TRUE(cls.ok()) << cls.error().ToString();
  EXPECT_EQ(ToJson(*cls), doc);
}

TEST(ToJson, PodKeepsEveryUnmodelledField) {
  json doc = ParseOne(R"(
apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: default
spec:
  volumes:
  - name: data
    emptyDir: {}
  securityContext: {runAsUser: 1000}
  containers:
  - name: main
    image: busybox
    command: [sh, -c, "sleep 1"]
    env:
    - name: A
      value: "1"
    - name: B
      valueFrom: {fieldRef: {fieldPath: metadata.name}}
    resources:
      limits: {cpu: "1.5", memory: 1Gi}
      claims: [{name: gpu, request: r}]
    volumeMounts: [{name: data, mountPath: /data}]
  resourceClaims:
  - name: gpu
    resourceClaimName: shared
status:
  phase: Running
  podIP: 10.0.0.1
  containerStatuses:
  - name: main
    ready: true
    restartCount: 0
    state: {running: {startedAt: "2026-01-01T00:00:00Z"}}
)");
  auto pod = FromJson<Pod>(doc);
  ASSERT_TRUE(pod.ok()) << pod.error().ToString();
  EXPECT_EQ(pod->spec.containers[0].env[1].name, "B");
  EXPECT_EQ(pod->spec.containers[0].resources.claims[0].request, "r");
  EXPECT_EQ(pod->status.phase, "Running");
  EXPECT_EQ(ToJson(*pod), doc);
  // Changing a modelled field changes only that field.
  pod->spec.node_name = "node-1";
  json changed = doc;
  changed["spec"]["nodeName"] = "node-1";
  EXPECT_EQ(ToJson(*pod), changed);
}

TEST(ToJson, OmitsEmptyAndCanonicalisesQuantities) {
  ResourceSlice slice;
  slice.metadata.name = "s";
  slice.spec.driver = "gpu.nvidia.com";
  slice.spec.pool.name = "node";
  slice.spec.node_name = "node";
  Device device;
  device.name = "gpu-0";
  device.capacity["memory"].value = *Quantity::Parse("1.5Gi");
  device.attributes["type"].string_value = "gpu";
  slice.spec.devices.push_back(device);
  json expected = json::parse(R"({
    "apiVersion": "resource.k8s.io/v1", "kind": "ResourceSlice", "metadata": {"name": "s"},
    "spec": {"driver": "gpu.nvidia.com", "nodeName": "node",
             "pool": {"name": "node", "generation": 0, "resourceSliceCount": 0},
             "devices": [{"name": "gpu-0", "attributes": {"type": {"string": "gpu"}},
                          "capacity": {"memory": {"value": "1536Mi"}}}]}})");
  EXPECT_EQ(ToJson(slice), expected);
}

TEST(ToYaml, RoundTripsTrickyStrings) {
  json value = {{"plain", "gpu-0"},
                {"bool", "true"},
                {"yes", "yes"},
                {"number", "12"},
                {"version", "1.2.3"},
                {"colon", "a: b"},
                {"hash", "a #b"},
                {"empty", ""},
                {"multi", "a\nb"},
                {"quote", "it's"},
                {"dash", "- x"},
                {"n", 5},
                {"f", 0.25},
                {"t", true},
                {"null", nullptr},
                {"obj", json::object()},
                {"arr", json::array()},
                {"nested", {{"list", {1, {{"a", 1}, {"b", {2, 3}}}, {4, 5}}}}},
                {"key: odd", "v"},
                {"unicode", "µs"}};
  std::string yaml = ToYaml(value);
  EXPECT_EQ(ParseOne(yaml), value) << yaml;
}

TEST(ToYaml, KubectlLayout) {
  json value = json::parse(R"({"a": {"b": [{"c": 1, "d": "x"}], "e": []}})");
  EXPECT_EQ(ToYaml(value), "a:\n  b:\n  - c: 1\n    d: x\n  e: []\n");
}

TEST(DecodeObject, UnknownKind) {
  auto object = DecodeObject(json::parse(R"({"apiVersion": "v1", "kind": "Secret"})"));
  ASSERT_FALSE(object.ok());
  EXPECT_EQ(object.error().message, "no kind \"Secret\" is registered for version \"v1\"");
}

}  // namespace
}  // namespace migdra::api
