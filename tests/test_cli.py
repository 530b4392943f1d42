import subprocess
import sys

from tinybert.cli import COMMANDS, main, run_command
from tinybert.errors import UserError


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_command_exits_2(capsys):
    assert main(["no-such-command"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_user_error_is_one_line_exit_2(monkeypatch, capsys):
    import types

    module = types.ModuleType("tinybert_fake_cmd")
    module.add_arguments = lambda p: p.add_argument("--x")

    def run(args):
        raise UserError.at("data/train.tsv", "expected 2 columns, found 3", line=7)

    module.run = run
    monkeypatch.setitem(sys.modules, "tinybert_fake_cmd", module)
    monkeypatch.setitem(COMMANDS, "fake", ("tinybert_fake_cmd", "fake"))
    assert run_command("fake", []) == 2
    err = capsys.readouterr().err
    assert err.strip() == "error: data/train.tsv:7: expected 2 columns, found 3"
    assert "Traceback" not in err


def test_python_m_tinybert_runs():
    out = subprocess.run([sys.executable, "-m", "tinybert", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "general-distill" in out.stdout
