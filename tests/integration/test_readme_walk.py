"""The README's first walk, run as a reader runs it: every ```sh block between
"## A first walk" and the next heading, in order, in one bash, against a fresh
seeded stack, with FG, KEY and OSSINDEX taken from what the stack printed at
start (its API, admin key and fake OSS Index lines), as the README says.

curl is wrapped: a call fails the walk when its HTTP status is 400 or more,
unless the README's comment on that command names the status (`# 401`, `# 204;
...`), which must then be the status; and each `"field":value` the comment
shows must be in the answer. So a README edit that breaks the walk, or makes a
comment promise what the walk does not give, fails here."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import RunningStack, start_stack, stop_stack, wait_for
from tests.support import ROOT

pytestmark = pytest.mark.slow

EXPORT = re.compile(r"^export FG=\S+ KEY=<[^>]+> OSSINDEX=<[^>]+>$")
COMMENT = re.compile(r"\s# ")
STATUS = re.compile(r"^(\d{3})\b")
FRAGMENT = re.compile(r'"[a-z_]+":(?:"[^"…]*"|-?\d+(?:\.\d+)?|true|false|null|\[\])')

WRAPPER = r"""
set -euo pipefail
said() { echo "walk: $*" | sed -E 's/Bearer [^ ]+/Bearer (a key)/g' >&2; }   # keys stay out of the output
curl() {
  local out status body fragment
  out=$(mktemp)
  status=$(command curl -o "$out" -w '%{http_code}' "$@") || { said "curl failed: curl $*"; return 1; }
  body=$(cat "$out"); rm -f "$out"
  printf '%s\n' "$body"
  said "HTTP $status from curl $*"
  if [[ -n ${EXPECT_STATUS:-} ]]; then
    [[ $status == "$EXPECT_STATUS" ]] || { said "expected HTTP $EXPECT_STATUS, got $status"; return 1; }
  elif (( status >= 400 )); then
    said "HTTP $status, and the README's comment names no such status"; return 1
  fi
  while IFS= read -r fragment; do
    [[ -z $fragment || $body == *"$fragment"* ]] || { said "$fragment is not in the answer"; return 1; }
  done <<< "${EXPECT_BODY:-}"
}
"""


def walk_blocks(readme: str) -> list[list[str]]:
    """The ```sh blocks of the first walk's section, as lists of lines."""
    found = re.search(r"^## A first walk\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert found, "the README has no '## A first walk' section"
    section = found.group(1)
    return [block.split("\n") for block in re.findall(r"```sh\n(.*?)\n```", section, re.S)]


def comment_of(line: str) -> str:
    """The comment after a command (` # ...`), or ""."""
    parts = COMMENT.split(line, maxsplit=1)
    return parts[1].strip() if len(parts) == 2 else ""


def annotate(lines: list[str]) -> list[str]:
    """Each command that calls curl gets EXPECT_STATUS and EXPECT_BODY from the
    comment on its last line (a command may go on over `\\` or an open quote,
    so the comment of the command is that of the line where it ends)."""
    annotated = list(lines)
    index = 0
    while index < len(lines):
        start = index
        command = lines[index]
        while index + 1 < len(lines) and (command.endswith("\\") or command.count("'") % 2):
            index += 1
            command += "\n" + lines[index]
        comment = comment_of(lines[index])
        if "curl " in lines[start] and comment:
            prefix = ""
            status = STATUS.match(comment)
            if status:
                prefix += f"EXPECT_STATUS={status.group(1)} "
            fragments = FRAGMENT.findall(comment)
            if fragments:
                prefix += f"EXPECT_BODY={shlex.quote(chr(10).join(fragments))} "
            annotated[start] = lines[start].replace("curl ", prefix + "curl ", 1)
        index += 1
    return annotated


def banner_value(log: str, label: str) -> str:
    match = re.search(rf"^  {label}\s+(\S+)", log, re.M)
    assert match, f"the stack did not print its {label!r} line"
    return match.group(1)


def walk_script(readme: str, log: str) -> str:
    blocks = walk_blocks(readme)
    assert blocks, "the README has no ```sh block under '## A first walk'"
    first = blocks[0][0]
    assert EXPORT.match(first), f"the walk should start by exporting FG, KEY and OSSINDEX: {first}"
    values = {
        "FG": banner_value(log, "API"),
        "KEY": banner_value(log, "admin key"),
        "OSSINDEX": banner_value(log, "fake OSS Index"),
    }
    lines = [line for block in blocks for line in block][1:]
    for line in lines:
        code = COMMENT.split(line, maxsplit=1)[0] if not line.lstrip().startswith("#") else ""
        assert "…" not in code, f"a placeholder to invent: {line}"
        assert not re.search(r"<[a-z][^>]*>", code), f"a placeholder to invent: {line}"
    export = "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in values.items())
    return "\n".join([WRAPPER, export, *annotate(lines)]) + "\n"


BASH = shutil.which("bash") or "/bin/bash"


def run_bash(script: str, path: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """The script in a bash of its own, with PATH and nothing else of ours."""
    return subprocess.run(  # noqa: S603 - the README's own commands, the test's wrapper
        [BASH, "-c", script], check=False, capture_output=True, text=True, timeout=timeout, env={"PATH": path}
    )


@pytest.fixture(scope="module")
def fresh_stack() -> Iterator[RunningStack]:
    """A stack of the walk's own, as make dev starts it: seeded, nothing else."""
    running = start_stack()
    assert wait_for(lambda: "\nseed " in running.log.read_text(), timeout=90), running.log.read_text()[-3000:]
    yield running
    assert stop_stack(running) == 0, running.log.read_text()[-3000:]


def test_every_command_of_the_first_walk_runs_as_written(fresh_stack: RunningStack) -> None:
    readme = (ROOT / "README.md").read_text()
    ran = run_bash(walk_script(readme, fresh_stack.log.read_text()), os.environ["PATH"], 180)
    assert ran.returncode == 0, f"{ran.stdout[-3000:]}\n---\n{ran.stderr[-3000:]}"
    assert '"verdict":"warn"' in ran.stdout  # the gate's answer the README shows


def test_a_walk_broken_by_an_edit_fails() -> None:
    """The annotation catches what a broken README would do: a status the
    comment does not name, a named status not given, a promised field absent."""
    log = "  API          http://127.0.0.1:9\n  admin key    k\n  fake OSS Index http://127.0.0.1:9\n"

    def script(*lines: str) -> str:
        body = "\n".join(["export FG=http://127.0.0.1:3000 KEY=<the admin key> OSSINDEX=<the URL>", *lines])
        return walk_script(f"## A first walk\n\n```sh\n{body}\n```\n\n## Next\n", log)

    with pytest.raises(AssertionError, match="placeholder"):
        script("curl -s $FG/scans/s01…")
    annotated = script(
        "curl -s $FG/api-keys   # 401: needs a key",
        'curl -s -H "$H" -X PUT $FG/x \\',
        '  -d \'{"a": 1}\'   # "version":2',
    )
    assert "EXPECT_STATUS=401 curl -s $FG/api-keys" in annotated
    assert "EXPECT_BODY='\"version\":2' curl -s -H" in annotated


def fake_curl_walk(tmp_path: Path, status: str, body: str, line: str) -> int:
    """The wrapper against a stand-in curl that answers `status` and `body`."""
    fake = tmp_path / "curl"
    answer = shlex.quote(body)
    fake.write_text(f"#!{BASH}\nwhile [[ $1 != -o ]]; do shift; done\nprintf '%s' {answer} > \"$2\"\nprintf {status}\n")
    fake.chmod(0o755)
    log = "  API          http://x\n  admin key    k\n  fake OSS Index http://y\n"
    readme = f"## A first walk\n\n```sh\nexport FG=x KEY=<k> OSSINDEX=<u>\n{line}\n```\n"
    script = walk_script(readme, log)
    return run_bash(script, f"{tmp_path}:{os.environ['PATH']}", 30).returncode


@pytest.mark.parametrize(
    ("status", "body", "line", "passes"),
    [
        ("200", '{"status":"ok"}', 'curl -s $FG/health   # {"status":"ok"}', True),
        ("404", '{"message":"no"}', "curl -s $FG/api-keys/k01", False),
        ("200", "{}", "curl -s $FG/api-keys   # 401: needs a key", False),
        ("401", "{}", "curl -s $FG/api-keys   # 401: needs a key", True),
        ("200", '{"verdict":"block"}', 'curl -s $FG/check   # "verdict":"warn"', False),
        ("200", "{}", "X=$(curl -s $FG/x | python3 -c 'import sys; sys.exit(1)')", False),
    ],
)
def test_the_wrapper_fails_a_broken_line(tmp_path: Path, status: str, body: str, line: str, passes: bool) -> None:
    assert (fake_curl_walk(tmp_path, status, body, line) == 0) is passes
