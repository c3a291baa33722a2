#include "control/wire_types.h"

#include <gtest/gtest.h>

namespace migdra::control {
namespace {

const ResourceInfo& Kind(const std::string& plural) {
  for (const ResourceInfo& r : AllResources()) {
    if (r.plural == plural) return r;
  }
  return AllResources().front();
}

std::string Message(const std::string& plural, const char* object) {
  std::optional<Error> error = WireTypeError(Kind(plural), json::parse(object));
  if (!error) return "";
  EXPECT_EQ(error->reason, ErrorReason::kBadRequest);
  return error->message;
}

TEST(WireTypes, WrongTypesAreTheDecodersMessage) {
  const std::string pod = "Pod in version \"v1\" cannot be handled as a Pod: json: ";
  EXPECT_EQ(Message("pods", R"({"metadata": {"finalizers": "x"}})"),
            pod +
                "cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of "
                "type []string");
  EXPECT_EQ(Message("pods", R"({"metadata": {"finalizers": [1]}})"),
            pod +
                "cannot unmarshal number into Go struct field ObjectMeta.metadata.finalizers of "
                "type string");
  EXPECT_EQ(Message("pods", R"({"metadata": {"ownerReferences": [{"controller": "yes"}]}})"),
            pod +
                "cannot unmarshal string into Go struct field OwnerReference.metadata."
                "ownerReferences.controller of type bool");
  EXPECT_EQ(Message("pods", R"({"spec": []})"),
            pod + "cannot unmarshal array into Go struct field Pod.spec of type v1.PodSpec");
  EXPECT_EQ(
      Message("pods", R"({"spec": {"containers": [{"env": [{"name": "A", "value": true}]}]}})"),
      pod +
          "cannot unmarshal bool into Go struct field EnvVar.spec.containers.env.value of "
          "type string");
  EXPECT_EQ(Message("pods", R"({"status": {"containerStatuses": [{"state": {"terminated":
              {"exitCode": 3000000000}}}]}})"),
            pod +
                "cannot unmarshal number 3000000000 into Go struct field "
                "ContainerStateTerminated.status.containerStatuses.state.terminated.exitCode of "
                "type int32");
  EXPECT_EQ(Message("jobs", R"({"spec": {"template": {"spec": {"resourceClaims": "gpu"}}}})"),
            "Job in version \"v1\" cannot be handled as a Job: json: cannot unmarshal string into "
            "Go struct field PodSpec.spec.template.spec.resourceClaims of type "
            "[]v1.PodResourceClaim");
  EXPECT_EQ(Message("jobs", R"({"spec": {"suspend": "true"}})"),
            "Job in version \"v1\" cannot be handled as a Job: json: cannot unmarshal string into "
            "Go struct field JobSpec.spec.suspend of type bool");
  EXPECT_EQ(Message("namespaces", R"({"spec": {"finalizers": "kubernetes"}})"),
            "Namespace in version \"v1\" cannot be handled as a Namespace: json: cannot unmarshal "
            "string into Go struct field NamespaceSpec.spec.finalizers of type []v1.FinalizerName");
  EXPECT_EQ(Message("events", R"({"count": "1"})"),
            "Event in version \"v1\" cannot be handled as a Event: json: cannot unmarshal string "
            "into Go struct field Event.count of type int32");
  EXPECT_EQ(Message("resourceclaims", R"({"metadata": {"labels": []}})"),
            "ResourceClaim in version \"v1\" cannot be handled as a ResourceClaim: json: cannot "
            "unmarshal array into Go struct field ObjectMeta.metadata.labels of type "
            "map[string]string");
  EXPECT_EQ(
      Message("resourceclaimtemplates", R"({"spec": {"spec": "x"}})"),
      "ResourceClaimTemplate in version \"v1\" cannot be handled as a ResourceClaimTemplate: "
      "json: cannot unmarshal string into Go struct field ResourceClaimTemplateSpec.spec.spec "
      "of type v1.ResourceClaimSpec");
}

TEST(WireTypes, WellTypedNullAndUnknownFieldsPass) {
  EXPECT_EQ(Message("pods", R"({"apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "p", "labels": {"a": "b"}, "finalizers": null, "generation": 2},
      "spec": {"containers": [{"name": "c", "command": ["sh"], "resources": {"limits": {"cpu": 1}}}],
               "terminationGracePeriodSeconds": 30, "volumes": [{"name": "v"}], "futureField": 1},
      "status": {"containerStatuses": [{"restartCount": 2, "ready": true, "state": {"running": {}}}]}})"),
            "");
  EXPECT_EQ(
      Message("jobs", R"({"spec": {"completions": null, "parallelism": 2, "suspend": false}})"),
      "");
  // The resource.k8s.io kinds' specs are typed by the api module (typed.h), not here.
  EXPECT_EQ(Message("resourceclaims", R"({"spec": {"devices": {"requests": 5}}})"), "");
}

// Secret data and ConfigMap binaryData are Go []byte: base64 text, refused with the error of Go's
// base64.StdEncoding.Decode (positions count bytes of the text, line breaks too).
TEST(WireTypes, BytesThatAreNotBase64AreTheDecodersBase64Error) {
  const std::string secret = "Secret in version \"v1\" cannot be handled as a Secret: ";
  const auto data = [](const std::string& value) { return json{{"data", {{"k", value}}}}.dump(); };
  const auto illegal = [&](int at) {
    return secret + "illegal base64 data at input byte " + std::to_string(at);
  };
  EXPECT_EQ(Message("secrets", data("abc!").c_str()), illegal(3));  // outside the alphabet
  EXPECT_EQ(Message("secrets", data("APIKEY_BASE64").c_str()), illegal(6));
  EXPECT_EQ(Message("secrets", data("YWI").c_str()), illegal(0));  // unpadded: the group's start
  EXPECT_EQ(Message("secrets", data("QUJDYWI").c_str()), illegal(4));
  EXPECT_EQ(Message("secrets", data("QUJD\nQUJD!").c_str()), illegal(9));  // '\n' counts
  EXPECT_EQ(Message("secrets", data("QQ=").c_str()), illegal(3));          // "==" expected
  EXPECT_EQ(Message("secrets", data("QQ=x").c_str()), illegal(2));
  EXPECT_EQ(Message("secrets", data("Q===").c_str()), illegal(1));
  EXPECT_EQ(Message("secrets", data("QUI=QUJD").c_str()), illegal(4));  // after the padding
  EXPECT_EQ(Message("secrets", data("QUJD QUJD").c_str()), illegal(4));
  EXPECT_EQ(Message("configmaps", R"({"binaryData": {"b": "not base64"}})"),
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: illegal base64 data at "
            "input byte 3");
  // Valid text: padded or not needed, line breaks anywhere, empty.
  EXPECT_EQ(Message("secrets", data("QUJD\r\nQUI=\n").c_str()), "");
  EXPECT_EQ(Message("secrets", data("QQ==").c_str()), "");
  EXPECT_EQ(Message("secrets", data("").c_str()), "");
  EXPECT_EQ(Message("configmaps", R"({"binaryData": {"b": "YWJj"}, "data": {"d": "not base64"}})"),
            "");
}

TEST(WireTypes, ConfigMapAndSecretFieldsAreTyped) {
  EXPECT_EQ(Message("configmaps", R"({"data": {"replicas": 3}})"),
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal "
            "number into Go struct field ConfigMap.data of type string");
  EXPECT_EQ(Message("secrets", R"({"data": {"k": 1}})"),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal number "
            "into Go struct field Secret.data of type []uint8");
  EXPECT_EQ(Message("secrets", R"({"stringData": {"k": true}})"),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal bool "
            "into Go struct field Secret.stringData of type string");
  EXPECT_EQ(Message("secrets", R"({"immutable": "yes"})"),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal string "
            "into Go struct field Secret.immutable of type bool");
  EXPECT_EQ(Message("secrets", R"({"type": 1})"),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal number "
            "into Go struct field Secret.type of type v1.SecretType");
  // The first mismatch in key order, as Go's decoder meets them in the body kubectl sends.
  EXPECT_EQ(Message("secrets", R"({"metadata": {"labels": []}, "data": {"k": "!"}})"),
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input "
            "byte 0");
}

TEST(WireTypes, BytesMayBeAJsonArrayOfByteValuesAsGoTakesThem) {
  EXPECT_EQ(Message("secrets", R"({"data": {"k": [104, 105], "e": [], "z": [null]}})"), "");
  EXPECT_EQ(Message("secrets", R"({"data": {"k": [104, 256]}})"),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal number "
            "256 into Go struct field Secret.data of type uint8");
  EXPECT_EQ(Message("configmaps", R"({"binaryData": {"k": [-1]}})"),
            "ConfigMap in version \"v1\" cannot be handled as a ConfigMap: json: cannot unmarshal "
            "number -1 into Go struct field ConfigMap.binaryData of type uint8");
  EXPECT_EQ(Message("secrets", R"({"data": {"k": ["h"]}})"),
            "Secret in version \"v1\" cannot be handled as a Secret: json: cannot unmarshal string "
            "into Go struct field Secret.data of type uint8");

  // Stored as the base64 text Go's encoder writes for the bytes.
  json secret = json::parse(R"({"data": {"k": [104, 105], "e": [], "z": [null], "t": "aGk="}})");
  EncodeByteArrays(Kind("secrets"), secret);
  EXPECT_EQ(secret["data"], json::parse(R"({"k": "aGk=", "e": "", "z": "AA==", "t": "aGk="})"));
  json config = json::parse(R"({"binaryData": {"b": [0, 255]}, "data": {"d": "[1]"}})");
  EncodeByteArrays(Kind("configmaps"), config);
  EXPECT_EQ(config, json::parse(R"({"binaryData": {"b": "AP8="}, "data": {"d": "[1]"}})"));
}

// A resource.Quantity decodes itself (Quantity.UnmarshalJSON parses the value's JSON text): a
// number is a quantity; a bool, array or object fails ParseQuantity with ErrFormatWrong, which
// the decoder returns as it is and in place of any type error it met before.
TEST(WireTypes, AQuantityThatIsNoStringOrNumberIsTheQuantityParseError) {
  const auto pod_with_divisor = [](const std::string& divisor, const std::string& more = "") {
    return R"({"spec": {"containers": [{"env": [{"name": "CPU", "valueFrom": {"resourceFieldRef":
        {"resource": "limits.cpu", "divisor": )" +
           divisor + "}}}]}]}" + more + "}";
  };
  const std::string format_wrong =
      "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the regular "
      "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
  for (const char* refused : {"true", "false", "{}", R"({"m": 1})", "[]", R"(["1m"])", "[1]"}) {
    EXPECT_EQ(Message("pods", pod_with_divisor(refused).c_str()), format_wrong) << refused;
  }
  for (const char* taken : {"5", "0", "-1", "1.5", "0.001", "1e3", "1E-3", "12345678901234567890",
                            R"("1m")", R"("1Mi")", "null"}) {
    EXPECT_EQ(Message("pods", pod_with_divisor(taken).c_str()), "") << taken;
  }
  // Before and after a type error the decoder met first in key order: the quantity's error.
  EXPECT_EQ(Message("pods", ("{\"metadata\": {\"finalizers\": \"x\"}, " +
                             pod_with_divisor("true").substr(1))
                                .c_str()),
            format_wrong);
  EXPECT_EQ(Message("pods", pod_with_divisor("[]", R"(, "status": {"phase": 1})").c_str()),
            format_wrong);
  // A number: no error of its own; the type error found later is the answer.
  EXPECT_EQ(Message("pods", pod_with_divisor("2", R"(, "status": {"phase": 1})").c_str()),
            "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal number into "
            "Go struct field PodStatus.status.phase of type v1.PodPhase");

  // A v1.ResourceList is a map[string]resource.Quantity: its values alike.
  const auto limits = [](const std::string& list) {
    return R"({"spec": {"containers": [{"resources": {"limits": )" + list + "}}]}}";
  };
  for (const char* refused :
       {R"({"cpu": true})", R"({"memory": {}})", R"({"cpu": "1", "x": [1]})"}) {
    EXPECT_EQ(Message("pods", limits(refused).c_str()), format_wrong) << refused;
  }
  EXPECT_EQ(Message("pods", limits(R"({"cpu": 1.5, "memory": "1Gi", "x": null})").c_str()), "");
  EXPECT_EQ(Message("pods", limits("[]").c_str()),
            "Pod in version \"v1\" cannot be handled as a Pod: json: cannot unmarshal array into "
            "Go struct field ResourceRequirements.spec.containers.resources.limits of type "
            "v1.ResourceList");
  EXPECT_EQ(Message("nodes", R"({"status": {"capacity": {"cpu": false}}})"),
            "Node in version \"v1\" cannot be handled as a Node: quantities must match the regular "
            "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
  // The unstructured converter (a strategic merge patch's result) gives the value's JSON text
  // to the same UnmarshalJSON.
  EXPECT_EQ(WireDecodeError(Kind("pods"), json::parse(limits(R"({"cpu": true})")),
                            WireDecoder::kUnstructured),
            "quantities must match the regular expression "
            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'");
}

// A quantity string is parsed on decode (Quantity.UnmarshalJSON, ParseQuantity): what does not
// parse is the create's 400, in ParseQuantity's words, so `memory: 500MB` never reaches storage.
TEST(WireTypes, AQuantityStringThatDoesNotParseIsRefusedOnDecode) {
  const auto limits = [](const std::string& value) {
    return R"({"spec": {"containers": [{"resources": {"limits": {"memory": )" + value + "}}}]}}";
  };
  const std::string prefix = "Pod in version \"v1\" cannot be handled as a Pod: ";
  const std::string format_wrong =
      "quantities must match the regular expression "
      "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
  const std::string suffix_wrong = "unable to parse quantity's suffix";
  const std::vector<std::pair<const char*, std::string>> refused = {
      {R"("500MB")", format_wrong}, {R"("abc")", format_wrong},  {R"("")", format_wrong},
      {R"("  ")", format_wrong},    {R"("1..5")", format_wrong}, {R"("5Zi")", format_wrong},
      {R"("5iK")", suffix_wrong},   {R"("5KiB")", format_wrong}};
  for (const auto& [value, words] : refused) {
    EXPECT_EQ(Message("pods", limits(value).c_str()), prefix + words) << value;
  }
  for (const char* taken : {R"("500Mi")", R"("1.5G")", R"(" 2Gi ")", R"("1e3")", R"("+.5")",
                            R"("0")", R"("1.G")", R"("100m")"}) {
    EXPECT_EQ(Message("pods", limits(taken).c_str()), "") << taken;
  }
  EXPECT_EQ(
      WireDecodeError(Kind("pods"), json::parse(limits(R"("500MB")")), WireDecoder::kUnstructured),
      format_wrong);
}

TEST(WireTypes, QuantitiesAreStoredInCanonicalForm) {
  json pod = json::parse(R"({"spec": {"containers": [{"resources": {
      "limits": {"cpu": 0.5, "memory": "1024Mi"}, "requests": {"cpu": " 0.25 ", "memory": 1000}}},
      {"env": [{"name": "M", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                               "divisor": "1048576"}}}]}]}})");
  CanonicalizeQuantities(Kind("pods"), pod);
  EXPECT_EQ(pod["spec"]["containers"][0]["resources"],
            json::parse(R"({"limits": {"cpu": "500m", "memory": "1Gi"},
                            "requests": {"cpu": "250m", "memory": "1k"}})"));
  EXPECT_EQ(pod["spec"]["containers"][1]["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"],
            "1048576");
  // resource.k8s.io: a claim's capacity requests and a slice's capacities.
  json claim = json::parse(R"({"spec": {"devices": {"requests": [{"name": "r", "exactly": {
      "deviceClassName": "c", "capacity": {"requests": {"memory": "1024Mi"}}}}]}}})");
  CanonicalizeQuantities(Kind("resourceclaims"), claim);
  EXPECT_EQ(claim["spec"]["devices"]["requests"][0]["exactly"]["capacity"]["requests"]["memory"],
            "1Gi");
  json slice = json::parse(R"({"spec": {"devices": [{"name": "d",
      "capacity": {"memory": {"value": "81920Mi"}}}]}})");
  CanonicalizeQuantities(Kind("resourceslices"), slice);
  EXPECT_EQ(slice["spec"]["devices"][0]["capacity"]["memory"]["value"], "80Gi");
}

// A strategic merge patch's result meets runtime.DefaultUnstructuredConverter instead: its words
// name no field, and it walks a struct's fields in Go declaration order.
TEST(WireTypes, TheUnstructuredConverterHasItsOwnWords) {
  auto converter = [](const std::string& plural, const char* object) {
    return WireDecodeError(Kind(plural), json::parse(object), WireDecoder::kUnstructured)
        .value_or("");
  };
  EXPECT_EQ(converter("pods", R"({"metadata": {"finalizers": "x"}})"),
            "cannot restore slice from string");
  EXPECT_EQ(converter("pods", R"({"metadata": {"labels": ["x"]}})"),
            "cannot restore map from slice");
  EXPECT_EQ(converter("pods", R"({"spec": 1})"), "cannot restore struct from: int64");
  EXPECT_EQ(converter("pods", R"({"spec": {"affinity": 1.5}})"),
            "cannot restore struct from: float64");
  EXPECT_EQ(converter("pods", R"({"spec": {"nodeName": 1}})"), "cannot convert int64 to string");
  EXPECT_EQ(converter("pods", R"({"spec": {"restartPolicy": 7}})"),
            "cannot convert int64 to v1.RestartPolicy");
  EXPECT_EQ(converter("pods", R"({"spec": {"nodeName": true}})"), "unrecognized type: string");
  EXPECT_EQ(converter("pods", R"({"spec": {"priority": "high"}})"), "unrecognized type: int32");
  EXPECT_EQ(converter("pods", R"({"spec": {"priority": 1.5}})"), "cannot convert float64 to int32");
  EXPECT_EQ(converter("pods", R"({"spec": {"hostNetwork": 1}})"), "unrecognized type: bool");
  EXPECT_EQ(converter("pods", R"({"metadata": {"creationTimestamp": {}}})"),
            "json: cannot unmarshal object into Go value of type string");
  EXPECT_EQ(converter("secrets", R"({"data": {"a": "%%"}})"),
            "error decoding from json: illegal base64 data at input byte 0");
  // Struct order, not key order: ObjectMeta.finalizers is checked before Pod.spec's fields...
  EXPECT_EQ(converter("pods", R"({"spec": {"nodeName": 1}, "metadata": {"finalizers": "x"}})"),
            "cannot restore slice from string");
  // ... where the JSON decoder meets the keys as they come.
  EXPECT_EQ(
      WireDecodeError(Kind("pods"), json::parse(R"({"metadata": {"name": 1, "finalizers": "x"}})"),
                      WireDecoder::kJson),
      "json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of "
      "type []string");
  EXPECT_EQ(converter("pods", R"({"metadata": {"name": 1, "finalizers": "x"}})"),
            "cannot convert int64 to string");
  EXPECT_FALSE(WireDecodeError(Kind("pods"), json::parse(R"({"metadata": {"name": "p"}})"),
                               WireDecoder::kUnstructured));
}

// The API server's codec writes a Go struct: fields in declaration order, a struct field even when
// empty (Pod.status, Container.resources), a zero metav1.Time as null (creationTimestamp), and
// nothing for omitempty fields holding null, an empty map or an empty list; map keys sorted. The
// resource.k8s.io kinds follow the typed model's order (ExactDeviceRequest: deviceClassName,
// allocationMode, count).
TEST(WireTypes, GoEncodedJsonWritesFieldsInGoOrder) {
  EXPECT_EQ(GoEncodedJson(Kind("pods"), json::parse(R"({"apiVersion": "v1", "kind": "Pod",
      "metadata": {"name": "p", "labels": {"z": "1", "a": "<"}, "annotations": {},
                   "finalizers": null},
      "spec": {"containers": [{"image": "i", "name": "c"}], "restartPolicy": "Never"}})")),
            R"({"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","creationTimestamp":null,)"
            R"("labels":{"a":"\u003c","z":"1"}},"spec":{"containers":[{"name":"c","image":"i",)"
            R"("resources":{}}],"restartPolicy":"Never"},"status":{}})");
  EXPECT_EQ(GoEncodedJson(Kind("resourceclaims"), json::parse(R"({"apiVersion":
      "resource.k8s.io/v1", "kind": "ResourceClaim", "metadata": {"uid": "u", "name": "c"},
      "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"count": 1,
      "allocationMode": "ExactCount", "deviceClassName": "mig"}}]}}})")),
            R"({"kind":"ResourceClaim","apiVersion":"resource.k8s.io/v1","metadata":{"name":"c",)"
            R"("uid":"u","creationTimestamp":null},"spec":{"devices":{"requests":[{"name":"gpu",)"
            R"("exactly":{"deviceClassName":"mig","allocationMode":"ExactCount","count":1}}]}},)"
            R"("status":{}})");
}

}  // namespace
}  // namespace migdra::control
