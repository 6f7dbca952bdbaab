"""providers/progress.py: a line goes to the engine under the operation's resource, or to stderr without one;
a long Engine wait says what it waits for and since when."""

from providers import engine_api, progress


class Engine:
    def __init__(self):
        self.logged = []

    def Log(self, request):  # noqa: N802 (the gRPC method's name)
        self.logged.append((request.urn, request.message, request.ephemeral))


def test_a_line_goes_under_the_current_resource_and_elsewhere_to_stderr(monkeypatch, capsys):
    engine = Engine()
    monkeypatch.setattr(progress, "_engine", engine)
    progress.for_resource("urn:pulumi:s::p::t::hosted-engine")
    progress.say("deploy: [ INFO  ] Stage: Initializing")
    progress.for_resource("")
    progress.say("no resource")
    assert engine.logged == [("urn:pulumi:s::p::t::hosted-engine", "deploy: [ INFO  ] Stage: Initializing", False)]
    assert capsys.readouterr().err == "no resource\n"


def test_a_long_wait_says_what_it_waits_for(monkeypatch, capsys):
    monkeypatch.setattr(engine_api, "WAIT_NOTICE", 0.0)
    progress.for_resource("")
    answers = iter([False, False, True])
    assert engine_api.wait_for(lambda: next(answers), bool, "host1 to be up", timeout=5, interval=0)
    notices = capsys.readouterr().err.splitlines()
    assert len(notices) == 2 and all(n.startswith("waiting for host1 to be up since ") for n in notices), notices


def test_the_plugin_finds_the_engine_address_after_the_clis_flags():
    from providers.plugin import engine_address

    assert engine_address(["--logtostderr", "-v=9", "127.0.0.1:40123"]) == "127.0.0.1:40123"
    assert engine_address(["--logflow"]) is None
