"""The lock and the image: uv.lock and its hashed exports match pyproject.toml, and the Dockerfile (read by
the parser Docker uses) builds a lean, locked, non-root image with a health check and the OCI labels."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import dockerfile
import pytest
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
EXPORTS = sorted((ROOT / "requirements").glob("*.txt"))
REQUIREMENT = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==\S+")


def uv(*args: str, cwd: Path = ROOT, offline: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [find_uv_bin(), *args, "--no-progress", *(["--offline"] if offline else [])],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names(requirements: str) -> set[str]:
    return {normal(m.group(1)) for m in map(REQUIREMENT.match, requirements.splitlines()) if m}


def extra_names(extra: str) -> set[str]:
    requirements = PYPROJECT["project"]["optional-dependencies"][extra]
    return {normal(re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0]) for r in requirements}


def test_the_lock_matches_pyproject():
    checked = uv("lock", "--check")
    assert checked.returncode == 0, f"uv.lock is stale: run scripts/lock\n{checked.stderr}"


def test_a_stale_lock_is_caught(tmp_path):
    shutil.copy(ROOT / "uv.lock", tmp_path)
    text = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace('    "orjson>=3.9",\n', "", 1))
    (tmp_path / "README.md").write_text("")
    # Online: telling a stale lock apart takes a resolution, and a fresh machine has no cache to resolve from.
    checked = uv("lock", "--check", cwd=tmp_path, offline=False)
    assert checked.returncode != 0 and "needs to be updated" in checked.stderr, checked.stderr


@pytest.mark.parametrize("export", EXPORTS, ids=lambda p: p.name)
def test_each_requirements_file_is_the_export_of_the_lock(export):
    text = export.read_text()
    command = re.search(r"^#\s+uv (export .*) -o (\S+)$", text, re.MULTILINE)
    assert command and command.group(2) == f"requirements/{export.name}", "rewrite it with scripts/lock"
    fresh = uv(*command.group(1).split())
    assert fresh.returncode == 0, fresh.stderr

    def body(s: str) -> list[str]:
        return [line for line in s.splitlines() if not line.startswith("#")]

    assert body(fresh.stdout) == body(text), f"{export.name} is stale: run scripts/lock"
    pins = [line for line in body(text) if REQUIREMENT.match(line)]
    assert pins and all("--hash=sha256:" in line or line.endswith("\\") for line in pins)
    assert text.count("==") <= text.count("--hash=sha256:")


def test_the_runtime_holds_neither_the_simulator_nor_the_test_tools():
    runtime = names((ROOT / "requirements/runtime.txt").read_text())
    demo = names((ROOT / "requirements/demo.txt").read_text())
    dev = names((ROOT / "requirements/dev.txt").read_text())
    only_for_tests = (extra_names("test") | extra_names("sim")) - {"pyyaml"}
    assert {"trustme", "aiosmtpd"} <= extra_names("sim") and not runtime & only_for_tests
    assert {"aiohttp", "asyncpg", "uvloop"} <= runtime < demo < dev
    assert extra_names("sim") <= demo and not demo & extra_names("test") - {"pyyaml"}
    assert extra_names("test") | extra_names("sim") <= dev


def instructions(stage: str | None = None) -> list[dockerfile.Command]:
    parsed = dockerfile.parse_file(str(ROOT / "Dockerfile"))
    if stage is None:
        return list(parsed)
    stages: dict[str, list[dockerfile.Command]] = {}
    current: list[dockerfile.Command] = []
    for command in parsed:
        if command.cmd == "FROM":
            current = stages.setdefault(command.value[-1], [])
        current.append(command)
    return stages[stage]


def test_the_dockerfile_builds_in_stages_from_a_pinned_base():
    every = instructions()
    base = next(c.value[0] for c in every if c.cmd == "ARG" and c.value[0].startswith("PYTHON_IMAGE="))
    image = base.split("=", 1)[1]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", image), image
    stages = [c.value for c in every if c.cmd == "FROM"]
    assert [s[-1] for s in stages] == ["build", "demo-build", "base", "demo", "runtime"]
    assert all(len(s) == 3 and s[1].upper() == "AS" for s in stages)
    assert stages[-1][-1] == "runtime", "the last stage is what a build without --target makes"


def test_the_image_installs_only_from_the_lock():
    runs = [c.value[0] for c in instructions() if c.cmd == "RUN"]
    installs = [r for r in runs if "pip install" in r]
    for command in installs:
        assert "--require-hashes" in command or "--no-deps" in command, command
    assert any("-r /tmp/requirements/runtime.txt" in r for r in installs)
    copied = [c.value for c in instructions("build") if c.cmd == "COPY"]
    assert ("requirements/runtime.txt", "/tmp/requirements/") in copied
    assert not any("simulator" in v or "tests" in v for value in copied for v in value)
    assert not any("demo.txt" in v for c in instructions("build") for v in c.value)


def test_the_runtime_stage_is_lean_non_root_and_healthchecked():
    runtime = instructions("base") + instructions("runtime")
    assert [c.flags for c in instructions("runtime") if c.cmd == "COPY"] == [("--from=build",)]
    user = [c.value[0] for c in runtime if c.cmd == "USER"]
    assert user and user[-1].split(":")[0] not in ("0", "root")
    [health] = [c for c in runtime if c.cmd == "HEALTHCHECK"]
    assert health.value == ("CMD", "cardsync", "healthcheck")
    assert {f.split("=")[0] for f in health.flags} >= {"--interval", "--timeout", "--retries"}
    [entry] = [c.value for c in runtime if c.cmd == "ENTRYPOINT"]
    assert entry == ("cardsync",)


def test_the_image_carries_the_oci_labels():
    labels: dict[str, str] = {}
    for command in instructions("base"):
        if command.cmd == "LABEL":
            pairs = command.value
            labels.update({k: v.strip('"') for k, v in zip(pairs[::2], pairs[1::2], strict=True)})
    args = dict(
        c.value[0].split("=", 1) for c in instructions("base") if c.cmd == "ARG" and "=" in c.value[0]
    )
    oci = "org.opencontainers.image."
    for name in ("title", "description", "version", "revision", "created", "source", "base.name"):
        assert labels.get(oci + name), name
    assert args["VERSION"] == PYPROJECT["project"]["version"] and labels[oci + "version"] == "${VERSION}"
    assert labels[oci + "description"] == PYPROJECT["project"]["description"]
