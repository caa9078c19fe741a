"""What a repository already says about its services: Backstage catalog files, CODEOWNERS, its
layout, docker-compose files and Kubernetes manifests (DESIGN 3.6, ``init``).

Every fact keeps where it came from, and whether it is declared (a catalog file says so) or a
guess (a folder name, an address in an environment variable), so the written map can say which
lines a person must confirm. YAML that does not parse (templated Helm charts, say) is skipped and
counted; nothing here raises for bad content.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from ..loaders.codeowners import owners_of, parse_codeowners
from ..loaders.service_map import entity_ref
from ..model import CodeOwnersRule, InputError
from ..yamlio import YMap, YSeq, load_file, read_text
from .settings import init_data

MAX_FILES = 200_000  # a walk stops here and says so
MAX_YAML_BYTES = 2 * 1024 * 1024  # manifests and compose files are small; larger YAML is data
CODEOWNERS_PLACES = ("CODEOWNERS", ".github/CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "CronJob", "Job")
_COMPOSE_NAME = re.compile(r"^(?:docker-)?compose(?:[.-][\w.-]+)?\.ya?ml$")
# An address in a value: scheme://host..., or host:port.
_ADDRESS = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/\s]*@)?(?P<a>[A-Za-z0-9][A-Za-z0-9.-]*)"
    r"|(?<![\w.@/-])(?P<b>[A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*):\d{2,5}\b"
)


@dataclass(frozen=True, slots=True)
class Fact:
    """A value and where it came from; ``guess``: a person should confirm it."""

    value: str
    why: str
    guess: bool = True


@dataclass
class Candidate:
    """A service the repository suggests, with the evidence for each field."""

    name: str
    paths: list[str] = field(default_factory=list)
    paths_why: str = ""
    owner: Fact | None = None
    system: str | None = None
    selector: Fact | None = None
    kinds: dict[str, Fact] = field(default_factory=dict)  # kind -> why
    calls: dict[str, Fact] = field(default_factory=dict)  # service name -> why
    aliases: set[str] = field(default_factory=set)  # other names it answers to (DNS, labels)
    addresses: list[tuple[str, str]] = field(default_factory=list)  # (host, where) it connects to
    ports: list[tuple[str, int]] = field(default_factory=list)  # (port name, number)
    queue_hint: str = ""
    infrastructure: bool = False


@dataclass
class RepositoryScan:
    root: str
    candidates: dict[str, Candidate] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # files that could not be read, with why
    codeowners_file: str | None = None
    notes: list[str] = field(default_factory=list)
    _protos: list[str] = field(default_factory=list)
    _codeowners: tuple[CodeOwnersRule, ...] = ()
    _pod_labels: dict[str, dict[str, str]] = field(default_factory=dict)  # workload -> pod labels
    _k8s_services: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # Service -> its selector

    # ------------------------------------------------------------------ entry point

    def scan(self) -> "RepositoryScan":
        yaml_files = self._walk()
        self._layout()
        for path in yaml_files:
            self._read_yaml(path)
        self._resolve_calls()
        self._owners()
        self._kind_hints()
        for name in [n for n, c in self.candidates.items() if c.infrastructure]:
            del self.candidates[name]
        return self

    def _relative(self, path: str) -> str:
        return os.path.relpath(path, self.root).replace(os.sep, "/")

    def _walk(self) -> list[str]:
        data = init_data()
        found: list[str] = []
        count = 0
        for top, dirs, files in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in data.skip_folders and (not d.startswith(".") or d in (".github", ".gitlab")))
            for name in sorted(files):
                count += 1
                path = os.path.join(top, name)
                if name.endswith((".yaml", ".yml")) and _size(path) <= MAX_YAML_BYTES:
                    found.append(path)  # a broken link or a FIFO is refused when read, not here
                elif name.endswith(data.grpc_files):
                    self._protos.append(self._relative(path))
            if count > MAX_FILES:
                self.notes.append(f"stopped reading the repository after {MAX_FILES} files")
                break
        for place in CODEOWNERS_PLACES:
            path = os.path.join(self.root, place)
            if os.path.isfile(path):
                self.codeowners_file = place
                try:
                    self._codeowners = parse_codeowners(read_text(path), place)
                except InputError as exc:
                    self.skipped.append(str(exc.diagnostic))
                break
        return found

    # ------------------------------------------------------------------ sources

    def _candidate(self, name: str, paths: list[str] | None = None) -> Candidate:
        """The candidate of that name, or the one already holding these code paths, or a new one."""
        found = self.candidates.get(name) or next((c for c in self.candidates.values() if name in c.aliases), None)
        if found is None and paths:
            found = next((c for c in self.candidates.values() if c.paths == paths), None)
            if found is not None:
                found.aliases.add(name)
        if found is None:
            found = self.candidates[name] = Candidate(name)
        return found

    def _layout(self) -> None:
        for folder in init_data().service_folders:
            base = os.path.join(self.root, folder)
            if not os.path.isdir(base):
                continue
            for sub in sorted(os.listdir(base)):
                if os.path.isdir(os.path.join(base, sub)) and not sub.startswith(".") and _service_name(sub):
                    candidate = self._candidate(sub)
                    if not candidate.paths:
                        candidate.paths, candidate.paths_why = [f"{folder}/{sub}/**"], f"guess: the folder {folder}/{sub}/"

    def _read_yaml(self, path: str) -> None:
        relative = self._relative(path)
        try:
            documents = load_file(path)
        except InputError as exc:
            self.skipped.append(f"{relative}:{exc.diagnostic.line}: {exc.diagnostic.message}")
            return
        for document in documents:
            value = document.value
            if not isinstance(value, YMap):
                continue
            api, kind = value.get("apiVersion"), value.get("kind")
            if isinstance(api, str) and api.startswith("backstage.io/") and kind == "Component":
                self._backstage(value, relative)
            elif kind == "List" and isinstance(value.get("items"), YSeq):
                for item in value["items"]:
                    if isinstance(item, YMap):
                        self._kubernetes(item, relative)
            elif isinstance(api, str) and isinstance(kind, str):
                self._kubernetes(value, relative)
            elif _COMPOSE_NAME.match(os.path.basename(path)) and isinstance(value.get("services"), YMap):
                self._compose(value["services"], relative)

    def _backstage(self, entity: YMap, relative: str) -> None:
        metadata, spec = entity.get("metadata"), entity.get("spec")
        if not isinstance(metadata, YMap) or not isinstance(spec, YMap) or not isinstance(metadata.get("name"), str):
            return
        if spec.get("type") not in (None, "service", "website", "api"):
            return  # libraries and the like are not deployed services
        folder = os.path.dirname(relative)
        paths = [f"{folder}/**"] if folder else []
        candidate = self._candidate(metadata["name"], paths or None)
        where = f"{relative}:{entity.line}"
        if paths:
            candidate.paths, candidate.paths_why = paths, f"guess: the folder of {relative}"
        if isinstance(spec.get("owner"), str):
            candidate.owner = Fact(entity_ref(spec["owner"])[1], f"{where} spec.owner", guess=False)
        if isinstance(spec.get("system"), str):
            candidate.system = entity_ref(spec["system"])[1]
        annotations = metadata.get("annotations")
        if isinstance(annotations, YMap) and isinstance(annotations.get("coverage-audit/selector"), str):
            candidate.selector = Fact(annotations["coverage-audit/selector"], f"{where} coverage-audit/selector", guess=False)
        for ref in spec.get("dependsOn") or ():
            if isinstance(ref, str):
                kind, name = entity_ref(ref)
                if kind in (None, "component") and name:
                    candidate.calls.setdefault(name, Fact(name, f"{where} spec.dependsOn", guess=False))

    def _compose(self, services: YMap, relative: str) -> None:
        folder = os.path.dirname(relative)
        for name, body in services.items():
            if not isinstance(body, YMap):
                continue
            where = f"{relative}:{services.line_of(name)}"
            build = body.get("build")
            context = build.get("context") if isinstance(build, YMap) else build
            paths = None
            if isinstance(context, str):
                target = os.path.normpath(os.path.join(folder, context)).replace(os.sep, "/")
                if not target.startswith("..") and target != ".":
                    paths = [f"{target}/**"]
            image = body.get("image")
            if paths is None and isinstance(image, str) and _is_infrastructure(image):
                self._candidate(name).infrastructure = True
                continue
            candidate = self._candidate(name, paths)
            candidate.aliases.add(name)
            if paths and not candidate.paths_why.startswith("from"):
                candidate.paths, candidate.paths_why = paths, f"guess: the build context in {where}"
            for value in _environment(body.get("environment")):
                candidate.addresses += [(host, f"{where} environment") for host in _hosts(value)]
                if any(word in value.split("=", 1)[0].upper() for word in init_data().queue_variables):
                    candidate.queue_hint = f"{where} environment"
            depends = body.get("depends_on")
            for target in (depends.keys() if isinstance(depends, YMap) else depends if isinstance(depends, YSeq) else ()):
                if isinstance(target, str):
                    candidate.addresses.append((target, f"{where} depends_on"))
            for port in body.get("ports") or ():
                number = _port_number(port)
                if number:
                    candidate.ports.append(("", number))

    def _kubernetes(self, value: YMap, relative: str) -> None:
        kind = value.get("kind")
        metadata = value.get("metadata")
        if not isinstance(metadata, YMap) or not isinstance(metadata.get("name"), str):
            return
        name = metadata["name"]
        where = f"{relative}:{value.line}"
        found = value.get("spec")
        spec: dict[str, object] = found if isinstance(found, YMap) else {}
        if kind == "Service":
            selector = spec.get("selector")
            if isinstance(selector, YMap):
                self._k8s_services.append((name, {str(k): str(v) for k, v in selector.items()}))
            return
        if kind not in WORKLOADS:
            return
        template = _dig(spec, "jobTemplate", "spec", "template") if kind == "CronJob" else _dig(spec, "template")
        pod_labels = _dig(template, "metadata", "labels")
        labels = {str(k): str(v) for k, v in pod_labels.items()} if isinstance(pod_labels, YMap) else {}
        app = labels.get("app.kubernetes.io/name") or labels.get("app")
        candidate = self._candidate(name)
        if app and app != candidate.name and not _is_infrastructure(app):
            candidate.aliases.add(app)
        candidate.aliases.add(name)
        if any(_is_infrastructure(str(c.get("image", ""))) for c in _containers(template)) and not candidate.paths:
            candidate.infrastructure = True
            return
        self._pod_labels[candidate.name] = labels
        if kind in ("CronJob", "Job"):
            candidate.kinds.setdefault("batch_job", Fact("batch_job", f"guess: a Kubernetes {kind} ({where})"))
        for container in _containers(template):
            for env in container.get("env") or ():
                if isinstance(env, YMap) and isinstance(env.get("value"), str):
                    candidate.addresses += [(host, f"{where} env {env.get('name')}") for host in _hosts(env["value"])]
                    if any(word in str(env.get("name", "")).upper() for word in init_data().queue_variables):
                        candidate.queue_hint = f"{where} env"
            for port in container.get("ports") or ():
                if isinstance(port, YMap):
                    number = _port_number(port.get("containerPort"))
                    if number:
                        candidate.ports.append((str(port.get("name") or ""), number))

    # ------------------------------------------------------------------ resolving

    def _resolve_calls(self) -> None:
        """Kubernetes Service names become aliases of the workloads they select; then each
        address a candidate connects to names a call when its host is another candidate."""
        for name, selector in self._k8s_services:
            for workload, labels in self._pod_labels.items():
                if selector and all(labels.get(k) == v for k, v in selector.items()):
                    self.candidates[workload].aliases.add(name)
        by_alias: dict[str, str] = {}
        for candidate in self.candidates.values():
            for alias in {candidate.name, *candidate.aliases}:
                by_alias.setdefault(alias, candidate.name)
        for candidate in self.candidates.values():
            for host, where in candidate.addresses:
                target = by_alias.get(host) or by_alias.get(host.split(".", 1)[0])
                if target and target != candidate.name and not self.candidates[target].infrastructure:
                    candidate.calls.setdefault(target, Fact(target, f"guess: {where} names {host}"))

    def _owners(self) -> None:
        for candidate in self.candidates.values():
            if candidate.owner is not None or not self._codeowners or not candidate.paths:
                continue
            probe = candidate.paths[0].removesuffix("**").rstrip("/") + "/x"
            owners = owners_of(self._codeowners, probe)
            if owners:
                candidate.owner = Fact(_owner_name(owners[0]), f"guess: {self.codeowners_file} gives {probe.rsplit('/', 1)[0]}/ to {owners[0]}")

    def _kind_hints(self) -> None:
        data = init_data()
        for candidate in self.candidates.values():
            prefixes = [p.removesuffix("**") for p in candidate.paths]
            proto = next((p for p in self._protos if any(p.startswith(prefix) for prefix in prefixes)), None)
            grpc_port = next((f"{n or 'port'} {p}" for n, p in candidate.ports if n in data.grpc_port_names or p in data.grpc_ports), None)
            if proto or grpc_port:
                candidate.kinds.setdefault("grpc_api", Fact("grpc_api", f"guess: {proto or 'a gRPC port (' + str(grpc_port) + ')'}"))
            elif candidate.queue_hint and not candidate.ports and not candidate.kinds:
                candidate.kinds.setdefault("queue_consumer", Fact("queue_consumer", f"guess: a queue setting in {candidate.queue_hint}"))
            if not candidate.kinds:
                why = "it exposes a port" if candidate.ports else "nothing says otherwise"
                candidate.kinds["http_api"] = Fact("http_api", f"guess: {why}")


def _dig(value: object, *keys: str) -> object:
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _containers(template: object) -> list[YMap]:
    containers = _dig(template, "spec", "containers")
    return [c for c in containers if isinstance(c, YMap)] if isinstance(containers, YSeq) else []


def _environment(value: object) -> list[str]:
    """``KEY=value`` strings from a compose ``environment`` list or mapping."""
    if isinstance(value, YMap):
        return [f"{k}={v}" for k, v in value.items() if isinstance(v, str)]
    if isinstance(value, YSeq):
        return [item for item in value if isinstance(item, str)]
    return []


def _hosts(value: str) -> list[str]:
    text = value.split("=", 1)[1] if "=" in value and "://" not in value.split("=", 1)[0] else value
    return [(m.group("a") or m.group("b")).lower() for m in _ADDRESS.finditer(text)]


def _port_number(value: object) -> int | None:
    text = str(value).split("/", 1)[0].rsplit(":", 1)[-1] if value is not None else ""
    return int(text) if text.isdigit() and 0 < int(text) < 65536 else None


def _is_infrastructure(image: str) -> bool:
    base = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0].lower()
    return any(base == name or base.startswith(name + "-") for name in init_data().infrastructure_images)


def _owner_name(owner: str) -> str:
    """``@shop/team-checkout`` -> ``team-checkout``; ``@alice`` -> ``alice``; an email -> its user."""
    return owner.lstrip("@").rsplit("/", 1)[-1].split("@", 1)[0]


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _service_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:  # a broken link, or gone since the walk: its read reports it
        return 0
