"""User errors of ``bayesphys``: one line on stderr and exit status 2, never a traceback; and the
documented precedence of ``--config`` over the ``[fast]`` table."""

import json

import pytest

from bayesphys.cli import EXIT_USAGE, _parser, main

TOY_STUDY = '''
"""A toy study that writes the settings it ran with (the way the real studies merge [fast])."""

import json
from pathlib import Path


def run(config, out_dir, *, fast=False, seed=None):
    settings = {**config["model"], **(config.get("fast", {}) if fast else {})}
    nuts = dict(config["nuts"])
    if fast:
        nuts["enabled"] = settings.get("nuts_enabled", False)
    if settings["fail"] == "type":
        raise TypeError("learning_rate must be a number, got 'x'")
    used = {**settings, "nuts": nuts, "seed": seed}
    (Path(out_dir) / "settings.json").write_text(json.dumps(used))
    return {"files": {}}
'''

TOY_CONFIG = """\
[model]
draws = 100
learning_rate = 0.1
name = "toy"
labels = ["a", "b"]
hidden = [8]
verbose = false
fail = "no"

[nuts]
enabled = false
tune = 50

[fast]
draws = 10
nuts_enabled = false
"""


@pytest.fixture
def studies(tmp_path):
    root = tmp_path / "studies"
    (root / "toy").mkdir(parents=True)
    (root / "toy" / "study.py").write_text(TOY_STUDY)
    (root / "toy" / "config.toml").write_text(TOY_CONFIG)
    return root


def run_toy(studies, tmp_path, *args, config=None):
    argv = ["--studies", str(studies), "run", "toy", "--out", str(tmp_path / "out"), *args]
    if config is not None:
        path = tmp_path / "user.toml"
        path.write_bytes(config if isinstance(config, bytes) else config.encode())
        argv += ["--config", str(path)]
    return main(argv)


def one_error_line(capsys):
    """The one line on stderr (nothing else), without a traceback."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ('[model]\nlearning_rate = "x"\n', "'model.learning_rate' must be a number"),
        ("[model]\ndraws = 1.5\n", "'model.draws' must be an integer"),
        ('[model]\ndraws = "100"\n', "'model.draws' must be an integer"),
        ("[model]\nverbose = 1\n", "'model.verbose' must be true or false"),
        ("[model]\nname = 3\n", "'model.name' must be a string"),
        ('[model]\nlabels = "a"\n', "'model.labels' must be a list"),
        ("[model]\nlabels = [1]\n", "'model.labels[0]' must be a string"),
        ('[model]\nhidden = [8, "x"]\n', "'model.hidden[1]' must be an integer"),
        ("[model]\nlearning_rate = true\n", "'model.learning_rate' must be a number"),
        ("[model.draws]\nx = 1\n", "'model.draws' is a value, not a table"),
        ("model = 3\n", "'model' must be a table"),
        ("[modle]\ndraws = 3\n", "'modle' is not a setting of toy"),
        ("[fast]\ndraws = 2.5\n", "'fast.draws' must be an integer"),
    ],
)
def test_wrong_config_value_is_one_line_naming_the_key(studies, tmp_path, capsys, config, expected):
    assert run_toy(studies, tmp_path, config=config) == EXIT_USAGE
    line = one_error_line(capsys)
    assert line.startswith("bayesphys: error: config key") and expected in line


def test_an_integer_where_a_float_is_expected_is_widened(studies, tmp_path):
    assert run_toy(studies, tmp_path, config="[model]\nlearning_rate = 1\n") == 0
    used = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert used["learning_rate"] == 1.0 and isinstance(used["learning_rate"], float)


def test_non_utf8_config_names_the_option_and_the_file(studies, tmp_path, capsys):
    assert run_toy(studies, tmp_path, config=b'[model]\nname = "\xff"\n') == EXIT_USAGE
    line = one_error_line(capsys)
    assert "--config" in line and "user.toml" in line and "not UTF-8" in line


def test_invalid_toml_names_the_option_and_the_file(studies, tmp_path, capsys):
    assert run_toy(studies, tmp_path, config="[model\n") == EXIT_USAGE
    line = one_error_line(capsys)
    assert "--config" in line and "user.toml" in line and "not valid TOML" in line


def test_a_broken_study_config_names_the_study(studies, tmp_path, capsys):
    (studies / "toy" / "config.toml").write_bytes(b"[model]\nx = \xfe\n")
    assert run_toy(studies, tmp_path) == EXIT_USAGE
    line = one_error_line(capsys)
    assert "case study toy" in line and "config.toml" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--config", "{tmp}"], "is not a file"),
        (["--config", "{tmp}/none.toml"], "is not a file"),
        (["--out", "{tmp}/blocker/sub"], "--out: cannot write"),
        (["--seed", "x"], "--seed: must be a non-negative integer"),
        (["--seed", "-3"], "--seed: must be a non-negative integer"),
        (["--workers", "0"], "--workers: must be a positive integer"),
        (["--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_options_and_paths(studies, tmp_path, capsys, args, expected):
    (tmp_path / "blocker").write_text("")
    args = [a.format(tmp=tmp_path) for a in args]
    if args[0] in ("--seed", "--workers", "--bogus"):  # argparse's own checks
        with pytest.raises(SystemExit) as info:
            run_toy(studies, tmp_path, *args)
        status = info.value.code
    else:
        status = run_toy(studies, tmp_path, *args)
    assert status == EXIT_USAGE
    line = one_error_line(capsys)
    assert expected in line


def test_argparse_errors_exit_2_on_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run"])
    assert info.value.code == EXIT_USAGE
    assert "the following arguments are required: name" in one_error_line(capsys)


def test_missing_studies_folder_and_bad_files(tmp_path, capsys):
    assert main(["--studies", str(tmp_path / "nope"), "list"]) == EXIT_USAGE
    assert "does not exist" in one_error_line(capsys)
    assert main(["summarize", str(tmp_path)]) == EXIT_USAGE
    assert "is not a file" in one_error_line(capsys)


def test_a_library_type_error_in_a_study_is_one_line(studies, tmp_path, capsys):
    assert run_toy(studies, tmp_path, config='[model]\nfail = "type"\n') == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "bayesphys: error: learning_rate must be a number, got 'x'"


def test_real_study_wrong_learning_rate_is_one_line(tmp_path, capsys):
    # The reproduction (then `lr`): a TypeError traceback from vmc.optimize.
    config = tmp_path / "lr.toml"
    config.write_text('[models.pade]\nlearning_rate = "x"\n')
    argv = ["run", "quantum-dot-vmc", "--fast", "--out", str(tmp_path / "o"), "--config"]
    assert main([*argv, str(config)]) == EXIT_USAGE
    line = one_error_line(capsys)
    assert "'models.pade.learning_rate' must be a number" in line and "'x'" in line


def settings_used(studies, tmp_path, *args, config=None):
    assert run_toy(studies, tmp_path, *args, config=config) == 0
    return json.loads((tmp_path / "out" / "settings.json").read_text())


@pytest.mark.parametrize(
    ("args", "config", "draws"),
    [
        ([], None, 100),
        (["--fast"], None, 10),
        ([], "[model]\ndraws = 50\n", 50),
        (["--fast"], "[model]\ndraws = 50\n", 50),  # --config beats [fast]
        (["--fast"], "[fast]\ndraws = 7\n", 7),
        (["--fast"], "[model]\ndraws = 50\n[fast]\ndraws = 7\n", 7),  # its own [fast] key
        ([], "[model]\ndraws = 50\n[fast]\ndraws = 7\n", 50),
    ],
)
def test_config_precedence(studies, tmp_path, args, config, draws):
    assert settings_used(studies, tmp_path, *args, config=config)["draws"] == draws


def test_config_beats_fast_for_a_renamed_fast_key(studies, tmp_path):
    # semf's [fast] nuts_enabled overrides [nuts] enabled; the user's [nuts] enabled wins.
    used = settings_used(studies, tmp_path, "--fast", config="[nuts]\nenabled = true\n")
    assert used["nuts"]["enabled"] is True
    assert settings_used(studies, tmp_path, "--fast")["nuts"]["enabled"] is False


def test_help_states_the_precedence_and_no_timings():
    run = _parser()._subparsers._group_actions[0].choices["run"]
    text = run.format_help()
    assert "minutes" not in text and "[fast]" in text
    assert "beat the [fast] table" in " ".join(text.split())
    assert "130" in text


def test_a_folder_where_the_study_writes_a_file_is_refused_untouched(studies, tmp_path, capsys):
    keep = tmp_path / "out" / "settings.json" / "mine.txt"
    keep.parent.mkdir(parents=True)
    keep.write_text("user data")
    assert run_toy(studies, tmp_path) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err and "is a folder, where the study writes a file" in err
    assert keep.read_text() == "user data"
    assert {p.name for p in (tmp_path / "out").iterdir()} == {"settings.json"}
