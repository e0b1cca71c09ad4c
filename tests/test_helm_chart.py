"""The Helm chart (helm/smart-autoscaler): lint, and what it renders for the daemon.

Rendered offline with helm-python-sdk (Helm's Go SDK through ctypes; no helm binary, no cluster).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

helm = pytest.importorskip("helm_python", reason="needs helm-python-sdk (pip install helm-python-sdk)")

from autoscaler.cli import _parser  # noqa: E402
from autoscaler.config import Config, config_from_mapping, load_config_file  # noqa: E402
from autoscaler.metrics import Metrics  # noqa: E402

CHART = Path(__file__).resolve().parent.parent / "helm" / "smart-autoscaler"
FILES = CHART / "files"
RELEASE, NAMESPACE = "sa", "kube-system"


@pytest.fixture(scope="module")
def chart() -> Any:
    with helm.Chart.load(CHART) as loaded:
        yield loaded


# The two values an operator must give (no default may apply to every cluster).
REQUIRED = {"config": {"region": "us-east-1", "clusterName": "prod-eu-1"}}


def with_required(values: dict[str, Any] | None) -> dict[str, Any]:
    """`values` with the required ones filled in where the caller left them out."""
    merged = {**REQUIRED, **(values or {})}
    merged["config"] = {**REQUIRED["config"], **((values or {}).get("config") or {})}
    return merged


def render(chart: Any, values: dict[str, Any] | None = None, *, bare: bool = False) -> list[dict[str, Any]]:
    """Every object the chart renders with these values (NOTES.txt left out); the required
    values are filled in unless `bare`."""
    values = values if bare else with_required(values)
    manifests = chart.render(values=values or {}, name=RELEASE, namespace=NAMESPACE, is_install=True)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def only(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {[o['metadata']['name'] for o in found]}"
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return sorted(o["kind"] for o in objects)


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (main,) = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return main


def arg(args: list[str], flag: str) -> str:
    assert flag in args, f"{flag} not in {args}"
    return args[args.index(flag) + 1]


def rules_file(name: str) -> list[dict[str, Any]]:
    rules = yaml.safe_load((FILES / name).read_text())
    assert isinstance(rules, list) and rules
    return rules


@pytest.fixture(scope="module")
def default(chart: Any) -> list[dict[str, Any]]:
    return render(chart)


# ---- chart as a whole


def test_lint_passes_without_errors() -> None:
    for values in (None, {"provider": "simulated", "dryRun": True, "replicaCount": 1},
                   {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}):
        report = helm.lint(CHART, with_required(values), strict=True, namespace=NAMESPACE)
        errors = [m for m in report["messages"] if m["severity"] >= 2]
        assert not report["errors"] and not errors, report


def test_chart_metadata(chart: Any) -> None:
    meta = chart.metadata
    assert (meta["apiVersion"], meta["name"], meta["version"], meta["appVersion"]) == (
        "v2", "smart-autoscaler", "0.1.0", "0.1.0",
    )


def test_default_objects(default: list[dict[str, Any]]) -> None:
    assert kinds(default) == sorted([
        "ClusterRole", "ClusterRoleBinding", "ConfigMap", "ConfigMap", "Deployment", "Pod", "PodDisruptionBudget",
        "Role", "RoleBinding", "Service", "ServiceAccount",
    ])  # the Pod is the `helm test` hook (smart-autoscaler doctor)
    for obj in default:
        if obj["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["kind"]


# ---- the Deployment


def test_deployment_runs_the_daemon_with_the_mounted_config(default: list[dict[str, Any]]) -> None:
    deployment = only(default, "Deployment")
    main = container(default)
    args = main["args"]
    assert args[0] == "run"
    config_path = arg(args, "--config")
    assert config_path == "/etc/smart-autoscaler/config.yaml"
    assert arg(args, "--provider") == "aws"
    assert arg(args, "--metrics-address") == "0.0.0.0:8080"
    assert "--dry-run" not in args and "--no-leader-elect" not in args
    assert main["image"] == "ghcr.io/smart-autoscaler/smart-autoscaler:0.1.0-aws"  # the AWS image: one SDK
    # the flags are the daemon's own: its parser accepts them
    parsed = _parser().parse_args(args)
    assert (parsed.command, parsed.config, parsed.dry_run) == ("run", config_path, False)

    # the ConfigMap's config.yaml is the file --config names
    pod = deployment["spec"]["template"]["spec"]
    mount = next(m for m in main["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert mount["mountPath"] + "/" + volume["configMap"]["items"][0]["path"] == config_path
    assert volume["configMap"]["items"][0]["key"] == "config.yaml"
    config_map = next(o for o in default if o["kind"] == "ConfigMap" and o["metadata"]["name"] == volume["configMap"]["name"])
    assert "config.yaml" in config_map["data"]
    assert re.fullmatch(r"[0-9a-f]{64}", deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"])


def test_deployment_env_probes_and_port(default: list[dict[str, Any]]) -> None:
    main = container(default)
    env = {e["name"]: e for e in main["env"]}
    assert env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert main["ports"] == [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}]
    for probe in ("livenessProbe", "startupProbe"):
        assert main[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}  # the APIs answer
    assert main["resources"] == {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
    service = only(default, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert service["spec"]["selector"] == only(default, "Deployment")["spec"]["selector"]["matchLabels"]


def test_security_context_is_non_root_and_read_only(default: list[dict[str, Any]]) -> None:
    pod = only(default, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container(default)["securityContext"]
    assert context["runAsNonRoot"] is True and context["runAsUser"] == 65532
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["seccompProfile"] == {"type": "RuntimeDefault"}
    # the image's user is the same uid (Dockerfile)
    dockerfile = (CHART.parent.parent / "Dockerfile").read_text()
    assert "USER 65532:65532" in dockerfile


def test_scheduling_defaults(default: list[dict[str, Any]]) -> None:
    deployment = only(default, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert deployment["spec"]["replicas"] == 2
    assert pod["priorityClassName"] == "system-cluster-critical"
    (term,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term["podAffinityTerm"]["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    pdb = only(default, "PodDisruptionBudget")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]


def test_single_replica_has_no_pdb(chart: Any) -> None:
    objects = render(chart, {"replicaCount": 1})
    assert only(objects, "Deployment")["spec"]["replicas"] == 1
    assert "PodDisruptionBudget" not in kinds(objects)


def test_dry_run_and_provider_flags(chart: Any) -> None:
    args = container(render(chart, {"dryRun": True}))["args"]
    assert "--dry-run" in args and _parser().parse_args(args).dry_run is True
    args = container(render(chart, {"provider": "simulated", "extraArgs": ["--simulated-launch-delay", "5s"]}))["args"]
    assert arg(args, "--provider") == "simulated"
    assert _parser().parse_args(args).simulated_launch_delay == "5s"


def test_config_change_rolls_the_pods(chart: Any, default: list[dict[str, Any]]) -> None:
    def checksum(objects: list[dict[str, Any]]) -> str:
        return only(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(render(chart, {"config": {"maxNodes": 50}})) != checksum(default)
    assert checksum(render(chart)) == checksum(default)


def test_provider_must_match_the_configured_cloud(chart: Any) -> None:
    with pytest.raises(helm.HelmRenderError, match="config.cloud"):
        render(chart, {"provider": "gcp"})
    gcp = render(chart, {"provider": "gcp", "config": {"cloud": "gcp", "region": "us-central1"}})
    assert arg(container(gcp)["args"], "--provider") == "gcp"


def test_bad_values_are_refused(chart: Any) -> None:
    with pytest.raises(helm.HelmValuesError, match="replicaCount"):
        render(chart, {"replicaCount": "two"})
    with pytest.raises(helm.HelmRenderError, match="leaderElection"):
        render(chart, {"leaderElection": {"enabled": False}})
    single = render(chart, {"replicaCount": 1, "leaderElection": {"enabled": False}})
    assert "--no-leader-elect" in container(single)["args"]
    assert "Role" not in kinds(single)


# ---- configuration


def config_yaml(objects: list[dict[str, Any]]) -> str:
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap" and "config.yaml" in o.get("data", {})]
    return config_map["data"]["config.yaml"]


def test_default_config_is_valid_and_matches_the_daemon_defaults(default: list[dict[str, Any]], tmp_path: Path) -> None:
    values = yaml.safe_load(config_yaml(default))
    assert isinstance(values, dict)
    config = config_from_mapping(values)  # an unknown (misspelt) key or a bad value raises ConfigError
    # besides the two values the operator must give, values.yaml's defaults are the daemon's own
    expected = replace(Config(), region="us-east-1", cluster_name="prod-eu-1")
    assert config == expected
    # and the file as the daemon reads it
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(default))
    assert load_config_file(str(path)) == expected


def test_config_values_reach_the_daemon(chart: Any, tmp_path: Path) -> None:
    objects = render(chart, {
        "provider": "gcp",
        "config": {
            "cloud": "gcp", "region": "us-central1", "maxNodes": 40, "maxClusterHourlyCost": 99.5,
            "managedPodLabels": "elotl-luna=true", "nodeLabels": {"node.elotl.co/created-by": "luna"},
            "scaleDown": {"nodeUnneededDuration": "2m"}, "binPackingNodePricing": "spot,on-demand",
        },
    })
    path = tmp_path / "config.yaml"
    path.write_text(config_yaml(objects))
    config = load_config_file(str(path))
    assert (config.cloud, config.region, config.max_nodes, config.max_cluster_hourly_cost) == ("gcp", "us-central1", 40, 99.5)
    assert config.managed_pod_labels == (("elotl-luna", "true"),)  # replaced, not merged with the default
    assert config.node_labels == (("node.elotl.co/created-by", "luna"),)
    assert config.scale_down.node_unneeded_duration == 120.0
    assert config.bin_packing_node_pricing == ("spot", "on-demand")


# ---- RBAC


def test_cluster_role_rules_are_the_shared_file(default: list[dict[str, Any]]) -> None:
    role = only(default, "ClusterRole")
    assert role["rules"] == rules_file("clusterrole-rules.yaml")
    node_verbs = {v for r in role["rules"] if "nodes" in r["resources"] for v in r["verbs"]}
    assert "create" not in node_verbs
    binding = only(default, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    account = only(default, "ServiceAccount")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}]
    assert only(default, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]


def test_cluster_role_is_least_privilege() -> None:
    # the one table of what the daemon needs, also what `doctor` asks the API server about
    from autoscaler.doctor.access import cluster_role_grants

    allowed = cluster_role_grants(simulated=False)
    assert allowed[("", "pods/eviction")] == {"create"} and allowed[("", "nodes")] == {"get", "list", "watch", "patch", "delete"}
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules_file("clusterrole-rules.yaml"):
        if "namespaces" in rule["resources"]:
            assert rule["resourceNames"] == ["kube-system"] and rule["verbs"] == ["get"], rule
            rule = {k: v for k, v in rule.items() if k != "resourceNames"}
        assert set(rule) == {"apiGroups", "resources", "verbs"}, rule  # no other resourceNames/nonResourceURLs
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == allowed
    assert all("*" not in verbs for verbs in granted.values())


def test_simulated_provider_may_create_nodes(chart: Any) -> None:
    from autoscaler.doctor.access import cluster_role_grants

    simulated = rules_file("clusterrole-rules-simulated.yaml")
    assert simulated == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["create"]}]
    extra = {k: v - cluster_role_grants(simulated=False).get(k, set()) for k, v in cluster_role_grants(simulated=True).items()}
    assert {k: v for k, v in extra.items() if v} == {("", "nodes"): {"create"}}
    role = only(render(chart, {"provider": "simulated"}), "ClusterRole")
    assert role["rules"] == rules_file("clusterrole-rules.yaml") + simulated


def test_lease_role_is_limited_to_the_lease(default: list[dict[str, Any]]) -> None:
    role = only(default, "Role")
    assert role["metadata"]["namespace"] == NAMESPACE
    for rule in role["rules"]:
        assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
    by_verbs = {tuple(r["verbs"]): r for r in role["rules"]}
    assert set(by_verbs) == {("get", "update"), ("create",)}
    from autoscaler.doctor.access import lease_role_grants

    assert lease_role_grants() == {
        (r["resources"][0], "resourceNames" in r): set(r["verbs"]) for r in role["rules"]}
    lease = arg(container(default)["args"], "--lease-name")
    assert lease == _parser().parse_args(["run"]).lease_name == "smart-autoscaler"
    assert by_verbs[("get", "update")]["resourceNames"] == [lease]
    assert "resourceNames" not in by_verbs[("create",)]  # create cannot be limited by name
    binding = only(default, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]}


def test_lease_name_value_reaches_flag_and_role(chart: Any) -> None:
    objects = render(chart, {"leaderElection": {"leaseName": "autoscaler-blue"}})
    assert arg(container(objects)["args"], "--lease-name") == "autoscaler-blue"
    assert [r.get("resourceNames") for r in only(objects, "Role")["rules"]] == [["autoscaler-blue"], None]


def test_doctor_is_the_helm_test_hook_with_the_daemons_config_and_account(chart: Any) -> None:
    objects = render(chart, {"provider": "gcp", "config": {"cloud": "gcp", "region": "us-central1"}})
    hook = only(objects, "Pod")
    assert hook["metadata"]["annotations"]["helm.sh/hook"] == "test"
    daemon = only(objects, "Deployment")["spec"]["template"]["spec"]
    assert hook["spec"]["serviceAccountName"] == daemon["serviceAccountName"]
    (doctor,) = hook["spec"]["containers"]
    assert doctor["args"] == ["doctor", "--config", arg(container(objects)["args"], "--config"), "--provider", "gcp",
                              "--lease-name", "smart-autoscaler"]
    assert _parser().parse_args(doctor["args"]).command == "doctor"  # flags the CLI knows
    assert "initContainers" not in daemon
    assert "Pod" not in kinds(render(chart, {"doctor": {"helmTest": False}}))


def test_doctor_as_init_container_keeps_the_daemon_back_until_nothing_fails(chart: Any) -> None:
    objects = render(chart, {"doctor": {"initContainer": True}, "leaderElection": {"enabled": False}, "replicaCount": 1})
    (init,) = only(objects, "Deployment")["spec"]["template"]["spec"]["initContainers"]
    assert init["args"][:2] == ["doctor", "--config"] and init["args"][-1] == "--no-leader-elect"
    assert init["securityContext"] == container(objects)["securityContext"]


def test_service_account_annotations_for_workload_identity(chart: Any) -> None:
    arn = "arn:aws:iam::123456789012:role/smart-autoscaler"
    objects = render(chart, {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": arn}}})
    assert only(objects, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn}
    # IRSA by its own value (EKS Pod Identity needs no annotation: an association names the SA)
    objects = render(chart, {"serviceAccount": {"awsRoleArn": arn, "annotations": {"team": "infra"}}})
    assert only(objects, "ServiceAccount")["metadata"]["annotations"] == {"eks.amazonaws.com/role-arn": arn, "team": "infra"}
    objects = render(chart, {"serviceAccount": {"create": False, "name": "existing"}})
    assert "ServiceAccount" not in kinds(objects)
    assert only(objects, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "existing"
    assert only(objects, "ClusterRoleBinding")["subjects"][0]["name"] == "existing"


# ---- monitoring


def metric_families() -> list[str]:
    return sorted(family.name for family in Metrics().registry.collect())


def test_dashboard_config_map_holds_the_dashboard(default: list[dict[str, Any]]) -> None:
    (config_map,) = [o for o in default if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-dashboard")]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    (text,) = config_map["data"].values()
    dashboard = json.loads(text)
    assert dashboard == json.loads((FILES / "dashboard.json").read_text())
    assert dashboard["title"] and dashboard["uid"] and dashboard["schemaVersion"] >= 36
    families = metric_families()
    assert len(families) == 28  # + hot-node colours, evictions by reason, TTL cycling, unused launches; API reachability, request errors, planning errors, eviction attempts; spot interruptions (4)
    for family in families:
        assert family in text, f"no dashboard panel shows {family}"
    # every query uses the data-source variable
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    for panel in panels:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            for name in re.findall(r"smart_autoscaler_[a-z_]+", target["expr"]):
                assert any(name == f or name in (f + "_total", f + "_bucket") for f in families), name
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    titles = " | ".join(p["title"].lower() for p in panels)
    for wanted in ("scale-ups by instance type", "scale-downs by reason", "launch failures by kind", "p50 / p95",
                   "back-offs", "unplaceable", "nodes by role", "$/hour", "reconcile duration", "api errors", "leader"):
        assert wanted in titles


def test_dashboard_can_be_turned_off(chart: Any) -> None:
    objects = render(chart, {"grafanaDashboard": {"enabled": False}})
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"] == [f"{RELEASE}-smart-autoscaler"]
    objects = render(chart, {"grafanaDashboard": {"namespace": "monitoring"}})
    (dashboard,) = [o for o in objects if o["metadata"]["name"].endswith("-dashboard")]
    assert dashboard["metadata"]["namespace"] == "monitoring"


def test_prometheus_operator_objects_when_enabled(chart: Any, default: list[dict[str, Any]]) -> None:
    assert "ServiceMonitor" not in kinds(default) and "PrometheusRule" not in kinds(default)
    objects = render(chart, {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
    })
    rule = only(objects, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert rule["spec"] == yaml.safe_load((FILES / "alerts.yaml").read_text())
    alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
    assert {"SmartAutoscalerPodsUnplaceable", "SmartAutoscalerNoLeader", "SmartAutoscalerReconcileErrors",
            "SmartAutoscalerAllOfferingsBackedOff", "SmartAutoscalerReconcileSlow"} <= set(alerts)
    monitor = only(objects, "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"] == only(objects, "Service")["spec"]["selector"]
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_azure_workload_identity_annotates_the_service_account_and_labels_the_pods(chart: Any) -> None:
    client_id = "5f0d3a6e-0000-4000-8000-000000000001"
    objects = render(chart, {"provider": "azure", "config": {"cloud": "azure", "region": "eastus"},
                             "serviceAccount": {"azureClientId": client_id, "annotations": {"team": "platform"}}})
    assert only(objects, "ServiceAccount")["metadata"]["annotations"] == {
        "team": "platform", "azure.workload.identity/client-id": client_id}
    assert only(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    default = render(chart)
    assert "azure.workload.identity/use" not in only(default, "Deployment")["spec"]["template"]["metadata"]["labels"]
