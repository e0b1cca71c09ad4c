"""A real Kubernetes control plane on loopback, for the e2e tier.

etcd, kube-apiserver, kube-scheduler, kube-controller-manager and kwok run as
plain processes (no containers) on free 127.0.0.1 ports, with certificates,
keys, kubeconfigs, data and logs in one temporary directory::

    cp = ControlPlane()
    cp.start()                # ~10 s once the binaries are built
    cp.kubeconfig             # admin (system:masters) kubeconfig path
    ...
    cp.stop()                 # terminate, then kill; removes the directory

``ensure_binaries()`` runs ``build.sh`` (which builds once into a cache outside
the repository) and returns the directory holding the five binaries.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build.sh"
STAGES_DIR = HERE / "stages"
# kwok's kubelet resource-metrics emulation (Metric + ClusterResourceUsage), for metrics-server.
KWOK_METRICS_DIR = HERE / "metrics"
BINARIES = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok")

SERVICE_CLUSTER_IP_RANGE = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# etcd compaction interval of the API server: short, so that a watch from an old
# resourceVersion can be shown to expire (410 Gone) within seconds.
DEFAULT_COMPACTION_INTERVAL = "5s"
# Resources the API server serves without its watch cache, so that a watch on
# them reads etcd directly and sees compaction (see README).
DEFAULT_UNCACHED_RESOURCES = ("podtemplates",)


class BinariesUnavailable(RuntimeError):
    """The control-plane binaries are neither cached nor buildable here."""


class ControlPlaneError(RuntimeError):
    """A component failed to start or become healthy (message includes log tails)."""


def ensure_binaries(*, quiet: bool = False) -> Path:
    """Build (once; cached outside the repo) and return the bin directory.

    ``SMART_AUTOSCALER_CP_BIN`` may name a directory with prebuilt binaries.
    Raises ``BinariesUnavailable`` naming what is missing (e.g. no ``go``).
    Build progress goes to stderr unless ``quiet``.
    """
    override = os.environ.get("SMART_AUTOSCALER_CP_BIN")
    if override:
        bin_dir = Path(override)
        missing = [b for b in BINARIES if not os.access(bin_dir / b, os.X_OK)]
        if missing:
            raise BinariesUnavailable(
                f"SMART_AUTOSCALER_CP_BIN={override} lacks {', '.join(missing)}"
            )
        return bin_dir
    return run_build_script(BUILD_SCRIPT, quiet=quiet)


def run_build_script(script: Path, *, quiet: bool = False) -> Path:
    """Run a build script of this directory; return the bin directory it prints last.
    Exit 127 (no Go and nothing cached) and other failures raise BinariesUnavailable."""
    name = f"tests/controlplane/{script.name}"
    if shutil.which("bash") is None:
        raise BinariesUnavailable(f"bash is needed to run {name}")
    proc = subprocess.Popen(
        ["bash", str(script)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None and proc.stdout is not None
    errors: list[str] = []
    for line in proc.stderr:  # go build writes little; no deadlock risk on stdout
        errors.append(line.rstrip())
        if not quiet:
            sys.stderr.write(line)
            sys.stderr.flush()
    out = proc.stdout.read()
    proc.wait()
    if proc.returncode != 0:
        detail = "\n".join(errors[-20:]) or "(no output)"
        if proc.returncode == 127:
            raise BinariesUnavailable(detail)
        raise BinariesUnavailable(f"{name} failed (exit {proc.returncode}):\n{detail}")
    lines = out.strip().splitlines()
    if not lines:
        raise BinariesUnavailable(f"{name} printed no bin directory")
    return Path(lines[-1])


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- certs


@dataclass
class _KeyPair:
    cert_pem: bytes
    key_pem: bytes


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _issue(
    ca: tuple | None,
    common_name: str,
    *,
    organizations: tuple[str, ...] = (),
    is_ca: bool = False,
    server: bool = False,
    client: bool = False,
    dns_names: tuple[str, ...] = (),
    ips: tuple[str, ...] = (),
):
    """Return (cert, key) signed by ``ca`` ((cert, key)), or self-signed if None."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = _new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    subject = x509.Name(attrs)
    issuer_cert, issuer_key = ca if ca else (None, key)
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=not is_ca,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    usages = []
    if server:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    if client:
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    sans = [x509.DNSName(d) for d in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(issuer_key, hashes.SHA256())
    return cert, key


def _pem(cert, key) -> _KeyPair:
    from cryptography.hazmat.primitives import serialization

    return _KeyPair(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


# --------------------------------------------------------------------------- cluster


@dataclass
class _Component:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str] | None = None
    proc: subprocess.Popen | None = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the child if the starting thread dies (no orphans)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


@dataclass
class ControlPlane:
    """etcd + kube-apiserver + kube-scheduler + kube-controller-manager + kwok.

    ``workdir``: directory to use (created; default a new temp dir, removed by
    ``stop()`` unless ``keep=True``). ``bin_dir``: where the binaries are
    (default ``ensure_binaries()``). ``uncached_resources``: resources the API
    server serves without watch cache (watches on them see etcd compaction).
    """

    workdir: Path | None = None
    keep: bool = False
    bin_dir: Path | None = None
    compaction_interval: str = DEFAULT_COMPACTION_INTERVAL
    uncached_resources: tuple[str, ...] = DEFAULT_UNCACHED_RESOURCES
    extra_apiserver_args: tuple[str, ...] = ()
    extra_controller_manager_args: tuple[str, ...] = ()
    extra_scheduler_args: tuple[str, ...] = ()
    extra_kwok_args: tuple[str, ...] = ()
    start_timeout: float = 60.0

    ports: dict[str, int] = field(default_factory=dict, init=False)
    components: list[_Component] = field(default_factory=list, init=False)
    startup_seconds: float | None = field(default=None, init=False)
    # seconds from start() until each component was ready (for slow-start diagnosis)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    _t0: float = field(default=0.0, init=False, repr=False)
    _own_workdir: bool = field(default=False, init=False)
    _stopped: dict[str, _Component] = field(default_factory=dict, init=False, repr=False)
    _exited: dict[str, _Component] = field(default_factory=dict, init=False, repr=False)

    # ------------------------------------------------------------------ paths
    @property
    def kubeconfig(self) -> Path:
        """Admin kubeconfig (client certificate in group system:masters)."""
        return self._dir / "admin.kubeconfig"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports['apiserver']}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['etcd']}"

    @property
    def _dir(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("ControlPlane has not been started")
        return Path(self.workdir)

    def __enter__(self) -> "ControlPlane":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ start
    def start(self) -> "ControlPlane":
        t0 = self._t0 = time.monotonic()
        if self.bin_dir is None:
            self.bin_dir = ensure_binaries()
        self.bin_dir = Path(self.bin_dir)
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="smart-autoscaler-cp-"))
            self._own_workdir = True
        self._dir.mkdir(parents=True, exist_ok=True)
        (self._dir / "logs").mkdir(exist_ok=True)
        # Every start is a fresh cluster, also in a reused workdir (new ports and
        # certificates would not match an old etcd member anyway).
        shutil.rmtree(self._dir / "etcd", ignore_errors=True)
        for name in ("etcd", "etcd-peer", "apiserver", "scheduler", "controller-manager", "kwok"):
            self.ports[name] = free_port()
        try:
            self._write_pki()
            deadline = time.monotonic() + self.start_timeout
            self._launch(self._etcd())
            self._wait("etcd", lambda: self._http_ok(f"{self.etcd_url}/health", b'"health":"true"'), deadline)
            self._launch(self._apiserver())
            self._wait("kube-apiserver", lambda: self._https_ok(self.ports["apiserver"], "/readyz", client=True), deadline)
            self._launch(self._scheduler())
            self._launch(self._controller_manager())
            self._launch(self._kwok())
            self._wait("kube-scheduler", lambda: self._https_ok(self.ports["scheduler"], "/healthz"), deadline)
            self._wait("kube-controller-manager", lambda: self._https_ok(self.ports["controller-manager"], "/healthz"), deadline)
            self._wait("kwok", lambda: self._http_ok(f"http://127.0.0.1:{self.ports['kwok']}/healthz", b"ok"), deadline)
            # The service-account controller has run: pods can be created in "default".
            self._wait("default ServiceAccount", lambda: self._api_get("/api/v1/namespaces/default/serviceaccounts/default"), deadline)
        except BaseException:
            self.stop()  # the error message carries the log tails
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _launch(self, comp: _Component) -> None:
        self._check_alive()
        out = open(comp.log, "ab")
        env = dict(os.environ)
        env.update(comp.env or {})
        try:
            comp.proc = subprocess.Popen(
                comp.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
                env=env,
                start_new_session=True,  # Ctrl-C in a terminal reaches only us
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        finally:
            out.close()
        self.components.append(comp)

    def _check_alive(self) -> None:
        for comp in self.components:
            if comp.proc is not None and comp.proc.poll() is not None:
                raise ControlPlaneError(
                    f"{comp.name} exited with code {comp.proc.returncode}\n{self.log_tail()}"
                )

    def _wait(self, what: str, probe, deadline: float) -> None:
        while True:
            self._check_alive()
            try:
                if probe():
                    self.timings[what] = round(time.monotonic() - self._t0, 2)
                    return
            except (OSError, urllib.error.URLError, ssl.SSLError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise ControlPlaneError(
                    f"{what} not ready within {self.start_timeout:.0f}s\n{self.log_tail()}"
                )
            time.sleep(0.2)

    # ------------------------------------------------------------------ probes
    def _ssl_context(self, client: bool) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self._dir / "pki" / "ca.crt"))
        if client:
            ctx.load_cert_chain(self._dir / "pki" / "admin.crt", self._dir / "pki" / "admin.key")
        else:
            # scheduler / controller-manager serve a self-signed cert of their own
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    @staticmethod
    def _http_ok(url: str, expect: bytes) -> bool:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200 and expect in resp.read()

    def _https_ok(self, port: int, path: str, client: bool = False) -> bool:
        url = f"https://127.0.0.1:{port}{path}"
        with urllib.request.urlopen(url, timeout=3, context=self._ssl_context(client)) as resp:
            return resp.status == 200 and resp.read().strip() == b"ok"

    def _api_get(self, path: str) -> dict | None:
        try:
            with urllib.request.urlopen(
                self.server + path, timeout=3, context=self._ssl_context(True)
            ) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise

    # ------------------------------------------------------------------ pki
    def _write_pki(self) -> None:
        pki = self._dir / "pki"
        pki.mkdir(exist_ok=True)
        ca = _issue(None, "smart-autoscaler-test-ca", is_ca=True)
        self._write(pki / "ca", _pem(*ca))
        serving = _issue(
            ca,
            "kube-apiserver",
            server=True,
            dns_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            ips=("127.0.0.1", KUBERNETES_SERVICE_IP),
        )
        self._write(pki / "apiserver", _pem(*serving))
        sa_key = _new_key()
        from cryptography.hazmat.primitives import serialization

        (pki / "sa.key").write_bytes(_key_pem(sa_key))
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        # Front-proxy (request-header) CA, as kubeadm sets up: without it the
        # scheduler and controller-manager log an error every few seconds.
        front_ca = _issue(None, "front-proxy-ca", is_ca=True)
        self._write(pki / "front-proxy-ca", _pem(*front_ca))
        self._write(pki / "front-proxy-client", _pem(*_issue(front_ca, "front-proxy-client", client=True)))
        ca_pem = (pki / "ca.crt").read_bytes()
        users = {
            "admin": ("kubernetes-admin", ("system:masters",)),
            "scheduler": ("system:kube-scheduler", ()),
            "controller-manager": ("system:kube-controller-manager", ()),
        }
        for file, (cn, orgs) in users.items():
            pair = _pem(*_issue(ca, cn, organizations=orgs, client=True))
            self._write(pki / file, pair)
            self._write_kubeconfig(self._dir / f"{file}.kubeconfig", cn, ca_pem, pair)

    @staticmethod
    def _write(stem: Path, pair: _KeyPair) -> None:
        stem.with_suffix(".crt").write_bytes(pair.cert_pem)
        key = stem.with_suffix(".key")
        key.write_bytes(pair.key_pem)
        key.chmod(0o600)

    def _write_kubeconfig(self, path: Path, user: str, ca_pem: bytes, pair: _KeyPair) -> None:
        b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "loopback",
                    "cluster": {"server": self.server, "certificate-authority-data": b64(ca_pem)},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(pair.cert_pem),
                        "client-key-data": b64(pair.key_pem),
                    },
                }
            ],
            "contexts": [{"name": "loopback", "context": {"cluster": "loopback", "user": user}}],
            "current-context": "loopback",
        }
        # JSON is YAML: every kubeconfig loader (client-go, kubectl, the Python client) reads it.
        path.write_text(json.dumps(config, indent=2) + "\n")
        path.chmod(0o600)

    # ------------------------------------------------------------------ components
    def _bin(self, name: str) -> str:
        return str(Path(self.bin_dir) / name)

    def _log(self, name: str) -> Path:
        return self._dir / "logs" / f"{name}.log"

    def _etcd(self) -> _Component:
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        return _Component(
            "etcd",
            [
                self._bin("etcd"),
                "--name=cp",
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=cp={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",  # test data: durability is not wanted, speed is
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ],
            self._log("etcd"),
        )

    def _apiserver(self) -> _Component:
        pki = self._dir / "pki"
        args = [
            self._bin("kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            f"--etcd-compaction-interval={self.compaction_interval}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.ports['apiserver']}",
            f"--cert-dir={self._dir / 'apiserver-certs'}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            f"--requestheader-client-ca-file={pki / 'front-proxy-ca.crt'}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-username-headers=X-Remote-User",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
            f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            "--authorization-mode=Node,RBAC",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            # ExtendedResourceToleration as in EKS (since 1.19) and GKE: pods requesting a device
            # tolerate `<device>=present:NoSchedule` (the taint accelerator nodes are launched with).
            "--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,"
            "DefaultTolerationSeconds,Priority,ResourceQuota,PodSecurity,NodeRestriction,ExtendedResourceToleration,"
            "MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy",
            "--allow-privileged=true",
            "--profiling=false",
            "--v=1",
        ]
        if self.uncached_resources:
            args.append("--watch-cache-sizes=" + ",".join(f"{r}#0" for r in self.uncached_resources))
        args += list(self.extra_apiserver_args)
        return _Component("kube-apiserver", args, self._log("kube-apiserver"))

    def _secure_serving(self, name: str, port: int) -> list[str]:
        kubeconfig = self._dir / f"{name}.kubeconfig"
        return [
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={self._dir / (name + '-certs')}",
            "--leader-elect=false",
            # client-side rate limits (default 20-50 QPS) slow start-up and bulk tests
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--profiling=false",
            "--v=1",
        ]

    def _scheduler(self) -> _Component:
        args = [self._bin("kube-scheduler")]
        args += self._secure_serving("scheduler", self.ports["scheduler"])
        args += list(self.extra_scheduler_args)
        return _Component("kube-scheduler", args, self._log("kube-scheduler"))

    def _controller_manager(self) -> _Component:
        pki = self._dir / "pki"
        args = [self._bin("kube-controller-manager")]
        args += self._secure_serving("controller-manager", self.ports["controller-manager"])
        args += [
            f"--service-account-private-key-file={pki / 'sa.key'}",
            f"--root-ca-file={pki / 'ca.crt'}",
            f"--cluster-signing-cert-file={pki / 'ca.crt'}",
            f"--cluster-signing-key-file={pki / 'ca.key'}",
            "--use-service-account-credentials=true",
            "--controllers=*",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            f"--cluster-cidr={POD_CIDR}",
            "--allocate-node-cidrs=false",
        ]
        args += list(self.extra_controller_manager_args)
        return _Component("kube-controller-manager", args, self._log("kube-controller-manager"))

    def _kwok(self) -> _Component:
        from .nodes import KWOK_ANNOTATION_SELECTOR

        args = [
            self._bin("kwok"),
            f"--kubeconfig={self.kubeconfig}",
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION_SELECTOR}",
            f"--server-address=127.0.0.1:{self.ports['kwok']}",
            f"--cidr={POD_CIDR}",
            # Nodes' InternalIP: where their "kubelet" (kwok) answers, so metrics-server
            # can scrape the resource metrics kwok emulates (metrics/*.yaml).
            "--node-ip=127.0.0.1",
            # kwok alone defaults this to 0 (only kwokctl sets 40): without node
            # leases the node-lifecycle controller marks nodes NotReady after its
            # grace period (50 s), since the heartbeat stage writes status rarely.
            "--node-lease-duration-seconds=40",
        ]
        args += [f"--config={p}" for p in sorted(STAGES_DIR.glob("*.yaml"))]
        args += [f"--config={p}" for p in sorted(KWOK_METRICS_DIR.glob("*.yaml"))]
        args += list(self.extra_kwok_args)
        # kwok also reads ~/.kwok/kwok.yaml if it exists: give it an empty home.
        home = self._dir / "kwok-home"
        home.mkdir(exist_ok=True)
        return _Component("kwok", args, self._log("kwok"), env={"HOME": str(home)})

    # ------------------------------------------------------------------ stop / logs
    def stop(self, keep: bool | None = None, grace: float = 10.0) -> None:
        """Terminate all components (SIGTERM, then SIGKILL after ``grace`` s)."""
        keep = self.keep if keep is None else keep
        # Clients of the API server first, etcd last (an API server whose etcd is
        # gone spends its shutdown retrying).
        first = [c for c in self.components if c.name != "etcd"]
        last = [c for c in self.components if c.name == "etcd"]
        for group in (first, last):
            self._terminate(group, grace)
        self.components.clear()
        if self.workdir is not None and self._own_workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @staticmethod
    def _terminate(components: list[_Component], grace: float) -> None:
        running = [c for c in components if c.proc and c.proc.poll() is None]
        for comp in running:
            with contextlib.suppress(ProcessLookupError):
                comp.proc.terminate()
        deadline = time.monotonic() + grace
        for comp in running:
            try:
                comp.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    comp.proc.kill()
                comp.proc.wait(timeout=10)

    # ------------------------------------------------------------------ faults
    _PROBES = {
        "kube-apiserver": ("apiserver", "/readyz", True),
        "kube-controller-manager": ("controller-manager", "/healthz", False),
        "kube-scheduler": ("scheduler", "/healthz", False),
    }

    def stop_component(self, name: str, sig: int = signal.SIGKILL) -> _Component:
        """Stop one component (SIGKILL: a crash) and keep its argv for ``start_component``:
        the fault tier takes kube-apiserver or kube-controller-manager away for a while."""
        comp = next(c for c in self.components if c.name == name)
        if comp.proc is not None and comp.proc.poll() is None:
            comp.proc.send_signal(sig)
            comp.proc.wait(timeout=15)
        self.components.remove(comp)
        self._stopped[name] = comp
        return comp

    def _park_exited(self) -> None:
        for comp in [c for c in self.components if c.proc is not None and c.proc.poll() is not None]:
            self.components.remove(comp)
            self._exited[comp.name] = comp

    def restart_exited(self, timeout: float = 60.0) -> list[str]:
        """Start again every component that exited by itself (kube-scheduler and
        kube-controller-manager exit when they cannot renew their leader Lease during an API
        outage, and a kubelet would restart them); returns their names."""
        self._park_exited()
        names = sorted(self._exited)
        for name in names:
            self.start_component(name, timeout)
        return names

    def start_component(self, name: str, timeout: float = 60.0) -> float:
        """Start a component stopped by ``stop_component`` again with the same flags (same
        ports, certificates, etcd) and wait until it answers; returns the seconds that took."""
        comp = self._stopped.pop(name, None) or self._exited.pop(name)
        self._park_exited()
        t0 = time.monotonic()
        self._launch(comp)
        port, path, client = self._PROBES[name]
        deadline = time.monotonic() + timeout

        def answers() -> bool:
            try:
                return self._https_ok(self.ports[port], path, client=client)
            except (OSError, urllib.error.URLError, ssl.SSLError, ValueError):
                return False

        while not answers():
            if comp.proc.poll() is not None:
                raise ControlPlaneError(f"{name} exited with code {comp.proc.returncode}\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise ControlPlaneError(f"{name} not answering {timeout:.0f}s after its restart\n{self.log_tail()}")
            self._park_exited()  # others may exit meanwhile (Leases lost): restart_exited() brings them back
            time.sleep(0.2)
        return time.monotonic() - t0

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of each component's log, as one text block."""
        if self.workdir is None:
            return "(control plane not started)"
        parts = []
        for log in sorted((self._dir / "logs").glob("*.log")):
            try:
                with open(log, "rb") as f:
                    f.seek(0, os.SEEK_END)
                    size = f.tell()
                    f.seek(max(0, size - 256 * lines))
                    tail = f.read().decode(errors="replace").splitlines()[-lines:]
            except OSError as err:
                tail = [f"(cannot read: {err})"]
            parts.append(f"===== {log.name} (last {len(tail)} lines) =====")
            parts.extend(tail)
        return "\n".join(parts)

    def wait_for(self, predicate, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"):
        """Poll ``predicate()`` until it returns a truthy value; return it."""
        deadline = time.monotonic() + timeout
        last_exc: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = predicate()
                if value:
                    return value
            except Exception as exc:  # noqa: BLE001 - reported below if it persists
                last_exc = exc
            time.sleep(interval)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc!r})" if last_exc else ""))
