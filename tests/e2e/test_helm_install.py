"""The chart on a real control plane: install, upgrade and uninstall with each cloud's values,
and the daemon started from exactly what the chart installed acting on a pending pod.

Given the chart and a cloud's starting values (helm/smart-autoscaler/ci/<cloud>-values.yaml),
when Helm installs it, then the API server accepts every object under strict field validation,
the objects exist, an upgrade with a changed option rolls the Deployment to a second revision,
and an uninstall leaves nothing labelled with the release (nor Helm's release records).
"""

from __future__ import annotations

import pytest

from tests.e2e.chart_release import (
    ImageProcess,
    PodFromRelease,
    helm_config,
    manifest_objects,
    release_leftovers,
    validate_strictly,
    wait_gone,
)
from tests.chart_values import CLOUDS, completed_values
from tests.e2e.daemon_helpers import CHART, free_port, managed_nodes, managed_pod, node_ready, wait_for

helm = pytest.importorskip("helm_python", reason="needs helm-python-sdk (pip install helm-python-sdk)")

def revision(apps_v1, namespace: str, name: str) -> str:
    deployment = apps_v1.read_namespaced_deployment(name, namespace)
    return (deployment.metadata.annotations or {}).get("deployment.kubernetes.io/revision", "")


@pytest.mark.parametrize("cloud", CLOUDS)
def test_each_clouds_values_install_upgrade_and_uninstall_cleanly(cloud, control_plane, k8s_client, namespace, apps_v1, core_v1):
    release = f"sa-{cloud}"
    values = completed_values(cloud)
    config = helm_config(control_plane, namespace)
    try:
        # the objects Helm would create, checked by the API server itself
        planned = config.install(str(CHART), release, values, namespace=namespace, dry_run="server")
        objects = manifest_objects(planned["manifest"])
        accepted = validate_strictly(k8s_client, objects, namespace)
        assert len(accepted) == len(objects) and {o.split("/")[0] for o in accepted} >= {
            "ClusterRole", "ClusterRoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget",
            "Role", "RoleBinding", "Service", "ServiceAccount"}

        config.install(str(CHART), release, values, namespace=namespace, timeout=60)
        deployment = f"{release}-smart-autoscaler"
        installed = apps_v1.read_namespaced_deployment(deployment, namespace)
        (container,) = installed.spec.template.spec.containers
        assert container.args[container.args.index("--provider") + 1] == cloud
        assert core_v1.read_namespaced_service_account(deployment, namespace).metadata.name == deployment
        wait_for(lambda: revision(apps_v1, namespace, deployment) == "1", 30, "the Deployment's first revision")

        # a changed option rolls the pods: a second ReplicaSet revision
        changed = {**values, "config": {**values["config"], "maxNodes": 50}}
        upgraded = config.upgrade(str(CHART), release, changed, namespace=namespace, timeout=60)
        assert upgraded["revision"] == 2
        wait_for(lambda: revision(apps_v1, namespace, deployment) == "2", 30, "the Deployment's second revision")
        config_map = core_v1.read_namespaced_config_map(deployment, namespace)
        assert "maxNodes: 50" in config_map.data["config.yaml"]
    finally:
        config.uninstall(release, ignore_not_found=True, timeout=60)
        config.close()
    wait_gone(k8s_client, namespace, release)
    assert release_leftovers(k8s_client, namespace, release) == []


def test_install_without_a_cluster_name_fails_naming_the_value(control_plane, namespace):
    config = helm_config(control_plane, namespace)
    try:
        with pytest.raises(helm.HelmError, match=r"config\.clusterName is required"):
            config.install(str(CHART), "sa-unnamed", {"config": {"region": "us-east-1"}}, namespace=namespace, timeout=30)
    finally:
        config.close()


def test_the_daemon_started_from_what_the_chart_installed_launches_a_node_for_a_pending_pod(
        control_plane, k8s_client, namespace, core_v1, tmp_path):
    from tests.image import ImageUnavailable, ensure_image, image_command

    try:
        image = ensure_image()
    except ImageUnavailable as err:
        pytest.skip(str(err))
    port = free_port()
    values = {
        **completed_values("simulated"),
        "metrics": {"port": port},
        "extraArgs": ["--simulated-launch-delay", "1s"],
        # no kubelet runs the chart's own pod here: keep it off the nodes launched for the test pod
        "nodeSelector": {"smart-autoscaler.io/e2e": "no-such-node"},
    }
    values["config"] = {**values["config"], "loopPeriod": "2s"}
    release = "sa-sim"
    config = helm_config(control_plane, namespace)
    daemon = None
    try:
        config.install(str(CHART), release, values, namespace=namespace, timeout=60)
        pod = PodFromRelease.read(k8s_client, control_plane, namespace, f"{release}-smart-autoscaler", tmp_path)
        assert pod.run_as == image.user == "65532:65532"
        argv = image_command(image, pod.args, mounts=pod.mounts, env=pod.env)
        daemon = ImageProcess(argv, tmp_path / "daemon.log", port).start()
        daemon.wait_healthy()

        # given a pending managed pod of 1.5 CPU, when the daemon from the chart sees it,
        # then a node is launched for it and the scheduler binds the pod there
        core_v1.create_namespaced_pod(namespace, managed_pod("web-0", "1500m", "1Gi"))
        node = wait_for(lambda: next(iter(n for n in managed_nodes(core_v1) if node_ready(n)), None), 90,
                        "a Ready node launched by the daemon", check=daemon.check_alive)
        bound = wait_for(lambda: core_v1.read_namespaced_pod("web-0", namespace).spec.node_name, 60,
                         "web-0 bound to a node", check=daemon.check_alive)
        assert bound == node.metadata.name
        assert node.metadata.labels["node.kubernetes.io/instance-type"]
        assert "launch" in daemon.log()
    finally:
        if daemon is not None:
            daemon.stop()
        core_v1.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)
        for node in managed_nodes(core_v1):
            core_v1.delete_node(node.metadata.name)
        config.uninstall(release, ignore_not_found=True, timeout=60)
        config.close()
    wait_gone(k8s_client, namespace, release)
