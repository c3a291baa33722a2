#include "api/validation.h"

#include <string>

#include <gtest/gtest.h>

namespace migdra::api {
namespace {

using json = nlohmann::json;

template <class T>
T Decode(std::string_view yaml) {
  auto docs = ParseDocuments(yaml);
  EXPECT_TRUE(docs.ok());
  auto object = FromJson<T>(docs->front());
  EXPECT_TRUE(object.ok()) << object.error().ToString();
  return *object;
}

std::vector<std::string> Lines(const std::vector<Error>& errors) {
  std::vector<std::string> out;
  for (const Error& e : errors) out.push_back(e.ToString());
  return out;
}

TEST(NameFormats, Labels) {
  EXPECT_TRUE(IsDNS1123Label("gpu-0-mig-1g10gb-19-0").empty());
  EXPECT_EQ(IsDNS1123Label(std::string(64, 'a')).size(), 1u);
  EXPECT_EQ(IsDNS1123Label("-a").size(), 1u);
  EXPECT_EQ(IsDNS1123Label("A").size(), 1u);
  EXPECT_TRUE(IsDNS1123Subdomain("gpu.nvidia.com").empty());
  EXPECT_EQ(IsDNS1123Subdomain("gpu..com").size(), 1u);
  EXPECT_TRUE(IsCIdentifier("cudaComputeCapability").empty());
  EXPECT_EQ(IsCIdentifier("1abc").size(), 1u);
  EXPECT_TRUE(IsQualifiedName("resource.kubernetes.io/pciBusID").empty());
  EXPECT_EQ(IsQualifiedName("/x"), std::vector<std::string>{"prefix part must be non-empty"});
  EXPECT_EQ(IsQualifiedName("a.com/"), std::vector<std::string>{"name part must be non-empty"});
  EXPECT_TRUE(IsValidLabelValue("").empty());
  EXPECT_EQ(IsValidLabelValue("a b").size(), 1u);
}

TEST(Validate, DefaultsAreApplied) {
  // allocationMode "" means ExactCount and a missing count means 1: valid.
  auto claim = Decode<ResourceClaim>(R"(
metadata: {name: c}
spec: {devices: {requests: [{name: gpu, exactly: {deviceClassName: mig.nvidia.com}}]}}
)");
  EXPECT_TRUE(Validate(claim).empty());
}

TEST(Validate, ReportsEveryProblem) {
  auto claim = Decode<ResourceClaim>(R"(
metadata: {name: c}
spec:
  devices:
    requests:
    - name: Gpu
      exactly: {deviceClassName: x, count: 0}
    - name: b
)");
  EXPECT_EQ(
      Lines(Validate(claim)),
      (std::vector<std::string>{
          "spec.devices.requests[0].name: Invalid value: \"Gpu\": a lowercase RFC 1123 label must "
          "consist of lower case alphanumeric characters or '-', and must start and end with an "
          "alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
          "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
          "spec.devices.requests[0].exactly.count: Invalid value: 0: must be greater than zero",
          "spec.devices.requests[1]: Required value: exactly one of `exactly` or `firstAvailable` "
          "is "
          "required"}));
}

TEST(Validate, SplitLayoutSliceMayReferenceCountersElsewhere) {
  // The 1.35 layout: devices consume counter sets published in another slice of the pool.
  auto slice = Decode<ResourceSlice>(R"(
metadata: {name: s}
spec:
  driver: gpu.nvidia.com
  nodeName: node-1
  pool: {name: node-1, generation: 1, resourceSliceCount: 2}
  devices:
  - name: gpu-0-mig-1g5gb-19-0
    consumesCounters:
    - counterSet: gpu-0-counter-set
      counters: {memory-slice-0: {value: "1"}}
)");
  EXPECT_TRUE(Validate(slice).empty());
}

// List-type attributes (DRAListTypeAttributes, 1.36 alpha): decoded, encoded back and validated
// as upstream's validateDeviceAttribute does.
TEST(Validate, ListTypeAttributes) {
  const std::string slice_yaml = R"(
metadata: {name: s}
spec:
  driver: gpu.nvidia.com
  pool: {name: p, generation: 1, resourceSliceCount: 1}
  nodeName: n
  devices:
  - name: gpu-0
    attributes:
      numa: {ints: [0, 1]}
      flags: {bools: [true, false]}
      links: {strings: [nvlink-a, nvlink-b]}
      cuda: {versions: [12.2.0, 12.4.1]}
)";
  auto slice = Decode<ResourceSlice>(slice_yaml);
  EXPECT_TRUE(Validate(slice).empty()) << ::testing::PrintToString(Lines(Validate(slice)));
  const auto& attrs = slice.spec.devices[0].attributes;
  EXPECT_EQ(attrs.at("numa").int_values, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(attrs.at("flags").bool_values, (std::vector<bool>{true, false}));
  EXPECT_EQ(ToJson(slice)["spec"]["devices"][0]["attributes"]["cuda"],
            json::parse(R"({"versions": ["12.2.0", "12.4.1"]})"));

  auto bad = Decode<ResourceSlice>(R"(
metadata: {name: s}
spec:
  driver: gpu.nvidia.com
  pool: {name: p, generation: 1, resourceSliceCount: 1}
  nodeName: n
  devices:
  - name: gpu-0
    attributes:
      a: {ints: []}
      b: {versions: [1.0.0, "1.0"]}
      c: {strings: [ok, )" + std::string(65, 'x') +
                                   R"(]}
      d: {int: 1, ints: [1]}
)");
  EXPECT_EQ(Lines(Validate(bad)),
            (std::vector<std::string>{
                "spec.devices[0].attributes[a].ints: Invalid value: []: must not be empty if "
                "specified",
                "spec.devices[0].attributes[b].versions[1]: Invalid value: \"1.0\": must be a "
                "string compatible with semver.org spec 2.0.0",
                "spec.devices[0].attributes[c].strings[1]: Too long: may not be more than 64 bytes",
                "spec.devices[0].attributes[d]: Invalid value: {\"int\":1,\"ints\":[1]}: exactly "
                "one value must be specified"}));

  // Each list item counts towards the 32 attributes and capacities of a device.
  std::string many = "[";
  for (int i = 0; i < 32; ++i) many += (i ? "," : "") + std::to_string(i);
  many += "]";
  auto crowded = Decode<ResourceSlice>(R"(
metadata: {name: s}
spec:
  driver: gpu.nvidia.com
  pool: {name: p, generation: 1, resourceSliceCount: 1}
  nodeName: n
  devices:
  - name: gpu-0
    attributes:
      a: {ints: )" + many + R"(}
      b: {int: 1}
)");
  EXPECT_EQ(Lines(Validate(crowded)),
            (std::vector<std::string>{"spec.devices[0]: Invalid value: 33: the total number of "
                                      "attributes and capacities must not exceed 32"}));
}

TEST(Validate, CelCheckerIsConsulted) {
  auto cls = Decode<DeviceClass>(R"(
metadata: {name: c}
spec: {selectors: [{cel: {expression: "device.driver =="}}]}
)");
  ValidationOptions options;
  options.check_cel = [](std::string_view expr) -> std::optional<std::string> {
    return std::string("compilation failed: ") + std::string(expr);
  };
  EXPECT_EQ(Lines(Validate(cls, options)),
            std::vector<std::string>{
                "spec.selectors[0].cel.expression: Invalid value: \"device.driver ==\": "
                "compilation failed: device.driver =="});
  EXPECT_TRUE(Validate(cls).empty());
}

TEST(Validate, AnyObjectDispatches) {
  auto object = DecodeObject(
      json::parse(R"({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "A"}})"));
  ASSERT_TRUE(object.ok());
  auto errors = Validate(*object);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].field, "metadata.name");
}

TEST(MetadataMaps, AnnotationsMayTotal256KiBOfKeysAndValues) {
  ObjectMeta meta;
  meta.annotations["note"] = std::string(256 * 1024 - 4, 'x');
  EXPECT_TRUE(ValidateMetadataMaps("metadata", meta).empty());
  meta.annotations["note"] += "x";
  EXPECT_EQ(Lines(ValidateMetadataMaps("metadata", meta)),
            std::vector<std::string>{
                "metadata.annotations: Too long: may not be more than 262144 bytes"});
}

TEST(MetadataMaps, LabelKeysValuesAndFinalizersUnderThePathGiven) {
  ObjectMeta meta;
  meta.labels[std::string(253, 'a') + "/" + std::string(63, 'b')] = std::string(63, 'c');
  EXPECT_TRUE(ValidateMetadataMaps("metadata", meta).empty());
  meta.labels.clear();
  meta.labels[std::string(64, 'b')] = "x";
  meta.labels["ok"] = std::string(64, 'c');
  meta.finalizers = {"a b"};
  std::vector<std::string> lines = Lines(ValidateMetadataMaps("spec.template.metadata", meta));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "spec.template.metadata.labels: Invalid value: \"" + std::string(64, 'b') +
                          "\": name part must be no more than 63 characters");
  EXPECT_EQ(lines[1], "spec.template.metadata.labels[ok]: Invalid value: \"" +
                          std::string(64, 'c') + "\": must be no more than 63 characters");
  EXPECT_EQ(lines[2].rfind("spec.template.metadata.finalizers[0]: Invalid value: \"a b\": ", 0),
            0u);
}

}  // namespace
}  // namespace migdra::api
