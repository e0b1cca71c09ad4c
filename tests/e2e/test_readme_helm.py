"""README "Install with Helm", followed as a newcomer would, step by step, on the control plane.

Each ```bash block of the section is one step. `helm` command lines run through
helm-python-sdk with the CLI's meaning of their flags (-n, -f in order, --set over them,
--dry-run=server, --reuse-values); the `kubectl ... doctor` line must be the one the install
printed. The README's claim about a missing clusterName is checked too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.chart_release import helm_config, manifest_objects, release_leftovers, validate_strictly, wait_gone
from tests.e2e.daemon_helpers import REPO, wait_for

helm = pytest.importorskip("helm_python", reason="needs helm-python-sdk (pip install helm-python-sdk)")


def readme_steps() -> list[list[str]]:
    """The section's bash blocks, each a list of command lines (continuations joined)."""
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## Install with Helm\n(.*?)^## ", text, re.MULTILINE | re.DOTALL)
    assert section, "README.md has no 'Install with Helm' section"
    blocks = re.findall(r"```bash\n(.*?)```", section.group(1), re.DOTALL)
    return [[line.strip() for line in re.sub(r"\\\n\s*", " ", re.sub(r"^\s+", "", b, flags=re.MULTILINE)).splitlines() if line.strip()]
            for b in blocks]


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        merged[key] = deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


@dataclass
class HelmCommand:
    """One `helm` command line, read with the CLI's flags."""

    action: str
    positional: list[str]
    namespace: str = "default"
    values: dict[str, Any] = field(default_factory=dict)
    dry_run: str | None = None
    reuse_values: bool = False

    @classmethod
    def parse(cls, line: str) -> "HelmCommand":
        words = shlex.split(line)
        assert words[0] == "helm", line
        command = cls(words[1], [])
        rest = iter(words[2:])
        for word in rest:
            if word in ("-n", "--namespace"):
                command.namespace = next(rest)
            elif word in ("-f", "--values"):
                command.values = deep_merge(command.values, yaml.safe_load((REPO / next(rest)).read_text()))
            elif word == "--set":
                command.values = deep_merge(command.values, helm.parse_set_string(next(rest)))
            elif word.startswith("--dry-run="):
                command.dry_run = word.split("=", 1)[1]
            elif word == "--reuse-values":
                command.reuse_values = True
            else:
                assert not word.startswith("-"), f"the test does not know the flag {word} ({line})"
                command.positional.append(word)
        return command

    def run(self, config) -> Any:
        if self.action == "install":
            name, chart = self.positional
            return config.install(str(REPO / chart), name, self.values, namespace=self.namespace, dry_run=self.dry_run, timeout=60)
        if self.action == "upgrade":
            name, chart = self.positional
            return config.upgrade(str(REPO / chart), name, self.values, namespace=self.namespace,
                                  reuse_values=self.reuse_values, timeout=60)
        if self.action == "uninstall":
            (name,) = self.positional
            return config.uninstall(name, timeout=60)
        raise AssertionError(f"the README's helm {self.action} is not followed by this test")


def without_set(line: str, key: str) -> str:
    return re.sub(rf"--set {re.escape(key)}=\S+", "", line)


def test_install_with_helm_as_the_readme_says(control_plane, k8s_client, apps_v1, core_v1):
    steps = readme_steps()
    assert len(steps) == 5, steps
    (dry_run,), (install,), (check,), (upgrade,), (uninstall,) = steps
    namespace = HelmCommand.parse(install).namespace
    config = helm_config(control_plane, namespace)
    release = HelmCommand.parse(install).positional[0]
    try:
        # 1. the dry run: what would be created, accepted by the API server, nothing created
        planned = HelmCommand.parse(dry_run).run(config)
        validate_strictly(k8s_client, manifest_objects(planned["manifest"]), namespace)
        assert release_leftovers(k8s_client, namespace, release) == []
        for key in ("config.clusterName", "config.region"):
            with pytest.raises(helm.HelmError, match=rf"{re.escape(key)} is required.*--set {re.escape(key)}="):
                HelmCommand.parse(without_set(dry_run, key)).run(config)

        # 2. the install
        installed = HelmCommand.parse(install).run(config)
        deployment = apps_v1.read_namespaced_deployment(release, namespace)
        assert deployment.spec.template.spec.containers[0].image.endswith(":0.1.0-aws")
        assert deployment.spec.template.spec.security_context.run_as_user == 65532

        # 3. the check is the command the install printed
        assert check in [line.strip() for line in installed["notes"].splitlines()]

        # 4. the upgrade rolls the Deployment and keeps the values given at install
        revision = lambda: (apps_v1.read_namespaced_deployment(release, namespace).metadata.annotations or {}).get(  # noqa: E731
            "deployment.kubernetes.io/revision")
        wait_for(lambda: revision() == "1", 30, "the first revision")
        HelmCommand.parse(upgrade).run(config)
        wait_for(lambda: revision() == "2", 30, "the second revision")
        options = yaml.safe_load(core_v1.read_namespaced_config_map(release, namespace).data["config.yaml"])
        assert (options["maxNodes"], options["clusterName"], options["region"]) == (50, "prod-eks", "us-west-2")

        # 5. the uninstall leaves nothing
        HelmCommand.parse(uninstall).run(config)
        wait_gone(k8s_client, namespace, release)
    finally:
        config.uninstall(release, ignore_not_found=True, timeout=60)
        config.close()


def test_every_values_file_the_readme_names_exists() -> None:
    text = (REPO / "README.md").read_text()
    for path in set(re.findall(r"helm/smart-autoscaler/ci/[a-z]+-values\.yaml", text)):
        assert (REPO / path).is_file(), path
    assert Path(REPO / "helm/smart-autoscaler/ci").is_dir()
