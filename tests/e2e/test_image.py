"""The image built from the Dockerfile (tests/image.py), run as a kubelet would run the chart's
pod: as the image's user, on a read-only root file system, with an empty /tmp.

Given the image built by tests/setup.sh, when its entrypoint runs with `--version` or `preview`
of an example, then it answers as the installed command does; what it holds is only the AWS
variant's SDK; its shells are not needed and the root file system is read-only. (`run` against
the control plane: test_helm_install.py.)
"""

from __future__ import annotations

import json
import subprocess
import tomllib

import pytest

from tests.e2e.daemon_helpers import REPO
from tests.image import Image, ImageUnavailable, ensure_image, image_command


@pytest.fixture(scope="module")
def image() -> Image:
    try:
        return ensure_image()
    except ImageUnavailable as err:
        pytest.skip(str(err))


def run(image: Image, *args: str, mounts: dict[str, str] | None = None,
        entrypoint: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(image_command(image, args, mounts=mounts, entrypoint=entrypoint), capture_output=True,
                          text=True, timeout=120)


def test_the_image_prints_the_packages_version(image: Image) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    done = run(image, "--version")
    assert (done.returncode, done.stdout.strip()) == (0, f"smart-autoscaler {version}"), done.stderr


def test_the_image_previews_an_example_as_user_65532_on_a_read_only_root(image: Image) -> None:
    """examples/rayservice-llm.yaml with the Luna thresholds, on AWS us-west-2: GPU nodes for the
    workers and a priced total, as the README's cost preview shows."""
    assert image.user == "65532:65532"
    done = run(image, "preview", "-f", "/examples/rayservice-llm.yaml", "--config", "/examples/luna-thresholds.yaml",
               "--target", "aws:us-west-2", "-o", "json", mounts={str(REPO / "examples"): "/examples"})
    assert done.returncode == 0, done.stderr
    (target,) = json.loads(done.stdout)["targets"]
    assert (target["cloud"], target["region"]) == ("aws", "us-west-2")
    assert target["total_hourly_cost"] > 0 and any(node.get("gpus") for node in target["nodes"])


def test_the_aws_image_holds_the_aws_sdk_and_no_other_cloud_sdk(image: Image) -> None:
    site = next((image.root / "opt" / "smart-autoscaler").glob("lib/python3*/site-packages"))
    present = {name for name in ("boto3", "botocore", "oci", "google", "azure") if (site / name).exists()}
    assert present == {"boto3", "botocore"}
    assert not (site / "pip").exists()  # pip leaves with the build stage
    assert not (site / "kubernetes" / "aio").exists() and not (site / "aiohttp").exists()  # the unused asyncio client
    assert image.labels.get("io.smart-autoscaler.cloud") == "aws"


def test_no_shell_is_needed_at_run_time(image: Image) -> None:
    """The runner replaces the image's shells with /dev/null, yet --version, preview (above) and
    the daemon (test_helm_install.py) run: the entrypoint is exec form, its script's interpreter
    is the venv's python."""
    assert run(image, "-c", "true", entrypoint=["/bin/sh"]).returncode != 0
    script = (image.root / image.entrypoint[0].lstrip("/")).read_text().splitlines()[0]
    assert script == "#!/opt/smart-autoscaler/bin/python3"


def test_the_root_file_system_is_read_only_to_the_daemon(image: Image) -> None:
    done = run(image, "-c", "open('/tmp/scratch', 'w').write('ok'); open('/opt/smart-autoscaler/x', 'w')",
               entrypoint=["/opt/smart-autoscaler/bin/python3"])
    assert done.returncode != 0 and "Read-only file system" in done.stderr
