"""The Kubernetes manifests as `kubectl kustomize` renders them: every object valid for a pinned Kubernetes
version (kubernetes-validate; KEDA's resources against the schema of KEDA's CRDs), and wired together: each
service's Deployment runs its command with probes on its health port, requests and limits, a disruption
budget, settings only from the ConfigMap and Secret, and autoscaling on its own RabbitMQ queue."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from cloudcoil.models.keda.v1alpha1 import ScaledObject, TriggerAuthentication

from services.cli import SERVICES
from shared.bus import Bus
from shared.settings import Settings
from shared.topology import QUEUES
from tests.deploy.test_compose import setting_names

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = ROOT / "deploy/kubernetes"
EXAMPLE = KUSTOMIZE / "overlays/example"
KUBERNETES = "1.32"  # the version every object is validated against
WORKERS = ("fetcher", "reconciler", "notifier")
# Peak RSS per process at 100,000 users, from the README's benchmarks (MB): a request below it would
# let the scheduler place a pod where it cannot run.
PEAK_RSS_MB = {"scheduler": 203, "fetcher": 139, "reconciler": 162, "notifier": 95}
KEDA_MODELS = {"ScaledObject": ScaledObject, "TriggerAuthentication": TriggerAuthentication}


def render(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is not installed: CI renders the manifests with `kubectl kustomize`")
        pytest.skip("kubectl is not installed")
    done = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return [o for o in yaml.safe_load_all(done.stdout) if o]


@pytest.fixture(scope="module")
def example() -> list[dict]:
    return render(EXAMPLE)


def by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def closed(schema: object) -> object:
    """The schema with no property beyond those it names, as the API server prunes them (a typo would be
    lost)."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [closed(v) for v in schema]
    return schema


def validate(obj: dict) -> None:
    model = KEDA_MODELS.get(obj["kind"]) if obj["apiVersion"].startswith("keda.sh/") else None
    if model is not None:
        jsonschema.Draft202012Validator(closed(model.model_json_schema(by_alias=True))).validate(obj)
    else:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_every_object_of_the_example_is_valid(example):
    kinds = {o["kind"] for o in example}
    assert {"Deployment", "Job", "Service", "Ingress", "PodDisruptionBudget", "ScaledObject"} <= kinds
    for obj in example:
        validate(obj)
        assert obj["kind"] == "Namespace" or obj["metadata"]["namespace"] == "cardsync", obj["metadata"]


def test_a_mistyped_field_is_caught():
    scaled = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {"scaleTargetRef": {"name": "x"}, "triggers": [{"type": "rabbitmq", "metadata": {}}]},
    }
    validate(scaled)
    with pytest.raises(jsonschema.ValidationError):
        validate({**scaled, "spec": {**scaled["spec"], "maxReplicas": 3}})
    with pytest.raises(kubernetes_validate.ValidationError):
        validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"prots": []}})


def settings_of(objects: list[dict]) -> dict[str, str]:
    [config] = [
        o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("cardsync-")
    ]
    [secret] = by_kind(objects, "Secret").values()
    return {**config["data"], **{k: "(secret)" for k in secret["data"]}}


def test_settings_come_from_one_config_map_and_one_secret_of_known_names(example):
    settings = settings_of(example)
    assert set(settings) <= set(setting_names()), set(settings) - set(setting_names())
    secret = by_kind(example, "Secret")["cardsync-secrets"]["data"]
    for name in (
        "CARDSYNC_OPERATOR_TOKEN",
        "CARDSYNC_SECRET_KEYS",
        "CARDSYNC_DATABASE_URL",
        "CARDSYNC_AMQP_URL",
    ):
        assert name in secret, name
    config_map = next(
        n for n in (o["metadata"]["name"] for o in example) if n.startswith("cardsync-settings-")
    )
    for obj in list(by_kind(example, "Deployment").values()) + list(by_kind(example, "Job").values()):
        spec = obj["spec"]["template"]["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            sources = container["envFrom"]
            assert sources[0] == {"configMapRef": {"name": config_map}}
            assert sources[1] == {"secretRef": {"name": "cardsync-secrets"}}
            assert "env" not in container  # one place for the settings


def test_a_deployment_per_service_with_probes_resources_and_a_budget(example):
    settings = settings_of(example)
    deployments = by_kind(example, "Deployment")
    budgets = by_kind(example, "PodDisruptionBudget")
    assert sorted(deployments) == sorted(f"cardsync-{s}" for s in SERVICES)
    for service in SERVICES:
        deployment = deployments[f"cardsync-{service}"]
        pod = deployment["spec"]["template"]
        [container] = pod["spec"]["containers"]
        assert container["args"] == [service] and container["image"] == "registry.example.com/cardsync:0.1.0"
        port = settings["CARDSYNC_API_PORT" if service == "scheduler" else "CARDSYNC_HEALTH_PORT"]
        named = {p["name"]: p["containerPort"] for p in container["ports"]}
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/livez")):
            get = container[probe]["httpGet"]
            assert get["path"] == path and str(named[get["port"]]) == port, (service, probe)
        resources = container["resources"]
        assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
        assert mebibytes(resources["requests"]["memory"]) >= PEAK_RSS_MB[service], service
        assert mebibytes(resources["limits"]["memory"]) >= 2 * PEAK_RSS_MB[service], service
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        [wait] = pod["spec"]["initContainers"]
        assert "cardsync migrate --status" in wait["command"][-1]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= pod["metadata"]["labels"].items()
        assert budgets[f"cardsync-{service}"]["spec"]["selector"]["matchLabels"] == selector
        if service in WORKERS:
            assert "replicas" not in deployment["spec"], "the autoscaler sets a worker's replicas"


def mebibytes(quantity: str) -> float:
    units = {"Mi": 1, "Gi": 1024}
    return float(quantity[:-2]) * units[quantity[-2:]] * 1.048576  # MiB to MB, as the README measures


def test_the_migration_job_and_the_api_behind_service_and_ingress(example):
    [job] = by_kind(example, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    [service] = by_kind(example, "Service").values()
    scheduler = by_kind(example, "Deployment")["cardsync-scheduler"]["spec"]["template"]
    assert service["spec"]["selector"].items() <= scheduler["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    [ingress] = by_kind(example, "Ingress").values()
    [rule] = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert ingress["spec"]["tls"][0]["hosts"] == [rule["host"]]
    assert settings_of(example)["CARDSYNC_PUBLIC_URL"] == f"https://{rule['host']}"


def test_keda_scales_each_worker_on_its_own_queue(example):
    settings = settings_of(example)
    bus = Bus(Settings.model_fields["amqp_url"].default, prefix=settings["CARDSYNC_AMQP_PREFIX"])
    scaled = by_kind(example, "ScaledObject")
    authentications = by_kind(example, "TriggerAuthentication")
    secret = by_kind(example, "Secret")["cardsync-secrets"]["data"]
    assert sorted(scaled) == sorted(f"cardsync-{w}" for w in WORKERS)
    for worker in WORKERS:
        spec = scaled[f"cardsync-{worker}"]["spec"]
        assert spec["scaleTargetRef"] == {"name": f"cardsync-{worker}"}
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        # A trigger for each of the worker's queues.
        triggers = spec["triggers"]
        assert [t["metadata"]["queueName"] for t in triggers] == [bus.queue_name(q) for q in QUEUES[worker]]
        for trigger in triggers:
            assert trigger["type"] == "rabbitmq" and trigger["metadata"]["mode"] == "QueueLength"
            [ref] = authentications[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
            assert ref["parameter"] == "host" and ref["key"] == "CARDSYNC_AMQP_URL" and ref["key"] in secret
            # Not renamed with a hash, which this field would not follow.
            assert ref["name"] == "cardsync-secrets"


def test_the_cpu_alternative_scales_the_same_workers(tmp_path):
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [
                    os.path.relpath(KUSTOMIZE / "base", tmp_path)
                ],  # kustomize takes no absolute path
                "components": [os.path.relpath(KUSTOMIZE / "components/hpa-cpu", tmp_path)],
                "secretGenerator": [
                    {"name": "cardsync-secrets", "literals": ["CARDSYNC_AMQP_URL=amqp://x/"]}
                ],
            }
        )
    )
    objects = render(tmp_path)
    for obj in objects:
        validate(obj)
    assert not by_kind(objects, "ScaledObject")
    autoscalers = by_kind(objects, "HorizontalPodAutoscaler")
    deployments = by_kind(objects, "Deployment")
    assert sorted(autoscalers) == sorted(f"cardsync-{w}" for w in WORKERS)
    for name, hpa in autoscalers.items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == name and name in deployments
        [container] = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["resources"]["requests"]["cpu"]  # utilisation is measured against it
