"""The kubeconfig `run` connects with: read (bounded, UTF-8, no alias bombs) and checked against
the shape client-go reads (clusters, users, contexts, current-context), so that a broken file
stops start-up with the file and the field named instead of a traceback from the client."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

from autoscaler.validate.problems import FieldProblem, describe
from autoscaler.validate.pydantic_errors import problems_of
from autoscaler.validate.files import UnreadableFile, read_yaml

MAX_BYTES = 4 * 2**20


class KubeconfigError(ValueError):
    pass


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=True)


class _Cluster(_Model):
    server: StrictStr
    certificate_authority: Optional[StrictStr] = Field(None, alias="certificate-authority")
    certificate_authority_data: Optional[StrictStr] = Field(None, alias="certificate-authority-data")
    insecure_skip_tls_verify: Optional[StrictBool] = Field(None, alias="insecure-skip-tls-verify")
    proxy_url: Optional[StrictStr] = Field(None, alias="proxy-url")
    tls_server_name: Optional[StrictStr] = Field(None, alias="tls-server-name")


class _NamedCluster(_Model):
    name: StrictStr
    cluster: _Cluster


class _User(_Model):
    token: Optional[StrictStr] = None
    tokenFile: Optional[StrictStr] = None
    client_certificate: Optional[StrictStr] = Field(None, alias="client-certificate")
    client_certificate_data: Optional[StrictStr] = Field(None, alias="client-certificate-data")
    client_key: Optional[StrictStr] = Field(None, alias="client-key")
    client_key_data: Optional[StrictStr] = Field(None, alias="client-key-data")
    username: Optional[StrictStr] = None
    password: Optional[StrictStr] = None
    exec: Optional[dict] = None
    auth_provider: Optional[dict] = Field(None, alias="auth-provider")


class _NamedUser(_Model):
    name: StrictStr
    user: Optional[_User] = None


class _Context(_Model):
    cluster: StrictStr
    user: Optional[StrictStr] = None
    namespace: Optional[StrictStr] = None


class _NamedContext(_Model):
    name: StrictStr
    context: _Context


class Kubeconfig(_Model):
    apiVersion: Optional[StrictStr] = None
    kind: Optional[StrictStr] = None
    clusters: Optional[list[_NamedCluster]] = None
    users: Optional[list[_NamedUser]] = None
    contexts: Optional[list[_NamedContext]] = None
    current_context: Optional[StrictStr] = Field(None, alias="current-context")


def _read(path: Path) -> Any:
    try:
        return read_yaml(str(path), f"kubeconfig {path}", MAX_BYTES)
    except UnreadableFile as err:
        raise KubeconfigError(str(err)) from None


def _references(config: Kubeconfig, context: str | None) -> list[FieldProblem]:
    contexts = {c.name: (i, c.context) for i, c in enumerate(config.contexts or [])}
    chosen = context or config.current_context
    if not chosen:
        return [FieldProblem("current-context", "missing, and no --context was given")]
    if chosen not in contexts:
        where = "--context" if context else "current-context"
        return [FieldProblem(where, f"no context named {chosen!r} in contexts ({', '.join(contexts) or 'none'})")]
    index, ctx = contexts[chosen]
    problems = []
    clusters = {c.name: c.cluster for c in config.clusters or []}
    users = {u.name for u in config.users or []}
    if ctx.cluster not in clusters:
        problems.append(FieldProblem(f"contexts[{index}].context.cluster", "no cluster of this name in clusters", ctx.cluster))
    elif not clusters[ctx.cluster].server.startswith(("https://", "http://")):
        i = [c.name for c in config.clusters or []].index(ctx.cluster)
        problems.append(FieldProblem(f"clusters[{i}].cluster.server", "expected an https:// URL",
                                     clusters[ctx.cluster].server))
    if ctx.user and ctx.user not in users:
        problems.append(FieldProblem(f"contexts[{index}].context.user", "no user of this name in users", ctx.user))
    return problems


def check_kubeconfig(path: str, context: str | None = None, whole: bool = True) -> None:
    """KubeconfigError naming the file and the field when `path` cannot be used to connect.
    `whole`: the file is the whole configuration (not one of several merged from $KUBECONFIG)."""
    raw = _read(Path(path))
    if raw is None:
        raise KubeconfigError(f"kubeconfig {path}: the file is empty")
    if not isinstance(raw, dict):
        raise KubeconfigError(f"kubeconfig {path}: expected a mapping (apiVersion: v1, kind: Config), got a "
                              f"{type(raw).__name__}")
    try:
        config = Kubeconfig.model_validate(raw)
    except ValidationError as err:
        raise KubeconfigError(f"kubeconfig {path}: {describe(problems_of(err))}") from None
    problems = _references(config, context) if whole else []
    if problems:
        raise KubeconfigError(f"kubeconfig {path}: {describe(problems)}")


def check_client_configuration(path: str | None, context: str | None) -> None:
    """Check the file(s) the kubernetes client would read: `path`, else $KUBECONFIG, else ~/.kube/config."""
    if path is not None:
        check_kubeconfig(path, context)
        return
    listed = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    files = [p for p in listed if os.path.exists(p)] if listed else [os.path.expanduser("~/.kube/config")]
    files = [p for p in files if os.path.exists(p)]
    for file in files:
        check_kubeconfig(file, context, whole=len(files) == 1)
