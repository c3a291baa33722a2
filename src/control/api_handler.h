// The Kubernetes REST API over the Store, independent of the HTTP transport: discovery, the
// OpenAPI v3 documents kubectl needs, and the verbs get, list, watch, create, update, patch,
// delete and deletecollection on the kinds of resources.h, with their status and log
// subresources, dry runs, field validation and server-side tables.
//
// Handle() answers one request. A watch is not answered in full: Handle returns a WatchSpec and
// the transport streams StreamWatch's output until it returns false.
//
// Errors: everything below the HTTP boundary fails with an Error whose ErrorReason says what
// went wrong (common/result.h). HttpStatusFor is the one place a reason becomes an HTTP status
// code and the reason word of the Status object that carries the error's message (and an
// Invalid's causes as details.causes), as the API server answers. A patch whose result the
// decoder refuses (a value of the wrong type, bytes that are not base64, and under
// fieldValidation=Strict unknown or duplicate fields) is the patch handler's 422 Invalid about
// field "patch", quoting the patch (strategic merge) or the patched object (JSON and merge), where
// a create or an update of that object is the decoder's 400.
//
// Thread safety: Handle and StreamWatch may run concurrently on any threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "control/objects.h"
#include "control/resources.h"
#include "control/selectors.h"
#include "control/store.h"

namespace migdra::control {

struct ApiRequest {
  std::string method;  // GET POST PUT PATCH DELETE
  std::string path;
  std::multimap<std::string, std::string> query;
  std::string content_type;
  std::string accept;
  std::string body;
  std::string Param(const std::string& key) const;
};

struct WatchSpec {
  const ResourceInfo* info = nullptr;
  std::string namespace_;
  LabelSelector labels;
  FieldSelector fields;
  int64_t after_version = 0;
  std::vector<json> initial;  // synthetic ADDED events (watch from "0" or unset version)
  // With selectors: "namespace/name" of the objects that matched when the watch began (read at
  // its start, also when it resumes from an older version). An update that makes an object stop
  // matching is sent as DELETED, one that makes it start matching as ADDED, as the API server's
  // watch cache does.
  std::set<std::string> matching;
  int timeout_seconds = 1800;
  bool as_table = false;
  bool bookmarks = false;
};

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::optional<WatchSpec> watch;
  // A body streamed in chunks after `body` (kubectl logs -f): writes through `write` (false: the
  // client is gone; an empty text only asks whether it is there) until it returns or `stop`.
  std::function<void(const std::function<bool(const std::string&)>& write,
                     const std::atomic<bool>& stop)>
      stream;
};

// How an error is answered over HTTP: the status code and the Status object's `reason`.
struct HttpStatus {
  int code;
  const char* reason;
};
HttpStatus HttpStatusFor(ErrorReason reason);

// The JSON Status answer for an error.
ApiResponse ErrorResponse(const Error& error);

// Supplies the log of one attempt of a pod's container (the runner's; attempts as in
// pod_logs.h) from byte `offset` on, as the runtime wrote it (the CRI log format); nullopt when
// it has none.
using PodLogProvider = std::function<std::optional<std::string>(
    const std::string& ns, const std::string& pod, const std::string& container, int attempt,
    size_t offset)>;

class ApiHandler {
 public:
  // `server_address` is host:port as clients reach it (for /api's serverAddressByClientCIDRs).
  ApiHandler(Store& store, std::string server_address);

  ApiResponse Handle(const ApiRequest& request) const;

  // Writes newline-separated watch events through `write` until the watch times out, `stop`
  // becomes true, or `write` returns false (client gone).
  void StreamWatch(const WatchSpec& spec, const std::function<bool(const std::string&)>& write,
                   const std::atomic<bool>& stop) const;

  void SetPodLogProvider(PodLogProvider provider) { log_provider_ = std::move(provider); }
  // /readyz answers 503 while `ready` returns false (serve: until its local node has joined).
  // Set before serving starts.
  void SetReadyCheck(std::function<bool()> ready) { ready_ = std::move(ready); }

  // Routes outside the Kubernetes API (/metrics, the partition map), tried in order before a
  // 404; nullopt passes the request on. Added before serving starts.
  using ExtraRoute = std::function<std::optional<ApiResponse>(const ApiRequest&)>;
  void AddRoute(ExtraRoute route) { routes_.push_back(std::move(route)); }
  // Told of every answered request and how long Handle took (watches: until the stream began).
  using RequestObserver =
      std::function<void(const ApiRequest&, const ApiResponse&, double seconds)>;
  void SetRequestObserver(RequestObserver observer) { observer_ = std::move(observer); }

  // The Status object for an error (also a watch's ERROR event).
  static json StatusJson(const Error& error);

 private:
  // What a resource request's path names: the kind, namespace, object name and subresource
  // ("" for a collection, resp. the object itself), and whether it is under /watch/.
  struct ResourceTarget {
    const ResourceInfo* info = nullptr;
    std::string ns;
    std::string name;
    std::string subresource;
    bool watch_path = false;
  };

  ApiResponse Route(const ApiRequest& request) const;
  ApiResponse Discovery(const ApiRequest& request) const;
  ApiResponse OpenApi(const ApiRequest& request) const;
  // Parses a resource path (404 unless it names a served resource), decodes a protobuf body
  // into JSON, and dispatches on the verb to the methods below, one per verb.
  ApiResponse Resource(const ApiRequest& request) const;
  ApiResponse Dispatch(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse List(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse Watch(const ApiRequest& request, const ResourceTarget& target,
                    const LabelSelector& labels, const FieldSelector& fields,
                    std::vector<json> items, int64_t version_now) const;
  ApiResponse Get(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse PodLog(const ApiRequest& request, const ResourceTarget& target, json pod) const;
  ApiResponse Create(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse Update(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse Patch(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse Delete(const ApiRequest& request, const ResourceTarget& target) const;
  ApiResponse DeleteCollection(const ApiRequest& request, const ResourceTarget& target,
                               const DeleteOptions& options) const;

  Store& store_;
  std::string server_address_;
  PodLogProvider log_provider_;
  std::function<bool()> ready_;
  std::vector<ExtraRoute> routes_;
  RequestObserver observer_;
};

// Kubernetes' limit on how deep JSON request bodies nest; deeper documents would exhaust a
// thread's stack in the recursive code that copies, compares and prints them. Bodies and patched
// objects beyond it are a 400.
inline constexpr size_t kMaxJsonDepth = 10000;

// Whether JSON text nests arrays and objects deeper than kMaxJsonDepth: a scan without recursion,
// run before anything parses the text (brackets inside strings do not count).
bool JsonNestsTooDeep(std::string_view text);

// The qualified "resource.group" name used in API messages ("pods", "jobs.batch").
std::string QualifiedResource(const ResourceInfo& info);

}  // namespace migdra::control
