#include "control/resources.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "control/config_kinds.h"
#include "control/json_access.h"

namespace migdra::control {
namespace {

const char* kResourceGroup = "resource.k8s.io";

void DefaultDeviceRequests(json& devices) {
  if (!devices.is_object() || !devices.contains("requests") || !devices["requests"].is_array()) {
    return;
  }
  auto default_one = [](json& r) {
    if (!r.is_object()) return;
    if (!r.contains("allocationMode")) r["allocationMode"] = "ExactCount";
    if (r["allocationMode"] == "ExactCount" && !r.contains("count")) r["count"] = 1;
  };
  for (json& request : devices["requests"]) {
    if (request.is_object() && request.contains("exactly")) default_one(request["exactly"]);
    if (request.is_object() && request.contains("firstAvailable") &&
        request["firstAvailable"].is_array()) {
      for (json& sub : request["firstAvailable"]) default_one(sub);
    }
  }
}

void DefaultPodSpec(json& spec) {
  if (!spec.is_object()) return;
  if (!spec.contains("restartPolicy")) spec["restartPolicy"] = "Always";
  if (!spec.contains("dnsPolicy")) spec["dnsPolicy"] = "ClusterFirst";
  if (!spec.contains("schedulerName")) spec["schedulerName"] = "default-scheduler";
  if (!spec.contains("terminationGracePeriodSeconds")) spec["terminationGracePeriodSeconds"] = 30;
  if (!spec.contains("securityContext")) spec["securityContext"] = json::object();
  for (const char* list : {"containers", "initContainers"}) {
    if (!spec.contains(list) || !spec[list].is_array()) continue;
    for (json& c : spec[list]) {
      if (!c.is_object()) continue;
      if (!c.contains("terminationMessagePath")) {
        c["terminationMessagePath"] = "/dev/termination-log";
      }
      if (!c.contains("terminationMessagePolicy")) c["terminationMessagePolicy"] = "File";
      if (!c.contains("resources")) c["resources"] = json::object();
      if (!c.contains("imagePullPolicy")) {
        std::string image = Str(c, "image");
        bool latest =
            image.find(':') == std::string::npos || image.substr(image.rfind(':')) == ":latest";
        c["imagePullPolicy"] = latest ? "Always" : "IfNotPresent";
      }
    }
  }
}

}  // namespace

bool ResourceInfo::HasSubresource(const std::string& name) const {
  return std::find(subresources.begin(), subresources.end(), name) != subresources.end();
}

const std::vector<ResourceInfo>& AllResources() {
  static const std::vector<ResourceInfo> resources = {
      {"", "v1", "namespaces", "namespace", "Namespace", false, {"ns"}, {"status"}, {}},
      {"", "v1", "nodes", "node", "Node", false, {"no"}, {"status"}, {}},
      {"", "v1", "pods", "pod", "Pod", true, {"po"}, {"status", "log"}, {"all"}},
      {"", "v1", "events", "event", "Event", true, {"ev"}, {}, {}},
      {"", "v1", "configmaps", "configmap", "ConfigMap", true, {"cm"}, {}, {}},
      {"", "v1", "secrets", "secret", "Secret", true, {}, {}, {}},
      {"batch", "v1", "jobs", "job", "Job", true, {}, {"status"}, {"all"}},
      {kResourceGroup, "v1", "deviceclasses", "deviceclass", "DeviceClass", false, {}, {}, {}},
      {kResourceGroup,
       "v1",
       "resourceclaims",
       "resourceclaim",
       "ResourceClaim",
       true,
       {},
       {"status"},
       {}},
      {kResourceGroup,
       "v1",
       "resourceclaimtemplates",
       "resourceclaimtemplate",
       "ResourceClaimTemplate",
       true,
       {},
       {},
       {}},
      {kResourceGroup, "v1", "resourceslices", "resourceslice", "ResourceSlice", false, {}, {}, {}},
  };
  return resources;
}

const ResourceInfo* FindResource(const std::string& group, const std::string& version,
                                 const std::string& plural) {
  for (const ResourceInfo& r : AllResources()) {
    if (r.group == group && r.version == version && r.plural == plural) return &r;
  }
  return nullptr;
}

void ApplyDefaults(const ResourceInfo& info, json& object) {
  json& meta = object["metadata"];
  DefaultConfigKind(info, object);
  if (info.plural == "resourceclaims") {
    DefaultDeviceRequests(object["spec"]["devices"]);
  } else if (info.plural == "resourceclaimtemplates") {
    DefaultDeviceRequests(object["spec"]["spec"]["devices"]);
  } else if (info.plural == "pods") {
    DefaultPodSpec(object["spec"]);
    if (!object.contains("status") || !object["status"].is_object())
      object["status"] = json::object();
    if (!object["status"].contains("phase")) object["status"]["phase"] = "Pending";
    if (!object["status"].contains("qosClass")) object["status"]["qosClass"] = "BestEffort";
  } else if (info.plural == "namespaces") {
    if (!object.contains("spec")) object["spec"] = {{"finalizers", {"kubernetes"}}};
    if (!object.contains("status") || !object["status"].contains("phase")) {
      object["status"]["phase"] = "Active";
    }
    meta["labels"]["kubernetes.io/metadata.name"] = meta.value("name", "");
  } else if (info.plural == "jobs") {
    json& spec = object["spec"];
    if (!spec.contains("parallelism")) spec["parallelism"] = 1;
    if (!spec.contains("completions")) spec["completions"] = 1;
    if (!spec.contains("backoffLimit")) spec["backoffLimit"] = 6;
    if (!spec.contains("completionMode")) spec["completionMode"] = "NonIndexed";
    if (!spec.contains("suspend")) spec["suspend"] = false;
    if (!spec.contains("podReplacementPolicy"))
      spec["podReplacementPolicy"] = "TerminatingOrFailed";
    if (!spec.value("manualSelector", false) && !spec.contains("selector")) {
      const std::string uid = meta.value("uid", "");
      const std::string name = meta.value("name", "");
      spec["selector"] = {{"matchLabels", {{"batch.kubernetes.io/controller-uid", uid}}}};
      json& labels = spec["template"]["metadata"]["labels"];
      labels["batch.kubernetes.io/controller-uid"] = uid;
      labels["batch.kubernetes.io/job-name"] = name;
      labels["controller-uid"] = uid;
      labels["job-name"] = name;
      meta["labels"]["batch.kubernetes.io/controller-uid"] = uid;
      meta["labels"]["batch.kubernetes.io/job-name"] = name;
      meta["labels"]["controller-uid"] = uid;
      meta["labels"]["job-name"] = name;
    }
    if (spec.contains("template") && spec["template"].contains("spec")) {
      DefaultPodSpec(spec["template"]["spec"]);
    }
  }
}

std::string HumanDuration(long long seconds) {
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return std::to_string(seconds) + "s";
  long long minutes = seconds / 60;
  if (minutes < 10) {
    long long s = seconds % 60;
    return std::to_string(minutes) + "m" + (s ? std::to_string(s) + "s" : "");
  }
  if (minutes < 180) return std::to_string(minutes) + "m";
  long long hours = seconds / 3600;
  if (hours < 8) {
    long long m = minutes % 60;
    return std::to_string(hours) + "h" + (m ? std::to_string(m) + "m" : "");
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    long long h = hours % 24;
    return std::to_string(hours / 24) + "d" + (h ? std::to_string(h) + "h" : "");
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    long long dy = (hours / 24) % 365;
    return std::to_string(hours / 24 / 365) + "y" + (dy ? std::to_string(dy) + "d" : "");
  }
  return std::to_string(hours / 24 / 365) + "y";
}

long long SecondsSince(const std::string& rfc3339) {
  std::tm tm{};
  if (rfc3339.size() < 20 || !strptime(rfc3339.c_str(), "%Y-%m-%dT%H:%M:%S", &tm)) return -1;
  return static_cast<long long>(std::time(nullptr) - timegm(&tm));
}

namespace {

json Column(const std::string& name, const std::string& type, int priority,
            const std::string& description, const std::string& format = "") {
  return json{{"name", name},
              {"type", type},
              {"format", format},
              {"description", description},
              {"priority", priority}};
}

std::string Age(const json& object) {
  long long s = SecondsSince(Str(Field(object, {"metadata"}), "creationTimestamp"));
  return s < 0 ? "<unknown>" : HumanDuration(s);
}

std::string ClaimState(const json& claim) {
  std::vector<std::string> state;
  if (!Str(Field(claim, {"metadata"}), "deletionTimestamp").empty()) state.push_back("deleted");
  const json& status = Field(claim, {"status"});
  if (Field(status, {"allocation"}).is_object()) {
    state.push_back("allocated");
    const json& reserved = Field(status, {"reservedFor"});
    if (reserved.is_array() && !reserved.empty()) state.push_back("reserved");
  } else if (state.empty()) {
    state.push_back("pending");
  }
  std::string out;
  for (const std::string& s : state) out += (out.empty() ? "" : ",") + s;
  return out;
}

// STATUS as kubectl's pod printer works it out: the phase (or status.reason), overridden by the
// last container with a waiting reason, a terminated reason ("Completed" for exit 0, as the
// kubelet writes it), or, for a terminated container without one, "Signal:N" / "ExitCode:N".
json PodRow(const json& pod) {
  const json& status = Field(pod, {"status"});
  const json& spec = Field(pod, {"spec"});
  int total =
      Field(spec, {"containers"}).is_array() ? static_cast<int>(spec["containers"].size()) : 0;
  int ready = 0;
  long long restarts = 0;
  std::string reason = Str(status, "reason").empty() ? Str(status, "phase") : Str(status, "reason");
  const json& statuses = Field(status, {"containerStatuses"});
  if (statuses.is_array()) {
    for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
      const json& cs = *it;
      if (Field(cs, {"restartCount"}).is_number_integer())
        restarts += cs["restartCount"].get<long long>();
      const json& waiting = Field(cs, {"state", "waiting"});
      const json& terminated = Field(cs, {"state", "terminated"});
      if (!Str(waiting, "reason").empty()) {
        reason = Str(waiting, "reason");
      } else if (!Str(terminated, "reason").empty()) {
        reason = Str(terminated, "reason");
      } else if (terminated.is_object()) {
        const json& signal = Field(terminated, {"signal"});
        const json& code = Field(terminated, {"exitCode"});
        if (signal.is_number_integer() && signal.get<long long>() != 0) {
          reason = "Signal:" + std::to_string(signal.get<long long>());
        } else {
          reason =
              "ExitCode:" + std::to_string(code.is_number_integer() ? code.get<long long>() : 0);
        }
      } else if (Field(cs, {"ready"}) == true && Field(cs, {"state", "running"}).is_object()) {
        ++ready;
      }
    }
  }
  if (!Str(Field(pod, {"metadata"}), "deletionTimestamp").empty()) reason = "Terminating";
  std::string node = Str(spec, "nodeName");
  std::string ip = Str(status, "podIP");
  return json::array(
      {Str(Field(pod, {"metadata"}), "name"), std::to_string(ready) + "/" + std::to_string(total),
       reason, restarts, Age(pod), ip.empty() ? "<none>" : ip, node.empty() ? "<none>" : node,
       Str(status, "nominatedNodeName").empty() ? "<none>" : Str(status, "nominatedNodeName"),
       "<none>"});
}

json JobRow(const json& job) {
  const json& status = Field(job, {"status"});
  const json& spec = Field(job, {"spec"});
  std::string state = "Running";
  const json& conditions = Field(status, {"conditions"});
  if (Field(spec, {"suspend"}) == true) state = "Suspended";
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (Str(c, "status") != "True") continue;
      std::string type = Str(c, "type");
      if (type == "Complete") state = "Complete";
      if (type == "Failed") state = "Failed";
      if (type == "FailureTarget" && state == "Running") state = "FailureTarget";
      if (type == "SuccessCriteriaMet" && state == "Running") state = "SuccessCriteriaMet";
    }
  }
  long long succeeded =
      Field(status, {"succeeded"}).is_number_integer() ? status["succeeded"].get<long long>() : 0;
  std::string completions =
      Field(spec, {"completions"}).is_number_integer()
          ? std::to_string(succeeded) + "/" + std::to_string(spec["completions"].get<long long>())
          : std::to_string(succeeded) + "/1 of " + std::to_string(spec.value("parallelism", 1));
  std::string duration;
  long long start = SecondsSince(Str(status, "startTime"));
  long long end = SecondsSince(Str(status, "completionTime"));
  if (start >= 0) duration = HumanDuration(end >= 0 ? start - end : start);
  std::string containers, images;
  const json& cs = Field(spec, {"template", "spec", "containers"});
  if (cs.is_array()) {
    for (const json& c : cs) {
      containers += (containers.empty() ? "" : ",") + Str(c, "name");
      images += (images.empty() ? "" : ",") + Str(c, "image");
    }
  }
  std::string selector;
  const json& labels = Field(spec, {"selector", "matchLabels"});
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      selector +=
          (selector.empty() ? "" : ",") + k + "=" + (v.is_string() ? v.get<std::string>() : "");
    }
  }
  return json::array({Str(Field(job, {"metadata"}), "name"), state, completions, duration, Age(job),
                      containers, images, selector});
}

json NodeRow(const json& node) {
  std::string ready = "Unknown";
  const json& conditions = Field(node, {"status", "conditions"});
  if (conditions.is_array()) {
    for (const json& c : conditions) {
      if (Str(c, "type") == "Ready") ready = Str(c, "status") == "True" ? "Ready" : "NotReady";
    }
  }
  if (Field(node, {"spec", "unschedulable"}) == true) ready += ",SchedulingDisabled";
  std::string roles;
  const json& labels = Field(node, {"metadata", "labels"});
  if (labels.is_object()) {
    for (const auto& [k, v] : labels.items()) {
      const std::string prefix = "node-role.kubernetes.io/";
      if (k.rfind(prefix, 0) == 0) roles += (roles.empty() ? "" : ",") + k.substr(prefix.size());
    }
  }
  std::string internal_ip = "<none>";
  const json& addresses = Field(node, {"status", "addresses"});
  if (addresses.is_array()) {
    for (const json& a : addresses) {
      if (Str(a, "type") == "InternalIP") internal_ip = Str(a, "address");
    }
  }
  const json& info = Field(node, {"status", "nodeInfo"});
  return json::array({Str(Field(node, {"metadata"}), "name"), ready,
                      roles.empty() ? "<none>" : roles, Age(node), Str(info, "kubeletVersion"),
                      internal_ip, "<none>", Str(info, "osImage"), Str(info, "kernelVersion"),
                      Str(info, "containerRuntimeVersion")});
}

json EventRow(const json& event) {
  std::string last = Str(event, "lastTimestamp");
  if (last.empty()) last = Str(event, "eventTime");
  if (last.empty()) last = Str(Field(event, {"metadata"}), "creationTimestamp");
  long long since = SecondsSince(last);
  const json& involved = Field(event, {"involvedObject"});
  std::string kind = Str(involved, "kind");
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::string source = Str(Field(event, {"source"}), "component");
  std::string first = Str(event, "firstTimestamp");
  long long first_since = SecondsSince(first);
  return json::array({since < 0 ? "<unknown>" : HumanDuration(since), Str(event, "type"),
                      Str(event, "reason"), kind + "/" + Str(involved, "name"),
                      Str(event, "message"), Str(involved, "fieldPath"), source,
                      first_since < 0 ? "<unknown>" : HumanDuration(first_since),
                      Field(event, {"count"}).is_number_integer() ? event["count"] : json(1),
                      Str(Field(event, {"metadata"}), "name")});
}

}  // namespace

json BuildTable(const ResourceInfo& info, const std::vector<json>& objects,
                const std::string& include_object, const std::string& resource_version) {
  const std::string name_desc =
      "Name must be unique within a namespace. More info: "
      "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
  const std::string age_desc =
      "CreationTimestamp is a timestamp representing the server time when this object was "
      "created.";
  json columns;
  if (info.plural == "pods") {
    columns = {
        Column("Name", "string", 0, name_desc, "name"),
        Column("Ready", "string", 0,
               "The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", "string", 0, "The aggregate status of the containers in this pod."),
        Column("Restarts", "string", 0,
               "The number of times the containers in this pod have been restarted and when the "
               "last container in this pod has restarted."),
        Column("Age", "string", 0, age_desc),
        Column("IP", "string", 1,
               "IP address allocated to the pod. Routable at least within the cluster. Empty if "
               "not yet allocated."),
        Column("Node", "string", 1,
               "NodeName is a request to schedule this pod onto a specific node."),
        Column("Nominated Node", "string", 1,
               "nominatedNodeName is set only when this pod preempts other pods on the node."),
        Column("Readiness Gates", "string", 1,
               "If specified, all readiness gates will be evaluated for pod readiness.")};
  } else if (info.plural == "jobs") {
    columns = {
        Column("Name", "string", 0, name_desc, "name"),
        Column("Status", "string", 0, "Status of the job."),
        Column("Completions", "string", 0,
               "The desired number of successfully finished pods the job should be run with."),
        Column("Duration", "string", 0, "Time required to complete the job."),
        Column("Age", "string", 0, age_desc),
        Column("Containers", "string", 1, "Names of each container in the template."),
        Column("Images", "string", 1, "Images referenced by each container in the template."),
        Column("Selector", "string", 1,
               "A label query over pods that should match the pod count.")};
  } else if (info.plural == "nodes") {
    columns = {
        Column("Name", "string", 0, name_desc, "name"),
        Column("Status", "string", 0, "The status of the node"),
        Column("Roles", "string", 0, "The roles of the node"),
        Column("Age", "string", 0, age_desc),
        Column("Version", "string", 0, "Kubelet Version reported by the node."),
        Column("Internal-IP", "string", 1, "List of internal IPs."),
        Column("External-IP", "string", 1, "List of external IPs."),
        Column("OS-Image", "string", 1,
               "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 "
               "(wheezy))."),
        Column("Kernel-Version", "string", 1,
               "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
        Column("Container-Runtime", "string", 1,
               "ContainerRuntime Version reported by the node through runtime remote API (e.g. "
               "containerd://1.4.2).")};
  } else if (info.plural == "namespaces") {
    columns = {Column("Name", "string", 0, name_desc, "name"),
               Column("Status", "string", 0, "The status of the namespace"),
               Column("Age", "string", 0, age_desc)};
  } else if (info.plural == "events") {
    columns = {
        Column("Last Seen", "string", 0, "Time when last event occurred"),
        Column("Type", "string", 0,
               "Type of this event (Normal, Warning), new types could be added in the future."),
        Column("Reason", "string", 0,
               "This should be a short, machine understandable string that gives the reason for "
               "this event being generated."),
        Column("Object", "string", 0, "The object that this event is about."),
        Column("Message", "string", 0,
               "A human-readable description of the status of this operation."),
        Column("Subobject", "string", 1, "The field of the object this event is about."),
        Column("Source", "string", 1, "The component reporting this event."),
        Column("First Seen", "string", 1, "The time at which the event was first recorded."),
        Column("Count", "string", 1, "The number of times this event has occurred."),
        Column("Name", "string", 1, name_desc, "name")};
  } else if (info.plural == "resourceclaims") {
    columns = {Column("Name", "string", 0, name_desc, "name"),
               Column("State", "string", 0,
                      "A summary of the current state (allocated, pending, reserved, etc.)."),
               Column("Age", "string", 0, age_desc)};
  } else if (info.plural == "resourceslices") {
    columns = {
        Column("Name", "string", 0, name_desc, "name"),
        Column("Node", "string", 0,
               "nodeName limits which node this resource slice is available on"),
        Column("Driver", "string", 0, "The name of the driver that publishes this resource slice"),
        Column("Pool", "string", 0, "The name of the pool this slice belongs to"),
        Column("Age", "string", 0, age_desc)};
  } else if (IsConfigKind(info)) {
    columns = ConfigKindColumns(info);
  } else {
    columns = {Column("Name", "string", 0, name_desc, "name"),
               Column("Age", "string", 0, age_desc)};
  }
  json rows = json::array();
  for (const json& object : objects) {
    json cells;
    const json& meta = Field(object, {"metadata"});
    if (info.plural == "pods") {
      cells = PodRow(object);
    } else if (info.plural == "jobs") {
      cells = JobRow(object);
    } else if (info.plural == "nodes") {
      cells = NodeRow(object);
    } else if (info.plural == "namespaces") {
      cells = {Str(meta, "name"), Str(Field(object, {"status"}), "phase"), Age(object)};
    } else if (info.plural == "events") {
      cells = EventRow(object);
    } else if (info.plural == "resourceclaims") {
      cells = {Str(meta, "name"), ClaimState(object), Age(object)};
    } else if (info.plural == "resourceslices") {
      const json& spec = Field(object, {"spec"});
      std::string node = Str(spec, "nodeName");
      cells = {Str(meta, "name"), node.empty() ? "<none>" : node, Str(spec, "driver"),
               Str(Field(spec, {"pool"}), "name"), Age(object)};
    } else if (IsConfigKind(info)) {
      cells = ConfigKindRow(info, object);
    } else {
      cells = {Str(meta, "name"), Age(object)};
    }
    json row = {{"cells", cells}};
    if (include_object == "Object") {
      row["object"] = object;
    } else if (include_object != "None") {
      row["object"] = {
          {"kind", "PartialObjectMetadata"}, {"apiVersion", "meta.k8s.io/v1"}, {"metadata", meta}};
    }
    rows.push_back(std::move(row));
  }
  return json{{"kind", "Table"},
              {"apiVersion", "meta.k8s.io/v1"},
              {"metadata", {{"resourceVersion", resource_version}}},
              {"columnDefinitions", columns},
              {"rows", rows}};
}

}  // namespace migdra::control
