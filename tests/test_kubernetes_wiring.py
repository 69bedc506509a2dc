"""The Kubernetes manifests are wired to each other, not only valid one by one: every selector selects pods that a
workload makes, every port a Service, probe or NetworkPolicy names is a container's, every Secret, ConfigMap and
volume claim referenced exists. Each rule is also shown to catch its breakage, made on purpose on a copy."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.helpers import REPO_ROOT

FOLDER = REPO_ROOT / "deploy" / "kubernetes"
Manifests = list[dict[str, Any]]


def manifests() -> Manifests:
    """Every object of the folder's manifests (the kustomization aside)."""
    return [
        document
        for path in sorted(FOLDER.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def _of_kind(objects: Manifests, *kinds: str) -> Iterator[dict[str, Any]]:
    return (item for item in objects if item["kind"] in kinds)


def _pod_labels(objects: Manifests) -> list[dict[str, str]]:
    return [w["spec"]["template"]["metadata"].get("labels", {}) for w in _of_kind(objects, "Deployment", "StatefulSet")]


def _containers(objects: Manifests) -> list[dict[str, Any]]:
    return [
        container
        for workload in _of_kind(objects, "Deployment", "StatefulSet")
        for container in workload["spec"]["template"]["spec"]["containers"]
    ]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", selector)
    return all(labels.get(key) == value for key, value in wanted.items())


def unmatched_selectors(objects: Manifests) -> list[str]:
    """Selectors (Service, PodDisruptionBudget, NetworkPolicy) that select no workload's pods (an empty
    NetworkPolicy selector, all pods, is fine), and HPA targets that name no workload."""
    pods = _pod_labels(objects)
    wrong = []
    for item in _of_kind(objects, "Service", "PodDisruptionBudget", "NetworkPolicy"):
        key = "podSelector" if item["kind"] == "NetworkPolicy" else "selector"
        selector = item["spec"].get(key) or {}
        if selector and not any(_selects(selector, labels) for labels in pods):
            wrong.append(f"{item['kind']} {item['metadata']['name']}")
    workloads = {(w["kind"], w["metadata"]["name"]) for w in _of_kind(objects, "Deployment", "StatefulSet")}
    for hpa in _of_kind(objects, "HorizontalPodAutoscaler"):
        target = hpa["spec"]["scaleTargetRef"]
        if (target["kind"], target["name"]) not in workloads:
            wrong.append(f"HorizontalPodAutoscaler {hpa['metadata']['name']}")
    return wrong


def _declared_ports(containers: list[dict[str, Any]]) -> tuple[set[str], set[int]]:
    ports = [port for container in containers for port in container.get("ports", [])]
    return {p["name"] for p in ports if "name" in p}, {int(p["containerPort"]) for p in ports}


def _names_a_port(port: Any, names: set[str], numbers: set[int]) -> bool:
    return port in names if isinstance(port, str) else int(port) in numbers


def unmatched_ports(objects: Manifests) -> list[str]:
    """Service ``targetPort``s, probe ports and NetworkPolicy ingress ports that no container of the pods they
    concern declares."""
    wrong = []
    for service in _of_kind(objects, "Service"):
        names, numbers = _declared_ports(
            [
                container
                for workload in _of_kind(objects, "Deployment", "StatefulSet")
                if _selects(service["spec"]["selector"], workload["spec"]["template"]["metadata"]["labels"])
                for container in workload["spec"]["template"]["spec"]["containers"]
            ]
        )
        for port in service["spec"]["ports"]:
            if not _names_a_port(port.get("targetPort", port["port"]), names, numbers):
                wrong.append(f"Service {service['metadata']['name']} targetPort {port.get('targetPort')}")
    for container in _containers(objects):
        names, numbers = _declared_ports([container])
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            action = container.get(probe, {}).get("httpGet") or container.get(probe, {}).get("tcpSocket")
            if action and not _names_a_port(action["port"], names, numbers):
                wrong.append(f"{container['name']} {probe} port {action['port']}")
    for policy in _of_kind(objects, "NetworkPolicy"):
        selector = policy["spec"].get("podSelector") or {}
        chosen = [
            container
            for workload in _of_kind(objects, "Deployment", "StatefulSet")
            if selector and _selects(selector, workload["spec"]["template"]["metadata"]["labels"])
            for container in workload["spec"]["template"]["spec"]["containers"]
        ]
        names, numbers = _declared_ports(chosen)
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                if chosen and not _names_a_port(port["port"], names, numbers):
                    wrong.append(f"NetworkPolicy {policy['metadata']['name']} ingress port {port['port']}")
    return wrong


def missing_references(objects: Manifests) -> list[str]:
    """Secrets, ConfigMaps and PersistentVolumeClaims that a workload references and no manifest defines (an
    ``optional`` reference may be missing)."""
    defined = {(item["kind"], item["metadata"]["name"]) for item in objects}
    wrong = []
    for workload in _of_kind(objects, "Deployment", "StatefulSet"):
        pod = workload["spec"]["template"]["spec"]
        wanted: list[tuple[str, str, bool]] = []
        for container in pod["containers"]:
            for source in container.get("envFrom", []):
                for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    if key in source:
                        wanted.append((kind, source[key]["name"], source[key].get("optional", False)))
            for variable in container.get("env", []):
                for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    ref = variable.get("valueFrom", {}).get(key)
                    if ref:
                        wanted.append((kind, ref["name"], ref.get("optional", False)))
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                wanted.append(("Secret", volume["secret"]["secretName"], volume["secret"].get("optional", False)))
            if "configMap" in volume:
                wanted.append(("ConfigMap", volume["configMap"]["name"], volume["configMap"].get("optional", False)))
            if "persistentVolumeClaim" in volume:
                wanted.append(("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"], False))
        wrong += [f"{kind} {name}" for kind, name, optional in wanted if (kind, name) not in defined and not optional]
    return wrong


CHECKS: list[Callable[[Manifests], list[str]]] = [unmatched_selectors, unmatched_ports, missing_references]


def test_the_manifests_are_wired_to_each_other() -> None:
    objects = manifests()
    assert _pod_labels(objects) and _containers(objects)
    for check in CHECKS:
        assert check(objects) == [], check.__name__


def _find(objects: Manifests, kind: str, name: str) -> dict[str, Any]:
    return next(item for item in objects if item["kind"] == kind and item["metadata"]["name"] == name)


def _break_service_selector(objects: Manifests) -> None:
    _find(objects, "Service", "brainxai-api")["spec"]["selector"] = {"app.kubernetes.io/name": "brainxai-apis"}


def _break_policy_port(objects: Manifests) -> None:
    _find(objects, "NetworkPolicy", "brainxai-api")["spec"]["ingress"][0]["ports"][0]["port"] = 8080


def _break_target_port(objects: Manifests) -> None:
    _find(objects, "Service", "brainxai-api")["spec"]["ports"][0]["targetPort"] = "https"


def _break_hpa_target(objects: Manifests) -> None:
    _find(objects, "HorizontalPodAutoscaler", "brainxai-api")["spec"]["scaleTargetRef"]["name"] = "brainxai"


def _break_secret(objects: Manifests) -> None:
    objects[:] = [item for item in objects if item["kind"] != "Secret"]


@pytest.mark.parametrize(
    ("breakage", "check"),
    [
        (_break_service_selector, unmatched_selectors),
        (_break_hpa_target, unmatched_selectors),
        (_break_policy_port, unmatched_ports),
        (_break_target_port, unmatched_ports),
        (_break_secret, missing_references),
    ],
)
def test_each_breakage_made_on_purpose_is_caught(
    breakage: Callable[[Manifests], None], check: Callable[[Manifests], list[str]]
) -> None:
    objects = copy.deepcopy(manifests())
    assert check(objects) == []
    breakage(objects)
    assert check(objects) != []
