# smart-autoscaler: one image per cloud, run as a non-root user on a read-only root file system;
# the configuration comes from a mounted ConfigMap (helm/smart-autoscaler).
#
#   docker build --build-arg CLOUD=aws -t smart-autoscaler:0.1.0-aws .
#
# CLOUD: aws, gcp, azure or oci (that cloud's SDK only: a cluster talks to one cloud, and the
# four SDKs together are ~10x the rest, OCI's alone ~500 MB), all (every SDK), or none (the
# simulated provider and plug-ins). BASE: any Debian-family image whose python3 (>= 3.11) has
# its venv module; the tests build one from Debian's archive (tests/image.py).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ARG CLOUD=all
WORKDIR /src
COPY pyproject.toml README.md ./
COPY autoscaler ./autoscaler
COPY providers ./providers
COPY pricing ./pricing
# The package and its dependencies in a virtual environment that the runtime stage copies whole.
# Left behind: pip and setuptools (not needed to run), and the kubernetes client's asyncio
# variant (kubernetes.aio, ~60 MB, with aiohttp: the daemon uses the synchronous client).
RUN case "${CLOUD}" in \
      all) extras="aws,gcp,azure,oci" ;; \
      none) extras="" ;; \
      aws|gcp|azure|oci) extras="${CLOUD}" ;; \
      *) echo "CLOUD must be aws, gcp, azure, oci, all or none, not '${CLOUD}'" >&2; exit 1 ;; \
    esac \
 && python3 -m venv /opt/smart-autoscaler \
 && /opt/smart-autoscaler/bin/pip install --no-cache-dir --disable-pip-version-check "/src[${extras}]" \
 && site="$(/opt/smart-autoscaler/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" \
 && rm -rf "${site}/kubernetes/aio" \
 && /opt/smart-autoscaler/bin/pip uninstall --yes --quiet aiohttp aiohttp-retry pip setuptools

FROM ${BASE}
ARG CLOUD=all
LABEL org.opencontainers.image.title="smart-autoscaler" \
      org.opencontainers.image.description="Kubernetes node autoscaler: the cheapest node that really fits" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.smart-autoscaler.cloud="${CLOUD}"
COPY --from=build /opt/smart-autoscaler /opt/smart-autoscaler
# Byte code is compiled at build time: the root file system is read-only at run time.
ENV PATH="/opt/smart-autoscaler/bin:${PATH}" \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric user, so that Kubernetes can check runAsNonRoot; no shell is needed to start it.
USER 65532:65532
ENTRYPOINT ["/opt/smart-autoscaler/bin/smart-autoscaler"]
CMD ["--help"]
