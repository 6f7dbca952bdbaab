"""Generates a lab site of H existing hypervisors and E storage exports, its Engine model, and the
stack settings that migrate it (or only prepare it)."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

from lab.site import DEFAULT_SITE

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "lab" / "engine_api" / "default_model.yaml"
LAB_STACK = REPO / "stacks" / "Pulumi.lab.yaml"
PROJECT = "ovirt-she-migration"
OVERRIDE = {
    "devices": [{"vendor": "LIO-ORG", "product": ".*", "path_grouping_policy": "group_by_prio", "path_checker": "tur"}]
}


def hypervisors(count: int) -> list[str]:
    return [f"host{i}" for i in range(1, count + 1)]


def exports(count: int) -> list[dict]:
    """The first on the default storage server (the hosted-engine domain), each other one on a server of its own."""
    found = [{"host": "storage", "path": "/exports/hosted_engine"}]
    found += [{"host": f"storage{i}", "path": "/exports/data"} for i in range(2, count + 1)]
    return found[:count]


def write_site(directory: Path, hosts: int, export_count: int, nodes: int, ovirt: dict) -> Path:
    """A copy of the default site with `hosts` hypervisors, one storage server per export, and `ovirt` settings."""
    directory.mkdir(parents=True, exist_ok=True)
    data = yaml.safe_load(DEFAULT_SITE.read_text())
    by_name = {h["name"]: h for h in data["hosts"]}
    result = [by_name[n] for n in ("engine", "storage", "deploy", "backup")]
    for index, export in enumerate(exports(export_count)[1:], 2):
        server = copy.deepcopy(by_name["storage"])
        server.update(name=export["host"], fqdn=f"{export['host']}.lab.example", address=f"203.0.113.{index}")
        server["directories"] = [{"path": "/exports", "mode": 0o755}, {"path": "/exports/data", "mode": 0o755}]
        server["files"] = [
            {"path": "/etc/exports", "mode": 0o644, "content": "/exports/data          *(rw,sync,no_subtree_check)\n"}
        ]
        result.append(server)
    for index, name in enumerate(hypervisors(hosts), 1):
        host = copy.deepcopy(by_name["host1"])
        host.update(name=name, fqdn=f"{name}.lab.example", address=f"198.51.100.{index}")
        result.append(host)
    for port, host in enumerate(result, 40000):
        host["ssh_port"] = port  # unique in the file; the lab runs with --random-ports
    data["hosts"] = result
    model = yaml.safe_load(MODEL.read_text())
    template = model["hosts"][0]
    model["hosts"] = [{**template, "name": name, "address": f"{name}.lab.example"} for name in hypervisors(hosts)]
    # Each converted node runs a VM that must migrate away (when another host can take it).
    model["vms"] = [
        {
            "name": f"vm{i}",
            "host": f"host{i}",
            "status": "up",
            "memory_mb": 4096,
            "placement": "migratable",
            "origin": "ovirt",
        }
        for i in range(1, nodes + 1)
        if hosts > 1
    ]
    disk = model["disks"][0]  # each VM with a disk on the data domain, as the default model has them
    model["disks"] = [{**disk, "name": f"{vm['name']}_Disk1", "vm": vm["name"]} for vm in model["vms"]]
    (directory / "model.yaml").write_text(yaml.safe_dump(model, sort_keys=False))
    data["ovirt"] = {"engine_model": "model.yaml", **ovirt}
    path = directory / "site.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def critical_path(
    nodes: int, hosts: int, prep_delay: float, deploy_seconds: float, delays: dict, prepare: int = 1, parallel: int = 1
) -> float:
    """The lab's own durations along the longest chain: the preparation steps (side by side, `parallel`
    at a time; by default all at once), the backup (no lab delay), the deployment, then each node:
    its VM migrates away (or plain maintenance), host-deploy, then initializing after activation."""
    return -(-prepare // parallel) * prep_delay + deploy_seconds + nodes * per_node(hosts, delays)


def per_node(hosts: int, delays: dict) -> float:
    """One node's share of the lab's durations: its VM migrates away (or plain maintenance), the install starts in
    the Engine's thread pool and runs host-deploy, then initializing after activation."""
    to_maintenance = delays["migration"] if hosts > 1 else delays["maintenance"]
    return to_maintenance + delays.get("install_start", 0.0) + delays["install"] + delays["initializing"]


def lab_stack_settings(stack_file: Path = LAB_STACK) -> dict:
    config = yaml.safe_load(stack_file.read_text())["config"]
    prefix = f"{PROJECT}:"
    return {k[len(prefix) :]: v for k, v in config.items() if not (isinstance(v, dict) and "secure" in v)}


def stack_settings(
    lab_info: dict,
    known_hosts: Path,
    hosts: int,
    export_count: int,
    nodes: int,
    ports: dict,
    full: bool,
    stack_file: Path = LAB_STACK,
) -> dict:
    """The migration's settings for this lab (from `stack_file`'s, the lab stack of the code that runs them);
    without `full`, only storage and multipath preparation."""
    settings = {
        "ssh": {"user": "root", "knownHostsFile": str(known_hosts)},
        "hosts": {name: {"address": "127.0.0.1", "port": h["port"]} for name, h in lab_info["hosts"].items()},
        "multipathOverrides": [
            {"host": name, "file": "90-bench-san.conf", "settings": OVERRIDE} for name in hypervisors(hosts)
        ],
        "storageExports": [{**e, "clients": "*", "options": "rw,sync,no_subtree_check"} for e in exports(export_count)],
    }
    if not full:
        return settings
    full_settings = {**lab_stack_settings(stack_file), **settings}
    full_settings["hostedEngine"]["engineVm"] = {"address": "127.0.0.1", "port": ports["engine_vm_ssh_port"]}
    full_settings["engineApi"] = {
        "url": f"https://127.0.0.1:{ports['engine_api_new_port']}/ovirt-engine/api",
        "caFile": lab_info["engine_api"]["ca_file"],
    }
    full_settings["originalEngineApi"] = {
        "url": lab_info["engine_api"]["url"],
        "caFile": lab_info["engine_api"]["ca_file"],
    }
    full_settings["hostedEngineNodes"] = hypervisors(hosts)[:nodes]
    full_settings["haDrill"] = {"enabled": False}  # the critical path below has no drill in it
    full_settings["nodeTimeouts"] = {
        "maintenance": 120,
        "install": 120,
        "poll": 0.1,
    }  # the lab runs ~20x faster than a site
    return full_settings
