"""The deployment artifacts pass their offline validators: the Dockerfile hadolint, the compose
file the Compose Specification's schema (and `docker compose config` where the plugin exists),
every Kubernetes manifest Kubernetes' own schemas (kubernetes-validate, strict) or, for KEDA's
ScaledObject, a schema written from KEDA's documented fields — and the operational choices the
docs promise (probes, grace periods, autoscaling on real metrics) hold in what they render."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from packaging.requirements import Requirement

from dialer.settings import Settings
from tests.support.kustomize import Manifest, render

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_VERSION = "1.31.0"  # the oldest minor we support; docs/deploy.md
OVERLAYS = ["staging", "production"]
KINDS = {"api", "hooks", "dispatcher", "worker", "beat"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def overlay(name: str) -> list[Manifest]:
    return render(K8S / "overlays" / name)


def of_kind(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def container(deployment: Manifest) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def env_of(deployment: Manifest) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(deployment).get("env", [])}


# ---------------------------------------------------------------- the image


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_base_image_is_pinned_by_digest() -> None:
    instructions = dockerfile_instructions()
    args = dict(
        value.split("=", 1) for kind, value in instructions if kind == "ARG" and "=" in value
    )
    bases = [value.split()[0] for kind, value in instructions if kind == "FROM"]
    stages = {
        value.split()[-1] for kind, value in instructions if kind == "FROM" and " AS " in value
    }
    for base in bases:
        resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], base)
        assert resolved in stages or re.search(r"@sha256:[0-9a-f]{64}$", resolved), base


def test_the_final_stage_is_small_non_root_and_runs_dialer() -> None:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (kind, _) in enumerate(instructions) if kind == "FROM")
    assert last_from > 0, "multi-stage: dependencies are built in a stage of their own"
    final = instructions[last_from:]
    runs = " ".join(value for kind, value in final if kind == "RUN")
    assert not re.search(r"pip install|apt-get install|gcc|build-essential", runs), runs
    user = [value for kind, value in final if kind == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert ("ENTRYPOINT", '["dialer"]') in final
    assert any(kind == "HEALTHCHECK" for kind, _ in final)


def test_the_pinned_versions_satisfy_the_project_ranges() -> None:
    project = __import__("tomllib").loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (DEPLOY / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name] = version
    for text in project["dependencies"]:
        requirement = Requirement(text)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is not pinned in deploy/constraints.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {text}"


# ---------------------------------------------------------------- compose


def test_the_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    jsonschema.Draft7Validator(schema).validate(compose())


def test_the_compose_file_is_wired_as_documented() -> None:
    spec = compose()
    services = spec["services"]
    for name, service in services.items():
        for dependency in service.get("depends_on") or []:
            assert dependency in services, f"{name} depends on an unknown {dependency}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name} mounts a missing {source}"
    assert "noeviction" in services["redis"]["command"]
    assert services["simulator"]["profiles"] == ["simulator"]
    assert services["migrate"]["command"] == ["migrate"]
    for kind in ("api", "hooks", "dispatch", "worker", "beat"):
        needs = services[kind]["depends_on"]
        assert needs["migrate"]["condition"] == "service_completed_successfully", kind
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_containers_are_the_ones_prometheus_scrapes() -> None:
    """The shipped deploy/prometheus/prometheus.yml is reused as is: its targets must be the
    containers compose names `<project>-<service>-<n>`, on the ports the services listen on."""
    spec = compose()
    ports = {"api": "8000", "hooks": "9103", "dispatch": "9101", "worker": "9102"}
    containers = set()
    for service, port in ports.items():
        environment = spec["services"][service].get("environment", {})
        assert environment.get("DIALER_METRICS_PORT", "8000") == port, service
        replicas = spec["services"][service].get("deploy", {}).get("replicas", 1)
        containers |= {f"{spec['name']}-{service}-{n}:{port}" for n in range(1, replicas + 1)}
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    assert targets <= containers, targets - containers


def docker_compose_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(
    not docker_compose_available(),
    reason="the docker compose plugin is not installed (the schema check above still runs)",
)
def test_docker_compose_config_accepts_the_file() -> None:
    result = subprocess.run(
        [
            "docker",
            "compose",
            "-f",
            str(DEPLOY / "compose.yaml"),
            "--profile",
            "simulator",
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------- Kubernetes


def validate_manifest(manifest: Manifest) -> None:
    if manifest["kind"] == "ScaledObject":
        schema = json.loads((SCHEMAS / "keda-scaledobject.json").read_text())
        jsonschema.Draft202012Validator(schema).validate(manifest)
        return
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", [*OVERLAYS, *(f"{o}/migrate" for o in OVERLAYS)])
def test_every_manifest_matches_its_schema(name: str) -> None:
    manifests = overlay(name)
    assert manifests
    for manifest in manifests:
        validate_manifest(manifest)


def test_a_manifest_with_a_misspelt_field_is_refused() -> None:
    """The validators catch what they are here for (strict: unknown fields fail)."""
    deployment = of_kind(overlay("production"), "Deployment")["dialer-worker"]
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 120
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_manifest(deployment)
    scaled = of_kind(overlay("production"), "ScaledObject")["dialer-worker"]
    scaled["spec"]["triggers"][0]["metadata"]["queue"] = "dialer"
    with pytest.raises(jsonschema.ValidationError):
        validate_manifest(scaled)


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_process_kind_runs_with_resources_and_the_shared_settings(name: str) -> None:
    manifests = overlay(name)
    deployments = of_kind(manifests, "Deployment")
    assert {d.removeprefix("dialer-") for d in deployments} == KINDS
    commands = {container(d)["args"][0] for d in deployments.values()}
    assert commands == {"serve", "webhooks", "dispatcher", "worker", "beat"}
    job = of_kind(overlay(f"{name}/migrate"), "Job")["dialer-migrate"]
    for workload in [*deployments.values(), job]:
        spec = container(workload)
        for bound in ("requests", "limits"):
            assert set(spec["resources"][bound]) == {"cpu", "memory"}, workload["metadata"]
        assert spec["envFrom"] == [
            {"configMapRef": {"name": "dialer"}},
            {"secretRef": {"name": "dialer"}},
        ]
        assert workload["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


def test_secrets_are_in_the_secret_and_settings_in_the_config_map() -> None:
    secret_keys = {
        "DIALER_DATABASE_URL",
        "DIALER_REDIS_URL",
        "DIALER_BROKER_URL",
        "TWILIO_AUTH_TOKEN",
    }
    example = yaml.safe_load((K8S / "base" / "secret.example.yaml").read_text())
    validate_manifest(example)
    assert secret_keys <= set(example["stringData"])
    config = of_kind(overlay("production"), "ConfigMap")["dialer"]
    assert not secret_keys & set(config["data"])
    settings = Settings()
    for key in config["data"]:
        field = key.removeprefix("DIALER_").lower()
        assert field in Settings.model_fields or key.startswith("TWILIO_"), key
    assert config["data"]["DIALER_DEFAULT_QUEUE"] == settings.default_queue


def probe_target(probe: dict[str, Any]) -> tuple[str, str]:
    return probe["httpGet"]["path"], probe["httpGet"]["port"]


def test_listeners_are_probed_on_their_health_endpoints() -> None:
    deployments = of_kind(overlay("production"), "Deployment")
    api = container(deployments["dialer-api"])
    assert probe_target(api["livenessProbe"]) == ("/healthz", "http")
    assert probe_target(api["readinessProbe"]) == ("/readyz", "http")
    hooks = container(deployments["dialer-hooks"])
    assert probe_target(hooks["livenessProbe"]) == ("/healthz", "http")
    # Callbacks are answered while Redis is down: /readyz would take every listener away.
    assert probe_target(hooks["readinessProbe"]) == ("/healthz", "http")
    for spec in (api, hooks):
        assert {"name": "http", "containerPort": 8000} in spec["ports"]
        assert {"name": "DIALER_LISTEN", "value": "0.0.0.0:8000"} in spec["env"]


def test_dispatchers_and_workers_are_probed_on_their_metrics_exporter() -> None:
    deployments = of_kind(overlay("production"), "Deployment")
    for name in ("dialer-dispatcher", "dialer-worker"):
        spec = container(deployments[name])
        port = int(env_of(deployments[name])["DIALER_METRICS_PORT"])
        assert {"name": "metrics", "containerPort": port} in spec["ports"]
        assert probe_target(spec["livenessProbe"]) == ("/metrics", "metrics")
    beat = container(deployments["dialer-beat"])
    assert not {"livenessProbe", "readinessProbe", "startupProbe"} & set(beat)


def test_beat_runs_alone() -> None:
    manifests = overlay("production")
    beat = of_kind(manifests, "Deployment")["dialer-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    targets = [
        a["spec"]["scaleTargetRef"]["name"]
        for kind in ("HorizontalPodAutoscaler", "ScaledObject")
        for a in of_kind(manifests, kind).values()
    ]
    assert "dialer-beat" not in targets


def test_grace_periods_let_in_flight_work_finish() -> None:
    settings = Settings()
    tries = settings.job_retries + 1
    backoffs = sum(settings.job_retry_backoff_seconds * 2**i for i in range(settings.job_retries))
    longest_batch = tries * settings.provider_timeout_seconds + backoffs
    deployments = of_kind(overlay("production"), "Deployment")

    def grace(name: str) -> int:
        return int(deployments[name]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"])

    assert grace("dialer-worker") >= 2 * longest_batch
    assert grace("dialer-dispatcher") >= 30
    for listener in ("dialer-api", "dialer-hooks"):
        sleep = container(deployments[listener])["lifecycle"]["preStop"]["exec"]["command"]
        assert grace(listener) >= int(sleep[-1]) + 20


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_disruption_budgets_cover_every_scaled_kind() -> None:
    manifests = overlay("production")
    budgets = of_kind(manifests, "PodDisruptionBudget").values()
    for name, deployment in of_kind(manifests, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets if matches(b["spec"]["selector"]["matchLabels"], labels)]
        assert len(covering) == (0 if name == "dialer-beat" else 1), name


def metric_names() -> set[str]:
    return set(re.findall(r'"(dialer_[a-z_]+)"', (ROOT / "src/dialer/metrics.py").read_text()))


def test_autoscaling_follows_the_work() -> None:
    manifests = overlay("production")
    deployments = of_kind(manifests, "Deployment")
    hpas = of_kind(manifests, "HorizontalPodAutoscaler")
    for name in ("dialer-api", "dialer-hooks"):
        hpa = hpas[name]["spec"]
        assert hpa["scaleTargetRef"]["name"] in deployments
        assert hpa["metrics"][0]["resource"]["name"] == "cpu"
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 20)
    scaled = of_kind(manifests, "ScaledObject")
    assert set(scaled) == {"dialer-dispatcher", "dialer-worker"}
    known = metric_names()
    queue = of_kind(manifests, "ConfigMap")["dialer"]["data"]["DIALER_DEFAULT_QUEUE"]
    for name, scaler in scaled.items():
        spec = scaler["spec"]
        assert spec["scaleTargetRef"]["name"] == name
        assert name in deployments
        assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (3, 20)
        for trigger in spec["triggers"]:
            metadata = trigger["metadata"]
            if trigger["type"] == "prometheus":
                used = set(re.findall(r"dialer_[a-z_]+", metadata["query"]))
                assert used, metadata["query"]
                assert used <= known, used - known
            else:
                assert metadata["queueName"] == queue
                assert metadata["hostFromEnv"] == "DIALER_BROKER_URL"
    due = scaled["dialer-dispatcher"]["spec"]["triggers"][0]["metadata"]["query"]
    assert "dialer_due_leads" in due


@pytest.mark.parametrize("name", OVERLAYS)
def test_the_migration_uses_the_release_being_rolled_out(name: str) -> None:
    deployments = of_kind(overlay(name), "Deployment").values()
    job = of_kind(overlay(f"{name}/migrate"), "Job")["dialer-migrate"]
    images = {container(d)["image"] for d in deployments}
    assert images == {container(job)["image"]}
    assert {d["metadata"]["namespace"] for d in deployments} == {job["metadata"]["namespace"]}
    assert container(job)["args"] == ["migrate"]


def test_the_deploy_guide_names_only_files_that_exist() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    found = set(re.findall(r"(?<![\w/.])((?:deploy|tests/e2e/deploy)/[\w./-]*\w)", text))
    paths = {p for p in found if not p.startswith("deploy/dialer-")}  # kubectl's deploy/NAME
    assert paths
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing
