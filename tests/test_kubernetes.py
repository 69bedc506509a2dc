"""The Kubernetes manifests (deploy/kubernetes): valid against the schemas of a current Kubernetes release, and the
invariants a cluster operator relies on (probes, limits, non-root, read-only root, pinned images, graceful stop)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from service.settings import Settings
from tests.helpers import REPO_ROOT

KUBERNETES = "1.37.0"
FOLDER = REPO_ROOT / "deploy" / "kubernetes"


def _documents() -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, document)
        for path in sorted(FOLDER.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
    ]


def _workloads() -> list[dict[str, Any]]:
    return [document for _, document in _documents() if document["kind"] == "Deployment"]


def test_every_manifest_is_valid_and_listed_in_the_kustomization() -> None:
    documents = _documents()
    assert {d["kind"] for _, d in documents} >= {
        "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy", "Secret",
    }  # fmt: skip
    for _, document in documents:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)  # raises on any schema error
    listed = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted({path.name for path, _ in documents})


def test_the_validation_is_strict() -> None:
    deployment = copy.deepcopy(_workloads()[0])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES, strict=True)


def test_every_container_is_probed_limited_non_root_read_only_and_pinned() -> None:
    images = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())["images"]
    assert all(image["newTag"] not in ("latest", "") for image in images)
    for workload in _workloads():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
        for container in pod["containers"]:
            name = container["name"]
            assert ":" in container["image"] and not container["image"].endswith(":latest"), name
            assert {"readinessProbe", "livenessProbe", "startupProbe"} <= container.keys(), name
            assert (
                {"cpu", "memory"}
                <= container["resources"]["requests"].keys()
                <= container["resources"]["limits"].keys()
            )
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
            assert security["capabilities"]["drop"] == ["ALL"]


def test_the_api_stops_gracefully_within_its_grace_period() -> None:
    api = next(w for w in _workloads() if w["metadata"]["name"] == "brainxai-api")
    pod = api["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {item["name"]: item for item in container["env"]}
    shutdown_s = float(env["BRAINXAI_SHUTDOWN_TIMEOUT_S"]["value"])
    assert shutdown_s == Settings.model_fields["shutdown_timeout_s"].default
    pre_stop_s = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop_s + shutdown_s
    assert env["BRAINXAI_API_KEYS"]["valueFrom"]["secretKeyRef"]["name"] == "brainxai-api-keys"
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0  # rollouts without downtime


def test_the_dicom_node_has_its_own_deployment_service_spool_and_outbox() -> None:
    node = next(w for w in _workloads() if w["metadata"]["name"] == "brainxai-dicom-node")
    [container] = node["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "service.dimse"] and node["spec"]["strategy"]["type"] == "Recreate"
    env = {item["name"]: item.get("value") for item in container["env"]}
    volumes = {volume["name"]: volume for volume in node["spec"]["template"]["spec"]["volumes"]}
    persistent = [
        mount["mountPath"] for mount in container["volumeMounts"] if "persistentVolumeClaim" in volumes[mount["name"]]
    ]
    for folder in ("BRAINXAI_DIMSE_OUTBOX", "BRAINXAI_DIMSE_SPOOL"):  # both on the persistent volume
        assert any(Path(env[folder] or "").is_relative_to(mount) for mount in persistent), folder
    services = {d["metadata"]["name"]: d for _, d in _documents() if d["kind"] == "Service"}
    assert services["brainxai-dicom-node"]["spec"]["ports"][0]["port"] == int(env["BRAINXAI_DIMSE_PORT"] or 0)


def test_the_analyze_job_splits_one_archive_into_resumable_shards() -> None:
    [job] = yaml.safe_load_all((FOLDER / "jobs" / "analyze-indexed-job.yaml").read_text())
    kubernetes_validate.validate(job, KUBERNETES, strict=True)
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
    pod = spec["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"][:2] == ["brainxai", "analyze"]
    args = container["args"]
    index = "$(JOB_COMPLETION_INDEX)"
    assert args[args.index("--shard") + 1] == f"{index}/{spec['completions']}"  # N shards for N indexes
    assert index in args[args.index("--out") + 1] and "--resume" in args  # a retried index resumes its own table
    env = {item["name"]: item for item in container["env"]}
    assert "job-completion-index" in env["JOB_COMPLETION_INDEX"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
    image = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())["images"][0]
    assert container["image"] == f"{image['newName']}:{image['newTag']}"  # the same release as the service


def _mib(quantity: str) -> float:
    return float(quantity.removesuffix("Mi")) if quantity.endswith("Mi") else float(quantity.removesuffix("Gi")) * 1024


def test_the_analyze_job_requests_the_measured_peak_with_a_quarter_of_headroom() -> None:
    """Sized from the committed analyze run (bench/analyze_run.py), like the API pod from the benchmark."""
    run = json.loads((REPO_ROOT / "docs" / "evaluation" / "analyze-run.json").read_text())["full_run"]
    job = yaml.safe_load((FOLDER / "jobs" / "analyze-indexed-job.yaml").read_text())
    [container] = job["spec"]["template"]["spec"]["containers"]
    request, limit = container["resources"]["requests"]["memory"], container["resources"]["limits"]["memory"]
    assert 1.25 * run["peak_rss_mib"] <= _mib(request) <= 1.5 * run["peak_rss_mib"] and _mib(limit) >= _mib(request)


def test_the_api_pod_requests_the_benchmarked_peak_with_a_quarter_of_headroom() -> None:
    """Sized from the report of the shipped model's benchmark, not from a number typed into the manifest."""
    peak_mib = json.loads((REPO_ROOT / "docs" / "BENCHMARKS.json").read_text())["service_peak_rss_mb"]
    api = next(w for w in _workloads() if w["metadata"]["name"] == "brainxai-api")
    [container] = api["spec"]["template"]["spec"]["containers"]
    resources = container["resources"]

    assert 1.25 * peak_mib <= _mib(resources["requests"]["memory"]) <= 1.5 * peak_mib
    assert _mib(resources["limits"]["memory"]) >= _mib(resources["requests"]["memory"])
