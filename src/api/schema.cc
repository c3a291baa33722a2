// The served kinds' schema: the typed model's definitions (codec.cc) completed by kTable, the
// Kubernetes fields the model keeps verbatim, and the walkers over JSON values.
#include "api/schema.h"

#include <algorithm>
#include <cctype>
#include <sstream>
#include <type_traits>

namespace migdra::api {
namespace {

using json = nlohmann::json;

// One definition per block: a line at column 0 names it (short name, `# description` optional);
// each indented line is `field TYPE [merge=KEY] [# description]`. TYPE is string, int32, int64,
// number, boolean, Quantity, IntOrString, Time, MicroTime, bytes, object (free-form), a definition
// name, []TYPE or map[TYPE]. A field of a modelled struct (codec.cc) is repeated here only to give
// it a merge key or a description; its type is then `-`. Legacy volume sources and a few rarely
// used nested structs are `object`: accepted with any content.
constexpr const char* kTable = R"(
meta.ObjectMeta # Standard object's metadata: name, namespace, labels, annotations, and the fields the server sets.
  managedFields []meta.ManagedFieldsEntry
  selfLink string
  ownerReferences - merge=uid
  finalizers -
meta.ManagedFieldsEntry
  apiVersion string
  fieldsType string
  fieldsV1 object
  manager string
  operation string
  subresource string
  time Time
meta.Condition
  lastHeartbeatTime Time
  lastUpdateTime Time
meta.LabelSelector
  matchExpressions []meta.LabelSelectorRequirement
  matchLabels map[string]
meta.LabelSelectorRequirement
  key string
  operator string
  values []string

resource.DeviceClass # DeviceClass is a vendor- or admin-provided resource that contains device configuration and selectors. It can be referenced in the device requests of a claim to apply these presets. Cluster scoped.
resource.DeviceClassSpec # DeviceClassSpec is used in a DeviceClass to define what can be allocated and how to configure it.
  selectors - # Each selector must be satisfied by a device which is claimed via this class.
  config - # Config defines configuration parameters that apply to each device that is claimed via this class.
  extendedResourceName - # ExtendedResourceName is the extended resource name for the devices of this class; a pod that requests it in its resources is given a device of this class.
resource.DeviceSelector # DeviceSelector must have exactly one field set.
  cel - # CEL contains a CEL expression for selecting a device.
resource.CELDeviceSelector # CELDeviceSelector contains a CEL expression for selecting a device.
  expression - # Expression is a CEL expression which evaluates a single device. It must evaluate to true when the device under consideration satisfies the desired criteria, and false when it does not.
resource.ResourceClaim # ResourceClaim describes a request for access to resources in the cluster, for use by workloads.
resource.ResourceClaimTemplate # ResourceClaimTemplate is used to produce ResourceClaim objects.
resource.ResourceSlice # ResourceSlice represents one or more resources in a pool of similar resources, managed by a common driver.
resource.DeviceClaim
  requests - # Requests represent individual requests for distinct devices which must all be satisfied.
  constraints - # These constraints must be satisfied by the set of devices that get allocated for the claim.
  config - # This field holds configuration for multiple potential drivers which could satisfy requests in this claim.

core.Pod # Pod is a collection of containers that can run on a host.
core.PodSpec # PodSpec is a description of a pod.
  activeDeadlineSeconds int64
  affinity core.Affinity
  automountServiceAccountToken boolean
  containers - merge=name
  dnsConfig core.PodDNSConfig
  dnsPolicy string
  enableServiceLinks boolean
  ephemeralContainers []core.EphemeralContainer merge=name
  hostAliases []core.HostAlias merge=ip
  hostIPC boolean
  hostNetwork boolean
  hostPID boolean
  hostUsers boolean
  hostname string
  hostnameOverride string
  imagePullSecrets []core.LocalObjectReference merge=name
  initContainers - merge=name
  os core.PodOS
  overhead map[Quantity]
  preemptionPolicy string
  priority int32
  priorityClassName string
  readinessGates []core.PodReadinessGate
  resourceClaims - merge=name
  resources core.ResourceRequirements
  runtimeClassName string
  schedulerName string
  schedulingGates []core.PodSchedulingGate merge=name
  securityContext core.PodSecurityContext
  serviceAccount string
  serviceAccountName string
  setHostnameAsFQDN boolean
  shareProcessNamespace boolean
  subdomain string
  terminationGracePeriodSeconds int64
  topologySpreadConstraints []core.TopologySpreadConstraint merge=topologyKey
  volumes []core.Volume merge=name
core.Container # A single application container that you want to run within a pod.
  env - merge=name
  envFrom []core.EnvFromSource
  imagePullPolicy string
  lifecycle core.Lifecycle
  livenessProbe core.Probe
  ports []core.ContainerPort merge=containerPort
  readinessProbe core.Probe
  resizePolicy []core.ContainerResizePolicy
  restartPolicy string
  restartPolicyRules []core.ContainerRestartRule
  securityContext core.SecurityContext
  startupProbe core.Probe
  stdin boolean
  stdinOnce boolean
  terminationMessagePath string
  terminationMessagePolicy string
  tty boolean
  volumeDevices []core.VolumeDevice merge=devicePath
  volumeMounts []core.VolumeMount merge=mountPath
core.EphemeralContainer
  args []string
  command []string
  env []core.EnvVar merge=name
  envFrom []core.EnvFromSource
  image string
  imagePullPolicy string
  lifecycle core.Lifecycle
  livenessProbe core.Probe
  name string
  ports []core.ContainerPort merge=containerPort
  readinessProbe core.Probe
  resizePolicy []core.ContainerResizePolicy
  resources core.ResourceRequirements
  restartPolicy string
  restartPolicyRules []core.ContainerRestartRule
  securityContext core.SecurityContext
  startupProbe core.Probe
  stdin boolean
  stdinOnce boolean
  targetContainerName string
  terminationMessagePath string
  terminationMessagePolicy string
  tty boolean
  volumeDevices []core.VolumeDevice merge=devicePath
  volumeMounts []core.VolumeMount merge=mountPath
  workingDir string
core.ResourceRequirements
  claims - merge=name
  limits map[Quantity]
  requests map[Quantity]
core.EnvVar
  valueFrom core.EnvVarSource
core.EnvVarSource
  configMapKeyRef core.ConfigMapKeySelector
  fieldRef core.ObjectFieldSelector
  fileKeyRef core.FileKeySelector
  resourceFieldRef core.ResourceFieldSelector
  secretKeyRef core.SecretKeySelector
core.ConfigMapKeySelector
  key string
  name string
  optional boolean
core.SecretKeySelector
  key string
  name string
  optional boolean
core.FileKeySelector
  key string
  optional boolean
  path string
  volumeName string
core.ObjectFieldSelector
  apiVersion string
  fieldPath string
core.ResourceFieldSelector
  containerName string
  divisor Quantity
  resource string
core.EnvFromSource
  configMapRef core.ConfigMapEnvSource
  prefix string
  secretRef core.SecretEnvSource
core.ConfigMapEnvSource
  name string
  optional boolean
core.SecretEnvSource
  name string
  optional boolean
core.ContainerPort
  containerPort int32
  hostIP string
  hostPort int32
  name string
  protocol string
core.VolumeMount
  mountPath string
  mountPropagation string
  name string
  readOnly boolean
  recursiveReadOnly string
  subPath string
  subPathExpr string
core.VolumeDevice
  devicePath string
  name string
core.Probe
  exec core.ExecAction
  failureThreshold int32
  grpc core.GRPCAction
  httpGet core.HTTPGetAction
  initialDelaySeconds int32
  periodSeconds int32
  successThreshold int32
  tcpSocket core.TCPSocketAction
  terminationGracePeriodSeconds int64
  timeoutSeconds int32
core.ExecAction
  command []string
core.HTTPGetAction
  host string
  httpHeaders []core.HTTPHeader
  path string
  port IntOrString
  scheme string
core.HTTPHeader
  name string
  value string
core.TCPSocketAction
  host string
  port IntOrString
core.GRPCAction
  port int32
  service string
core.Lifecycle
  postStart core.LifecycleHandler
  preStop core.LifecycleHandler
  stopSignal string
core.LifecycleHandler
  exec core.ExecAction
  httpGet core.HTTPGetAction
  sleep core.SleepAction
  tcpSocket core.TCPSocketAction
core.SleepAction
  seconds int64
core.ContainerResizePolicy
  resourceName string
  restartPolicy string
core.ContainerRestartRule
  action string
  exitCodes core.ContainerRestartRuleOnExitCodes
core.ContainerRestartRuleOnExitCodes
  operator string
  values []int32
core.SecurityContext
  allowPrivilegeEscalation boolean
  appArmorProfile core.AppArmorProfile
  capabilities core.Capabilities
  privileged boolean
  procMount string
  readOnlyRootFilesystem boolean
  runAsGroup int64
  runAsNonRoot boolean
  runAsUser int64
  seLinuxOptions core.SELinuxOptions
  seccompProfile core.SeccompProfile
  windowsOptions core.WindowsSecurityContextOptions
core.PodSecurityContext
  appArmorProfile core.AppArmorProfile
  fsGroup int64
  fsGroupChangePolicy string
  runAsGroup int64
  runAsNonRoot boolean
  runAsUser int64
  seLinuxChangePolicy string
  seLinuxOptions core.SELinuxOptions
  seccompProfile core.SeccompProfile
  supplementalGroups []int64
  supplementalGroupsPolicy string
  sysctls []core.Sysctl
  windowsOptions core.WindowsSecurityContextOptions
core.Capabilities
  add []string
  drop []string
core.SELinuxOptions
  level string
  role string
  type string
  user string
core.SeccompProfile
  localhostProfile string
  type string
core.AppArmorProfile
  localhostProfile string
  type string
core.WindowsSecurityContextOptions
  gmsaCredentialSpec string
  gmsaCredentialSpecName string
  hostProcess boolean
  runAsUserName string
core.Sysctl
  name string
  value string
core.LocalObjectReference
  name string
core.HostAlias
  hostnames []string
  ip string
core.PodDNSConfig
  nameservers []string
  options []core.PodDNSConfigOption
  searches []string
core.PodDNSConfigOption
  name string
  value string
core.PodOS
  name string
core.PodReadinessGate
  conditionType string
core.PodSchedulingGate
  name string
core.TopologySpreadConstraint
  labelSelector meta.LabelSelector
  matchLabelKeys []string
  maxSkew int32
  minDomains int32
  nodeAffinityPolicy string
  nodeTaintsPolicy string
  topologyKey string
  whenUnsatisfiable string
core.Affinity
  nodeAffinity core.NodeAffinity
  podAffinity core.PodAffinity
  podAntiAffinity core.PodAntiAffinity
core.NodeAffinity
  preferredDuringSchedulingIgnoredDuringExecution []core.PreferredSchedulingTerm
  requiredDuringSchedulingIgnoredDuringExecution core.NodeSelector
core.PreferredSchedulingTerm
  preference core.NodeSelectorTerm
  weight int32
core.PodAffinity
  preferredDuringSchedulingIgnoredDuringExecution []core.WeightedPodAffinityTerm
  requiredDuringSchedulingIgnoredDuringExecution []core.PodAffinityTerm
core.PodAntiAffinity
  preferredDuringSchedulingIgnoredDuringExecution []core.WeightedPodAffinityTerm
  requiredDuringSchedulingIgnoredDuringExecution []core.PodAffinityTerm
core.PodAffinityTerm
  labelSelector meta.LabelSelector
  matchLabelKeys []string
  mismatchLabelKeys []string
  namespaceSelector meta.LabelSelector
  namespaces []string
  topologyKey string
core.WeightedPodAffinityTerm
  podAffinityTerm core.PodAffinityTerm
  weight int32
core.Volume
  awsElasticBlockStore object
  azureDisk object
  azureFile object
  cephfs object
  cinder object
  configMap core.ConfigMapVolumeSource
  csi core.CSIVolumeSource
  downwardAPI core.DownwardAPIVolumeSource
  emptyDir core.EmptyDirVolumeSource
  ephemeral core.EphemeralVolumeSource
  fc object
  flexVolume object
  flocker object
  gcePersistentDisk object
  gitRepo object
  glusterfs object
  hostPath core.HostPathVolumeSource
  image core.ImageVolumeSource
  iscsi object
  name string
  nfs core.NFSVolumeSource
  persistentVolumeClaim core.PersistentVolumeClaimVolumeSource
  photonPersistentDisk object
  portworxVolume object
  projected core.ProjectedVolumeSource
  quobyte object
  rbd object
  scaleIO object
  secret core.SecretVolumeSource
  storageos object
  vsphereVolume object
core.ConfigMapVolumeSource
  defaultMode int32
  items []core.KeyToPath
  name string
  optional boolean
core.SecretVolumeSource
  defaultMode int32
  items []core.KeyToPath
  optional boolean
  secretName string
core.KeyToPath
  key string
  mode int32
  path string
core.CSIVolumeSource
  driver string
  fsType string
  nodePublishSecretRef core.LocalObjectReference
  readOnly boolean
  volumeAttributes map[string]
core.DownwardAPIVolumeSource
  defaultMode int32
  items []core.DownwardAPIVolumeFile
core.DownwardAPIVolumeFile
  fieldRef core.ObjectFieldSelector
  mode int32
  path string
  resourceFieldRef core.ResourceFieldSelector
core.EmptyDirVolumeSource
  medium string
  sizeLimit Quantity
core.EphemeralVolumeSource
  volumeClaimTemplate object
core.HostPathVolumeSource
  path string
  type string
core.ImageVolumeSource
  pullPolicy string
  reference string
core.NFSVolumeSource
  path string
  readOnly boolean
  server string
core.PersistentVolumeClaimVolumeSource
  claimName string
  readOnly boolean
core.ProjectedVolumeSource
  defaultMode int32
  sources []core.VolumeProjection
core.VolumeProjection
  clusterTrustBundle core.ClusterTrustBundleProjection
  configMap core.ConfigMapProjection
  downwardAPI core.DownwardAPIProjection
  podCertificate object
  secret core.SecretProjection
  serviceAccountToken core.ServiceAccountTokenProjection
core.ClusterTrustBundleProjection
  labelSelector meta.LabelSelector
  name string
  optional boolean
  path string
  signerName string
core.ConfigMapProjection
  items []core.KeyToPath
  name string
  optional boolean
core.SecretProjection
  items []core.KeyToPath
  name string
  optional boolean
core.DownwardAPIProjection
  items []core.DownwardAPIVolumeFile
core.ServiceAccountTokenProjection
  audience string
  expirationSeconds int64
  path string
core.PodStatus
  conditions - merge=type
  ephemeralContainerStatuses []core.ContainerStatus
  extendedResourceClaimStatus object
  hostIP string
  hostIPs []core.HostIP merge=ip
  message string
  nominatedNodeName string
  observedGeneration int64
  podIP string
  podIPs []core.PodIP merge=ip
  qosClass string
  reason string
  resize string
  resourceClaimStatuses - merge=name
  startTime Time
core.HostIP
  ip string
core.PodIP
  ip string
core.ContainerStatus
  allocatedResources map[Quantity]
  allocatedResourcesStatus []object
  imageID string
  lastState core.ContainerState
  resources core.ResourceRequirements
  state core.ContainerState
  stopSignal string
  user object
  volumeMounts []core.VolumeMountStatus merge=mountPath
core.ContainerState
  running core.ContainerStateRunning
  terminated core.ContainerStateTerminated
  waiting core.ContainerStateWaiting
core.ContainerStateRunning
  startedAt Time
core.ContainerStateTerminated
  containerID string
  exitCode int32
  finishedAt Time
  message string
  reason string
  signal int32
  startedAt Time
core.ContainerStateWaiting
  message string
  reason string
core.VolumeMountStatus
  mountPath string
  name string
  readOnly boolean
  recursiveReadOnly string

core.Node # Node is a worker node in Kubernetes.
core.NodeSpec
  configSource object
  externalID string
  podCIDR string
  podCIDRs []string
  providerID string
core.NodeStatus
  addresses []core.NodeAddress merge=type
  conditions - merge=type
  config object
  daemonEndpoints core.NodeDaemonEndpoints
  declaredFeatures []string
  features core.NodeFeatures
  images []core.ContainerImage
  nodeInfo core.NodeSystemInfo
  phase string
  runtimeHandlers []core.NodeRuntimeHandler
  volumesAttached []core.AttachedVolume
  volumesInUse []string
core.NodeAddress
  address string
  type string
core.NodeDaemonEndpoints
  kubeletEndpoint core.DaemonEndpoint
core.DaemonEndpoint
  Port int32
core.NodeFeatures
  supplementalGroupsPolicy boolean
core.ContainerImage
  names []string
  sizeBytes int64
core.NodeSystemInfo
  architecture string
  bootID string
  containerRuntimeVersion string
  kernelVersion string
  kubeProxyVersion string
  kubeletVersion string
  machineID string
  operatingSystem string
  osImage string
  swap core.NodeSwapStatus
  systemUUID string
core.NodeSwapStatus
  capacity int64
core.NodeRuntimeHandler
  features core.NodeRuntimeHandlerFeatures
  name string
core.NodeRuntimeHandlerFeatures
  recursiveReadOnlyMounts boolean
  userNamespaces boolean
core.AttachedVolume
  devicePath string
  name string

core.Namespace # Namespace provides a scope for Names.
  spec core.NamespaceSpec
  status core.NamespaceStatus
core.NamespaceSpec
  finalizers []string
core.NamespaceStatus
  conditions []core.NamespaceCondition merge=type
  phase string
core.NamespaceCondition
  lastTransitionTime Time
  message string
  reason string
  status string
  type string

core.ConfigMap # ConfigMap holds configuration data for pods to consume.
  apiVersion string
  binaryData map[bytes] # BinaryData contains the binary data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The keys stored in BinaryData must not overlap with the ones in the Data field.
  data map[string] # Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field.
  immutable boolean # Immutable, if set to true, ensures that data stored in the ConfigMap cannot be updated (only object metadata can be modified).
  kind string
  metadata meta.ObjectMeta
core.Secret # Secret holds secret data of a certain type. The total bytes of the values in the Data field must be less than MaxSecretSize bytes.
  apiVersion string
  data map[bytes] # Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string.
  immutable boolean # Immutable, if set to true, ensures that data stored in the Secret cannot be updated (only object metadata can be modified).
  kind string
  metadata meta.ObjectMeta
  stringData map[string] # stringData allows specifying non-binary secret data in string form. It is provided as a write-only input field for convenience. All keys and values are merged into the data field on write, overwriting any existing values.
  type string # Used to facilitate programmatic handling of secret data.

core.Event # Event is a report of an event somewhere in the cluster.
  action string
  apiVersion string
  count int32
  eventTime MicroTime
  firstTimestamp Time
  involvedObject core.ObjectReference
  kind string
  lastTimestamp Time
  message string
  metadata meta.ObjectMeta
  reason string
  related core.ObjectReference
  reportingComponent string
  reportingInstance string
  series core.EventSeries
  source core.EventSource
  type string
core.ObjectReference
  apiVersion string
  fieldPath string
  kind string
  name string
  namespace string
  resourceVersion string
  uid string
core.EventSource
  component string
  host string
core.EventSeries
  count int32
  lastObservedTime MicroTime

batch.Job # Job represents the configuration of a single job.
batch.JobSpec # JobSpec describes how the job execution will look like.
  backoffLimitPerIndex int32
  completionMode string
  managedBy string
  manualSelector boolean
  maxFailedIndexes int32
  podFailurePolicy batch.PodFailurePolicy
  podReplacementPolicy string
  selector meta.LabelSelector
  successPolicy batch.SuccessPolicy
  suspend boolean
batch.PodFailurePolicy
  rules []batch.PodFailurePolicyRule
batch.PodFailurePolicyRule
  action string
  onExitCodes batch.PodFailurePolicyOnExitCodesRequirement
  onPodConditions []batch.PodFailurePolicyOnPodConditionsPattern
batch.PodFailurePolicyOnExitCodesRequirement
  containerName string
  operator string
  values []int32
batch.PodFailurePolicyOnPodConditionsPattern
  status string
  type string
batch.SuccessPolicy
  rules []batch.SuccessPolicyRule
batch.SuccessPolicyRule
  succeededCount int32
  succeededIndexes string
batch.JobStatus
  completedIndexes string
  conditions - merge=type
  failedIndexes string
  terminating int32
  uncountedTerminatedPods batch.UncountedTerminatedPods
batch.UncountedTerminatedPods
  failed []string
  succeeded []string
)";

SchemaType ParseType(std::string_view text) {
  using K = SchemaType::Kind;
  SchemaType t;
  if (text.rfind("[]", 0) == 0) {
    t.kind = K::kArray;
    t.element = std::make_shared<SchemaType>(ParseType(text.substr(2)));
  } else if (text.rfind("map[", 0) == 0 && text.back() == ']') {
    t.kind = K::kMap;
    t.element = std::make_shared<SchemaType>(ParseType(text.substr(4, text.size() - 5)));
  } else if (text == "string") {
    t.kind = K::kString;
  } else if (text == "bytes") {
    t.kind = K::kString;
    t.format = "byte";
  } else if (text == "Time" || text == "MicroTime") {
    t.kind = K::kString;
    t.format = "date-time";
  } else if (text == "int32" || text == "int64") {
    t.kind = K::kInteger;
    t.format = std::string(text);
  } else if (text == "number") {
    t.kind = K::kNumber;
    t.format = "double";
  } else if (text == "boolean") {
    t.kind = K::kBoolean;
  } else if (text == "Quantity") {
    t.kind = K::kQuantity;
  } else if (text == "IntOrString") {
    t.kind = K::kIntOrString;
  } else if (text == "object") {
    t.kind = K::kFreeForm;
  } else {
    t.kind = K::kObject;
    t.definition = SchemaFullName(text);
  }
  return t;
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

// Adds kTable's blocks to `definitions`: new definitions, new fields of modelled ones, and merge
// keys and descriptions of modelled fields.
void AddTable(std::map<std::string, SchemaDefinition>& definitions) {
  std::istringstream in(kTable);
  std::string line;
  SchemaDefinition* current = nullptr;
  while (std::getline(in, line)) {
    if (Trim(line).empty()) continue;
    std::string description;
    if (size_t hash = line.find(" # "); hash != std::string::npos) {
      description = Trim(std::string_view(line).substr(hash + 3));
      line = line.substr(0, hash);
    }
    if (!std::isspace(static_cast<unsigned char>(line[0]))) {
      std::string name = SchemaFullName(Trim(line));
      current = &definitions[name];
      current->name = name;
      if (!description.empty()) current->description = description;
      continue;
    }
    std::istringstream words(line);
    std::string field, type, option;
    words >> field >> type;
    std::string merge_key;
    while (words >> option) {
      if (option.rfind("merge=", 0) == 0) merge_key = option.substr(6);
    }
    SchemaProperty* property = nullptr;
    for (SchemaProperty& p : current->properties) {
      if (p.name == field) property = &p;
    }
    if (property == nullptr) {
      current->properties.push_back(SchemaProperty{field, ParseType(type), "", ""});
      property = &current->properties.back();
    }
    if (!merge_key.empty()) property->merge_key = merge_key;
    if (!description.empty()) property->description = description;
  }
  for (auto& [name, definition] : definitions) {
    std::sort(definition.properties.begin(), definition.properties.end(),
              [](const SchemaProperty& a, const SchemaProperty& b) { return a.name < b.name; });
  }
}

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

template <class Json>
void WalkType(Json& value, const SchemaType& type, const std::string& path, bool prune,
              std::vector<Error>& out);

template <class Json>
void WalkDefinition(Json& value, const SchemaDefinition& definition, const std::string& path,
                    bool prune, std::vector<Error>& out) {
  if (!value.is_object()) return;
  std::vector<std::string> unknown;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const SchemaProperty* property = definition.Find(it.key());
    if (property == nullptr) {
      out.push_back(MakeError("unknown field", Child(path, it.key())));
      unknown.push_back(it.key());
      continue;
    }
    WalkType(it.value(), property->type, Child(path, it.key()), prune, out);
  }
  if constexpr (!std::is_const_v<Json>) {
    if (prune) {
      for (const std::string& key : unknown) value.erase(key);
    }
  }
}

template <class Json>
void WalkType(Json& value, const SchemaType& type, const std::string& path, bool prune,
              std::vector<Error>& out) {
  using K = SchemaType::Kind;
  switch (type.kind) {
    case K::kObject:
      if (const SchemaDefinition* d = FindSchemaDefinition(type.definition))
        WalkDefinition(value, *d, path, prune, out);
      return;
    case K::kArray:
      if (!value.is_array()) return;
      for (size_t i = 0; i < value.size(); ++i)
        WalkType(value[i], *type.element, path + "[" + std::to_string(i) + "]", prune, out);
      return;
    case K::kMap:
      if (!value.is_object()) return;
      for (auto it = value.begin(); it != value.end(); ++it)
        WalkType(it.value(), *type.element, path + "[" + it.key() + "]", prune, out);
      return;
    default:
      return;
  }
}

}  // namespace

const SchemaProperty* SchemaDefinition::Find(std::string_view property) const {
  auto it = std::lower_bound(
      properties.begin(), properties.end(), property,
      [](const SchemaProperty& p, std::string_view name) { return p.name < name; });
  return it != properties.end() && it->name == property ? &*it : nullptr;
}

std::string SchemaFullName(std::string_view short_name) {
  static const std::pair<std::string_view, const char*> prefixes[] = {
      {"meta.", "io.k8s.apimachinery.pkg.apis.meta.v1."},
      {"core.", "io.k8s.api.core.v1."},
      {"batch.", "io.k8s.api.batch.v1."},
      {"resource.", "io.k8s.api.resource.v1."},
  };
  for (const auto& [prefix, full] : prefixes) {
    if (short_name.rfind(prefix, 0) == 0)
      return full + std::string(short_name.substr(prefix.size()));
  }
  return std::string(short_name);
}

const std::map<std::string, SchemaDefinition>& SchemaDefinitions() {
  static const std::map<std::string, SchemaDefinition> definitions = [] {
    std::map<std::string, SchemaDefinition> out;
    for (SchemaDefinition& d : ModelledSchemaDefinitions()) {
      std::string name = d.name;
      out[name] = std::move(d);
    }
    AddTable(out);
    return out;
  }();
  return definitions;
}

const SchemaDefinition* FindSchemaDefinition(std::string_view name) {
  const auto& definitions = SchemaDefinitions();
  auto it = definitions.find(std::string(name));
  return it == definitions.end() ? nullptr : &it->second;
}

const std::vector<SchemaKind>& SchemaKinds() {
  static const std::vector<SchemaKind> kinds = {
      {"resource.k8s.io", "v1", "DeviceClass", SchemaFullName("resource.DeviceClass")},
      {"resource.k8s.io", "v1", "ResourceClaim", SchemaFullName("resource.ResourceClaim")},
      {"resource.k8s.io", "v1", "ResourceClaimTemplate",
       SchemaFullName("resource.ResourceClaimTemplate")},
      {"resource.k8s.io", "v1", "ResourceSlice", SchemaFullName("resource.ResourceSlice")},
      {"", "v1", "Namespace", SchemaFullName("core.Namespace")},
      {"", "v1", "Node", SchemaFullName("core.Node")},
      {"", "v1", "Pod", SchemaFullName("core.Pod")},
      {"", "v1", "Event", SchemaFullName("core.Event")},
      {"", "v1", "ConfigMap", SchemaFullName("core.ConfigMap")},
      {"", "v1", "Secret", SchemaFullName("core.Secret")},
      {"batch", "v1", "Job", SchemaFullName("batch.Job")},
  };
  return kinds;
}

const SchemaDefinition* KindDefinition(std::string_view api_version, std::string_view kind) {
  for (const SchemaKind& k : SchemaKinds()) {
    if (k.ApiVersion() == api_version && k.kind == kind) return FindSchemaDefinition(k.definition);
  }
  return nullptr;
}

void FindUnknownFields(const json& value, const SchemaDefinition& definition,
                       std::vector<Error>& out) {
  WalkDefinition(value, definition, "", false, out);
}

void PruneUnknownFields(json& value, const SchemaDefinition& definition, std::vector<Error>& out) {
  WalkDefinition(value, definition, "", true, out);
}

std::vector<std::string> DuplicateFields(std::string_view text) {
  // A scanner over the JSON text: a stack of open containers, each object with the keys seen so
  // far, each array with the index of the current element.
  struct Frame {
    bool object;
    std::string path;
    std::vector<std::string> keys;
    size_t index = 0;
  };
  std::vector<std::string> duplicates;
  std::vector<Frame> stack;
  std::string pending_key;  // the key whose value comes next, in an object
  bool have_key = false;
  auto value_path = [&]() -> std::string {
    if (stack.empty()) return "";
    Frame& top = stack.back();
    if (top.object) return have_key ? Child(top.path, pending_key) : top.path;
    return top.path + "[" + std::to_string(top.index) + "]";
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      std::string s;
      for (++i; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          ++i;
          // Keys with escapes are compared in their escaped form; good enough for duplicates.
          s += '\\';
        }
        s += text[i];
      }
      // A string is a key when it is in an object and no key is pending.
      if (!stack.empty() && stack.back().object && !have_key) {
        Frame& top = stack.back();
        if (std::find(top.keys.begin(), top.keys.end(), s) != top.keys.end()) {
          duplicates.push_back(Child(top.path, s));
        } else {
          top.keys.push_back(s);
        }
        pending_key = s;
        have_key = true;
      }
    } else if (c == '{' || c == '[') {
      std::string path = value_path();
      stack.push_back(Frame{c == '{', path, {}, 0});
      have_key = false;
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
      have_key = !stack.empty() && stack.back().object;  // the closed value was this key's
    } else if (c == ',') {
      if (!stack.empty()) {
        if (stack.back().object) {
          have_key = false;
        } else {
          ++stack.back().index;
        }
      }
    }
  }
  return duplicates;
}

}  // namespace migdra::api
