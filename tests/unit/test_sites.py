"""`./run sites`: what a site's failed preview said, read into its problems, and the readiness table."""

from cli.sites import Readiness, _last_line, _problems, site_stacks, table


def test_a_config_error_is_read_as_one_problem_per_item_with_its_continuation_lines():
    message = (
        "error: the stack configuration has problems:\n  - `hosts.host9` is not a host\n"
        "  - `backup.fileName` is '../x': give a plain file name\n    (no `/`)\n"
    )
    assert _problems(message) == [
        "`hosts.host9` is not a host",
        "`backup.fileName` is '../x': give a plain file name (no `/`)",
    ]
    assert _problems("error: something else broke") == ["something else broke"]


def test_the_last_error_line_of_a_failed_command_is_what_is_shown():
    said = Exception("\n code: 255\n stdout: Previewing update (x)\n stderr: \nerror: no stack named 'x' found\n")
    assert _last_line(said) == "error: no stack named 'x' found"
    assert _last_line(Exception("")) == "unknown error"


def test_the_table_has_a_row_per_site_and_then_every_problem_named_by_its_site():
    rows = [Readiness("site-a", to_create=11), Readiness("site-b", errors=["`hosts` is empty"], warnings=["slow"])]
    text = table(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["SITE", "READY", "ERRORS", "WARNINGS", "TO", "CREATE"]
    assert lines[1].split() == ["site-a", "yes", "0", "0", "11"] and lines[2].split() == ["site-b", "NO", "1", "1", "-"]
    assert "site-b: error: `hosts` is empty" in lines and "site-b: warning: slow" in lines


def test_every_stack_file_is_a_site_but_the_example(tmp_path):
    (tmp_path / "stacks").mkdir()
    for name in ("example", "site-b", "lab", "site-a"):
        (tmp_path / "stacks" / f"Pulumi.{name}.yaml").write_text("config: {}\n")
    assert site_stacks(tmp_path) == ["lab", "site-a", "site-b"]
