#include "api/install_kinds.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api/codec.h"

namespace migdra::api {
namespace {

// The error lines of one YAML document (a failed parse is a test failure).
std::vector<std::string> Check(std::string_view yaml) {
  auto docs = ParseDocuments(yaml);
  EXPECT_TRUE(docs.ok()) << docs.error().ToString();
  if (!docs.ok()) return {};
  auto errors = ValidateInstallObject(docs->front());
  EXPECT_TRUE(errors.has_value()) << "not an installation kind";
  std::vector<std::string> out;
  for (const Error& e : errors.value_or(std::vector<Error>{})) out.push_back(e.ToString());
  return out;
}

constexpr char kDaemonSet[] = R"(
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: migdra-plugin, namespace: migdra}
spec:
  selector: {matchLabels: {app: migdra}}
  updateStrategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 10%}}
  template:
    metadata: {labels: {app: migdra}}
    spec:
      serviceAccountName: migdra-plugin
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
      containers:
      - name: plugin
        image: migdra:0.1.0
        command: [migdra, plugin]
        args: [--cdi-root=/var/run/cdi]
        env:
        - {name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
        ports: [{name: metrics, containerPort: 8080}]
        livenessProbe: {httpGet: {path: /metrics, port: metrics}, periodSeconds: 30}
        securityContext: {privileged: true}
        volumeMounts:
        - {name: plugins, mountPath: /var/lib/kubelet/plugins, mountPropagation: Bidirectional}
      volumes:
      - {name: plugins, hostPath: {path: /var/lib/kubelet/plugins, type: DirectoryOrCreate}}
)";

// kDaemonSet with `from` replaced by `to` (which must occur).
std::string DaemonSetWith(const std::string& from, const std::string& to) {
  std::string yaml = kDaemonSet;
  const size_t at = yaml.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) yaml.replace(at, from.size(), to);
  return yaml;
}

TEST(InstallKinds, OtherKindsAreNotTheirs) {
  auto docs = ParseDocuments("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n");
  ASSERT_TRUE(docs.ok());
  EXPECT_FALSE(ValidateInstallObject(docs->front()).has_value());
  docs = ParseDocuments("apiVersion: apps/v2\nkind: DaemonSet\nmetadata: {name: d}\n");
  ASSERT_TRUE(docs.ok());
  EXPECT_FALSE(ValidateInstallObject(docs->front()).has_value());
}

TEST(InstallKinds, ValidDaemonSet) { EXPECT_EQ(Check(kDaemonSet), std::vector<std::string>{}); }

TEST(InstallKinds, DaemonSetIsDecodedStrictly) {
  EXPECT_EQ(
      Check(DaemonSetWith("volumeMounts:", "volumeMount:")),
      std::vector<std::string>{"spec.template.spec.containers[0].volumeMount: unknown field"});
  EXPECT_EQ(Check(DaemonSetWith("periodSeconds: 30", "periodSeconds: \"30\"")),
            std::vector<std::string>{
                "spec.template.spec.containers[0].livenessProbe.periodSeconds: expected "
                "integer, got string"});
  EXPECT_EQ(Check(DaemonSetWith("image: migdra:0.1.0", "image: 3")),
            std::vector<std::string>{
                "spec.template.spec.containers[0].image: expected string, got number"});
}

TEST(InstallKinds, DaemonSetSelectorAndStrategy) {
  EXPECT_EQ(Check(DaemonSetWith("labels: {app: migdra}", "labels: {app: other}")),
            std::vector<std::string>{
                "spec.template.metadata.labels: Invalid value: {\"app\":\"other\"}: `selector` "
                "does not match template `labels`"});
  EXPECT_EQ(Check(DaemonSetWith("maxUnavailable: 10%", "maxUnavailable: 0")),
            std::vector<std::string>{"spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid "
                                     "value: 0: may not be 0 when `maxSurge` is 0"});
  EXPECT_EQ(Check(DaemonSetWith("maxUnavailable: 10%", "maxUnavailable: 120%")),
            std::vector<std::string>{"spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid "
                                     "value: \"120%\": must not be greater than 100%"});
  EXPECT_EQ(Check(DaemonSetWith("type: RollingUpdate", "type: Rolling")),
            std::vector<std::string>{"spec.updateStrategy.type: Unsupported value: \"Rolling\": "
                                     "supported values: \"OnDelete\", \"RollingUpdate\""});
  EXPECT_EQ(
      Check(
          DaemonSetWith("serviceAccountName:", "restartPolicy: Never\n      serviceAccountName:")),
      std::vector<std::string>{"spec.template.spec.restartPolicy: Unsupported value: \"Never\": "
                               "supported values: \"Always\""});
}

TEST(InstallKinds, DaemonSetPodTemplate) {
  EXPECT_EQ(
      Check(DaemonSetWith("name: plugins, mountPath", "name: plugin-dir, mountPath")),
      std::vector<std::string>{"spec.template.spec.containers[0].volumeMounts[0].name: Not found: "
                               "\"plugin-dir\": "});
  EXPECT_EQ(Check(DaemonSetWith("privileged: true", "privileged: false")),
            std::vector<std::string>{
                "spec.template.spec.containers[0].volumeMounts[0].mountPropagation: Forbidden: "
                "Bidirectional mount propagation is available only to privileged containers"});
  EXPECT_EQ(Check(DaemonSetWith("fieldPath: spec.nodeName", "fieldPath: spec.node")),
            std::vector<std::string>{
                "spec.template.spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: "
                "Unsupported value: \"spec.node\": supported values: \"metadata.annotations\", "
                "\"metadata.labels\", \"metadata.name\", \"metadata.namespace\", "
                "\"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", "
                "\"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""});
  EXPECT_EQ(Check(DaemonSetWith("port: metrics}", "port: metric}")),
            std::vector<std::string>{
                "spec.template.spec.containers[0].livenessProbe.httpGet.port: Invalid value: "
                "\"metric\": must contain the name of a port of the container"});
  EXPECT_EQ(Check(DaemonSetWith("{httpGet: {path: /metrics, port: metrics}, ",
                                "{exec: {command: [x]}, httpGet: {path: /m, port: 8080}, ")),
            std::vector<std::string>{"spec.template.spec.containers[0].livenessProbe.httpGet: "
                                     "Forbidden: may not specify more than 1 handler type"});
  EXPECT_EQ(Check(DaemonSetWith("type: DirectoryOrCreate", "type: Dir")),
            std::vector<std::string>{
                "spec.template.spec.volumes[0].hostPath.type: Unsupported value: \"Dir\": "
                "supported values: \"\", \"DirectoryOrCreate\", \"Directory\", \"FileOrCreate\", "
                "\"File\", \"Socket\", \"CharDevice\", \"BlockDevice\""});
  EXPECT_EQ(Check(DaemonSetWith("containerPort: 8080", "containerPort: 70000")),
            std::vector<std::string>{"spec.template.spec.containers[0].ports[0].containerPort: "
                                     "Invalid value: 70000: must be between 1 and 65535, "
                                     "inclusive"});
  // The Pod rules of validation.h apply to the template.
  EXPECT_EQ(Check(DaemonSetWith("name: plugin\n", "name: Plugin\n")),
            std::vector<std::string>{
                "spec.template.spec.containers[0].name: Invalid value: \"Plugin\": a lowercase "
                "RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                "must start and end with an alphanumeric character (e.g. 'my-name',  or "
                "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"});
}

TEST(InstallKinds, ClusterRoleRules) {
  EXPECT_EQ(Check(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: migdra-plugin}
rules:
- {apiGroups: [resource.k8s.io], resources: [resourceslices], verbs: [list, create]}
- {nonResourceURLs: [/metrics], verbs: [get]}
)"),
            std::vector<std::string>{});
  EXPECT_EQ(Check(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: migdra-plugin, namespace: migdra}
rules:
- {apiGroups: [resource.k8s.io], resources: [resourceslices]}
- {resources: [resourceclaims], verbs: [get]}
- {apiGroups: [""], resources: [pods], nonResourceURLs: [/metrics], verbs: [get]}
- {apiGroups: [""], verbs: [get]}
)"),
            (std::vector<std::string>{
                "metadata.namespace: Forbidden: not allowed on this type",
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].apiGroups: Required value: resource rules must supply at least one api "
                "group",
                "rules[2].nonResourceURLs: Invalid value: [\"/metrics\"]: rules cannot apply to "
                "both regular resources and non-resource URLs",
                "rules[3].resources: Required value: resource rules must supply at least one "
                "resource"}));
  // An object that does not decode strictly is not validated further, as on the API server.
  EXPECT_EQ(Check(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: migdra-plugin, namespace: migdra}
rules: [{apiGroups: [""], resource: [pods], verbs: [get]}]
)"),
            std::vector<std::string>{"rules[0].resource: unknown field"});
  EXPECT_EQ(Check(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: r, namespace: migdra}
rules: [{nonResourceURLs: [/metrics], verbs: [get]}]
)"),
            std::vector<std::string>{"rules[0].nonResourceURLs: Invalid value: [\"/metrics\"]: "
                                     "namespaced rules cannot apply to non-resource URLs"});
}

TEST(InstallKinds, Bindings) {
  EXPECT_EQ(Check(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: migdra-plugin}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: migdra-plugin}
subjects:
- {kind: ServiceAccount, name: migdra-plugin, namespace: migdra}
- {kind: Group, apiGroup: rbac.authorization.k8s.io, name: "system:nodes"}
)"),
            std::vector<std::string>{});
  EXPECT_EQ(Check(R"(
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: a/b}
roleRef: {apiGroup: rbac, kind: Role, name: ""}
subjects:
- {kind: ServiceAccount, name: migdra-plugin}
- {kind: User, name: alice}
- {kind: Robot, name: r2}
)"),
            (std::vector<std::string>{
                "metadata.name: Invalid value: \"a/b\": may not contain '/'",
                "roleRef.apiGroup: Unsupported value: \"rbac\": supported values: "
                "\"rbac.authorization.k8s.io\"",
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "roleRef.name: Required value", "subjects[0].namespace: Required value",
                "subjects[1].apiGroup: Unsupported value: \"\": supported values: "
                "\"rbac.authorization.k8s.io\"",
                "subjects[2].kind: Unsupported value: \"Robot\": supported values: "
                "\"ServiceAccount\", \"User\", \"Group\""}));
}

TEST(InstallKinds, ServiceAccount) {
  EXPECT_EQ(Check("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: migdra-plugin}\n"
                  "automountServiceAccountToken: true\n"),
            std::vector<std::string>{});
  EXPECT_EQ(Check("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: m}\n"
                  "automountToken: true\n"),
            std::vector<std::string>{"automountToken: unknown field"});
  EXPECT_EQ(
      Check("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: Migdra}\n"),
      (std::vector<std::string>{
          "metadata.name: Invalid value: \"Migdra\": a lowercase RFC 1123 subdomain must "
          "consist of lower case alphanumeric characters, '-' or '.', and must start and "
          "end with an alphanumeric character (e.g. 'example.com', regex used for "
          "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"}));
}

}  // namespace
}  // namespace migdra::api
