"""Render a kustomization without kustomize, for the subset deploy/k8s uses: resources (files
and directories), namespace, labels (metadata only), images, replicas and JSON 6902 patches
(replace and add). Any other key is refused, so that an overlay never relies on a feature the
offline validation would silently skip."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

SUPPORTED = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "patches",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}


class Unsupported(Exception):
    """The kustomization uses something this renderer does not implement."""


def render(directory: Path) -> list[Manifest]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unknown = set(spec) - SUPPORTED
    if unknown:
        raise Unsupported(f"{directory}: unsupported kustomization keys {sorted(unknown)}")
    manifests: list[Manifest] = []
    for entry in spec.get("resources", []):
        manifests.extend(_load(directory / entry))
    for label_set in spec.get("labels", []):
        _label(manifests, label_set)
    if "namespace" in spec:
        _namespace(manifests, spec["namespace"])
    for image in spec.get("images", []):
        _image(manifests, image)
    for replica in spec.get("replicas", []):
        _replicas(manifests, replica)
    for patch in spec.get("patches", []):
        _patch(manifests, patch)
    return manifests


def _load(path: Path) -> list[Manifest]:
    if path.is_dir():
        return render(path)
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _label(manifests: list[Manifest], label_set: dict[str, Any]) -> None:
    if set(label_set) - {"pairs"}:
        raise Unsupported(f"labels: only pairs (metadata labels) are rendered: {label_set}")
    for manifest in manifests:
        manifest["metadata"].setdefault("labels", {}).update(label_set["pairs"])


def _namespace(manifests: list[Manifest], namespace: str) -> None:
    for manifest in manifests:
        if manifest["kind"] not in CLUSTER_SCOPED:
            manifest["metadata"]["namespace"] = namespace


def _image(manifests: list[Manifest], image: dict[str, str]) -> None:
    reference = image.get("newName", image["name"])
    if "digest" in image:
        reference += "@" + image["digest"]
    elif "newTag" in image:
        reference += ":" + image["newTag"]
    for container in _containers(manifests):
        if container["image"].split(":")[0].split("@")[0] == image["name"]:
            container["image"] = reference


def _containers(manifests: list[Manifest]) -> list[dict[str, Any]]:
    pods = [m["spec"]["template"]["spec"] for m in manifests if "template" in m.get("spec", {})]
    return [c for pod in pods for c in pod.get("containers", []) + pod.get("initContainers", [])]


def _replicas(manifests: list[Manifest], replica: dict[str, Any]) -> None:
    matches = [
        m
        for m in manifests
        if m["metadata"]["name"] == replica["name"] and m["kind"] in ("Deployment", "StatefulSet")
    ]
    if not matches:
        raise Unsupported(f"replicas: no workload named {replica['name']}")
    for manifest in matches:
        manifest["spec"]["replicas"] = replica["count"]


def _patch(manifests: list[Manifest], patch: dict[str, Any]) -> None:
    target = patch["target"]
    matches = [
        m
        for m in manifests
        if m["kind"] == target["kind"] and m["metadata"]["name"] == target["name"]
    ]
    if not matches:
        raise Unsupported(f"patch target not found: {target}")
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise Unsupported(f"only JSON 6902 patches (a list of operations): {target}")
    for manifest in matches:
        for operation in operations:
            _apply(manifest, operation)


def _apply(manifest: Manifest, operation: dict[str, Any]) -> None:
    if operation["op"] not in ("replace", "add"):
        raise Unsupported(f"patch op {operation['op']!r}")
    *parents, last = operation["path"].lstrip("/").split("/")
    node: Any = manifest
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    value = copy.deepcopy(operation["value"])
    if isinstance(node, list):
        if operation["op"] == "add":
            node.insert(len(node) if last == "-" else int(last), value)
        else:
            node[int(last)] = value
    elif operation["op"] == "replace" and last not in node:
        raise Unsupported(f"replace of a missing path {operation['path']}")
    else:
        node[last] = value
