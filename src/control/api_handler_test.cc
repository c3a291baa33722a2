#include "control/api_handler.h"

#include <gtest/gtest.h>

#include <functional>

#include "common/go_strconv.h"
#include "control/protobuf_body.h"

namespace migdra::control {
namespace {

class ApiHandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto opened = Store::Open("");
    ASSERT_TRUE(opened.ok());
    store_ = std::move(*opened);
    json ns = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "default"}}}};
    ASSERT_EQ(Call("POST", "/api/v1/namespaces", ns.dump()).status, 201);
    handler_ = std::make_unique<ApiHandler>(*store_, "127.0.0.1:1");
  }

  ApiResponse Call(const std::string& method, const std::string& path, const std::string& body = "",
                   const std::string& content_type = "application/json",
                   std::multimap<std::string, std::string> query = {},
                   const std::string& accept = "") {
    if (!handler_) handler_ = std::make_unique<ApiHandler>(*store_, "127.0.0.1:1");
    ApiRequest r;
    r.method = method;
    r.path = path;
    r.body = body;
    r.content_type = content_type;
    r.query = std::move(query);
    r.accept = accept;
    return handler_->Handle(r);
  }

  static json Claim(const std::string& name, int count = 1) {
    return json::parse(R"({"apiVersion": "resource.k8s.io/v1", "kind": "ResourceClaim",
      "metadata": {"name": ")" +
                       name + R"("},
      "spec": {"devices": {"requests": [{"name": "gpu", "exactly": {"deviceClassName": "mig", "count": )" +
                       std::to_string(count) + R"(}}]}}})");
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiHandler> handler_;
};

constexpr const char* kClaims = "/apis/resource.k8s.io/v1/namespaces/default/resourceclaims";

// The HTTP boundary: an error's reason becomes the API server's status code and Status object,
// byte for byte as kubectl reads it.
TEST(ErrorResponse, AnswersWithTheApiServersStatus) {
  const ApiResponse invalid =
      ErrorResponse(MakeError(ErrorReason::kInvalid, "Job \"j\" is invalid: spec: Required value",
                              {{"FieldValueRequired", "spec", "Required value"}}));
  EXPECT_EQ(invalid.status, 422);
  EXPECT_EQ(invalid.body,
            R"({"apiVersion":"v1","code":422,"details":{"causes":[{"field":"spec","message":)"
            R"("Required value","reason":"FieldValueRequired"}]},"kind":"Status","message":)"
            R"("Job \"j\" is invalid: spec: Required value","metadata":{},"reason":"Invalid",)"
            R"("status":"Failure"})");

  // The object it is about, as kubectl reads it from the details.
  Error about_claim = MakeError(
      ErrorReason::kInvalid, "ResourceClaim.resource.k8s.io \"c\" is invalid: spec: Required value",
      {{"FieldValueRequired", "spec", "Required value"}});
  about_claim.subject = {"c", "resource.k8s.io", "ResourceClaim"};
  EXPECT_EQ(json::parse(ErrorResponse(about_claim).body)["details"],
            json::parse(R"({"name": "c", "group": "resource.k8s.io", "kind": "ResourceClaim",
                            "causes": [{"reason": "FieldValueRequired", "field": "spec",
                                        "message": "Required value"}]})"));

  const ApiResponse plain = ErrorResponse(MakeError("the disk is full"));
  EXPECT_EQ(plain.status, 500);
  EXPECT_EQ(plain.body,
            R"({"apiVersion":"v1","code":500,"kind":"Status","message":"the disk is full",)"
            R"("metadata":{},"reason":"InternalError","status":"Failure"})");

  // A runtime's streaming server that failed: 502 in the API server's words.
  const json gateway =
      json::parse(ErrorResponse(MakeError(ErrorReason::kBadGateway,
                                          "the runtime's streaming server: no answer"))
                      .body);
  EXPECT_EQ(gateway["code"], 502);
  EXPECT_EQ(gateway["reason"], "InternalError");
  EXPECT_EQ(HttpStatusFor(ErrorReason::kAlreadyExists).code, 409);
  EXPECT_STREQ(HttpStatusFor(ErrorReason::kAlreadyExists).reason, "AlreadyExists");
  EXPECT_EQ(HttpStatusFor(ErrorReason::kExpired).code, 410);
}

TEST_F(ApiHandlerTest, Discovery) {
  json core = json::parse(Call("GET", "/api/v1").body);
  EXPECT_EQ(core["kind"], "APIResourceList");
  bool pods = false, log = false;
  for (const json& r : core["resources"]) {
    pods = pods || r["name"] == "pods";
    log = log || r["name"] == "pods/log";
  }
  EXPECT_TRUE(pods && log);
  json groups = json::parse(Call("GET", "/apis").body);
  EXPECT_EQ(groups["kind"], "APIGroupList");
  json dra = json::parse(Call("GET", "/apis/resource.k8s.io/v1").body);
  EXPECT_EQ(dra["groupVersion"], "resource.k8s.io/v1");
  EXPECT_EQ(Call("GET", "/apis/nope.io/v1").status, 404);
  json openapi = json::parse(Call("GET", "/openapi/v3").body);
  ASSERT_TRUE(openapi["paths"].contains("apis/resource.k8s.io/v1"));
  json doc = json::parse(Call("GET", "/openapi/v3/apis/resource.k8s.io/v1").body);
  const json& patch =
      doc["paths"]["/apis/resource.k8s.io/v1/namespaces/{namespace}/resourceclaims/{name}"]
         ["patch"];
  EXPECT_EQ(patch["x-kubernetes-group-version-kind"]["kind"], "ResourceClaim");
}

TEST_F(ApiHandlerTest, CreateGetListWithDefaults) {
  ApiResponse created = Call("POST", kClaims, Claim("c1").dump());
  ASSERT_EQ(created.status, 201) << created.body;
  json c = json::parse(created.body);
  EXPECT_FALSE(c["metadata"]["uid"].get<std::string>().empty());
  EXPECT_EQ(c["spec"]["devices"]["requests"][0]["exactly"]["allocationMode"], "ExactCount");
  EXPECT_EQ(Call("POST", kClaims, Claim("c1").dump()).status, 409);
  EXPECT_EQ(Call("GET", std::string(kClaims) + "/c1").status, 200);
  ApiResponse missing = Call("GET", std::string(kClaims) + "/zz");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["message"],
            "resourceclaims.resource.k8s.io \"zz\" not found");
  EXPECT_EQ(json::parse(missing.body)["details"],
            json::parse(R"({"name": "zz", "group": "resource.k8s.io", "kind": "resourceclaims"})"));
  EXPECT_EQ(json::parse(Call("POST", kClaims, Claim("c1").dump()).body)["details"],
            json::parse(R"({"name": "c1", "group": "resource.k8s.io", "kind": "resourceclaims"})"));
  json list = json::parse(Call("GET", kClaims).body);
  EXPECT_EQ(list["kind"], "ResourceClaimList");
  EXPECT_EQ(list["items"].size(), 1u);
  // Namespace must exist.
  EXPECT_EQ(
      Call("POST", "/apis/resource.k8s.io/v1/namespaces/nope/resourceclaims", Claim("x").dump())
          .status,
      404);
}

TEST_F(ApiHandlerTest, GenerateName) {
  json c = Claim("");
  c["metadata"].erase("name");
  c["metadata"]["generateName"] = "job-gpu-";
  ApiResponse created = Call("POST", kClaims, c.dump());
  ASSERT_EQ(created.status, 201) << created.body;
  std::string name = json::parse(created.body)["metadata"]["name"];
  EXPECT_EQ(name.size(), std::string("job-gpu-").size() + 5);
  EXPECT_EQ(name.rfind("job-gpu-", 0), 0u);
}

TEST_F(ApiHandlerTest, InvalidObjectsGet422WithFieldPaths) {
  ApiResponse r = Call("POST", kClaims, Claim("bad", 0).dump());
  ASSERT_EQ(r.status, 422);
  json status = json::parse(r.body);
  EXPECT_EQ(status["reason"], "Invalid");
  EXPECT_EQ(status["details"]["causes"][0]["field"], "spec.devices.requests[0].exactly.count");
  json bad_name = Claim("Bad_Name");
  EXPECT_EQ(Call("POST", kClaims, bad_name.dump()).status, 422);
  EXPECT_EQ(Call("POST", kClaims, "{not json").status, 400);
  json wrong_kind = Claim("c");
  wrong_kind["kind"] = "Pod";
  EXPECT_EQ(Call("POST", kClaims, wrong_kind.dump()).status, 400);
}

// A protobuf envelope ("k8s\0", runtime.Unknown) naming `api_version` and `kind`, with an empty
// raw object (the lengths here stay below 128, one varint byte).
std::string ProtobufEnvelope(const std::string& api_version, const std::string& kind) {
  auto bytes_field = [](int number, const std::string& bytes) {
    return std::string(1, static_cast<char>(number << 3 | 2)) +
           std::string(1, static_cast<char>(bytes.size())) + bytes;
  };
  return std::string("k8s\0", 4) +
         bytes_field(1, bytes_field(1, api_version) + bytes_field(2, kind)) + bytes_field(2, "");
}

TEST_F(ApiHandlerTest, AProtobufBodyIsDecodedOnlyForAServedResource) {
  const std::string protobuf(kProtobufContentType);
  // `kubectl create deployment` posts protobuf to a group serve does not serve: the answer is the
  // mux's 404, not a complaint about the encoding.
  ApiResponse unserved = Call("POST", "/apis/apps/v1/namespaces/default/deployments",
                              ProtobufEnvelope("apps/v1", "Deployment"), protobuf);
  EXPECT_EQ(unserved.status, 404) << unserved.body;
  EXPECT_EQ(json::parse(unserved.body)["message"],
            "the server could not find the requested resource");
  // A served resource in an encoding serve cannot decode: 415 naming the kind.
  ApiResponse pod =
      Call("POST", "/api/v1/namespaces/default/pods", ProtobufEnvelope("v1", "Pod"), protobuf);
  EXPECT_EQ(pod.status, 415) << pod.body;
  EXPECT_EQ(json::parse(pod.body)["message"],
            "the protobuf encoding of v1 Pod is not served; send application/json");
}

TEST_F(ApiHandlerTest, UpdateConflictsOnStaleVersion) {
  json c = json::parse(Call("POST", kClaims, Claim("c1").dump()).body);
  json labelled = c;
  labelled["metadata"]["labels"] = {{"a", "b"}};
  ApiResponse ok = Call("PUT", std::string(kClaims) + "/c1", labelled.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  ApiResponse stale = Call("PUT", std::string(kClaims) + "/c1", labelled.dump());
  EXPECT_EQ(stale.status, 409);
  // The claim spec is immutable.
  json changed = json::parse(ok.body);
  changed["spec"]["devices"]["requests"][0]["exactly"]["count"] = 2;
  EXPECT_EQ(Call("PUT", std::string(kClaims) + "/c1", changed.dump()).status, 422);
}

TEST_F(ApiHandlerTest, PatchesAndStatusSubresource) {
  Call("POST", kClaims, Claim("c1").dump());
  ApiResponse merged =
      Call("PATCH", std::string(kClaims) + "/c1", R"({"metadata": {"labels": {"x": "y"}}})",
           "application/merge-patch+json");
  ASSERT_EQ(merged.status, 200) << merged.body;
  EXPECT_EQ(json::parse(merged.body)["metadata"]["labels"]["x"], "y");
  ApiResponse jp = Call("PATCH", std::string(kClaims) + "/c1",
                        R"([{"op": "replace", "path": "/metadata/labels/x", "value": "z"}])",
                        "application/json-patch+json");
  ASSERT_EQ(jp.status, 200) << jp.body;
  EXPECT_EQ(
      Call("PATCH", std::string(kClaims) + "/c1", "{}", "application/apply-patch+yaml").status,
      415);
  // Status changes only through the status subresource.
  const std::string status_patch = R"({"status": {
      "allocation": {"devices": {"results": [{"request": "gpu", "driver": "gpu.nvidia.com", "pool": "n", "device": "d"}]}},
      "reservedFor": [{"resource": "pods", "name": "p", "uid": "u"}]}})";
  ApiResponse main =
      Call("PATCH", std::string(kClaims) + "/c1", status_patch, "application/merge-patch+json");
  EXPECT_FALSE(json::parse(main.body).contains("status"));
  ApiResponse status = Call("PATCH", std::string(kClaims) + "/c1/status", status_patch,
                            "application/merge-patch+json");
  ASSERT_EQ(status.status, 200) << status.body;
  EXPECT_EQ(json::parse(status.body)["status"]["reservedFor"][0]["name"], "p");
}

// A patch whose result the API server cannot decode is refused by its patch handler: 422 about
// field "patch" of no kind and no name, quoting the patch (strategic merge: Go's %+v of the
// decoded patch, and the unstructured converter's error) or the patched object (JSON and merge
// patches: its JSON text, and the JSON decoder's error). A create of the same object stays 400.
TEST_F(ApiHandlerTest, PatchesThatDoNotDecodeAreInvalidPatches) {
  constexpr const char* kSecrets = "/api/v1/namespaces/default/secrets";
  const std::string secret = std::string(kSecrets) + "/s";
  ASSERT_EQ(Call("POST", kSecrets, R"({"metadata":{"name":"s"},"data":{"a":"YWJj"}})").status, 201);

  const ApiResponse strategic =
      Call("PATCH", secret, R"({"metadata":{"finalizers":"x"},"data":{"b":"!!"}})",
           "application/strategic-merge-patch+json");
  EXPECT_EQ(strategic.status, 422);
  // The converter walks Secret's fields in Go order: metadata comes before data.
  EXPECT_EQ(strategic.body,
            R"({"apiVersion":"v1","code":422,"details":{"causes":[{"field":"patch","message":)"
            R"("Invalid value: \"map[data:map[b:!!] metadata:map[finalizers:x]]\": cannot )"
            R"(restore slice from string","reason":"FieldValueInvalid"}]},"kind":"Status",)"
            R"("message":" \"\" is invalid: patch: Invalid value: \"map[data:map[b:!!] )"
            R"(metadata:map[finalizers:x]]\": cannot restore slice from string","metadata":{},)"
            R"("reason":"Invalid","status":"Failure"})");

  const json base64 = json::parse(Call("PATCH", secret, R"({"data":{"b":"!!","n":1.5}})",
                                       "application/strategic-merge-patch+json")
                                      .body);
  EXPECT_EQ(base64["message"],
            " \"\" is invalid: patch: Invalid value: \"map[data:map[b:!! n:1.5]]\": error decoding "
            "from json: illegal base64 data at input byte 0");

  // Merge patch: the patched object's JSON text, as Go's encoder writes it (HTML escaped).
  const ApiResponse merge =
      Call("PATCH", secret, R"({"metadata":{"finalizers":"x","labels":{"k":"<&>"}}})",
           "application/merge-patch+json");
  EXPECT_EQ(merge.status, 422);
  const json status = json::parse(merge.body);
  EXPECT_EQ(status["reason"], "Invalid");
  const json& cause = status["details"]["causes"][0];
  EXPECT_EQ(cause["field"], "patch");
  EXPECT_EQ(cause["reason"], "FieldValueInvalid");
  EXPECT_EQ(status["message"], " \"\" is invalid: patch: " + cause["message"].get<std::string>());
  const std::string message = cause["message"];
  const std::string error =
      "\": json: cannot unmarshal string into Go struct field ObjectMeta.metadata.finalizers of "
      "type []string";
  ASSERT_GT(message.size(), error.size());
  EXPECT_EQ(message.substr(message.size() - error.size()), error);
  EXPECT_EQ(message.rfind("Invalid value: \"{\\\"apiVersion\\\":\\\"v1\\\",", 0), 0u) << message;
  EXPECT_NE(message.find(R"(\"finalizers\":\"x\")"), std::string::npos) << message;
  EXPECT_NE(message.find(R"(\"k\":\"\\u003c\\u0026\\u003e\")"), std::string::npos) << message;

  const json json_patch =
      json::parse(Call("PATCH", secret, R"([{"op":"add","path":"/data/b","value":"%%"}])",
                       "application/json-patch+json")
                      .body);
  EXPECT_EQ(json_patch["code"], 422);
  const std::string json_patch_message = json_patch["message"];
  EXPECT_EQ(json_patch_message.substr(json_patch_message.rfind("\": ")),
            "\": illegal base64 data at input byte 0");

  // Nothing was written; a create of a like object is still the decoder's 400.
  EXPECT_EQ(json::parse(Call("GET", secret).body)["data"], json({{"a", "YWJj"}}));
  const ApiResponse create =
      Call("POST", kSecrets, R"({"metadata":{"name":"t"},"data":{"b":"!!"}})");
  EXPECT_EQ(create.status, 400);
  EXPECT_EQ(json::parse(create.body)["message"],
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input "
            "byte 0");
}

// Under fieldValidation=Strict (kubectl's default) unknown fields in a patch's result are the
// patch handler's 422 too, about field "patch", not a create's 400; the converter's findings of a
// strategic merge patch come sorted.
TEST_F(ApiHandlerTest, StrictFieldValidationOfAPatchIsAnInvalidPatch) {
  Call("POST", kClaims, Claim("c1").dump());
  const std::string claim = std::string(kClaims) + "/c1";
  const std::multimap<std::string, std::string> strict = {{"fieldValidation", "Strict"}};
  const ApiResponse strategic =
      Call("PATCH", claim, R"({"spec":{"zz":1,"devices":{"aa":1.5}},"metadata":{"foo":"x y"}})",
           "application/strategic-merge-patch+json", strict);
  EXPECT_EQ(strategic.status, 422);
  const json status = json::parse(strategic.body);
  EXPECT_EQ(status["message"],
            " \"\" is invalid: patch: Invalid value: \"map[metadata:map[foo:x y] "
            "spec:map[devices:map[aa:1.5] zz:1]]\": strict decoding error: unknown field "
            "\"metadata.foo\", unknown field \"spec.devices.aa\", unknown field \"spec.zz\"");
  EXPECT_EQ(status["details"]["causes"][0]["field"], "patch");

  const json merge = json::parse(
      Call("PATCH", claim, R"({"spec":{"wat":1}})", "application/merge-patch+json", strict).body);
  EXPECT_EQ(merge["code"], 422);
  const std::string message = merge["message"];
  EXPECT_EQ(message.substr(message.rfind("\": ")),
            "\": strict decoding error: unknown field \"spec.wat\"");
  // Warn, the default, still warns and drops the field.
  const ApiResponse warned =
      Call("PATCH", claim, R"({"metadata":{"wat":1}})", "application/merge-patch+json");
  EXPECT_EQ(warned.status, 200) << warned.body;
  ASSERT_EQ(warned.headers.size(), 1u);
  EXPECT_EQ(warned.headers[0].second, R"(299 - "unknown field \"metadata.wat\"")");
}

// The value a JSON or merge patch's 422 quotes is the patched object's text as the API server
// has it: gopkg.in/evanphx/json-patch.v4 applied to the codec's encoding of the stored object
// (compact; struct fields in Go declaration order, so ObjectMeta's name, namespace, uid,
// resourceVersion, generation, creationTimestamp, labels, and ExactDeviceRequest's
// deviceClassName, allocationMode, count; `"status":{}` as Go writes a struct). The library holds
// the document as lazy nodes and decodes a node, into a Go map written back with sorted keys, only
// when an operation needs its members; other nodes are written back as their bytes came. Each
// expected text below follows those rules by hand:
// - the top level is always decoded: apiVersion, kind, metadata, spec, status, sorted;
// - JSON patch (Patch.Apply): findObject decodes each object and array on the operation's path;
//   the operation's value is its own bytes, compacted (key order and spelling kept);
// - merge patch (MergePatch): an object the patch merges an object into is decoded; a patch
//   value placed where the document had no such key goes through pruneNulls, which decodes all of
//   it (sorted) and drops its null members; a merged-in raw string keeps its bytes, and Go's
//   encoder escapes its '<' as \u003c.
// $UID, $RV and $TS stand for the stored object's uid, resourceVersion and creationTimestamp.
TEST_F(ApiHandlerTest, JsonAndMergePatchesQuoteTheObjectAsTheApiServerPatchedIt) {
  json claim = Claim("c1");
  claim["metadata"]["labels"] = {{"b", "2"}, {"a", "1"}};
  ASSERT_EQ(Call("POST", kClaims, claim.dump()).status, 201);
  const std::string path = std::string(kClaims) + "/c1";
  const json stored = json::parse(Call("GET", path).body);
  auto with_stored = [&](std::string text) {
    const std::pair<const char*, std::string> values[] = {
        {"$UID", stored["metadata"]["uid"]},
        {"$RV", stored["metadata"]["resourceVersion"]},
        {"$TS", stored["metadata"]["creationTimestamp"]}};
    for (const auto& [name, value] : values) text.replace(text.find(name), strlen(name), value);
    return text;
  };
  const std::string untouched_meta =
      R"("metadata":{"name":"c1","namespace":"default","uid":"$UID","resourceVersion":"$RV",)"
      R"("generation":1,"creationTimestamp":"$TS","labels":{"a":"1","b":"2"}})";
  const std::string untouched_spec =
      R"("spec":{"devices":{"requests":[{"name":"gpu","exactly":{"deviceClassName":"mig",)"
      R"("allocationMode":"ExactCount","count":1}}]}})";
  struct Case {
    const char* name;
    const char* content_type;
    const char* patch;
    std::string text;  // the patched object's text, with $UID, $RV, $TS
    const char* error;
  };
  const Case cases[] = {
      {"JSON patch replacing a label with an object: metadata and labels decoded, spec as stored",
       "application/json-patch+json",
       R"([{"op": "replace", "path": "/metadata/labels/a", "value": {"y": 1, "x": 2}}])",
       R"({"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{)"
       R"("creationTimestamp":"$TS","generation":1,"labels":{"a":{"y":1,"x":2},"b":"2"},)"
       R"("name":"c1","namespace":"default","resourceVersion":"$RV","uid":"$UID"},)" +
           untouched_spec + R"(,"status":{}})",
       "json: cannot unmarshal object into Go struct field ObjectMeta.metadata.labels of type "
       "string"},
      {"JSON patch adding an unknown field (Strict): the path to it decoded, metadata as stored",
       "application/json-patch+json",
       R"([{"op": "add", "path": "/spec/devices/requests/0/exactly/zz", "value": {"b": true, "a": null}}])",
       R"({"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim",)" + untouched_meta +
           R"(,"spec":{"devices":{"requests":[{"exactly":{"allocationMode":"ExactCount",)"
           R"("count":1,"deviceClassName":"mig","zz":{"b":true,"a":null}},"name":"gpu"}]}},)"
           R"("status":{}})",
       "strict decoding error: unknown field \"spec.devices.requests[0].exactly.zz\""},
      {"merge patch setting a label to a number: the labels merged into are decoded",
       "application/merge-patch+json",
       R"({"metadata": {"labels": {"a": 5, "b": null, "c": "<3"}}})",
       R"({"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{)"
       R"("creationTimestamp":"$TS","generation":1,"labels":{"a":5,"c":"\u003c3"},"name":"c1",)"
       R"("namespace":"default","resourceVersion":"$RV","uid":"$UID"},)" +
           untouched_spec + R"(,"status":{}})",
       "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
       "string"},
      {"merge patch adding new objects: pruneNulls decodes them all, sorted, nulls dropped",
       "application/merge-patch+json",
       R"({"metadata": {"annotations": {"z": "1", "a": null, "m": "2"}, "ownerReferences": [
           {"uid": "u", "name": "p", "kind": "Pod", "apiVersion": "v1", "controller": "yes",
            "blockOwnerDeletion": null}]}})",
       R"({"apiVersion":"resource.k8s.io/v1","kind":"ResourceClaim","metadata":{)"
       R"("annotations":{"m":"2","z":"1"},"creationTimestamp":"$TS","generation":1,)"
       R"("labels":{"a":"1","b":"2"},"name":"c1","namespace":"default","ownerReferences":[{)"
       R"("apiVersion":"v1","controller":"yes","kind":"Pod","name":"p","uid":"u"}],)"
       R"("resourceVersion":"$RV","uid":"$UID"},)" +
           untouched_spec + R"(,"status":{}})",
       "json: cannot unmarshal string into Go struct field "
       "OwnerReference.metadata.ownerReferences.controller of type bool"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const ApiResponse response =
        Call("PATCH", path, c.patch, c.content_type, {{"fieldValidation", "Strict"}});
    ASSERT_EQ(response.status, 422) << response.body;
    const std::string cause = "Invalid value: " + GoQuote(with_stored(c.text)) + ": " + c.error;
    const json status = json::parse(response.body);
    EXPECT_EQ(status["message"], " \"\" is invalid: patch: " + cause);
    EXPECT_EQ(status["details"]["causes"][0]["message"], cause);
  }
}

TEST_F(ApiHandlerTest, DeleteHonoursFinalizers) {
  json c = Claim("c1");
  c["metadata"]["finalizers"] = {"example.com/keep"};
  Call("POST", kClaims, c.dump());
  ApiResponse marked = Call("DELETE", std::string(kClaims) + "/c1");
  ASSERT_EQ(marked.status, 200);
  EXPECT_TRUE(json::parse(marked.body)["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(Call("GET", std::string(kClaims) + "/c1").status, 200);
  ApiResponse released =
      Call("PATCH", std::string(kClaims) + "/c1", R"({"metadata": {"finalizers": null}})",
           "application/merge-patch+json");
  ASSERT_EQ(released.status, 200) << released.body;
  EXPECT_EQ(Call("GET", std::string(kClaims) + "/c1").status, 404);
  EXPECT_EQ(Call("DELETE", std::string(kClaims) + "/c1").status, 404);
}

TEST_F(ApiHandlerTest, DryRunWritesNothing) {
  ApiResponse r =
      Call("POST", kClaims, Claim("c1").dump(), "application/json", {{"dryRun", "All"}});
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(Call("GET", std::string(kClaims) + "/c1").status, 404);
}

TEST_F(ApiHandlerTest, SelectorsAndTables) {
  json a = Claim("a");
  a["metadata"]["labels"] = {{"app", "x"}};
  Call("POST", kClaims, a.dump());
  Call("POST", kClaims, Claim("b").dump());
  json list = json::parse(Call("GET", kClaims, "", "", {{"labelSelector", "app=x"}}).body);
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["metadata"]["name"], "a");
  list = json::parse(Call("GET", kClaims, "", "", {{"fieldSelector", "metadata.name=b"}}).body);
  ASSERT_EQ(list["items"].size(), 1u);
  json table = json::parse(
      Call("GET", kClaims, "", "", {}, "application/json;as=Table;v=v1;g=meta.k8s.io").body);
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["columnDefinitions"][1]["name"], "State");
  EXPECT_EQ(table["rows"][0]["cells"][1], "pending");
  EXPECT_EQ(table["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

TEST_F(ApiHandlerTest, WatchStreamsEventsAfterVersion) {
  json c = json::parse(Call("POST", kClaims, Claim("a").dump()).body);
  std::string rv = c["metadata"]["resourceVersion"];
  Call("POST", kClaims, Claim("b").dump());
  Call("DELETE", std::string(kClaims) + "/a");
  ApiResponse w = Call("GET", kClaims, "", "",
                       {{"watch", "true"}, {"resourceVersion", rv}, {"timeoutSeconds", "1"}});
  ASSERT_TRUE(w.watch.has_value());
  std::vector<json> events;
  std::atomic<bool> stop{false};
  handler_->StreamWatch(
      *w.watch,
      [&](const std::string& line) {
        if (!line.empty()) events.push_back(json::parse(line));
        return true;
      },
      stop);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(events[1]["type"], "DELETED");
  // From "0": the current state first.
  ApiResponse w0 = Call("GET", kClaims, "", "", {{"watch", "1"}, {"timeoutSeconds", "0"}});
  ASSERT_TRUE(w0.watch.has_value());
  EXPECT_EQ(w0.watch->initial.size(), 1u);
}

// ListOptions' booleans as the API server's parameter codec decodes them: false only when
// absent, "0" or "false" in any case; any other value, the empty one of `?watch` included, is true.
TEST_F(ApiHandlerTest, WatchAndItsOptionsAreTrueForAnyValueButZeroOrFalse) {
  json c = json::parse(Call("POST", kClaims, Claim("a").dump()).body);
  const std::string rv = c["metadata"]["resourceVersion"];
  for (const char* yes : {"", "yes", "True", "on"}) {
    ApiResponse w = Call("GET", kClaims, "", "",
                         {{"watch", yes},
                          {"allowWatchBookmarks", yes},
                          {"sendInitialEvents", yes},
                          {"resourceVersion", rv}});
    ASSERT_TRUE(w.watch.has_value()) << yes;
    EXPECT_TRUE(w.watch->bookmarks) << yes;
    EXPECT_EQ(w.watch->initial.size(), 1u) << yes;  // sendInitialEvents: the current state first
  }
  for (const char* no : {"0", "false", "FALSE"}) {
    ApiResponse list = Call("GET", kClaims, "", "", {{"watch", no}});
    EXPECT_FALSE(list.watch.has_value()) << no;
    EXPECT_EQ(json::parse(list.body)["kind"], "ResourceClaimList") << no;
    ApiResponse w = Call("GET", kClaims, "", "",
                         {{"watch", "1"},
                          {"allowWatchBookmarks", no},
                          {"sendInitialEvents", no},
                          {"resourceVersion", rv}});
    ASSERT_TRUE(w.watch.has_value()) << no;
    EXPECT_FALSE(w.watch->bookmarks) << no;
    EXPECT_TRUE(w.watch->initial.empty()) << no;
  }
  // The deprecated /watch/ paths watch whatever ?watch says (the handler's forceWatch).
  EXPECT_TRUE(Call("GET", "/apis/resource.k8s.io/v1/watch/namespaces/default/resourceclaims", "",
                   "", {{"watch", "false"}})
                  .watch.has_value());
}

TEST_F(ApiHandlerTest, WatchWithALabelSelectorSeesObjectsLeaveAndEnterIt) {
  auto label = [&](const std::string& name, const std::string& app) {
    ApiResponse r = Call("PATCH", std::string(kClaims) + "/" + name,
                         R"({"metadata": {"labels": {"app": ")" + app + R"("}}})",
                         "application/merge-patch+json");
    ASSERT_EQ(r.status, 200) << r.body;
  };
  // "TYPE name" of each event of a watch for app=x from `rv` ("" = now), streamed for 1 s.
  auto watch = [&](const std::string& rv, const std::function<void()>& meanwhile) {
    std::multimap<std::string, std::string> params = {
        {"watch", "true"}, {"labelSelector", "app=x"}, {"timeoutSeconds", "1"}};
    if (!rv.empty()) params.emplace("resourceVersion", rv);
    ApiResponse w = Call("GET", kClaims, "", "", params);
    std::vector<std::string> events;
    if (!w.watch.has_value()) return events;
    meanwhile();
    std::atomic<bool> stop{false};
    handler_->StreamWatch(
        *w.watch,
        [&](const std::string& line) {
          if (line.empty()) return true;
          json e = json::parse(line);
          events.push_back(e["type"].get<std::string>() + " " +
                           e["object"]["metadata"]["name"].get<std::string>());
          return true;
        },
        stop);
    return events;
  };

  // A watch that starts first sees every transition.
  auto live = watch("", [&] {
    json c = Claim("c");
    c["metadata"]["labels"] = {{"app", "x"}};
    Call("POST", kClaims, c.dump());
    label("c", "y");                              // leaves the selector: DELETED
    label("c", "x");                              // comes back: ADDED
    Call("POST", kClaims, Claim("d").dump());     // never matches: not seen
    Call("DELETE", std::string(kClaims) + "/d");  // not seen
    Call("DELETE", std::string(kClaims) + "/c");  // deleted while matching
  });
  EXPECT_EQ(live, (std::vector<std::string>{"ADDED c", "DELETED c", "ADDED c", "DELETED c"}));

  // A watch resumed from an older version replays the log; which objects matched is read at its
  // start (here: none), so b's entries and departures are told as they happen.
  json a = Claim("a");
  a["metadata"]["labels"] = {{"app", "x"}};
  std::string rv = json::parse(Call("POST", kClaims, a.dump()).body)["metadata"]["resourceVersion"];
  label("a", "y");
  Call("POST", kClaims, Claim("b").dump());
  label("b", "x");
  label("b", "x2");
  label("b", "x");
  Call("DELETE", std::string(kClaims) + "/b");
  Call("DELETE", std::string(kClaims) + "/a");
  EXPECT_EQ(watch(rv, [] {}),
            (std::vector<std::string>{"ADDED b", "DELETED b", "ADDED b", "DELETED b"}));
}

TEST_F(ApiHandlerTest, ListsPageWithLimitAndContinue) {
  for (const char* name : {"e", "a", "d", "b", "c"}) Call("POST", kClaims, Claim(name).dump());
  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    std::multimap<std::string, std::string> query = {{"limit", "2"}};
    if (!token.empty()) query.emplace("continue", token);
    ApiResponse r = Call("GET", kClaims, "", "", query);
    ASSERT_EQ(r.status, 200) << r.body;
    json list = json::parse(r.body);
    for (const json& item : list["items"]) names.push_back(item["metadata"]["name"]);
    token = list["metadata"].value("continue", "");
    if (!token.empty()) {
      EXPECT_EQ(list["metadata"]["remainingItemCount"], 5 - 2 * (pages + 1));
    }
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c", "d", "e"}));
  // Tables page too (kubectl get asks for chunks of 500).
  json table = json::parse(
      Call("GET", kClaims, "", "", {{"limit", "4"}}, "application/json;as=Table;v=v1;g=meta.k8s.io")
          .body);
  EXPECT_EQ(table["rows"].size(), 4u);
  EXPECT_FALSE(table["metadata"].value("continue", "").empty());
  EXPECT_EQ(Call("GET", kClaims, "", "", {{"continue", "zz"}}).status, 400);
  EXPECT_EQ(Call("GET", kClaims, "", "", {{"limit", "-1"}}).status, 400);
}

}  // namespace
}  // namespace migdra::control
