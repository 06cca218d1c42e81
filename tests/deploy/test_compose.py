"""The compose file, as Docker Compose itself reads it (`docker compose config`, no engine needed): it renders
with and without .env, the backing services start with no variables at all and answer on the default URLs,
every setting in .env reaches every service, images are pinned and everything has a healthcheck."""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import compose
import pytest
from pydantic import AliasChoices

from services.cli import _parser
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(compose.__file__).with_name("docker-compose")
APP = ("migrate", "scheduler", "fetcher", "reconciler", "notifier")
BACKING = ("postgres", "rabbitmq", "mailpit")
# Inside a container the services listen on every interface, on the ports the healthchecks and ports use.
CONTAINER_FIXED = {"CARDSYNC_API_HOST", "CARDSYNC_API_PORT", "CARDSYNC_HEALTH_PORT"}
HEALTH_PORTS = {"fetcher": "8081", "reconciler": "8082", "notifier": "8083"}


def setting_names() -> list[str]:
    names = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        names.append(alias.choices[0] if isinstance(alias, AliasChoices) else f"CARDSYNC_{name.upper()}")
    return names


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The compose file alone in a directory: no .env unless a test writes one."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    return tmp_path


def config(project: Path, *args: str, **env: str) -> dict:
    """What `docker compose config` makes of the file, with none of this process's variables."""
    rendered = subprocess.run(
        [str(BINARY), *args, "config", "--format", "json"],
        cwd=project,
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(project), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert rendered.returncode == 0, rendered.stderr
    return json.loads(rendered.stdout)


def test_with_no_variables_only_the_backing_services_start_and_the_default_urls_reach_them(project):
    bare = config(project)
    assert sorted(bare["services"]) == sorted(BACKING)
    postgres, rabbitmq = bare["services"]["postgres"], bare["services"]["rabbitmq"]

    database = urlsplit(Settings.model_fields["database_url"].default)
    assert postgres["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "trust" and database.password is None
    assert database.username == "postgres" and database.path == "/" + postgres["environment"]["POSTGRES_DB"]
    assert {"host_ip": "127.0.0.1", "published": str(database.port), "target": 5432} == _port(postgres, 5432)

    amqp = urlsplit(Settings.model_fields["amqp_url"].default)
    env = rabbitmq["environment"]
    assert (env["RABBITMQ_DEFAULT_USER"], env["RABBITMQ_DEFAULT_PASS"]) == (amqp.username, amqp.password)
    assert _port(rabbitmq, 5672)["published"] == str(amqp.port)
    assert _port(bare["services"]["mailpit"], 8025)["published"] == "8025"  # Mailpit's web UI


def _port(service: dict, target: int) -> dict:
    [port] = [p for p in service["ports"] if p["target"] == target]
    return {k: port[k] for k in ("host_ip", "published", "target")}


def test_the_example_env_starts_the_whole_stack(project):
    shutil.copy(ROOT / ".env.example", project / ".env")
    stack = config(project)
    assert sorted(stack["services"]) == sorted(BACKING + APP)
    assert stack["services"]["scheduler"]["environment"]["CARDSYNC_DATABASE_URL"] == (
        "postgresql://postgres@postgres:5432/cardsync"
    )
    assert stack["services"]["notifier"]["environment"]["CARDSYNC_SMTP_HOST"] == "mailpit"


def test_every_setting_in_env_reaches_every_service(project):
    names = setting_names()
    lines = ["COMPOSE_PROFILES=app"] + [f"{name}=from-env-{i}" for i, name in enumerate(names)]
    (project / ".env").write_text("\n".join(lines) + "\n")
    services = config(project)["services"]
    for service in APP:
        env = services[service]["environment"]
        for i, name in enumerate(names):
            if name not in CONTAINER_FIXED:
                assert env.get(name) == f"from-env-{i}", (service, name)
        assert (env["CARDSYNC_API_HOST"], env["CARDSYNC_API_PORT"]) == ("0.0.0.0", "8080")
        if service in HEALTH_PORTS:
            assert env["CARDSYNC_HEALTH_PORT"] == HEALTH_PORTS[service]


def test_the_example_env_documents_every_setting():
    example = (ROOT / ".env.example").read_text()
    for name in setting_names():
        assert re.search(rf"^(# )?{name}=", example, re.MULTILINE), name
        above = example[: example.index(f"{name}=")].rstrip("# \n").rsplit("\n", 1)[-1]
        assert above.startswith("#") and len(above) > 10, f"{name} has no comment above it"


def test_images_are_pinned_and_every_service_has_a_healthcheck(project):
    services = config(project, "--profile", "*")["services"]
    assert sorted(services) == sorted((*BACKING, *APP, "demo"))
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.MULTILINE)[1]
    [subcommands] = [a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction)]
    for name, service in services.items():
        image = service["image"]
        assert re.fullmatch(r"[\w./-]+:v?\d+\.\d+(\.\d+)?[\w.-]*(@sha256:[0-9a-f]{64})?", image), image
        assert "latest" not in image
        if "build" in service:
            assert image.endswith(f":{version}"), image
        if name == "migrate":  # a job: it applies the migrations and exits
            assert service["healthcheck"] == {"disable": True} and service["restart"] == "no"
            continue
        test = service["healthcheck"]["test"]
        assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1, name
        if "build" in service:
            assert test[1:] == ["cardsync", "healthcheck"] and "healthcheck" in subcommands.choices
            assert service["command"][0] in subcommands.choices


def test_the_services_wait_for_the_migration_and_the_broker(project):
    services = config(project, "--profile", "app")["services"]
    for name in APP[1:]:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["rabbitmq"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["scheduler"]["ports"][0]["published"] == "8080"


def test_the_demo_profile_runs_the_demo_image_apart_from_the_stack(project):
    demo = config(project, "--profile", "demo")["services"]
    assert sorted(demo) == sorted((*BACKING, "demo"))
    service = demo["demo"]
    assert service["build"]["target"] == "demo" and service["command"] == ["demo"]
    assert urlsplit(service["environment"]["CARDSYNC_DATABASE_URL"]).path == "/cardsync_demo"
    assert _port(service, 8080) == {"host_ip": "127.0.0.1", "published": "8090", "target": 8080}
    stages = re.findall(r"^FROM \S+ AS (\S+)$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    assert {"demo", "runtime"} <= set(stages)
