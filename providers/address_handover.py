"""AddressHandover: the FQDN's address freed for the new Engine VM before the deploy starts it.

The procedure keeps the Engine's FQDN, so the Engine VM takes the address that name resolves to, and on most
sites the original Engine machine still holds it: the backup only stopped `ovirt-engine`. With both up, the
deploy's last wait (the HA agent's liveliness check of http://FQDN/ovirt-engine/services/health) may reach the
old machine, whose Apache answers 503, and the deploy fails after 15 minutes inside the outage window.

`hostedEngine.addressHandover: power-off` shuts the original machine down once the backup is copied off and
verified, then waits until nothing answers at the address; `none` changes nothing and only checks that the
address is free. What happened is recorded beside the backup (`<backup>.handover`), so a later preview knows
why the original machine no longer answers. The way back starts with powering it on (its console or power
management: nothing here can), which deleting this resource asks for and then checks.
"""

from __future__ import annotations

import time

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider

from providers import base, host_facts, records
from providers.errors import StepError
from providers.ssh import ConnectionLost, HostKeyError, HostUnreachable
from providers.timing import timed

FREE_TIMEOUT = 300  # seconds for the address to stop answering once the machine shuts down
# The original machine cannot be asked: it does not answer, or another one answers at its SSH address (the Engine VM,
# once it has taken the address).
NOT_THERE = (HostUnreachable, HostKeyError)


def record_path(directory: str, file_name: str) -> str:
    """Where the handover is recorded: beside the backup on the backup server."""
    return records.beside_backup(directory, file_name, "handover")


def plan(mode: str | None, held_by_original: bool | None, answers: bool) -> list[str]:
    """The steps that free the address, from what was found (`held_by_original` None: the machine could not be
    asked): [] when it is free already. Raises ValueError with the problem when the stack's mode cannot free it."""
    if held_by_original:
        if mode != "power-off":
            raise ValueError(
                "the original Engine machine holds the address the Engine VM must take; set "
                "`hostedEngine.addressHandover: power-off`, or move that machine to another address first"
            )
        return ["power-off", "wait-free"]
    if answers and held_by_original is None:
        raise ValueError(
            "something answers at that address, but the original Engine machine cannot be asked over SSH whether it "
            "is the one; fix its SSH access (`hosts.<originalEngine>`), or free the address"
        )
    if answers:
        raise ValueError(
            "a machine other than the original Engine answers at that address; free it (or point the FQDN at a "
            "free address and the Engine VM's DHCP reservation or `hostedEngine.vm.staticCIDR` with it)"
        )
    return []


def power_off(connection) -> None:
    """`systemctl poweroff`; the session dropping under it is what was asked."""
    try:
        connection.run("systemctl", "poweroff")
    except ConnectionLost:
        pass


def _facts(props: dict) -> tuple[str, bool | None, bool]:
    """The FQDN's address as the deployment host resolves it, whether the original machine holds it (None when
    it does not answer: an earlier run may have powered it off), and whether anything answers there."""
    deploy = base.ssh_host(props, "deployHost")
    fqdn = props["fqdn"]
    address = host_facts.resolved_address(deploy.run("getent", "hosts", fqdn, check=False).stdout)
    if address is None:
        raise StepError(
            deploy.host.name,
            f"{fqdn} (`hostedEngine.fqdn`) does not resolve",
            "Nothing changed. Add its DNS record, then run `pulumi up` again.",
        )
    try:
        held = address in _held_by_original(props)
    except NOT_THERE:
        held = None
    return address, held, _answers(deploy, address)


def _held_by_original(props: dict) -> set[str]:
    listed = base.ssh_host(props, "engine").run(*host_facts.IPV4_ADDRESSES, check=False).stdout
    return {str(i.ip) for i in host_facts.ipv4_interfaces(listed)}


def _answers(deploy, address: str) -> bool:
    return deploy.run(*host_facts.PING, address, check=False).exit_status == 0


def _hand_over(props: dict) -> dict:
    """Recorded before the machine goes down, so a run killed in between still finds why it is off; a run after
    such a kill keeps that record and only waits for the address to be free."""
    address, held, answers = _facts(props)
    engine, server = props["engine"]["name"], base.ssh_host(props, "backupServer")
    earlier = records.read(server, props["record"])
    if held is None and earlier.get("originalEngine") == "powered-off" and earlier.get("address") == address:
        _wait_free(props, address)
        return {**props, **{k: earlier[k] for k in ("address", "originalEngine", "handedOverAt")}}
    try:
        steps = plan(props["mode"], held, answers)
    except ValueError as problem:
        raise StepError(engine, f"{props['fqdn']} resolves to {address}: {problem}", "Nothing changed.") from None
    outcome = {
        "address": address,
        "originalEngine": "powered-off" if steps else "untouched" if held is False else "unreachable",
        "handedOverAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write_record(server, props, outcome)
    if steps:
        power_off(base.ssh_host(props, "engine"))
        _wait_free(props, address)
    return {**props, **outcome}


def _write_record(server, props: dict, outcome: dict) -> None:
    records.write(server, props["record"], {"host": props["engine"]["name"], "fqdn": props["fqdn"], **outcome})


def _wait_free(props: dict, address: str) -> None:
    deploy = base.ssh_host(props, "deployHost")
    deadline = time.monotonic() + FREE_TIMEOUT
    while _answers(deploy, address):
        if time.monotonic() > deadline:
            raise StepError(
                props["engine"]["name"],
                f"still answers at {address} {FREE_TIMEOUT} s after `systemctl poweroff`",
                "Power it off from its console or power management, then run `pulumi up` again.",
            )
        time.sleep(props["pollInterval"])


class AddressHandoverProvider(ResourceProvider):
    @timed
    def create(self, props):
        return CreateResult(f"{props['fqdn']}#handover", _hand_over(props))

    def diff(self, _id, olds, news):
        """Done once: a machine powered off stays off, and another mode later changes nothing that happened."""
        return DiffResult(changes=False)

    def read(self, id_, props):
        """What happened stays as recorded: a powered-off machine is not asked again."""
        return ReadResult(id_, props)

    def delete(self, _id, props):
        """The way back: refused until the original machine answers again at the address it gave up, which the
        record then says."""
        if props.get("originalEngine") != "powered-off":  # nothing was done to it
            return
        try:
            held = props["address"] in _held_by_original(props)
        except NOT_THERE:
            held = False
        if not held:
            raise StepError(
                props["engine"]["name"],
                f"was powered off by the address handover and does not hold {props['address']} again",
                "Nothing changed. Power it on from its console or power management (with the new Engine VM shut "
                "down first, or the two share the address), then run `pulumi destroy` again.",
            )
        back = {
            "address": props["address"],
            "originalEngine": "powered-on-again",
            "handedOverAt": props["handedOverAt"],
        }
        _write_record(base.ssh_host(props, "backupServer"), props, back)


class AddressHandover(Resource, module="ovirt", name="AddressHandover"):
    """The FQDN's address free for the Engine VM; `originalEngine` is `powered-off`, `untouched` (it did not hold
    the address) or `unreachable` (it did not answer, so nothing was done to it)."""

    address: pulumi.Output[str]
    originalEngine: pulumi.Output[str]
    handedOverAt: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        engine: dict,
        deploy_host: dict,
        backup_server: dict,
        private_key,
        fqdn: str,
        mode: str | None,
        record: str,
        poll_interval: float,
        opts=None,
    ):
        inputs = {
            "engine": engine,
            "deployHost": deploy_host,
            "backupServer": backup_server,
            "privateKey": private_key,
            "fqdn": fqdn,
            "mode": mode,
            "record": record,
            "pollInterval": poll_interval,
        }
        outputs = ("address", "originalEngine", "handedOverAt")
        super().__init__(
            AddressHandoverProvider(), name, base.properties(inputs, outputs), base.options(opts, ["privateKey"])
        )
