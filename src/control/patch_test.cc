#include "control/patch.h"

#include <gtest/gtest.h>

#include "control/patch_text.h"
#include "control/selectors.h"

namespace migdra::control {
namespace {

TEST(PatchTest, MergePatchFollowsRfc7386) {
  json target = json::parse(R"({"a": 1, "b": {"c": 2, "d": 3}, "l": [1, 2]})");
  json patch = json::parse(R"({"a": null, "b": {"c": 5}, "l": [3], "n": "x"})");
  auto r = ApplyMergePatch(target, patch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, json::parse(R"({"b": {"c": 5, "d": 3}, "l": [3], "n": "x"})"));
  EXPECT_FALSE(ApplyMergePatch(target, json::array()).ok());
}

TEST(PatchTest, JsonPatchAppliesOrFails) {
  json target = json::parse(R"({"metadata": {"labels": {"a": "1"}}})");
  auto r = ApplyJsonPatch(target,
                          json::parse(R"([{"op": "add", "path": "/metadata/labels/b", "value": "2"},
                                                 {"op": "remove", "path": "/metadata/labels/a"}])"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["metadata"]["labels"], json::parse(R"({"b": "2"})"));
  auto bad = ApplyJsonPatch(target, json::parse(R"([{"op": "remove", "path": "/nope"}])"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().reason, ErrorReason::kInvalid);
}

TEST(PatchTest, StrategicMergeMergesListsByKey) {
  json target = json::parse(R"({"spec": {"containers": [{"name": "a", "image": "x", "args": ["1"]},
                                                        {"name": "b", "image": "y"}],
                                         "tolerations": [{"key": "k"}]},
                                "metadata": {"finalizers": ["f1"]}})");
  json patch = json::parse(R"({"spec": {"containers": [{"name": "a", "image": "z"},
                                                       {"name": "b", "$patch": "delete"},
                                                       {"name": "c", "image": "w"}],
                                        "$setElementOrder/containers": [{"name": "a"}, {"name": "c"}],
                                        "tolerations": [{"key": "t"}]},
                               "metadata": {"finalizers": ["f2"]}})");
  auto r = ApplyStrategicMergePatch(target, patch);
  ASSERT_TRUE(r.ok());
  const json& containers = (*r)["spec"]["containers"];
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_EQ(containers[0], json::parse(R"({"name": "a", "image": "z", "args": ["1"]})"));
  EXPECT_EQ(containers[1]["name"], "c");
  EXPECT_EQ((*r)["spec"]["tolerations"], json::parse(R"([{"key": "t"}])"));
  EXPECT_EQ((*r)["metadata"]["finalizers"], json::parse(R"(["f1", "f2"])"));
  EXPECT_FALSE((*r)["spec"].contains("$setElementOrder/containers"));
}

TEST(PatchTest, StrategicMergeDirectives) {
  json target = json::parse(R"({"a": {"x": 1, "y": 2}, "b": {"x": 1}, "f": ["p", "q"]})");
  json patch = json::parse(R"({"a": {"z": 3, "$patch": "replace"}, "b": {"$patch": "delete"},
                               "$deleteFromPrimitiveList/f": ["p"]})");
  auto r = ApplyStrategicMergePatch(target, patch);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, json::parse(R"({"a": {"z": 3}, "f": ["q"]})"));
  auto missing_key =
      ApplyStrategicMergePatch(target, json::parse(R"({"containers": [{"image": "x"}]})"));
  EXPECT_FALSE(missing_key.ok());
}

TEST(SelectorTest, LabelSelectors) {
  json labels = {{"app", "web"}, {"tier", "front"}, {"n", "5"}};
  auto check = [&](const std::string& text) {
    auto sel = LabelSelector::Parse(text);
    EXPECT_TRUE(sel.ok()) << text;
    return sel.ok() && sel->Matches(labels);
  };
  EXPECT_TRUE(check(""));
  EXPECT_TRUE(check("app=web"));
  EXPECT_TRUE(check("app==web,tier"));
  EXPECT_FALSE(check("app!=web"));
  EXPECT_TRUE(check("app in (db, web)"));
  EXPECT_FALSE(check("app notin (db,web)"));
  EXPECT_TRUE(check("!missing"));
  EXPECT_FALSE(check("!app"));
  EXPECT_TRUE(check("n>4"));
  EXPECT_FALSE(check("n<5"));
  EXPECT_FALSE(check("missing=x"));
  EXPECT_FALSE(LabelSelector::Parse("app in web").ok());
  EXPECT_FALSE(LabelSelector::Parse("a,,b").ok());
}

TEST(SelectorTest, LabelSelectorObjects) {
  json sel = json::parse(R"({"matchLabels": {"a": "1"},
                             "matchExpressions": [{"key": "b", "operator": "In", "values": ["2", "3"]},
                                                  {"key": "c", "operator": "DoesNotExist"}]})");
  LabelSelector s = LabelSelector::FromObject(sel);
  EXPECT_TRUE(s.Matches(json{{"a", "1"}, {"b", "3"}}));
  EXPECT_FALSE(s.Matches(json{{"a", "1"}, {"b", "3"}, {"c", ""}}));
  EXPECT_FALSE(s.Matches(json{{"a", "1"}}));
  EXPECT_FALSE(LabelSelector::FromObject(json()).Matches(json::object()));
  // Found by selectors_fuzz: an operator or key of another type, or an expression that is not an
  // object, reads as empty instead of throwing out of the caller's thread.
  json odd = json::parse(R"({"matchExpressions": [{"key": "b", "operator": ["In"]}, 7,
                                                  {"key": 1, "operator": "Exists"}]})");
  EXPECT_NO_THROW((void)LabelSelector::FromObject(odd).Matches(json{{"a", "1"}}));
}

TEST(SelectorTest, FieldSelectors) {
  json pod = json::parse(R"({"metadata": {"name": "p", "namespace": "default"},
                             "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})");
  auto sel = FieldSelector::Parse("spec.nodeName=n1,status.phase!=Succeeded,status.phase!=Failed");
  ASSERT_TRUE(sel.ok());
  EXPECT_TRUE(sel->Matches(pod));
  EXPECT_EQ(sel->RequiredValue("spec.nodeName"), "n1");
  EXPECT_FALSE(FieldSelector::Parse("metadata.name=q")->Matches(pod));
  EXPECT_TRUE(FieldSelector::Parse("spec.missing=")->Matches(pod));
  EXPECT_FALSE(FieldSelector::Parse("nonsense").ok());
}

// The patched text as gopkg.in/evanphx/json-patch.v4 writes it (patch_text.h). Each expected
// text is derived by hand from the library: the top level is always decoded (keys sorted); a
// JSON patch decodes the objects and arrays along an operation's path (findObject, for "from"
// and "path"), a passing test decodes the value it compared, a whole-document replace decodes the
// new document one level; values keep their bytes, compacted, with '<' written as \u003c; a copy
// is the source's text. A merge patch decodes each object merged into; a patch value meeting no
// object is pruned of nulls (decoding all of it), an array meeting an object is kept as written.
TEST(PatchTextTest, OnlyTheNodesAnOperationNeedsAreDecoded) {
  const std::string current = R"({"b":{"y":1,"x":2},"a":[{"q":1,"p":2}],"c":"<"})";
  struct Case {
    const char* patch;
    const char* text;
  };
  const Case json_patches[] = {
      {R"([{"op": "test", "path": "/b", "value": {"x": 2, "y": 1}}])",
       R"({"a":[{"q":1,"p":2}],"b":{"x":2,"y":1},"c":"\u003c"})"},
      {R"([{"op": "copy", "from": "/b", "path": "/d"}])",
       R"({"a":[{"q":1,"p":2}],"b":{"y":1,"x":2},"c":"\u003c","d":{"y":1,"x":2}})"},
      {R"([{"op": "move", "from": "/a/0", "path": "/b/z"}])",
       R"({"a":[],"b":{"x":2,"y":1,"z":{"q":1,"p":2}},"c":"\u003c"})"},
      {R"([{"op": "add", "path": "/a/-", "value": { "k" : "v" }}])",
       R"({"a":[{"q":1,"p":2},{"k":"v"}],"b":{"y":1,"x":2},"c":"\u003c"})"},
      {R"([{"op": "remove", "path": "/a/-1"}])", R"({"a":[],"b":{"y":1,"x":2},"c":"\u003c"})"},
      {R"([{"op": "replace", "path": "", "value": {"z": {"n": 1, "m": 2}, "y": 0}}])",
       R"({"y":0,"z":{"n":1,"m":2}})"},
  };
  for (const Case& c : json_patches) {
    Result<std::string> text = JsonPatchedText(current, c.patch);
    ASSERT_TRUE(text.ok()) << c.patch << ": " << text.error().message;
    EXPECT_EQ(*text, c.text) << c.patch;
  }
  const Case merge_patches[] = {
      {R"({"b": {"w": null, "x": 3}, "c": {"k": [{"s": 1, "r": null}]}})",
       R"({"a":[{"q":1,"p":2}],"b":{"x":3,"y":1},"c":{"k":[{"s":1}]}})"},
      {R"({"b": [{"y": null}]})", R"({"a":[{"q":1,"p":2}],"b":[{"y":null}],"c":"\u003c"})"},
  };
  for (const Case& c : merge_patches) {
    Result<std::string> text = MergePatchedText(current, c.patch);
    ASSERT_TRUE(text.ok()) << c.patch << ": " << text.error().message;
    EXPECT_EQ(*text, c.text) << c.patch;
  }
  EXPECT_FALSE(JsonPatchedText(current, R"([{"op": "remove", "path": "/a/1"}])").ok());
  EXPECT_FALSE(JsonPatchedText(current, R"([{"op": "test", "path": "/c", "value": ">"}])").ok());
}

}  // namespace
}  // namespace migdra::control
