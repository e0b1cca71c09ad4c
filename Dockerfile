# smart-autoscaler: runs as a non-root user; configuration comes from a mounted ConfigMap.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY autoscaler ./autoscaler
COPY providers ./providers
COPY pricing ./pricing
RUN pip install --no-cache-dir --prefix=/install ".[aws,gcp,azure,oci]"

FROM python:3.11-slim
COPY --from=build /install /usr/local
RUN useradd --uid 65532 --no-create-home --shell /usr/sbin/nologin autoscaler
USER 65532:65532
ENTRYPOINT ["smart-autoscaler"]
CMD ["--help"]
