"""The outage window measured from the providers' recorded steps, and drawn in the report: facts in, window out."""

from components import outage_window, report
from providers.timing import Steps, seconds_between


def at(second: float) -> str:
    return f"2026-12-07T10:00:{second:06.3f}Z"


def step(name: str, start: float, end: float) -> dict:
    return {"step": name, "startedAt": at(start), "finishedAt": at(end)}


BACKUP = [step("update", 0, 4), step("appliance-check", 4, 5), step("stop", 5, 6), step("backup", 6, 11)]
BACKUP += [step("copy", 11, 13)]
DEPLOY = [step("fetch", 14, 14.5), step("start", 14.5, 15), step("follow", 15, 40), step("engine-answers", 40, 41)]


def timelines(backup=BACKUP, deploy=DEPLOY):
    return [
        ("engine-backup", "EngineBackup", backup),
        ("address-handover", "AddressHandover", outage_window.handover_steps(at(13), at(14))),
        ("hosted-engine", "HostedEngineDeployment", deploy),
    ]


def test_the_window_opens_at_the_stop_and_closes_when_the_new_engine_answered():
    window = outage_window.measure(timelines())
    assert (window["openedAt"], window["closedAt"], window["seconds"]) == (at(5), at(41), 36.0)
    assert [s["step"] for s in window["steps"]] == [
        "stop", "backup", "copy", "handover", "fetch", "start", "follow", "engine-answers"
    ]  # fmt: skip
    assert [s["offset"] for s in window["steps"]][:4] == [0.0, 1.0, 6.0, 8.0]
    assert window["stepsSeconds"] == 36.0  # these steps follow one another with no gap
    assert all(s["what"] for s in window["steps"])


def test_no_window_until_both_ends_are_recorded():
    assert outage_window.measure(timelines(deploy=[])) is None  # the deploy has not finished
    assert outage_window.measure(timelines(backup=BACKUP[:2])) is None  # the Engine was not stopped
    assert outage_window.measure([]) is None


def test_a_deploy_finished_by_a_later_up_closes_the_window_where_it_really_closed():
    """The first `up` stopped and backed up the Engine and then failed; the second, an hour on, deployed."""
    later = [{**s, "startedAt": s["startedAt"].replace("10:", "11:", 1), "finishedAt": s["finishedAt"].replace(
        "10:", "11:", 1)} for s in DEPLOY]  # fmt: skip
    window = outage_window.measure(timelines(deploy=later))
    assert window["seconds"] == 3600 + 36 and window["seconds"] - window["stepsSeconds"] == 3600


def test_the_preview_names_each_step_inside_in_order():
    planned = outage_window.planned({"EngineBackup": "engine-backup", "HostedEngineDeployment": "hosted-engine"})
    assert planned[0].startswith("engine-backup: stop, ovirt-engine stopped")
    assert planned[-1] == "hosted-engine: engine-answers, the new Engine's API answered"
    assert not [p for p in planned if "handover" in p]  # no AddressHandover in this stack


def test_steps_record_each_step_in_order_with_its_times():
    ran = Steps()
    assert ran.run("stop", lambda: 7) == 7
    ran.run("backup", lambda: None)
    assert [s["step"] for s in ran.ran] == ["stop", "backup"]
    assert seconds_between(ran.ran[0]["startedAt"], ran.ran[1]["finishedAt"]) >= 0


def test_stamps_with_and_without_milliseconds_compare():
    assert seconds_between("2026-12-07T10:00:05Z", "2026-12-07T10:00:06.250Z") == 1.25
    assert seconds_between(None, "2026-12-07T10:00:06Z") is None


def data(window):
    return {"site": "lab", "steps": [], "preflight": [], "outageWindow": window}


def test_the_report_draws_the_window_in_text_and_in_svg():
    window = outage_window.measure(timelines())
    text, page = report.to_markdown(data(window)), report.to_html(data(window))
    assert "| Outage window | 36s, from 2026-12-07T10:00:05.000Z to 2026-12-07T10:00:41.000Z" in text
    bars = [line for line in text.splitlines() if "█" in line]
    assert len(bars) == 8 and bars[0].startswith("engine-backup stop ") and bars[6].count("█") > 30
    assert page.count("<rect") == 8 and "<svg" in page and "new Engine answered, 36s" in page
    assert "| 7 | hosted-engine | follow |" in text and "<td>+10s</td><td>25s</td>" in page


def test_the_report_says_when_the_window_was_not_measured():
    text = report.to_markdown(data(None))
    assert "| Outage window | not measured yet |" in text and "Not measured" in text
