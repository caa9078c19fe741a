"""What ``init`` looks for (``data/init.yaml``), read once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from ..yamlio import YMap, load_documents


@dataclass(frozen=True, slots=True)
class InitData:
    service_folders: tuple[str, ...]
    skip_folders: frozenset[str]
    identity_labels: tuple[str, ...]
    components: dict[str, str]  # kind -> component name, in the order kinds are tried
    grpc_ports: frozenset[int]
    grpc_port_names: frozenset[str]
    grpc_files: tuple[str, ...]
    queue_variables: tuple[str, ...]
    infrastructure_images: tuple[str, ...]


@lru_cache(maxsize=1)
def init_data() -> InitData:
    name = "coverage_audit/data/init.yaml"
    text = resources.files("coverage_audit").joinpath("data/init.yaml").read_text(encoding="utf-8")
    data = load_documents(text, name)[0].value
    assert isinstance(data, YMap)
    hints = data["hints"]
    return InitData(
        service_folders=tuple(data["service_folders"]),
        skip_folders=frozenset(data["skip_folders"]),
        identity_labels=tuple(data["identity_labels"]),
        components=dict(data["components"]),
        grpc_ports=frozenset(int(p) for p in hints["grpc_ports"]),
        grpc_port_names=frozenset(hints["grpc_port_names"]),
        grpc_files=tuple(hints["grpc_files"]),
        queue_variables=tuple(hints["queue_variables"]),
        infrastructure_images=tuple(data["infrastructure_images"]),
    )
