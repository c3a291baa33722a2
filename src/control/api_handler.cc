#include "control/api_handler.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <optional>
#include <set>
#include <string_view>
#include <vector>

#include "api/kubernetes_version.h"
#include "api/schema.h"
#include "common/hex.h"
#include "control/admission.h"
#include "control/go_fmt.h"
#include "control/go_json.h"
#include "control/http_request.h"
#include "control/objects.h"
#include "control/openapi.h"
#include "control/patch.h"
#include "control/patch_text.h"
#include "control/pod_logs.h"
#include "control/protobuf_body.h"
#include "control/wire_types.h"

namespace migdra::control {
namespace {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : path) {
    if (c == '/') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// JSON text of `value`; bytes that are not UTF-8 (a name taken from a percent-encoded path
// reaches error messages) become U+FFFD, as Go's encoder writes them, instead of throwing.
std::string Dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiResponse JsonResponse(int status, const json& body) {
  ApiResponse r;
  r.status = status;
  r.body = Dump(body);
  return r;
}

ApiResponse NotFoundPath(const std::string& path) {
  return ErrorResponse(
      MakeError(ErrorReason::kNotFound, "the server could not find the requested resource"));
}

json Verbs(const ResourceInfo& info) {
  return json::array(
      {"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"});
}

json ResourceList(const std::string& group_version) {
  json resources = json::array();
  for (const ResourceInfo& r : AllResources()) {
    if (r.GroupVersion() != group_version) continue;
    json entry = {{"name", r.plural},
                  {"singularName", r.singular},
                  {"namespaced", r.namespaced},
                  {"kind", r.kind},
                  {"verbs", Verbs(r)}};
    if (!r.short_names.empty()) entry["shortNames"] = r.short_names;
    if (!r.categories.empty()) entry["categories"] = r.categories;
    resources.push_back(entry);
    for (const std::string& sub : r.subresources) {
      json verbs = sub == "log" ? json::array({"get"}) : json::array({"get", "patch", "update"});
      resources.push_back({{"name", r.plural + "/" + sub},
                           {"singularName", ""},
                           {"namespaced", r.namespaced},
                           {"kind", sub == "log" ? "Pod" : r.kind},
                           {"verbs", verbs}});
    }
  }
  return json{{"kind", "APIResourceList"},
              {"apiVersion", "v1"},
              {"groupVersion", group_version},
              {"resources", resources}};
}

std::vector<std::string> Groups() {
  std::vector<std::string> groups;
  for (const ResourceInfo& r : AllResources()) {
    if (!r.group.empty() && std::find(groups.begin(), groups.end(), r.group) == groups.end()) {
      groups.push_back(r.group);
    }
  }
  return groups;
}

json GroupJson(const std::string& group) {
  json version = {{"groupVersion", group + "/v1"}, {"version", "v1"}};
  return json{{"name", group}, {"versions", json::array({version})}, {"preferredVersion", version}};
}

json ListJson(const ResourceInfo& info, const std::vector<json>& items, int64_t version) {
  return json{{"kind", info.kind + "List"},
              {"apiVersion", info.GroupVersion()},
              {"metadata", {{"resourceVersion", std::to_string(version)}}},
              {"items", items}};
}

// limit / continue, as client-go's pager and `kubectl get` (chunks of 500) use them. The token
// holds the namespace and name of the last object returned; a continued list returns the objects
// after it in the store's order as they are now, not as they were at the first page's version.
struct ListPage {
  std::string continue_token;
  int64_t remaining = 0;
};

Result<ListPage> Paginate(std::vector<json>& items, const std::string& limit_param,
                          const std::string& continue_param, int64_t version) {
  auto position = [](const json& o) {
    const json meta = o.value("metadata", json::object());
    return std::make_pair(meta.value("namespace", ""), meta.value("name", ""));
  };
  if (!continue_param.empty()) {
    std::optional<std::string> decoded = HexDecode(continue_param);
    json token = decoded ? json::parse(*decoded, nullptr, false) : json();
    if (!token.is_object() || !token.contains("ns") || !token.contains("name")) {
      return MakeError(ErrorReason::kBadRequest, "continue token is not valid");
    }
    const auto after = std::make_pair(token.value("ns", ""), token.value("name", ""));
    items.erase(items.begin(), std::find_if(items.begin(), items.end(),
                                            [&](const json& o) { return position(o) > after; }));
  }
  ListPage page;
  if (limit_param.empty()) return page;
  int64_t limit = ParseVersion(limit_param);
  if (limit < 0) {
    return MakeError(ErrorReason::kBadRequest, "limit must be a non-negative integer");
  }
  if (limit == 0 || static_cast<int64_t>(items.size()) <= limit) return page;
  page.remaining = static_cast<int64_t>(items.size()) - limit;
  items.resize(static_cast<size_t>(limit));
  const auto [ns, name] = position(items.back());
  page.continue_token = HexEncode(Dump(json{{"rv", version}, {"ns", ns}, {"name", name}}));
  return page;
}

bool WantsTable(const std::string& accept) { return accept.find("as=Table") != std::string::npos; }

// The same limit for a value built by a patch, walked without recursion.
bool NestsTooDeep(const json& value) {
  std::vector<std::pair<const json*, size_t>> pending = {{&value, 1}};
  while (!pending.empty()) {
    const auto [node, depth] = pending.back();
    pending.pop_back();
    if (!node->is_structured()) continue;
    if (depth > kMaxJsonDepth) return true;
    for (const json& child : *node) pending.emplace_back(&child, depth + 1);
  }
  return false;
}

Error TooDeep(const std::string& what) {
  return MakeError(ErrorReason::kBadRequest,
                   what + " nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
}

Result<json> ParseBody(const std::string& body) {
  if (JsonNestsTooDeep(body)) {
    return TooDeep("the request body");
  }
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return MakeError(ErrorReason::kBadRequest,
                     "the request body is not valid JSON (this server accepts JSON only)");
  }
  return parsed;
}

std::string ObjectKey(const json& object) {
  const json meta = object.value("metadata", json::object());
  return meta.value("namespace", "") + "/" + meta.value("name", "");
}

bool Matches(const json& object, const LabelSelector& labels, const FieldSelector& fields) {
  const json& meta = object["metadata"];
  return labels.Matches(meta.contains("labels") ? meta["labels"] : json::object()) &&
         fields.Matches(object);
}

std::string EventLine(const std::string& type, const json& object) {
  return Dump(json{{"type", type}, {"object", object}}) + "\n";
}

// dryRun and fieldValidation of a write; fieldValidation=Warn's findings go to `warnings`.
Result<WriteOptions> WriteOptionsOf(const ApiRequest& request, std::vector<std::string>& warnings) {
  WriteOptions options;
  options.dry_run = request.Param("dryRun") == "All";
  MIGDRA_ASSIGN_OR_RETURN(options.field_validation,
                          ParseFieldValidation(request.Param("fieldValidation")));
  options.duplicate_fields = api::DuplicateFields(request.body);
  options.warnings = &warnings;
  return options;
}

// Warning headers as the API server writes them: `299 - "unknown field \"spec.x\""`.
ApiResponse WithWarnings(ApiResponse response, const std::vector<std::string>& warnings) {
  for (const std::string& warning : warnings) {
    std::string quoted = "\"";
    for (char c : warning) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    response.headers.emplace_back("Warning", "299 - " + quoted + "\"");
  }
  return response;
}

// The patched object's text that the API server quotes for a JSON or merge patch: the patch
// applied by evanphx/json-patch to the codec's encoding of `current` (patch_text.h). Where that
// library would not have applied the patch, which serve did apply, serve's patched object in Go's
// encoding stands in.
std::string PatchedObjectText(const ResourceInfo& info, bool merge, const json& current,
                              const std::string& patch_text, const json& patched) {
  const std::string current_text = GoEncodedJson(info, current);
  Result<std::string> text = merge ? MergePatchedText(current_text, patch_text)
                                   : JsonPatchedText(current_text, patch_text);
  return text.ok() ? *text : GoJsonText(patched);
}

// The API server's answer when the object a patch produced does not decode into its Go type, or,
// under fieldValidation=Strict, has unknown or duplicate fields (apiserver's patch handler): 422
// Invalid about field "patch", of no kind and no name, so its message starts ` "" is invalid`.
// The value quoted is, for a strategic merge patch, the patch as Go's %+v prints the decoded map,
// with the unstructured converter's error (its unknown fields sorted); for a JSON or merge patch,
// the patched object's JSON text as the API server has it (PatchedObjectText), with the JSON
// decoder's error (without the "... cannot be handled as ..." a create gets).
std::optional<Error> PatchResultError(const ResourceInfo& info, const std::string& patch_type,
                                      const json& current, const ApiRequest& request,
                                      const json& patch, const json& patched,
                                      const WriteOptions& options) {
  const bool strategic = patch_type == "application/strategic-merge-patch+json";
  std::optional<std::string> error =
      WireDecodeError(info, patched, strategic ? WireDecoder::kUnstructured : WireDecoder::kJson);
  if (!error && options.field_validation == FieldValidation::kStrict) {
    std::vector<std::string> findings =
        StrictFieldFindings(info, patched, options.duplicate_fields);
    if (strategic) {
      std::sort(findings.begin() + static_cast<std::ptrdiff_t>(options.duplicate_fields.size()),
                findings.end());
    }
    if (!findings.empty()) {
      error = "strict decoding error: ";
      for (size_t i = 0; i < findings.size(); ++i) *error += (i ? ", " : "") + findings[i];
    }
  }
  if (!error) return std::nullopt;
  const std::string value =
      strategic ? GoFormatValue(patch)
                : PatchedObjectText(info, patch_type == "application/merge-patch+json", current,
                                    request.body, patched);
  const std::string body = "Invalid value: " + GoQuote(value) + ": " + *error;
  return MakeError(ErrorReason::kInvalid, " \"\" is invalid: patch: " + body,
                   {{"FieldValueInvalid", "patch", body}});
}

// Why PUT or PATCH cannot write the object `name` (its `subresource`); nullopt when they can.
std::optional<Error> ItemWriteError(const std::string& method, const std::string& name,
                                    const std::string& subresource) {
  if (name.empty())
    return MakeError(ErrorReason::kMethodNotAllowed, method + " needs a resource name");
  if (subresource == "log")
    return MakeError(ErrorReason::kMethodNotAllowed, "the log is read-only");
  return std::nullopt;
}

// A DELETE's options: ?dryRun and ?propagationPolicy, overridden by a DeleteOptions body
// (propagationPolicy, orphanDependents, preconditions, dryRun).
Result<DeleteOptions> DeleteOptionsOf(const ApiRequest& request) {
  DeleteOptions options;
  options.dry_run = request.Param("dryRun") == "All";
  options.propagation = request.Param("propagationPolicy");
  if (request.body.empty()) return options;
  Result<json> body = ParseBody(request.body);
  if (!body.ok()) return body.error();
  if (body->is_object()) {
    if (body->contains("propagationPolicy") && (*body)["propagationPolicy"].is_string()) {
      options.propagation = (*body)["propagationPolicy"];
    }
    if (body->value("orphanDependents", false)) options.propagation = "Orphan";
    const json& pre = body->value("preconditions", json::object());
    if (pre.is_object()) {
      if (pre.contains("uid") && pre["uid"].is_string()) options.expected_uid = pre["uid"];
      if (pre.contains("resourceVersion") && pre["resourceVersion"].is_string()) {
        options.expected_version = ParseVersion(pre["resourceVersion"]);
      }
    }
    const json& dry = body->value("dryRun", json::array());
    if (dry.is_array() && std::find(dry.begin(), dry.end(), "All") != dry.end())
      options.dry_run = true;
  }
  return options;
}

}  // namespace

std::string ApiRequest::Param(const std::string& key) const {
  return QueryValue(query, key).value_or("");
}

bool JsonNestsTooDeep(std::string_view text) {
  size_t depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

std::string QualifiedResource(const ResourceInfo& info) {
  return info.group.empty() ? info.plural : info.plural + "." + info.group;
}

HttpStatus HttpStatusFor(ErrorReason reason) {
  switch (reason) {
    case ErrorReason::kInternal:
      return {500, "InternalError"};
    case ErrorReason::kBadRequest:
      return {400, "BadRequest"};
    case ErrorReason::kInvalid:
      return {422, "Invalid"};
    case ErrorReason::kNotFound:
      return {404, "NotFound"};
    case ErrorReason::kAlreadyExists:
      return {409, "AlreadyExists"};
    case ErrorReason::kConflict:
      return {409, "Conflict"};
    case ErrorReason::kExpired:
      return {410, "Expired"};
    case ErrorReason::kForbidden:
      return {403, "Forbidden"};
    case ErrorReason::kUnauthorized:
      return {401, "Unauthorized"};
    case ErrorReason::kMethodNotAllowed:
      return {405, "MethodNotAllowed"};
    case ErrorReason::kUnsupportedMediaType:
      return {415, "UnsupportedMediaType"};
    case ErrorReason::kRequestHeaderFieldsTooLarge:
      return {431, "RequestHeaderFieldsTooLarge"};
    case ErrorReason::kRequestEntityTooLarge:
      return {413, "RequestEntityTooLarge"};
    case ErrorReason::kHttpVersionNotSupported:
      return {505, "HTTPVersionNotSupported"};
    case ErrorReason::kExpectationFailed:
      return {417, "ExpectationFailed"};
    case ErrorReason::kTooManyRequests:
      return {429, "TooManyRequests"};
    case ErrorReason::kServiceUnavailable:
      return {503, "ServiceUnavailable"};
    case ErrorReason::kNotImplemented:
      return {501, "NotImplemented"};
    // The API server's word for a backend (here a runtime's streaming server) that failed.
    case ErrorReason::kBadGateway:
      return {502, "InternalError"};
  }
  return {500, "InternalError"};  // not reached: the switch names every reason
}

ApiResponse ErrorResponse(const Error& error) {
  ApiResponse response;
  response.status = HttpStatusFor(error.reason).code;
  response.body = Dump(ApiHandler::StatusJson(error));
  return response;
}

json ApiHandler::StatusJson(const Error& error) {
  const HttpStatus http = HttpStatusFor(error.reason);
  json status = {{"kind", "Status"},    {"apiVersion", "v1"},       {"metadata", json::object()},
                 {"status", "Failure"}, {"message", error.message}, {"reason", http.reason},
                 {"code", http.code}};
  json details = json::object();
  if (!error.subject.name.empty()) details["name"] = error.subject.name;
  if (!error.subject.group.empty()) details["group"] = error.subject.group;
  if (!error.subject.kind.empty()) details["kind"] = error.subject.kind;
  if (!error.causes.empty()) {
    json causes = json::array();
    for (const ErrorCause& cause : error.causes) {
      causes.push_back(
          {{"reason", cause.reason}, {"field", cause.field}, {"message", cause.message}});
    }
    details["causes"] = std::move(causes);
  }
  if (!details.empty()) status["details"] = std::move(details);
  return status;
}

ApiHandler::ApiHandler(Store& store, std::string server_address)
    : store_(store), server_address_(std::move(server_address)) {}

ApiResponse ApiHandler::Handle(const ApiRequest& request) const {
  const auto start = std::chrono::steady_clock::now();
  ApiResponse response = Route(request);
  if (observer_) {
    observer_(request, response,
              std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return response;
}

ApiResponse ApiHandler::Route(const ApiRequest& request) const {
  const std::string& p = request.path;
  if (p == "/healthz" || p == "/readyz" || p == "/livez") {
    ApiResponse r;
    r.content_type = "text/plain";
    r.body = "ok";
    if (p == "/readyz" && ready_ && !ready_()) {
      r.status = 503;
      r.body = "not ready";
    }
    return r;
  }
  if (p == "/version" || p == "/version/") {
    return JsonResponse(200, {{"major", api::kKubernetesMajor},
                              {"minor", api::kKubernetesMinor},
                              {"gitVersion", api::kKubernetesGitVersion},
                              {"gitCommit", ""},
                              {"gitTreeState", "clean"},
                              {"buildDate", ""},
                              {"goVersion", ""},
                              {"compiler", "gcc"},
                              {"platform", "linux/amd64"}});
  }
  if (p.rfind("/openapi/", 0) == 0) return OpenApi(request);
  std::vector<std::string> segs = SplitPath(p);
  if (segs.empty()) {
    json paths = json::array({"/api", "/api/v1", "/apis", "/healthz", "/livez", "/openapi/v2",
                              "/openapi/v3", "/readyz", "/version"});
    for (const std::string& g : Groups()) {
      paths.push_back("/apis/" + g);
      paths.push_back("/apis/" + g + "/v1");
    }
    return JsonResponse(200, {{"paths", paths}});
  }
  if ((segs[0] == "api" && segs.size() <= 2) || (segs[0] == "apis" && segs.size() <= 3)) {
    return Discovery(request);
  }
  if (segs[0] == "api" || segs[0] == "apis") return Resource(request);
  for (const ExtraRoute& route : routes_) {
    if (std::optional<ApiResponse> answer = route(request)) return std::move(*answer);
  }
  return NotFoundPath(p);
}

ApiResponse ApiHandler::Discovery(const ApiRequest& request) const {
  std::vector<std::string> segs = SplitPath(request.path);
  if (request.method != "GET") {
    return ErrorResponse(
        MakeError(ErrorReason::kMethodNotAllowed,
                  "the server does not allow this method on the requested resource"));
  }
  if (segs[0] == "api") {
    if (segs.size() == 1) {
      return JsonResponse(200,
                          {{"kind", "APIVersions"},
                           {"versions", {"v1"}},
                           {"serverAddressByClientCIDRs",
                            {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", server_address_}}}}});
    }
    if (segs[1] == "v1") return JsonResponse(200, ResourceList("v1"));
    return NotFoundPath(request.path);
  }
  if (segs.size() == 1) {
    json groups = json::array();
    for (const std::string& g : Groups()) groups.push_back(GroupJson(g));
    return JsonResponse(200, {{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", groups}});
  }
  std::vector<std::string> groups = Groups();
  if (std::find(groups.begin(), groups.end(), segs[1]) == groups.end()) {
    return NotFoundPath(request.path);
  }
  if (segs.size() == 2) {
    json g = GroupJson(segs[1]);
    g["kind"] = "APIGroup";
    g["apiVersion"] = "v1";
    return JsonResponse(200, g);
  }
  if (segs[2] != "v1") return NotFoundPath(request.path);
  return JsonResponse(200, ResourceList(segs[1] + "/v1"));
}

// /openapi/v2 and /openapi/v3 (openapi.h): kubectl explain reads them, and kubectl learns from
// them that the server validates fields itself (fieldValidation), so apply needs no client schema.
ApiResponse ApiHandler::OpenApi(const ApiRequest& request) const {
  std::optional<json> document = OpenApiDocument(request.path, request.accept);
  if (!document) return NotFoundPath(request.path);
  return JsonResponse(200, *document);
}

ApiResponse ApiHandler::Resource(const ApiRequest& request) const {
  std::vector<std::string> segs = SplitPath(request.path);
  std::string group, version;
  size_t i;
  if (segs[0] == "api") {
    version = segs[1];
    i = 2;
  } else {
    group = segs[1];
    version = segs[2];
    i = 3;
  }
  ResourceTarget target;
  if (i < segs.size() && segs[i] == "watch") {
    target.watch_path = true;
    ++i;
  }
  if (i + 2 < segs.size() && segs[i] == "namespaces") {
    const ResourceInfo* inner = FindResource(group, version, segs[i + 2]);
    if (inner && inner->namespaced) {
      target.ns = segs[i + 1];
      i += 2;
    }
  }
  if (i >= segs.size()) return NotFoundPath(request.path);
  target.info = FindResource(group, version, segs[i]);
  if (!target.info) return NotFoundPath(request.path);
  target.name = i + 1 < segs.size() ? segs[i + 1] : "";
  target.subresource = i + 2 < segs.size() ? segs[i + 2] : "";
  if (i + 3 < segs.size()) return NotFoundPath(request.path);
  if (!target.subresource.empty() && !target.info->HasSubresource(target.subresource)) {
    return NotFoundPath(request.path);
  }
  if (request.content_type.rfind(kProtobufContentType, 0) == 0) {
    // Decoded once the path names a served resource: a path that does not is a 404 whatever
    // the body, as the API server's mux answers before any decoding.
    Result<std::string> decoded = ProtobufBodyToJson(request.body);
    if (!decoded) {
      return ErrorResponse(MakeError(ErrorReason::kUnsupportedMediaType, decoded.error().message));
    }
    ApiRequest as_json = request;
    as_json.body = std::move(*decoded);
    as_json.content_type = "application/json";
    return Dispatch(as_json, target);
  }
  return Dispatch(request, target);
}

// The verb's handler for a resolved `target`.
ApiResponse ApiHandler::Dispatch(const ApiRequest& request, const ResourceTarget& target) const {
  const std::string& method = request.method;
  if (method == "GET" && target.name.empty()) return List(request, target);
  if (target.info->namespaced && target.ns.empty() && (method != "GET" || !target.name.empty())) {
    return NotFoundPath(request.path);
  }
  if (method == "GET") return Get(request, target);
  if (method == "POST") return Create(request, target);
  if (method == "PUT") return Update(request, target);
  if (method == "PATCH") return Patch(request, target);
  if (method == "DELETE") return Delete(request, target);
  return ErrorResponse(
      MakeError(ErrorReason::kMethodNotAllowed, "method " + method + " is not supported"));
}

// GET on a collection: a list (paginated, or a table), or a watch with ?watch or /watch/.
ApiResponse ApiHandler::List(const ApiRequest& request, const ResourceTarget& target) const {
  const ResourceInfo& info = *target.info;
  Result<LabelSelector> labels = LabelSelector::Parse(request.Param("labelSelector"));
  if (!labels.ok()) return ErrorResponse(labels.error());
  Result<FieldSelector> fields = FieldSelector::Parse(request.Param("fieldSelector"));
  if (!fields.ok()) return ErrorResponse(fields.error());
  int64_t version_now = 0;
  std::vector<json> items;
  for (json& o : store_.List(info.StoreKey(), target.ns, &version_now)) {
    if (Matches(o, *labels, *fields)) items.push_back(std::move(o));
  }
  if (target.watch_path || QueryBool(QueryValue(request.query, "watch"))) {
    return Watch(request, target, *labels, *fields, std::move(items), version_now);
  }
  Result<ListPage> page =
      Paginate(items, request.Param("limit"), request.Param("continue"), version_now);
  if (!page.ok()) return ErrorResponse(page.error());
  json list;
  if (WantsTable(request.accept)) {
    std::string include = request.Param("includeObject");
    list = BuildTable(info, items, include.empty() ? "Metadata" : include,
                      std::to_string(version_now));
  } else {
    list = ListJson(info, items, version_now);
  }
  if (!page->continue_token.empty()) {
    list["metadata"]["continue"] = page->continue_token;
    list["metadata"]["remainingItemCount"] = page->remaining;
  }
  return JsonResponse(200, list);
}

// The start of a watch over `items` (the objects that match now, at `version_now`): the
// transport streams the rest with StreamWatch.
ApiResponse ApiHandler::Watch(const ApiRequest& request, const ResourceTarget& target,
                              const LabelSelector& labels, const FieldSelector& fields,
                              std::vector<json> items, int64_t version_now) const {
  WatchSpec spec;
  spec.info = target.info;
  spec.namespace_ = target.ns;
  spec.labels = labels;
  spec.fields = fields;
  spec.as_table = WantsTable(request.accept);
  spec.bookmarks = QueryBool(QueryValue(request.query, "allowWatchBookmarks"));
  std::string rv = request.Param("resourceVersion");
  const bool initial =
      rv.empty() || rv == "0" || QueryBool(QueryValue(request.query, "sendInitialEvents"));
  if (!labels.Empty() || !fields.Empty()) {
    for (const json& o : items) spec.matching.insert(ObjectKey(o));
  }
  if (initial) {
    spec.after_version = version_now;
    spec.initial = std::move(items);
  } else {
    int64_t v = ParseVersion(rv);
    if (v < 0) {
      return ErrorResponse(
          MakeError(ErrorReason::kBadRequest, "invalid resourceVersion \"" + rv + "\""));
    }
    spec.after_version = v;
  }
  std::string timeout = request.Param("timeoutSeconds");
  if (!timeout.empty()) {
    int64_t t = ParseVersion(timeout);
    if (t >= 0) spec.timeout_seconds = static_cast<int>(std::min<int64_t>(t, 3600));
  }
  ApiResponse r;
  r.watch = std::move(spec);
  return r;
}

ApiResponse ApiHandler::Get(const ApiRequest& request, const ResourceTarget& target) const {
  const ResourceInfo& info = *target.info;
  std::optional<json> object = store_.Get(info.StoreKey(), target.ns, target.name);
  if (!object) {
    return ErrorResponse(WithResource(MakeError(ErrorReason::kNotFound, ""), info, target.name));
  }
  if (target.subresource == "log") return PodLog(request, target, *object);
  if (WantsTable(request.accept)) {
    std::string include = request.Param("includeObject");
    return JsonResponse(200, BuildTable(info, {*object}, include.empty() ? "Metadata" : include,
                                        (*object)["metadata"].value("resourceVersion", "")));
  }
  return JsonResponse(200, *object);
}

// GET pods/NAME/log: the log of ?container (default: the first container) from the runner;
// ?previous and ?follow as pod_logs.h says.
ApiResponse ApiHandler::PodLog(const ApiRequest& request, const ResourceTarget& target,
                               json pod) const {
  const std::string& name = target.name;
  // The options are decoded (BadRequest) and validated (Invalid) before the container is looked
  // at, as upstream's log REST does.
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  Result<PodLogOptions> options = ParsePodLogOptions(
      [&](const std::string& key) { return QueryValue(request.query, key); }, name, now);
  if (!options.ok()) return ErrorResponse(options.error());
  std::string container = request.Param("container");
  const json& containers = pod["spec"]["containers"];
  if (container.empty() && containers.is_array() && !containers.empty()) {
    container = containers[0].value("name", "");
  }
  bool in_pod = false;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    const json& named = pod["spec"].value(list, json::array());
    for (const json& c : named)
      in_pod = in_pod || (c.is_object() && c.value("name", "") == container);
  }
  if (!in_pod) {
    return ErrorResponse(MakeError(ErrorReason::kBadRequest,
                                   "container " + container + " is not valid for pod " + name));
  }
  Result<int> attempt = PodLogAttempt(pod, container, options->previous);
  if (!attempt.ok())
    return ErrorResponse(MakeError(ErrorReason::kBadRequest, attempt.error().message));
  std::optional<std::string> log =
      log_provider_ ? log_provider_(target.ns, name, container, *attempt, 0) : std::nullopt;
  if (!log) {
    return ErrorResponse(MakeError(ErrorReason::kBadRequest,
                                   "container \"" + container + "\" in pod \"" + name +
                                       "\" is waiting to start: no runner has started it"));
  }
  ApiResponse r;
  r.content_type = "text/plain";
  PodLogReader reader(*options);
  r.body = reader.Add(*log);
  const bool follow =
      options->follow && !reader.Done() && PodLogAttemptRunning(pod, container, *attempt);
  if (!follow) r.body += reader.Finish();
  if (follow) {
    const std::string uid = pod["metadata"].value("uid", "");
    auto pod_now = [this, key = target.info->StoreKey(), ns = target.ns, name,
                    uid]() -> std::optional<json> {
      std::optional<json> now = store_.Get(key, ns, name);
      if (!now || (*now)["metadata"].value("uid", "") != uid) return std::nullopt;
      return now;
    };
    auto read_log = [provider = log_provider_, ns = target.ns, name, container, attempt = *attempt](
                        size_t offset) { return provider(ns, name, container, attempt, offset); };
    r.stream = [pod_now, read_log, container, attempt = *attempt, sent = log->size(),
                reader = std::move(reader)](const std::function<bool(const std::string&)>& write,
                                            const std::atomic<bool>& stop) {
      FollowPodLog(pod_now, read_log, container, attempt, sent, reader, write, stop);
    };
  }
  return r;
}

ApiResponse ApiHandler::Create(const ApiRequest& request, const ResourceTarget& target) const {
  const ResourceInfo& info = *target.info;
  if (!target.name.empty()) {
    return ErrorResponse(
        MakeError(ErrorReason::kMethodNotAllowed, "POST is not allowed on a named resource"));
  }
  Result<json> body = ParseBody(request.body);
  if (!body.ok()) return ErrorResponse(body.error());
  json& object = *body;
  if (!object.is_object()) {
    return ErrorResponse(MakeError(ErrorReason::kBadRequest, "the body must be a JSON object"));
  }
  if (std::optional<Error> type_error = WireTypeError(info, object)) {
    return ErrorResponse(*type_error);
  }
  std::string api_version = object.value("apiVersion", "");
  std::string kind = object.value("kind", "");
  if ((!api_version.empty() && api_version != info.GroupVersion()) ||
      (!kind.empty() && kind != info.kind)) {
    return ErrorResponse(
        MakeError(ErrorReason::kBadRequest, "the API version in the data (" + api_version +
                                                ") does not match the expected API version (" +
                                                info.GroupVersion() + ") or the kind (" + kind +
                                                ") is not " + info.kind));
  }
  if (info.namespaced) {
    std::string body_ns = object.contains("metadata") && object["metadata"].is_object()
                              ? object["metadata"].value("namespace", "")
                              : "";
    if (!body_ns.empty() && body_ns != target.ns) {
      return ErrorResponse(MakeError(ErrorReason::kBadRequest,
                                     "the namespace of the provided object does not match the "
                                     "namespace sent on the request"));
    }
    object["metadata"]["namespace"] = target.ns;
  }
  std::vector<std::string> warnings;
  Result<WriteOptions> options = WriteOptionsOf(request, warnings);
  if (!options.ok()) return ErrorResponse(options.error());
  options->wire_types_checked = true;  // WireTypeError ran above, in the API server's order
  Result<json> created = CreateObject(store_, info, std::move(object), *options);
  if (!created.ok()) return ErrorResponse(created.error());
  return WithWarnings(JsonResponse(201, *created), warnings);
}

// PUT: replaces the object (or its status) with the body.
ApiResponse ApiHandler::Update(const ApiRequest& request, const ResourceTarget& target) const {
  const ResourceInfo& info = *target.info;
  if (std::optional<Error> error =
          ItemWriteError(request.method, target.name, target.subresource)) {
    return ErrorResponse(*error);
  }
  Result<json> body = ParseBody(request.body);
  if (!body.ok()) return ErrorResponse(body.error());
  json object = *body;
  if (!object.is_object()) {
    return ErrorResponse(MakeError(ErrorReason::kBadRequest, "the body must be a JSON object"));
  }
  if (std::optional<Error> type_error = WireTypeError(info, object)) {
    return ErrorResponse(*type_error);
  }
  if (!object.contains("metadata") || !object["metadata"].is_object()) {
    object["metadata"] = json::object();
  }
  std::string body_name = object["metadata"].value("name", "");
  if (!body_name.empty() && body_name != target.name) {
    return ErrorResponse(
        MakeError(ErrorReason::kBadRequest, "the name of the object (" + body_name +
                                                ") does not match the name on the URL (" +
                                                target.name + ")"));
  }
  object["metadata"]["name"] = target.name;
  if (info.namespaced) object["metadata"]["namespace"] = target.ns;
  std::vector<std::string> warnings;
  Result<WriteOptions> options = WriteOptionsOf(request, warnings);
  if (!options.ok()) return ErrorResponse(options.error());
  options->wire_types_checked = true;  // WireTypeError ran above, in the API server's order
  Result<json> updated =
      UpdateObject(store_, info, std::move(object), target.subresource == "status", *options);
  if (!updated.ok()) return ErrorResponse(updated.error());
  return WithWarnings(JsonResponse(200, *updated), warnings);
}

// PATCH: applies the body (a JSON, merge or strategic-merge patch) to the stored object. A patch
// that names no resourceVersion applies to the version it was computed on and is recomputed when
// another write came between (at most 10 times).
ApiResponse ApiHandler::Patch(const ApiRequest& request, const ResourceTarget& target) const {
  const ResourceInfo& info = *target.info;
  const std::string& name = target.name;
  if (std::optional<Error> error =
          ItemWriteError(request.method, target.name, target.subresource)) {
    return ErrorResponse(*error);
  }
  Result<json> body = ParseBody(request.body);
  if (!body.ok()) return ErrorResponse(body.error());
  std::vector<std::string> warnings;
  Result<WriteOptions> options = WriteOptionsOf(request, warnings);
  if (!options.ok()) return ErrorResponse(options.error());
  // PatchResultError decodes each patched object; its decoders refuse exactly the values
  // WireTypeError refuses (in other words).
  options->wire_types_checked = true;
  for (int attempt = 0; attempt < 10; ++attempt) {
    std::optional<json> current = store_.Get(info.StoreKey(), target.ns, name);
    if (!current)
      return ErrorResponse(WithResource(MakeError(ErrorReason::kNotFound, ""), info, name));
    const std::string ct = request.content_type.substr(0, request.content_type.find(';'));
    Result<json> patched = MakeError(ErrorReason::kUnsupportedMediaType,
                                     "the server does not support patch type \"" + ct +
                                         "\"; use json, merge or strategic-merge patches");
    if (ct == "application/merge-patch+json") {
      patched = ApplyMergePatch(*current, *body);
    } else if (ct == "application/json-patch+json") {
      patched = ApplyJsonPatch(*current, *body);
    } else if (ct == "application/strategic-merge-patch+json") {
      patched = ApplyStrategicMergePatch(*current, *body);
    }
    if (!patched.ok()) return ErrorResponse(patched.error());
    if (NestsTooDeep(*patched)) return ErrorResponse(TooDeep("the patched object"));
    if (std::optional<Error> refused =
            PatchResultError(info, ct, *current, request, *body, *patched, *options)) {
      return ErrorResponse(*refused);
    }
    json object = std::move(*patched);
    if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
      return ErrorResponse(
          MakeError(ErrorReason::kInvalid, "the patch removed the object's metadata"));
    }
    const std::string patched_rv = object["metadata"].value("resourceVersion", "");
    const bool patch_sets_version =
        patched_rv != (*current)["metadata"].value("resourceVersion", "");
    if (!patch_sets_version) {
      // A patch without a version applies to the version it was computed on.
      object["metadata"]["resourceVersion"] = (*current)["metadata"].value("resourceVersion", "");
    }
    object["metadata"]["name"] = name;
    if (info.namespaced) object["metadata"]["namespace"] = target.ns;
    warnings.clear();  // a retry's field validation warns afresh
    Result<json> updated =
        UpdateObject(store_, info, std::move(object), target.subresource == "status", *options);
    if (updated.ok()) return WithWarnings(JsonResponse(200, *updated), warnings);
    if (!patch_sets_version && updated.error().reason == ErrorReason::kConflict) continue;
    return ErrorResponse(updated.error());
  }
  return ErrorResponse(WithResource(MakeError(ErrorReason::kConflict, ""), info, name));
}

// DELETE on an object, or on a collection (deletecollection, with selectors).
ApiResponse ApiHandler::Delete(const ApiRequest& request, const ResourceTarget& target) const {
  Result<DeleteOptions> options = DeleteOptionsOf(request);
  if (!options.ok()) return ErrorResponse(options.error());
  if (target.name.empty()) return DeleteCollection(request, target, *options);
  if (!target.subresource.empty()) {
    return ErrorResponse(MakeError(ErrorReason::kMethodNotAllowed, "cannot delete a subresource"));
  }
  Result<json> deleted = DeleteObject(store_, *target.info, target.ns, target.name, *options);
  if (!deleted.ok()) return ErrorResponse(deleted.error());
  return JsonResponse(200, *deleted);
}

ApiResponse ApiHandler::DeleteCollection(const ApiRequest& request, const ResourceTarget& target,
                                         const DeleteOptions& options) const {
  const ResourceInfo& info = *target.info;
  Result<LabelSelector> labels = LabelSelector::Parse(request.Param("labelSelector"));
  if (!labels.ok()) return ErrorResponse(labels.error());
  Result<FieldSelector> fields = FieldSelector::Parse(request.Param("fieldSelector"));
  if (!fields.ok()) return ErrorResponse(fields.error());
  int64_t version_now = 0;
  std::vector<json> deleted;
  for (const json& o : store_.List(info.StoreKey(), target.ns, &version_now)) {
    if (!Matches(o, *labels, *fields)) continue;
    Result<json> d = DeleteObject(store_, info, o["metadata"].value("namespace", ""),
                                  o["metadata"].value("name", ""), options);
    if (d.ok()) deleted.push_back(*d);
  }
  return JsonResponse(200, ListJson(info, deleted, store_.CurrentVersion()));
}

void ApiHandler::StreamWatch(const WatchSpec& spec,
                             const std::function<bool(const std::string&)>& write,
                             const std::atomic<bool>& stop) const {
  auto render = [&](const json& object) {
    if (!spec.as_table) return object;
    return BuildTable(*spec.info, {object}, "Metadata",
                      object["metadata"].value("resourceVersion", ""));
  };
  for (const json& object : spec.initial) {
    if (!write(EventLine("ADDED", render(object)))) return;
  }
  const std::string key = spec.info->StoreKey();
  const bool selective = !spec.labels.Empty() || !spec.fields.Empty();
  std::set<std::string> matching = spec.matching;
  int64_t cursor = spec.after_version;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(spec.timeout_seconds);
  while (!stop.load() && std::chrono::steady_clock::now() < deadline) {
    Result<std::vector<WatchEvent>> events = store_.EventsAfter(cursor, 500);
    if (!events.ok()) {
      write(EventLine("ERROR", StatusJson(events.error())));
      return;
    }
    if (events->empty()) {
      auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (!store_.WaitForVersion(cursor, std::min<std::chrono::milliseconds>(
                                             remaining, std::chrono::milliseconds(1000)))) {
        // Quiet second: probe the connection so abandoned watches end.
        if (!write("")) return;
      }
      continue;
    }
    for (const WatchEvent& e : *events) {
      cursor = e.resource_version;
      if (e.resource != key) continue;
      if (!spec.namespace_.empty() && e.namespace_ != spec.namespace_) continue;
      const bool matches = Matches(e.object, spec.labels, spec.fields);
      std::string type = EventTypeName(e.type);
      if (selective) {
        const std::string object_key = ObjectKey(e.object);
        const bool known = matching.count(object_key) > 0;
        if (e.type == EventType::kDeleted || !matches) {
          if (!known && !matches) continue;
          type = "DELETED";
          matching.erase(object_key);
        } else {
          if (!known) type = "ADDED";
          matching.insert(object_key);
        }
      } else if (!matches) {
        continue;
      }
      if (!write(EventLine(type, render(e.object)))) return;
    }
  }
}

}  // namespace migdra::control
