"""A small POSIX shell: quoting, lists, pipes, redirections and globbing.

Only what the migration needs is implemented; every other construct raises
Unsupported so a command line never silently does something different from
what a real shell would do.
"""

import getopt
import re
import time
from dataclasses import dataclass, field

from lab.transport.vfs import FsError, normpath

HOME = "/root"
_OPERATORS = ["&&", "||", ">>", ">&", "<&", "<<", "&>", ";;", "|", ";", "&", "<", ">", "(", ")"]
_UNSUPPORTED_OPS = {"<&", "<<", "&>", ";;", "&", "(", ")"}
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")


class Unsupported(Exception):
    """The command line uses something the lab does not implement (exit 127)."""


class SyntaxErr(Exception):
    """The command line is not valid shell syntax (bash exits 2)."""


@dataclass
class Word:
    """A shell word; parts are (text, quoted) so globbing sees only unquoted chars."""

    parts: list = field(default_factory=list)

    @property
    def text(self):
        return "".join(t for t, _ in self.parts)

    @property
    def unquoted(self):
        return "".join(t for t, q in self.parts if not q)

    def has_glob(self):
        return any(c in self.unquoted for c in "*?[")

    def pattern(self):
        """fnmatch pattern in which quoted characters match only themselves."""
        return "".join(re.sub(r"([*?\[])", r"[\1]", t) if q else t for t, q in self.parts)


@dataclass
class Op:
    op: str


@dataclass
class Redirect:
    fd: int
    op: str  # '>', '>>', '<', '>&'
    target: str


@dataclass
class Command:
    words: list = field(default_factory=list)
    redirects: list = field(default_factory=list)


def tokenize(line):
    """Split a command line into Words, Ops and (fd, op) redirection markers."""
    tokens, word, i, n = [], None, 0, len(line)

    def flush():
        nonlocal word
        if word is not None:
            tokens.append(word)
        word = None

    def add(text, quoted):
        nonlocal word
        if word is None:
            word = Word()
        word.parts.append((text, quoted))

    while i < n:
        c = line[i]
        if c in " \t":
            flush()
            i += 1
        elif c == "\n":
            flush()
            tokens.append(Op(";"))
            i += 1
        elif c == "#" and word is None:
            break
        elif c == "'":
            end = line.find("'", i + 1)
            if end < 0:
                raise SyntaxErr("unexpected EOF while looking for matching `''")
            add(line[i + 1 : end], True)
            i = end + 1
        elif c == '"':
            i = _double_quoted(line, i + 1, add)
        elif c == "\\":
            if i + 1 < n and line[i + 1] != "\n":
                add(line[i + 1], True)
            i += 2
        elif c == "`":
            raise Unsupported("unsupported shell construct: `")
        elif c == "$" and i + 1 < n and (line[i + 1].isalnum() or line[i + 1] in "_({@*#?$!-"):
            raise Unsupported(f"unsupported shell construct: ${line[i + 1]}")
        elif c == "~" and word is None and (i + 1 == n or line[i + 1] in "/ \t;|&<>"):
            add(HOME, True)
            i += 1
        elif c in "|&;<>()":
            op = next(o for o in _OPERATORS if line.startswith(o, i))
            if op in _UNSUPPORTED_OPS:
                raise Unsupported(f"unsupported shell construct: {op}")
            if op[0] in "<>":
                fd = 0 if op == "<" else 1
                if word is not None and word.text.isdigit() and word.unquoted == word.text:
                    fd, word = int(word.text), None
                flush()
                tokens.append((fd, op))
            else:
                flush()
                tokens.append(Op(op))
            i += len(op)
        else:
            add(c, False)
            i += 1
    flush()
    return tokens


def _double_quoted(line, i, add):
    """Consume a "..." string starting after the quote; return the next index."""
    buf = []
    while i < len(line):
        c = line[i]
        if c == '"':
            add("".join(buf), True)
            return i + 1
        if c == "\\" and i + 1 < len(line) and line[i + 1] in '$`"\\\n':
            if line[i + 1] != "\n":
                buf.append(line[i + 1])
            i += 2
            continue
        if c == "`" or (c == "$" and i + 1 < len(line) and line[i + 1] != '"'):
            raise Unsupported(f"unsupported shell construct: {line[i : i + 2]}")
        buf.append(c)
        i += 1
    raise SyntaxErr("unexpected EOF while looking for matching `\"'")


@dataclass
class Pipeline:
    """Commands joined by |; a leading ! inverts the exit status."""

    connector: str  # None, ';', '&&' or '||': how it joins the previous pipeline
    commands: list = field(default_factory=list)
    negate: bool = False


def parse(line):
    """Parse a command line into a list of Pipelines."""
    tokens = tokenize(line)
    items, pipeline, cmd = [], Pipeline(None), Command()
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if isinstance(tok, Word):
            if (
                tok.parts == [("!", False)]
                and not cmd.words
                and not cmd.redirects
                and not pipeline.commands
                and not pipeline.negate
            ):
                pipeline.negate = True
            elif not cmd.words and _ASSIGNMENT.match(tok.unquoted):
                raise Unsupported(f"unsupported shell construct: variable assignment {tok.text}")
            elif "{" in tok.unquoted and "}" in tok.unquoted:
                raise Unsupported("unsupported shell construct: brace expansion")
            else:
                cmd.words.append(tok)
        elif isinstance(tok, tuple):
            fd, op = tok
            target = tokens[i + 1] if i + 1 < len(tokens) else None
            if not isinstance(target, Word):
                raise SyntaxErr("syntax error near unexpected token `newline'")
            cmd.redirects.append(Redirect(fd, op, target.text))
            i += 1
        else:
            if not cmd.words and not cmd.redirects:
                raise SyntaxErr(f"syntax error near unexpected token `{tok.op}'")
            pipeline.commands.append(cmd)
            cmd = Command()
            if tok.op != "|":
                items.append(pipeline)
                pipeline = Pipeline(tok.op)
        i += 1
    if cmd.words or cmd.redirects:
        pipeline.commands.append(cmd)
    elif pipeline.commands or pipeline.negate or pipeline.connector in ("&&", "||"):
        raise SyntaxErr("syntax error: unexpected end of file")
    if pipeline.commands:
        items.append(pipeline)
    return items


class Input:
    """Standard input that is read at most once, and only when a command wants it."""

    def __init__(self, source=b""):
        self._source = source
        self._done = False

    def read(self):
        if self._done:
            return b""
        self._done = True
        return self._source() if callable(self._source) else self._source


class _Sink:
    """Where an fd's output ends up: a buffer, a file, or nowhere."""

    def __init__(self, buffer=None, path=None):
        self.buffer, self.path = buffer, path


class Shell:
    """Runs command lines against one host; commands come from lab.commands."""

    def __init__(self, host, registry, live_out=None, env=None, pid=None, unit=None):
        self.host = host
        self.registry = registry
        self.cwd = HOME
        self.live_out = live_out  # callable(bytes): write to the client while the line runs
        self.env = dict(env or {})  # the process environment (no $VAR expansion: commands read it)
        self.pid, self.unit = pid, unit  # the process, and the transient unit it runs in
        self._top_out = None

    def _write_live(self, data):
        """Send what the line has printed so far, then `data`, straight to the client."""
        if self._top_out:
            self.live_out(bytes(self._top_out))
            self._top_out.clear()
        if data:
            self.live_out(data)

    def run(self, line, stdin):
        """Run a full command line; returns (stdout, stderr, status)."""
        out, err = bytearray(), bytearray()
        self._top_out = out
        try:
            items = parse(line)
        except Unsupported as exc:
            return b"", f"lab: {exc}\n".encode(), 127
        except SyntaxErr as exc:
            return b"", f"bash: -c: {exc}\n".encode(), 2
        status = 0
        for pipeline in items:
            if (pipeline.connector == "&&" and status != 0) or (pipeline.connector == "||" and status == 0):
                continue
            status = self._pipeline(pipeline.commands, stdin, out, err)
            if pipeline.negate:
                status = int(status == 0)
        return bytes(out), bytes(err), status

    def _pipeline(self, commands, stdin, out, err):
        status = 0
        for index, cmd in enumerate(commands):
            last = index == len(commands) - 1
            pipe = out if last else bytearray()
            status = self._command(cmd, stdin, pipe, err)
            stdin = Input(bytes(pipe)) if not last else stdin
        return status

    def _command(self, cmd, stdin, out, err):
        fds = {1: _Sink(out), 2: _Sink(err)}
        try:
            stdin = self._redirect(cmd.redirects, fds, stdin)
            argv = self._expand(cmd.words)
        except FsError as exc:
            err += f"bash: {exc.filename}: {exc.strerror}\n".encode()
            return 1
        except Unsupported as exc:
            err += f"lab: {exc}\n".encode()
            return 127
        if not argv:
            return 0
        live = self.live_out is not None and fds[1].buffer is not None and fds[1].buffer is self._top_out
        o, e, status = self._invoke(argv, stdin, self._write_live if live else None)
        self._emit(fds[1], o)
        self._emit(fds[2], e)
        return status

    def _invoke(self, argv, stdin, live=None):
        name = argv[0]
        for prefix in ("/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/"):
            if name.startswith(prefix):
                name = name[len(prefix) :]
        func = self.registry.get(name)
        if func is None:
            return b"", f"lab: command not implemented: {argv[0]}\n".encode(), 127
        ctx = Context(self, name, argv[1:], stdin)
        ctx.live = live
        try:
            status = func(ctx)
        except Unsupported as exc:
            ctx.err += f"lab: {exc}\n".encode()
            status = 127
        return bytes(ctx.out), bytes(ctx.err), status

    def _expand(self, words):
        argv = []
        for w in words:
            matches = self.host.fs.glob(w.pattern(), self.cwd) if w.has_glob() else []
            argv += matches or [w.text]
        return argv

    def _redirect(self, redirects, fds, stdin):
        for r in redirects:
            if r.op == ">&":
                if not r.target.isdigit() or int(r.target) not in fds:
                    raise Unsupported(f"unsupported shell construct: >&{r.target}")
                fds[r.fd] = fds[int(r.target)]
            elif r.fd not in (0, 1, 2):
                raise Unsupported(f"unsupported shell construct: fd {r.fd}")
            elif r.op == "<":
                path = normpath(r.target, self.cwd)
                stdin = Input(b"" if path == "/dev/null" else self.host.fs.read(path))
            else:
                fds[r.fd] = self._open_sink(r.target, r.op == ">>")
        return stdin

    def _open_sink(self, target, append):
        path = normpath(target, self.cwd)
        if path == "/dev/null":
            return _Sink()
        if path in ("/dev/stdout", "/dev/stderr"):
            raise Unsupported(f"unsupported shell construct: > {path}")
        self.host.fs.write(path, b"", append=append)
        return _Sink(path=path)

    def _emit(self, sink, data):
        if sink.buffer is not None:
            sink.buffer += data
        elif sink.path is not None and data:
            self.host.fs.write(sink.path, data, append=True)


class Context:
    """What a running command sees: its args, stdin, output buffers and host."""

    def __init__(self, shell, name, args, stdin):
        self.shell = shell
        self.host = shell.host
        self.fs = shell.host.fs
        self.name = name
        self.args = args
        self.stdin = stdin
        self.out = bytearray()
        self.err = bytearray()

    def print(self, text="", end="\n"):
        self.out += (text + end).encode()

    def flush(self):
        """Send the stdout printed so far to the client now, when stdout is the SSH channel.

        Otherwise (a pipe, a redirection, or no live channel) the output stays
        buffered and is delivered when the command ends, as before."""
        if getattr(self, "live", None) is not None and self.out:
            self.live(bytes(self.out))
            self.out.clear()

    def error(self, text):
        self.err += (text + "\n").encode()

    def sleep(self, seconds):
        """Waits without holding the host, so its other sessions run their commands meanwhile. A unit's
        process asked to stop (`systemctl stop`) ends here."""
        host = self.host
        deadline = time.monotonic() + seconds
        with host.idle:
            while not self._stop_asked() and time.monotonic() < deadline:
                host.idle.wait(deadline - time.monotonic())
        if self._stop_asked():
            from lab.units import Stopped

            raise Stopped()

    def _stop_asked(self):
        return self.shell.unit is not None and self.host.stopping.get(self.shell.unit)

    def exec_as(self, line):
        """This process continues as another command line (the exec chain of a wrapper script)."""
        if self.shell.pid is not None:
            self.host.exec_as(self.shell.pid, line)

    def path(self, path):
        return normpath(path, self.shell.cwd)

    def opts(self, short, long=()):
        """GNU-style option parsing; options the lab lacks are reported, not guessed."""
        try:
            return getopt.gnu_getopt(self.args, short, list(long))
        except getopt.GetoptError as exc:
            raise Unsupported(f"{self.name}: {exc.msg} (not implemented)") from None
