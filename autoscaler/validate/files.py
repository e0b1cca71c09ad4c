"""Reading a YAML file the product is given (configuration, scenario, kubeconfig): bounded in
size, UTF-8 text (a binary file is named as such), YAML without alias bombs or runaway nesting.
Every problem is an UnreadableFile whose message names the file."""

from __future__ import annotations

from typing import Any

import yaml

from autoscaler.validate.yamlbounds import expansion_problem

MAX_FILE_BYTES = 16 * 2**20
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnreadableFile(ValueError):
    pass


def read_text(path: str, what: str, max_bytes: int = MAX_FILE_BYTES) -> str:
    try:
        with open(path, "rb") as handle:
            blob = handle.read(max_bytes + 1)
    except OSError as err:
        raise UnreadableFile(f"cannot read {what}: {err.strerror or err}") from None
    if len(blob) > max_bytes:
        raise UnreadableFile(f"{what}: larger than {max_bytes // 2**20} MiB; refused")
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise UnreadableFile(f"{what}: not UTF-8 text ({err.reason} at byte {err.start}); is it a binary file?") from None


def load_yaml(text: str, what: str) -> Any:
    try:
        value = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise UnreadableFile(f"{what} is not valid YAML{where}: {problem}") from None
    except RecursionError:
        raise UnreadableFile(f"{what}: nested too deeply to read; refused") from None
    except (ValueError, TypeError, OverflowError) as err:  # a value PyYAML cannot build, e.g. month 13
        raise UnreadableFile(f"{what}: a YAML value cannot be read: {err}") from None
    problem = expansion_problem(value)
    if problem:
        raise UnreadableFile(f"{what}: {problem}")
    return value


def read_yaml(path: str, what: str, max_bytes: int = MAX_FILE_BYTES) -> Any:
    return load_yaml(read_text(path, what, max_bytes), what)
