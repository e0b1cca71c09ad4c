"""The container image, built from the repository's Dockerfile without a registry, and run the
way a kubelet runs the chart's Deployment.

Build (tests/setup.sh runs `python3 -m tests.image start`: the build goes on in the background
while the control plane builds and the fast tier runs; the tests that run the image wait for it):
a Debian bookworm root file system from Debian's archive (mmdebstrap: python3 and its venv
module) becomes the base image; buildah (vfs storage, chroot isolation, no daemon, no registry)
builds the Dockerfile with BASE set to that base and CLOUD=aws. The image's root file system
and its configuration (user, entrypoint, environment) are exported to a cache outside the
repository, keyed by the Dockerfile, pyproject.toml and every source file (not README.md):
~/.cache/smart-autoscaler/image/<key>/ (SMART_AUTOSCALER_IMAGE_CACHE overrides the folder).
A cached image is reused; the base file system is cached on its own, so a source change
rebuilds only the image. The build's pip uses the host's pip configuration and CA bundle
through build-time mounts (`buildah bud -v`): nothing of the host is left in the image.

Run: `image_command(image, args, ...)` is the argv that starts the image's entrypoint as the
image's user in a private mount namespace, with the root file system read-only, an empty /tmp
(the chart's emptyDir), /proc and /dev, and the given bind mounts (the chart's ConfigMap, the
service account token) — what the chart's securityContext asks a kubelet for
(readOnlyRootFilesystem, runAsUser 65532). No shell inside the image is used. Needs root
(mount namespaces, chroot), as CI has.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Sequence

REPO = Path(__file__).resolve().parent.parent
CLOUD = "aws"  # the variant the tests build: the smallest SDK, and the simulated provider needs none
SUITE = "bookworm"  # Debian 12: python3 3.11, as pyproject.toml requires
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
BASE_TAG = f"localhost/smart-autoscaler-base:{SUITE}"
IMAGE_TAG = "localhost/smart-autoscaler:test"
# What the image is built from. README.md is copied too, but only as the package's long
# description: a change to the documentation alone does not rebuild the image.
SOURCES = ("Dockerfile", ".dockerignore", "pyproject.toml", "autoscaler", "providers", "pricing")
# the host's pip configuration and CA bundle, mounted while the image's pip runs (never kept)
HOST_PIP_FILES = ("/etc/pip.conf", "/etc/ssl/certs/ca-certificates.crt")
STEP_TIMEOUT = 1800  # seconds for one build step (mmdebstrap, bud)
BUILD_LOG = "build.log"
SHELLS = ("/bin/sh", "/bin/bash", "/bin/dash", "/usr/bin/sh", "/usr/bin/bash", "/usr/bin/dash")
BUILD_WAIT = 1200.0  # how long a test waits for a build still running (a cold one takes ~10 min under load)


class ImageUnavailable(RuntimeError):
    """The image is not built and cannot be built here (the message says why)."""


@dataclass(frozen=True)
class Image:
    """An exported image: its root file system and its OCI configuration."""

    root: Path
    user: str
    entrypoint: tuple[str, ...]
    env: tuple[str, ...]
    labels: dict[str, str]

    @classmethod
    def load(cls, folder: Path) -> "Image":
        config = json.loads((folder / "config.json").read_text())
        return cls(
            root=folder / "rootfs",
            user=config.get("User") or "0:0",
            entrypoint=tuple(config.get("Entrypoint") or ()),
            env=tuple(config.get("Env") or ()),
            labels=dict(config.get("Labels") or {}),
        )


def cache_dir() -> Path:
    override = os.environ.get("SMART_AUTOSCALER_IMAGE_CACHE")
    return Path(override) if override else Path.home() / ".cache" / "smart-autoscaler" / "image"


def source_key() -> str:
    """Hash of everything the Dockerfile reads, the variant and the base recipe."""
    digest = hashlib.sha256(f"{CLOUD} {SUITE} {' '.join(BASE_PACKAGES)}\n".encode())
    for name in SOURCES:
        path = REPO / name
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            digest.update(str(file.relative_to(REPO)).encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def built_image() -> Image | None:
    folder = cache_dir() / source_key()
    return Image.load(folder) if (folder / "config.json").is_file() else None


def ensure_image(wait: float = BUILD_WAIT) -> Image:
    """The cached image for the current sources. A build still running (tests/setup.sh starts it
    in the background, so that it overlaps the fast tier) is waited for, up to `wait` seconds.
    Raises ImageUnavailable when there is none (tests never build it themselves)."""
    deadline = time.monotonic() + wait
    while built_image() is None and _building() and time.monotonic() < deadline:
        time.sleep(2)
    image = built_image()
    if image is None:
        log = cache_dir() / BUILD_LOG
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-3:]) if log.is_file() else ""
        raise ImageUnavailable(
            f"no image built for these sources in {cache_dir()} (`python3 -m tests.image build`, as tests/setup.sh "
            f"runs it){': ' + tail if tail else ''}")
    return image


def _building() -> bool:
    """True while a build holds the cache's lock."""
    lock_path = cache_dir() / ".lock"
    if not lock_path.exists():
        return False
    with open(lock_path) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def start_background_build() -> Path:
    """Start `build` detached (it outlives the caller), its output in the cache's build.log."""
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / BUILD_LOG
    with open(log_path, "w") as log:
        subprocess.Popen([sys.executable, "-m", "tests.image", "build"], cwd=REPO, stdin=subprocess.DEVNULL,
                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    return log_path


# ---------------------------------------------------------------------------- building


def _missing_tools() -> list[str]:
    return [tool for tool in ("buildah", "mmdebstrap", "unshare", "chroot") if shutil.which(tool) is None]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _run(argv: Sequence[str], log: list[str], **kwargs) -> str:
    started = time.monotonic()
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=STEP_TIMEOUT, **kwargs)
    log.append(f"$ {' '.join(argv)}  ({time.monotonic() - started:.0f}s, rc={done.returncode})")
    if done.returncode != 0:
        raise ImageUnavailable(f"{argv[0]} {argv[1] if len(argv) > 1 else ''} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _base_tar(folder: Path, log: list[str]) -> Path:
    recipe = hashlib.sha256(f"{SUITE} {' '.join(BASE_PACKAGES)}".encode()).hexdigest()[:12]
    tar = folder / f"base-{SUITE}-{recipe}.tar"
    if tar.is_file():
        return tar
    partial = tar.with_suffix(".partial")
    _run([
        "mmdebstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*", "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*", "--format=tar", SUITE, str(partial),
    ], log)
    partial.rename(tar)
    return tar


def build() -> Image:
    """Build (or reuse) the image for the current sources and export it to the cache."""
    missing = _missing_tools()
    if missing:
        raise ImageUnavailable(f"{', '.join(missing)} not found (Debian packages buildah, mmdebstrap)")
    folder = cache_dir()
    key = source_key()
    log: list[str] = []
    with _locked(folder):
        image = built_image()
        if image is not None:
            print(f"image: reusing {folder / key}")
            return image
        started = time.monotonic()
        base = _base_tar(folder, log)
        storage = folder / "storage"
        shutil.rmtree(storage, ignore_errors=True)  # what an interrupted build left
        buildah = ["buildah", "--root", str(storage / "root"), "--runroot", str(storage / "run"), "--storage-driver", "vfs"]
        try:
            ctr = _run([*buildah, "from", "scratch"], log).strip()
            _run([*buildah, "add", ctr, str(base), "/"], log)
            _run([*buildah, "config", "--cmd", "/usr/bin/python3", ctr], log)
            _run([*buildah, "commit", "--rm", "--quiet", ctr, BASE_TAG], log)
            mounts = [arg for path in HOST_PIP_FILES if Path(path).is_file() for arg in ("-v", f"{path}:{path}:ro")]
            _run([*buildah, "bud", "--isolation", "chroot", "--quiet", *mounts,
                  "--build-arg", f"BASE={BASE_TAG}", "--build-arg", f"CLOUD={CLOUD}", "-t", IMAGE_TAG, str(REPO)], log)
            target = folder / key
            partial = folder / f"{key}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir()
            ctr = _run([*buildah, "from", "--quiet", IMAGE_TAG], log).strip()
            mount = _run([*buildah, "mount", ctr], log).strip()
            _run(["cp", "-a", f"{mount}/.", str(partial / "rootfs")], log)
            inspected = json.loads(_run([*buildah, "inspect", "--type", "image", IMAGE_TAG], log))
            (partial / "config.json").write_text(json.dumps(inspected["OCIv1"]["config"], indent=2))
            _run([*buildah, "rm", ctr], log)
        finally:
            shutil.rmtree(storage, ignore_errors=True)  # vfs keeps a full copy per layer: GBs
        for old in folder.iterdir():  # one image at a time: older sources' images go
            if old.is_dir() and old.name not in (key, "storage") and not old.name.endswith(".partial"):
                shutil.rmtree(old, ignore_errors=True)
        partial.rename(target)
        print("\n".join(log))
        print(f"image: built in {time.monotonic() - started:.0f}s -> {target}")
        image = Image.load(target)
        print(composition(image))
        return image


def composition(image: Image) -> str:
    """What makes up the image, largest first (uncompressed bytes)."""
    def size(path: Path) -> int:
        if path.is_symlink() or not path.exists():
            return 0
        if path.is_file():
            return path.stat().st_size
        return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())

    venv = image.root / "opt" / "smart-autoscaler"
    site = next(venv.glob("lib/python3*/site-packages"), venv)
    total = size(image.root)
    packages = sorted(((size(p), p.name) for p in site.iterdir() if not p.name.endswith((".dist-info", ".pth"))), reverse=True)
    lines = [f"image size (uncompressed): {total / 2**20:.0f} MiB; base (Debian {SUITE} + python3): "
             f"{(total - size(venv)) / 2**20:.0f} MiB; /opt/smart-autoscaler: {size(venv) / 2**20:.0f} MiB"]
    lines += [f"  {bytes_ / 2**20:7.1f} MiB  {name}" for bytes_, name in packages[:12]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- running


def image_command(image: Image, args: Sequence[str], *, mounts: Mapping[str, str] | None = None,
                  env: Mapping[str, str] | None = None, entrypoint: Sequence[str] | None = None) -> list[str]:
    """argv running the image's entrypoint (or `entrypoint`) with `args` as the image's user:
    read-only root, an empty /tmp, /proc, /dev, `mounts` (host path -> path in the image,
    read-only), and the image's shells replaced by /dev/null: nothing may need one at run time."""
    root = image.root
    mounts = {host: resolve_inside(root, inside) for host, inside in (mounts or {}).items()}
    shells = sorted({resolve_inside(root, shell) for shell in SHELLS if (root / shell.lstrip("/")).exists()})
    for inside in mounts.values():  # mount points, as a container runtime makes them
        (root / inside.lstrip("/")).mkdir(parents=True, exist_ok=True)
    script = [
        'root="$1"; shift',
        'mount --bind "$root" "$root"',
        'mount -o remount,bind,ro "$root"',
        'mount -t tmpfs -o size=64m,mode=1777 tmpfs "$root/tmp"',
        'mount -t proc proc "$root/proc"',
        'mount --rbind /dev "$root/dev"',
    ]
    for host, inside in mounts.items():
        target = f'"$root"/{inside.lstrip("/")}'
        script += [f"mount --bind {_quote(host)} {target}", f"mount -o remount,bind,ro {target}"]
    for shell in shells:
        script.append(f'mount --bind /dev/null "$root"/{shell.lstrip("/")}')
    script.append('exec "$@"')
    environment = [*image.env, *(f"{k}={v}" for k, v in (env or {}).items())]
    user = image.user if ":" in image.user else f"{image.user}:{image.user}"
    return [
        "unshare", "--mount", "--propagation", "private", "--fork", "--",
        "sh", "-ec", "\n".join(script), "run-image", str(root),
        "env", "-i", *environment, "chroot", f"--userspec={user}", str(root), *(entrypoint or image.entrypoint), *args,
    ]


def resolve_inside(root: Path, path: str) -> str:
    """`path` as the image sees it, its symbolic links followed inside `root` (Debian's /var/run
    is a link to /run: on the host it would lead out of the image)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    for _ in range(64):  # links followed at most this many times
        if not parts:
            return "/" + "/".join(resolved)
        part = parts.pop(0)
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            target = os.readlink(candidate)
            parts = [p for p in target.split("/") if p] + parts
            if target.startswith("/"):
                resolved = []
            continue
        resolved.append(part)
    raise ValueError(f"{path}: too many symbolic links in the image")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def main(argv: Sequence[str]) -> int:
    if list(argv) == ["build"]:
        try:
            build()
        except ImageUnavailable as err:
            print(f"image: not built: {err}", file=sys.stderr)
            return 1
        return 0
    if list(argv) == ["start"]:
        if built_image() is not None:
            print(f"image: reusing {cache_dir() / source_key()}")
            return 0
        missing = _missing_tools()
        if missing:
            print(f"image: not built: {', '.join(missing)} not found (Debian packages buildah, mmdebstrap)", file=sys.stderr)
            return 1
        print(f"image: building in the background (the end-to-end tier waits for it); log: {start_background_build()}")
        return 0
    if list(argv) == ["show"]:
        print(composition(ensure_image()))
        return 0
    print("usage: python3 -m tests.image build|start|show", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
