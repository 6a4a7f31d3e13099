"""Tests of the claims of Sect. 6.3 as checks, of the study and of the DCT models' unit of length.

The claims are checked with bootstrap intervals; the study runs them over the paper's open choices.
"""

import json

import numpy as np
import pytest
from PIL import Image

import pyscale as ps
from pyscale.paper import cli, compare, study
from pyscale.paper.claims import CLAIMS, Evidence, evaluate, evaluate_all
from pyscale.paper.fid import PixelFeatures

MODELS = ["dpm", "heat", "homogeneous", "blurring", "blurring-vp", "osmosis"]
TIMES = [1.0, 10.0, 100.0]


# --- the unit of length of the DCT models --------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        ps.HomogeneousDiffusion,
        lambda **kw: ps.HeatDissipation(sigma=0.05, **kw),
        lambda **kw: ps.BlurringDiffusion(beta=0.1, noise="variance-preserving", **kw),
    ],
)
def test_unit_domain_is_pixel_domain_at_scaled_time(make):
    # where the marginal depends on mu t only, a unit-length domain at time t equals the pixel
    # domain at t * max(H, W)**2
    u = np.random.default_rng(0).random((12, 20))
    t = np.array([0.001, 0.01])
    a = make(domain="unit").trajectory(u, t, seed=3)
    b = make().trajectory(u, t * 20**2, seed=3)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_unit_domain_scales_the_spectrum_of_eq36():
    # the per-step noise of Eq. 36 depends on the number of steps, so only the spectrum scales
    p, q = ps.BlurringDiffusion(domain="unit"), ps.BlurringDiffusion()
    mu = q.spectrum_of((6, 9))
    np.testing.assert_allclose(p.spectrum_of((6, 9)), mu * 81, rtol=1e-15)
    lam, gam = p.mode_marginal(np.array(3.0)[..., None, None], mu * 81)
    assert lam[0, 1] == pytest.approx(np.exp(-3 * mu[0, 1] * 81))
    expected = 0.1**2 * np.expm1(-6 * mu[0, 1] * 81) / np.expm1(-2 * mu[0, 1] * 81)
    assert gam[0, 1] ** 2 == pytest.approx(expected, rel=1e-12)
    assert "domain='unit'" in repr(p) and "domain" not in repr(q)
    with pytest.raises(ValueError, match="domain"):
        ps.HomogeneousDiffusion(domain="metre")


# --- claims ---------------------------------------------------------------------------------------


def _evidence(v_last, f_noise, seed=0, n=40, resamples=200):
    """Per-image data where each model's last variance and feature spread are set by hand."""
    rng = np.random.default_rng(seed)
    v = np.empty((n, len(MODELS), len(TIMES)))
    for i, m in enumerate(MODELS):
        v[:, i, :] = v_last[m] * (1 + 0.02 * rng.standard_normal((n, len(TIMES))))
    v0 = 0.05 * (1 + 0.02 * rng.standard_normal(n))
    base = rng.standard_normal((n, 1, len(TIMES), 4))
    f = base + np.stack(
        [f_noise[m] * rng.standard_normal((n, len(TIMES), 4)) + f_noise[m] for m in MODELS],
        axis=1,
    )
    return Evidence(v, v0, f, MODELS, TIMES, resamples=resamples, seed=seed)


def _verdicts(ev, blurring="blurring"):
    return {(r["claim"], r["metric"]): r["verdict"] for r in evaluate(ev, blurring)}


def test_claims_hold_where_the_data_say_so():
    v_last = {"dpm": 1.0, "heat": 1e-4, "homogeneous": 0.0, "blurring": 0.011,
              "blurring-vp": 0.5, "osmosis": 0.01}  # fmt: skip
    f_noise = {"dpm": 0.5, "heat": 3.0, "homogeneous": 2.0, "blurring": 0.05,
               "blurring-vp": 1.0, "osmosis": 0.0}  # fmt: skip
    got = _verdicts(_evidence(v_last, f_noise))
    for key in ("flat-homogeneous", "flat-heat", "level-osmosis", "level-blurring", "level-dpm"):
        assert got[(key, "variance")] == "holds", key
    assert got[("pair-heat-homogeneous", "variance")] == "holds"
    assert got[("pair-osmosis-blurring", "variance")] == "holds"
    for metric in ("FID", "KID"):
        assert got[("closest-blurring", metric)] == "holds"
        assert got[("blur-only-farthest", metric)] == "holds"
        # heat dissipation, not DPM, is farthest at the first time
        assert got[("dpm-far-then-near", metric)] == "fails"
    # the variance-preserving model stands in for blurring: far from osmosis in every sense
    vp = _verdicts(_evidence(v_last, f_noise), "blurring-vp")
    assert vp[("level-blurring", "variance")] == "fails"
    assert vp[("pair-osmosis-blurring", "variance")] == "fails"
    assert vp[("closest-blurring", "FID")] == "fails"


def test_claims_stay_open_on_a_tie():
    # two models equally far from osmosis: no ordering is decided
    v_last = dict.fromkeys(MODELS, 0.01)
    f_noise = dict.fromkeys(MODELS, 1.0) | {"osmosis": 0.0}
    got = _verdicts(_evidence(v_last, f_noise, n=30))
    assert got[("closest-blurring", "FID")] == "open"
    assert got[("blur-only-farthest", "KID")] == "open"
    # a level on the border of its band is open as well
    v_border = v_last | {"osmosis": 0.02}
    assert _verdicts(_evidence(v_border, f_noise))[("level-osmosis", "variance")] == "open"


def test_flat_claim_against_the_images_variance():
    v_last = dict.fromkeys(MODELS, 0.01) | {"homogeneous": 0.001, "heat": 0.004}
    got = _verdicts(_evidence(v_last, dict.fromkeys(MODELS, 0.0)))
    assert got[("flat-homogeneous", "variance")] == "holds"  # 2 % of the images' 0.05
    assert got[("flat-heat", "variance")] == "fails"  # 8 %


def test_evidence_needs_two_images_and_skips_distances_without_features():
    with pytest.raises(ValueError, match="at least 2"):
        Evidence(np.ones((1, 6, 3)), np.ones(1), None, MODELS, TIMES)
    ev = Evidence(np.full((5, 6, 3), 0.01), np.full(5, 0.05), None, MODELS, TIMES, resamples=20)
    rows = evaluate(ev)
    assert {r["metric"] for r in rows} == {"variance"}
    assert len(rows) == sum(not c.uses_distance for c in CLAIMS)


# --- the study ------------------------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    rng = np.random.default_rng(2)
    for i in range(4):
        img = rng.integers(40, 210, (18, 22, 3), dtype=np.uint8)
        Image.fromarray(img).save(d / f"p{i}.png")
    return d


def _study(folder, out, **kw):
    args = dict(
        sizes=[12, None], domains=["pixel", "unit"], colours=["grey"], counts=[2, 4],
        times=[1, 100], fid=PixelFeatures(dim=4, size=8), out=out, workers=1, bootstrap=20,
    )  # fmt: skip
    return study(folder, **{**args, **kw})


def test_study_on_small_images(folder, tmp_path):
    out = tmp_path / "s"
    r = _study(folder, out)
    assert [(c["size"], c["domain"]) for c in r.configurations] == [
        (12, "pixel"), (12, "unit"), (None, "pixel"), (None, "unit")
    ]  # fmt: skip
    per_count = sum(1 + c.uses_blurring for c in CLAIMS if not c.uses_distance) + sum(
        2 * (1 + c.uses_blurring) for c in CLAIMS if c.uses_distance
    )
    assert len(r.rows) == 4 * 2 * per_count
    assert {row["verdict"] for row in r.rows} <= {"holds", "fails", "open"}
    assert {row["images"] for row in r.rows} == {2, 4}
    for kind in ("csv", "json", "md"):
        assert r.files[kind].is_file()
    text = r.files["md"].read_text()
    assert "| flat-homogeneous | - | variance |" in text and "12 px, unit, grey" in text
    saved = json.loads(r.files["json"].read_text())
    assert len(saved["rows"]) == len(r.rows)
    # every comparison keeps its folder and records; a second study reuses them all
    again = _study(folder, out)
    for c in again.configurations:
        assert json.loads((tmp_path / c["folder"] / "results.json").read_text())["computed"] == 0
    assert again.rows == r.rows


def test_study_matches_a_direct_check_of_its_comparison(folder, tmp_path):
    r = _study(folder, tmp_path / "s", sizes=[12], domains=["unit"], counts=[4])
    c = compare(folder, max_size=12, domain="unit", grey=True, times=[1, 100], out=tmp_path / "c",
                fid=PixelFeatures(dim=4, size=8), workers=1, grid=False)  # fmt: skip
    ev = Evidence(c.variances, c.input_variances, c.features, MODELS, [1, 100], resamples=20)
    direct = {(x["claim"], x["metric"]): x["verdict"] for x in evaluate(ev)}
    mine = {
        (x["claim"], x["metric"]): x["verdict"]
        for x in r.rows
        if x["noise"] != "variance-preserving"
    }
    assert mine == direct


def test_compare_domain_changes_only_the_dct_models(folder, tmp_path):
    kw = dict(times=[1, 100], out=tmp_path / "a", workers=1, grid=False, max_size=12)
    a = compare(folder, **kw)
    b = compare(folder, **{**kw, "out": tmp_path / "b", "domain": "unit"})
    same = [MODELS.index(m) for m in ("dpm", "osmosis")]
    blur_only = [MODELS.index(m) for m in ("heat", "homogeneous")]
    np.testing.assert_array_equal(a.variances[:, same], b.variances[:, same])
    # a unit-length domain blurs 144 times faster at 12 pixels: flat at t = 1 already
    assert np.all(b.variances[:, blur_only, 0] < 0.2 * a.variances[:, blur_only, 0])
    for m in ("blurring", "blurring-vp"):
        assert not np.allclose(a.variances[:, MODELS.index(m)], b.variances[:, MODELS.index(m)])
    np.testing.assert_allclose(a.input_variances, b.input_variances)
    assert (
        "unit of length of the DCT models: image side" in (tmp_path / "b" / "report.md").read_text()
    )
    with pytest.raises(ValueError, match="domain"):
        compare(folder, **{**kw, "domain": "cm"})


@pytest.mark.parametrize(
    "kw, err, match",
    [
        (dict(sizes=[4]), ValueError, "sizes"),
        (dict(sizes=[True]), TypeError, "sizes"),
        (dict(counts=[2.5]), TypeError, "counts"),
        (dict(domains=["pixels"]), ValueError, "domains"),
        (dict(colours=[]), ValueError, "colours"),
        (dict(bootstrap=5), ValueError, "bootstrap"),
        (dict(counts=[1]), ValueError, "counts"),
        (dict(out=3), TypeError, "out"),
    ],
)
def test_study_bad_arguments(folder, tmp_path, kw, err, match):
    with pytest.raises(err, match=match):
        _study(folder, tmp_path / "s", **kw)


def test_study_command(folder, tmp_path, capsys):
    out = tmp_path / "cmd"
    argv = ["study", "--data", str(folder), "--sizes", "12", "--domains", "pixel", "--colours",
            "grey", "--times", "1", "100", "--bootstrap", "20", "--workers", "1", "--out",
            str(out), "--fid", "--fid-features", "pixel"]  # fmt: skip
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "checks over 1 comparisons" in printed and (out / "study.md").is_file()
    assert cli.main([*argv, "--bootstrap", "5"]) == 2
    assert "--bootstrap must be at least 10" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["study", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_report_states_every_claim_with_its_verdict(folder, tmp_path):
    kw = dict(times=[1, 100], workers=1, grid=False, max_size=12, bootstrap=20)
    r = compare(folder, fid=PixelFeatures(dim=4, size=8), out=tmp_path / "a", **kw)
    text = (tmp_path / "a" / "report.md").read_text()
    assert "## The claims of Sect. 6.3" in text
    ev = Evidence(r.variances, r.input_variances, r.features, MODELS, [1, 100], resamples=20)
    rows = evaluate_all(ev)
    assert sum(line.count("| **") for line in text.splitlines()) == len(rows) == 21
    for row in rows:
        assert (
            f"| {row['claim']} | {row['noise'] or '-'} | {row['metric']} | **{row['verdict']}** |"
            in text
        )
    for c in CLAIMS:
        assert f"`{c.key}`: {c.statement}" in text
    compare(folder, models=["dpm", "osmosis"], out=tmp_path / "b", **kw)
    assert "checked when all six models run" in (tmp_path / "b" / "report.md").read_text()


@pytest.mark.parametrize("bootstrap, err", [(-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_compare_checks_bootstrap_before_any_work(folder, tmp_path, bootstrap, err):
    with pytest.raises(err, match="bootstrap"):
        compare(folder, bootstrap=bootstrap, out=tmp_path / "o", workers=1)
    assert not (tmp_path / "o").exists()
