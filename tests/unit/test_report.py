"""The migration report and the plan picture rendered from plain data: what the state holds in, text out."""

from cli import plan
from components import report


def test_preflight_results_and_sealed_values_in_the_report():
    data = report.from_state(
        "x",
        {"deployment": {"resources": []}},
        {
            "preflight": [
                {
                    "check": "deployment_host",
                    "result": "warned",
                    "checks": "the deployment host",
                    "messages": ["no default gateway"],
                    "read": ["deploy: ip route show default"],
                },
                {"check": "nodes", "result": "passed", "checks": "two nodes", "messages": [], "read": []},
            ],
            "engineUrl": {report.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "sealed"},
        },
    )
    text = report.to_markdown(data)
    assert (
        "| deployment_host | warned | the deployment host | no default gateway | deploy: ip route show default |"
        in text
    )
    assert "| nodes | passed | two nodes | - | - |" in text
    assert "sealed" not in text and "not deployed" in text
    assert "not available" in report.to_markdown(report.from_state("x", {}, {}))


def test_the_plan_is_drawn_in_tiers_from_the_dependencies():
    def resource(name, kind, deps=(), **inputs):
        return {
            "urn": f"urn:pulumi:s::p::pulumi-python:dynamic/ovirt:{kind}::{name}",
            "type": f"pulumi-python:dynamic/ovirt:{kind}",
            "inputs": inputs,
            "dependencies": [f"urn:pulumi:s::p::pulumi-python:dynamic/ovirt:{k}::{n}" for n, k in deps],
        }

    storage = {"connection": {"name": "storage", "address": "192.0.2.20", "port": 22}, "path": "/exports/data"}
    graph = plan.plan_graph(
        [
            resource("export", "StorageExport", **storage),
            resource(
                "engine-backup",
                "EngineBackup",
                [("export", "StorageExport")],
                engine={"name": "engine"},
                backupServer={"name": "backup"},
            ),
            resource("hosted-engine", "HostedEngineDeployment", [("engine-backup", "EngineBackup")]),
            {"urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "type": "pulumi:pulumi:Stack"},
        ]
    )
    assert [(n["id"], n["tier"], n["hosts"]) for n in graph["nodes"]] == [
        ("export", 0, "storage"),
        ("engine-backup", 1, "engine -> backup"),
        ("hosted-engine", 2, "?"),
    ]
    assert graph["edges"] == [("export", "engine-backup"), ("engine-backup", "hosted-engine")]
    assert '"export" -> "engine-backup";' in plan.to_dot(graph)
    svg = plan.to_svg(graph, "Migration plan: site s")
    assert svg.startswith("<svg") and ">StorageExport (3.1)<" in svg and svg.count('marker-end="url(#arrow)"') == 2
