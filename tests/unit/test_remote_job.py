"""Long remote steps as transient units: what `systemctl show` says, how a unit ended, and the output read
in whole lines, so a resumed run adopts a killed run's step instead of starting it again."""

from providers.remote_job import Ended, Job, loaded, new_lines, running, unit_state


def test_systemctl_show_is_read_as_properties():
    show = "LoadState=loaded\nActiveState=active\nSubState=running\nResult=success\nExecMainStatus=0\n"
    unit = unit_state(show)
    assert unit == {
        "LoadState": "loaded",
        "ActiveState": "active",
        "SubState": "running",
        "Result": "success",
        "ExecMainStatus": "0",
    }
    assert loaded(unit) and running(unit)
    assert unit_state("Description=a=b\n") == {"Description": "a=b"}


def test_a_missing_unit_is_neither_loaded_nor_running_and_an_ended_one_is_loaded_only():
    assert not loaded(unit_state("LoadState=not-found\nSubState=dead\n"))
    ended = unit_state("LoadState=loaded\nActiveState=active\nSubState=exited\n")
    assert loaded(ended) and not running(ended)


def test_how_a_unit_ended_reads_as_an_exit_status_or_a_signal():
    assert Ended({"ActiveState": "active", "ExecMainStatus": "0"}).succeeded
    failed = Ended({"ActiveState": "failed", "Result": "exit-code", "ExecMainStatus": "3"}, ["a", "b", "c"])
    assert not failed.succeeded and failed.how == "exit status 3" and failed.last_lines(2) == "b\nc"
    assert Ended({"ActiveState": "failed", "Result": "signal", "ExecMainStatus": "9"}).how == "killed by signal 9"


def test_only_whole_lines_are_taken_while_the_unit_runs():
    assert new_lines("one\ntwo\nthr", finished=False) == ["one", "two"]
    assert new_lines("one\n\ntwo\nthr", finished=True) == ["one", "two", "thr"]
    assert new_lines("", finished=False) == []


def test_a_jobs_output_goes_to_its_own_log_unless_named():
    assert Job("ovirt-she-engine-backup").output_file == "/var/log/ovirt-she-migration/ovirt-she-engine-backup.log"
    assert Job("x", "/var/log/x.log").output_file == "/var/log/x.log"
