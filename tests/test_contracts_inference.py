"""Contract inference that does not cry wolf: the statistics, their reasons, the benchmark's fast
subset on real packaged datasets, and contracts written before the change."""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import aieng_nb as aieng
from aieng_nb.cli import main as cli
from aieng_nb.contracts import evidence, show_contract
from aieng_nb.contracts.infer import READER, infer_schema, infer_yaml

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "contracts"


def _module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def quality():
    pytest.importorskip("vega_datasets")
    return _module(ROOT / "benchmarks" / "contract_quality.py", "contract_quality")


# ---------------------------------------------------------------------------- the statistics
def test_levels_need_every_level_seen_often_enough() -> None:
    assert evidence.new_level_risk([40, 35, 25]) < evidence.NEW_LEVEL_RISK
    assert evidence.new_level_risk([400, 35, 1]) > 0.5  # a singleton: Good-Turing expects a new level
    assert evidence.new_level_risk([40, 35, 2]) > evidence.NEW_LEVEL_RISK  # seen twice: like it, some unseen


def test_integer_counts_with_rare_levels_get_bounds_not_levels() -> None:
    rng = np.random.default_rng(0)
    counts = np.r_[rng.poisson(0.4, 300), [5]]  # preterm-birth-like counts: a tail level seen once
    col = infer_schema(pd.DataFrame({"ptl": counts.astype(np.int64)})).columns["ptl"]
    assert [c.name for c in col.checks] == ["in_range"]
    assert col.checks[0].statistics["max_value"] >= 10  # far enough for 6, 7 ... next time
    # integer bounds round inwards (no integer lies between): max + 10 x range fails on a span of 1
    flag = pd.DataFrame({"open": np.r_[np.zeros(40, dtype=np.int64), [1]]})  # a 1 seen once: no isin
    stats = infer_schema(flag).columns["open"].checks[0].statistics
    assert (stats["min_value"], stats["max_value"]) == (-9, 10)  # 9.5 ranges out; 11 and -10 fail
    labels = pd.DataFrame({"grade": np.tile(np.arange(1, 4, dtype=np.int64), 100)})
    assert infer_schema(labels).columns["grade"].checks[0].name == "isin"


def test_integer_levels_cover_the_integers_between_and_fade_out_at_the_ends() -> None:
    # 4, 6 and 8 cylinders seen 40 times each: 5 is between two levels, not new; 9 is new
    cyl = infer_schema(pd.DataFrame({"cyl": np.repeat(np.array([4, 6, 8], dtype=np.int64), 40)})).columns["cyl"]
    assert cyl.checks[0].name == "isin" and cyl.checks[0].statistics["allowed_values"] == [4, 5, 6, 7, 8]
    assert any(
        "every integer from 4 to 8" in r
        for r in infer_schema(pd.DataFrame({"cyl": [4, 6, 8] * 40}).astype("int64")).metadata["aieng"]["why"]["cyl"]
    )
    # children under 6: 308, 56, 12 fade out level after level: 3 is expected next time
    kids = np.repeat(np.array([0, 1, 2], dtype=np.int64), [308, 56, 12])
    col = infer_schema(pd.DataFrame({"kids": kids})).columns["kids"]
    assert [c.name for c in col.checks] == ["in_range"] and col.checks[0].statistics["max_value"] >= 3
    why = infer_schema(pd.DataFrame({"kids": kids})).metadata["aieng"]["why"]["kids"]
    assert any(r.startswith("no isin") and "counts fade towards 2 (56, 12)" in r for r in why)
    # a 0/1 flag keeps its two levels: 2 is new
    flag = infer_schema(pd.DataFrame({"flag": np.repeat(np.array([0, 1], dtype=np.int64), [85, 900])}))
    assert flag.columns["flag"].checks[0].statistics["allowed_values"] == [0, 1]
    assert evidence.edge_level_risk([0, 1, 2], [308, 56, 12])[0] == pytest.approx(12**2 / 56)
    assert evidence.edge_level_risk([1, 2, 3], [100, 100, 100])[0] == 0.0
    # months of a season: counts stay level up to the edge (a boundary of the design, not a tail)
    months = np.repeat(np.arange(5, 10, dtype=np.int64), [20, 16, 15, 14, 11])
    assert infer_schema(pd.DataFrame({"m": months})).columns["m"].checks[0].statistics["allowed_values"] == [
        5,
        6,
        7,
        8,
        9,
    ]
    # one value: a 0/1 flag whose 1s are rare gets no isin; a constant label keeps it
    one = infer_schema(pd.DataFrame({"soph": np.zeros(70, dtype=np.int64), "indicator": ["fertility"] * 70}))
    assert one.columns["soph"].checks == [] and one.columns["indicator"].checks[0].name == "isin"


def test_levels_need_every_level_well_sampled() -> None:
    # marital status codes: the rarest seen 9 times says the source has levels that rare; one seen
    # 3 times in 3,010 rows was missing from the sample (no singleton for Good-Turing to count)
    counts = {"yes": 1070, "6": 290, "4": 78, "5": 55, "2": 9}
    mar = pd.DataFrame({"mar76": np.repeat(list(counts), list(counts.values()))})
    assert evidence.new_level_risk(list(counts.values())) < evidence.NEW_LEVEL_RISK  # blind to it
    schema = infer_schema(mar)
    assert schema.columns["mar76"].checks == []
    why = schema.metadata["aieng"]["why"]["mar76"]
    assert any(r.startswith("no isin: 5 levels") and "seen under 10x" in r for r in why)
    # seen 10 times: every level well sampled, the new level "3" fails
    closed = pd.DataFrame({"mar76": np.repeat(list(counts), [1070, 290, 78, 55, evidence.WELL_SAMPLED])})
    assert infer_schema(closed).columns["mar76"].checks[0].name == "isin"
    report = aieng.validate(
        closed.assign(mar76=["3"] + list(closed.mar76[1:])), aieng.infer_contract(closed, name="m"), log=False
    )
    assert not report.passed and [c.rule.split(":")[0] for c in report.failed_checks] == ["mar76"]
    # integers too: a rare level gets bounds, not levels
    kids = pd.DataFrame({"k": np.repeat(np.array([0, 1, 2, 3], dtype=np.int64), [300, 120, 40, 6])})
    assert [c.name for c in infer_schema(kids).columns["k"].checks] == ["in_range"]


def test_infinite_mean_tails_get_a_bound_as_wide_as_their_maxima_vary() -> None:
    rng = np.random.default_rng(4)
    assert evidence.tail_index(rng.pareto(0.8, 4000) + 1) == pytest.approx(1.25, rel=0.15)
    assert evidence.tail_index(rng.exponential(1.0, 4000)) < evidence.INFINITE_MEAN
    assert evidence.tail_index(rng.lognormal(0, 1, 4000)) < evidence.INFINITE_MEAN
    assert evidence.tail_index(-np.arange(10.0)) is None  # nothing positive: no tail to read
    # county populations (shape ~1.2): the other half's largest was 18 times this half's
    pop = np.round((rng.pareto(0.85, 218) + 1) * 20).astype(np.int64)
    hb = evidence.upper_bound(pop)
    assert hb is not None and "infinite-mean tail" in hb.why
    assert hb.value > 18 * pop.max()
    schema = infer_schema(pd.DataFrame({"popother": pop}))
    assert schema.columns["popother"].checks[0].statistics["max_value"] > 18 * pop.max()
    assert any("infinite-mean tail" in r for r in schema.metadata["aieng"]["why"]["popother"])
    # a finite-mean heavy tail keeps the Pareto fit (and catches max + 10 x range)
    heavy = (rng.pareto(1.5, 2000) + 1) * 10
    assert "infinite-mean" not in evidence.upper_bound(heavy).why


def test_non_null_needs_a_large_sample_without_nulls_in_any_column() -> None:
    n = evidence.MIN_NON_NULL_ROWS
    assert n == 600  # rule of three: 3 / n <= NULL_RATE (0.5%)
    big = pd.DataFrame({"x": np.arange(n) + 0.5, "y": np.arange(n, dtype=np.int64) % 3})
    assert not any(c.nullable for c in infer_schema(big).columns.values())
    small = big.head(n - 1)
    assert all(c.nullable for c in infer_schema(small).columns.values())
    why = infer_schema(small).metadata["aieng"]["why"]["x"]
    assert any(r.startswith("nullable: no nulls in 599 rows") and "rule of three" in r for r in why)
    # a null elsewhere in the sample: a source that leaves values out may leave them out anywhere
    holey = big.assign(z=[None] + [1.0] * (n - 1))
    cols = infer_schema(holey).columns
    assert cols["x"].nullable and cols["y"].nullable and cols["z"].nullable
    assert any("other columns have some" in r for r in infer_schema(holey).metadata["aieng"]["why"]["x"])


def test_a_float_column_of_whole_numbers_stays_nullable() -> None:
    # years of schooling: pandas widened the integers to float for one null the sample missed
    rng = np.random.default_rng(5)
    n = 2 * evidence.MIN_NON_NULL_ROWS
    frame = pd.DataFrame({"educatn": rng.integers(0, 18, n).astype(float), "hours": rng.normal(40, 5, n)})
    schema = infer_schema(frame)
    assert schema.columns["educatn"].nullable and not schema.columns["hours"].nullable
    assert any("widened to float" in r for r in schema.metadata["aieng"]["why"]["educatn"])
    clean = frame.sample(n, random_state=1).reset_index(drop=True)
    clean.loc[3, "educatn"] = None
    assert aieng.validate(clean, aieng.infer_contract(frame, name="psid"), log=False).passed


def test_small_samples_get_no_levels() -> None:
    # 22 trading days: "long" and "short" seen 12 and 10 times; "neutral" is 1 day in 44
    signal = pd.DataFrame({"signal": ["short"] * 12 + ["long"] * 10})
    why = infer_schema(signal).metadata["aieng"]["why"]["signal"]
    assert infer_schema(signal).columns["signal"].checks == []
    assert any(r.startswith("no isin: 22 rows") and "30 rows needed" in r for r in why)
    bigger = pd.DataFrame({"signal": ["short"] * 16 + ["long"] * 14})
    assert infer_schema(bigger).columns["signal"].checks[0].name == "isin"
    # integers too: changes that are mostly 0 or 1 (-1 once in 51 rows) get bounds from 25 rows
    change = infer_schema(pd.DataFrame({"cadmn": np.repeat(np.array([0, 1], dtype=np.int64), [20, 5])}))
    assert [c.name for c in change.columns["cadmn"].checks] == ["in_range"]
    # from 30 rows a 0/1 flag keeps its levels: a 2 fails
    flag = infer_schema(pd.DataFrame({"colonial": np.repeat(np.array([0, 1], dtype=np.int64), [14, 30])}))
    assert flag.columns["colonial"].checks[0].statistics["allowed_values"] == [0, 1]


def test_integer_levels_on_a_grid_keep_to_it() -> None:
    # survey years every 5 years: 1953 is new, though between two levels
    years = pd.DataFrame({"year": np.repeat(np.arange(1952, 2008, 5, dtype=np.int64), 70)})
    schema = infer_schema(years)
    assert schema.columns["year"].checks[0].statistics["allowed_values"] == list(range(1952, 2008, 5))
    assert any("every 5th integer from 1952 to 2007" in r for r in schema.metadata["aieng"]["why"]["year"])
    assert evidence.level_grid([1952, 1957, 1962, 1967]) == 5  # 5^-3 by chance
    assert evidence.level_grid([4, 6, 8]) == 1  # 2^-2: three even numbers prove no grid (5 cylinders)
    assert evidence.level_grid([1999, 2008]) == 1  # two levels: any step fits
    assert evidence.level_grid([1, 2, 3]) == 1


def test_bounds_are_wide_for_heavy_tails_and_close_for_light_ones() -> None:
    rng = np.random.default_rng(1)
    light = rng.normal(50, 5, 2000)
    heavy = (rng.pareto(1.5, 2000) + 1) * 10
    lb, hb = evidence.upper_bound(light), evidence.upper_bound(heavy)
    assert lb is not None and hb is not None
    light_reach = (lb.value - light.max()) / (light.max() - light.min())
    heavy_reach = (hb.value - heavy.max()) / (heavy.max() - heavy.min())
    # rare outlying rows a sample misses (Cook County): never closer than RANGE_FLOOR ranges
    assert light_reach == pytest.approx(evidence.RANGE_FLOOR) and heavy_reach >= light_reach
    assert "light tail" in lb.why and "heavy tail" in hb.why and "rare outlying rows" in lb.why
    # the plants of the benchmark are caught on both: max + 10 x range
    assert lb.value < light.max() + 10 * (light.max() - light.min())
    assert hb.value < heavy.max() + 10 * (heavy.max() - heavy.min())
    # a rate of 37 among rates under 4.2 in the next batch (8.2 ranges out): a real row, not a break
    rates = pd.DataFrame({"prbconv": rng.gamma(4, 0.12, 400) + 0.07})
    top, span = rates.prbconv.max(), rates.prbconv.max() - rates.prbconv.min()
    high = infer_schema(rates).columns["prbconv"].checks[0].statistics["max_value"]
    assert top + 8.2 * span < high < top + 10 * span
    # values far from 0 with a small range: the YAML rounding stays within a thousandth of the reach
    far = pd.DataFrame({"reading": 1_000_000 + rng.normal(0, 2, 400)})
    top, low, span = far.reading.max(), far.reading.min(), far.reading.max() - far.reading.min()
    stats = infer_schema(far).columns["reading"].checks[0].statistics
    assert top + 9 * span < stats["max_value"] < top + 10 * span
    assert low - 10 * span < stats["min_value"] < low - 9 * span


def test_no_floor_at_zero_from_a_sample_without_negatives() -> None:
    rng = np.random.default_rng(2)
    income = np.r_[np.zeros(50), rng.lognormal(3, 1, 500)]
    low = evidence.lower_bound(income)
    assert low is not None and low.value < -1 and "no floor at 0" in low.why
    heights = rng.normal(170, 2, 500)  # far from zero (RANGE_FLOOR ranges): the bound stays positive
    assert evidence.lower_bound(heights).value > 0
    assert evidence.lower_bound(heights).value > heights.min() - 10 * (heights.max() - heights.min())


def test_keys_come_from_the_data_not_the_name() -> None:
    n = 200
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "identifier": rng.permutation(np.arange(1000, 1000 + n)).astype(np.int64),  # dense: a key
            "order_id": rng.choice(10**9, n, replace=False).astype(np.int64),  # sparse: no evidence
            "state": [f"state-{i}" for i in range(n)],
            "x": rng.normal(size=n),
        }
    )
    cols = infer_schema(frame).columns
    assert cols["identifier"].unique and cols["state"].unique
    assert not cols["order_id"].unique and not cols["x"].unique
    assert not infer_schema(frame.head(10)).columns["state"].unique  # too few rows to tell
    # 90 distinct titles are no key (a journal listed twice in 180 rows): a list of 1000 names
    # repeats 10 pairs by 142 rows
    assert evidence.MIN_TEXT_KEY_ROWS == 142
    assert not infer_schema(frame.head(141)).columns["state"].unique
    assert infer_schema(frame.head(142)).columns["state"].unique
    why = infer_schema(frame.head(60)).metadata["aieng"]["why"]["state"]
    assert any(r.startswith("not unique: all 60 values distinct, too few for a key") for r in why)
    # integers: a dense id of n rows would repeat (n-1)/2 pairs were it no key: 10 needs 21 rows
    # (15 distinct scores in 49..92, ~2.4 pairs, were a near-key that repeated in the other half)
    assert not infer_schema(pd.DataFrame({"id": np.arange(20)})).columns["id"].unique
    assert infer_schema(pd.DataFrame({"id": np.arange(21)})).columns["id"].unique


def test_every_check_says_why_and_show_prints_it(capsys) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {"id": np.arange(300, dtype=np.int64), "amount": rng.lognormal(3, 1, 300), "colour": ["r", "g", "b"] * 100}
    )
    con = aieng.infer_contract(frame, name="why")
    why = con.why
    assert set(why) == {"id", "amount", "colour"}
    assert any(r.startswith("unique:") for r in why["id"])
    assert any(r.startswith("in_range max") and "tail" in r for r in why["amount"])
    assert any(r.startswith("isin:") and "Good-Turing" in r for r in why["colour"])
    schema = con.schema
    for name, col in schema.columns.items():  # every check of the schema has its reason
        for check in col.checks:
            assert any(r.startswith(check.name) for r in why[name]), (name, check.name)
    assert cli(["contract", "show", "why"]) == 0
    out = capsys.readouterr().out
    assert "why each check (metadata.aieng.why):" in out
    assert "  colour:\n    - dtype object" in out and "isin: 3 levels" in out
    assert "\n    why:\n" not in out  # the reasons are printed once, not also inside the YAML
    assert "schema_type: dataframe" in out and "inferred_from: a DataFrame" in out


# ---------------------------------------------------------------------------- pandera's own reader
def test_the_header_names_a_reader_that_works(tmp_path) -> None:
    text = infer_yaml(pd.DataFrame({"x": np.arange(40.0)}), name="h")
    assert READER in text.splitlines()[0]
    path = tmp_path / "h.yaml"
    path.write_text(text, encoding="utf-8")
    dotted = READER.split("(")[0]  # pandera.io.pandas_io.from_yaml
    module, func = dotted.rsplit(".", 1)
    schema = getattr(importlib.import_module(module), func)(str(path))
    assert list(schema.columns) == ["x"]
    assert not hasattr(importlib.import_module("pandera.io"), "from_yaml")  # why the header changed


def test_every_kind_of_column_passes_its_own_contract_through_panderas_reader() -> None:
    """pandas' own dtypes (nullable, pyarrow text, time zones, categories with unused levels, mixed
    objects, infinities): the frame a contract was inferred from passes it, read by pandera alone."""
    from pandera.io import pandas_io

    n = 800
    rng = np.random.default_rng(8)
    frame = pd.DataFrame(
        {
            "Int64": pd.array([None if i % 50 == 0 else i % 7 for i in range(n)], dtype="Int64"),
            "boolean": pd.array(rng.integers(0, 2, n).astype(bool), dtype="boolean"),
            "string": pd.array([f"s{i % 4}" for i in range(n)], dtype="string"),
            "pyarrow": pd.array([f"k{i % 5}" for i in range(n)], dtype="string[pyarrow]"),
            "tz": pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
            "unused": pd.Categorical(rng.choice(["a", "b"], n), categories=["a", "b", "c"]),
            "mixed": [1 if i % 2 else "x" for i in range(n)],
            "high_inf": np.where(np.arange(n) % 97 == 0, np.inf, rng.normal(size=n)),
            "low_inf": np.where(np.arange(n) % 89 == 0, -np.inf, rng.normal(size=n)),
            "uint8": rng.integers(0, 255, n).astype("uint8"),
        }
    )
    schema = pandas_io.from_yaml(infer_yaml(frame, name="kinds"))
    schema.validate(frame, lazy=True)
    assert str(schema.columns["pyarrow"].dtype) == "string[pyarrow]"  # not read back as Python's storage
    assert [c.name for c in schema.columns["high_inf"].checks] == ["greater_than_or_equal_to"]
    assert [c.name for c in schema.columns["low_inf"].checks] == ["less_than_or_equal_to"]
    with pytest.raises(Exception, match="less_than_or_equal_to"):
        schema.validate(frame.assign(low_inf=frame["low_inf"] + 1e6), lazy=True)


def test_frames_read_with_the_pyarrow_backend_pass_their_own_contract(tmp_path) -> None:
    """``read_parquet(..., dtype_backend="pyarrow")`` gives Arrow dtypes: text whose pandas name
    (``string[pyarrow]``) pandera reads back as another dtype, timestamps whose name it cannot read
    at all (inference raised TypeError). The frame passes its contract, by pandera alone too, and
    text arriving as Python objects is still a dtype change."""
    import datetime as dt

    from pandera.io import pandas_io

    from aieng_nb.contracts.engine import validate_frame

    n = 400
    pd.DataFrame(
        {
            "when": pd.date_range("2020-01-01", periods=n, freq="h"),
            "zoned": pd.date_range("2020-01-01", periods=n, freq="h", tz="UTC"),
            "took": pd.to_timedelta(np.arange(n), unit="s"),
            "day": [dt.date(2020, 1, 1 + i % 28) for i in range(n)],
            "text": [None if i % 40 == 0 else f"k{i % 4}" for i in range(n)],
            "count": pd.array([None if i % 50 == 0 else i % 7 for i in range(n)], dtype="Int64"),
            "x": np.random.default_rng(0).normal(size=n),
            "flag": [i % 3 == 0 for i in range(n)],
        }
    ).to_parquet(tmp_path / "x.parquet")
    frame = pd.read_parquet(tmp_path / "x.parquet", dtype_backend="pyarrow")
    text = infer_yaml(frame, name="arrow")
    schema = pandas_io.from_yaml(text)
    assert validate_frame(frame, schema).passed and validate_frame(frame, schema, shortcut=False).passed
    schema.validate(frame, lazy=True)
    assert str(schema.columns["text"].dtype) == "arrow_string" and schema.columns["when"].dtype is None
    why = yaml.safe_load(text)["metadata"]["aieng"]["why"]
    assert why["when"][0].startswith("no dtype: pandera's YAML cannot name timestamp[")
    changed = validate_frame(frame.assign(text=frame["text"].astype(object)), schema)
    assert [(c.column, c.check) for c in changed.failed] == [("text", "dtype('arrow_string')")]


def test_column_names_a_contract_cannot_hold_are_refused_in_one_line() -> None:
    """A pivot by date has Timestamp column names, which YAML cannot write (inference raised
    yaml's RepresenterError); pandera cannot look up a column named None (its verdict differed from
    ours). Both are refused in one line; numpy's names (np.str_ from an array) are unwrapped, and
    the frame passes its contract, by pandera alone too."""
    from pandera.io import pandas_io

    from aieng_nb.contracts.engine import validate_frame
    from aieng_nb.exceptions import ValidationError

    long = pd.DataFrame({"day": pd.date_range("2020-01-01", periods=4).repeat(30), "x": np.arange(120.0)})
    wide = long.assign(k=np.tile(np.arange(30), 4)).pivot(index="k", columns="day", values="x")
    for bad in (wide, pd.DataFrame({None: range(50), "b": range(50)})):
        with pytest.raises(ValidationError, match="rename them first"):
            infer_yaml(bad, name="bad")
    numpy_names = pd.DataFrame({np.str_("a"): np.zeros(50), np.str_("b"): np.ones(50)})
    assert isinstance(numpy_names.columns[0], np.str_)
    schema = pandas_io.from_yaml(infer_yaml(numpy_names, name="np"))
    assert validate_frame(numpy_names, schema).passed
    schema.validate(numpy_names, lazy=True)


# ---------------------------------------------------------------------------- contracts from before
@pytest.mark.parametrize("stem", ["legacy", "evidence"])
def test_contract_inferred_before_the_change_loads_and_validates_the_same(stem: str) -> None:
    # legacy: before issue 24; evidence: its first round (reasons recorded, not-null from any sample)
    maker = _module(FIXTURES / "make_legacy.py", "make_legacy")
    expected = json.loads((FIXTURES / f"{stem}_verdicts.json").read_text(encoding="utf-8"))
    Path("contracts").mkdir()
    shutil.copy(FIXTURES / f"{stem}.yaml", f"contracts/{stem}.yaml")
    con = show_contract(stem)
    if stem == "legacy":
        assert con.why == {} and "why each check" not in str(con)  # no reasons recorded then
    else:
        assert "not nullable: no nulls in 400 rows" in con.why["temp"] and "why each check" in str(con)
    assert not con.schema.columns["temp"].nullable  # as written then, though 400 rows would not assert it now
    for key, frame in maker.frames().items():
        assert maker.verdict(aieng.validate(frame, stem, log=False)) == expected[key], key


# ---------------------------------------------------------------------------- the benchmark's fast subset
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_fast_subset_of_the_benchmark_never_cries_wolf(quality) -> None:
    tally = quality.run(quality.FAST, quality.SEEDS, compare=True, per_kind=2)
    assert tally.splits == len(quality.FAST) * len(quality.SEEDS)
    alarms = tally.false_alarms + tally.held_out_false_alarms + tally.fresh_false_alarms + tally.latest_false_alarms
    assert alarms == []
    assert tally.disagreements == []  # pandera alone gives the same verdicts on our YAML
    for kind in ("dtype", "nulls", "category", "key"):
        assert tally.caught[kind] == tally.planted[kind], (kind, tally.missed[kind])
    # out-of-range plants are caught, except past an infinite-mean tail's bound (by design: a clean
    # batch passes max + 10 x range there with chance ~1/12), which the contract says it is
    missed = []
    for where in tally.missed["high"] + tally.missed["low"]:
        name, seed, col = where.split(" ", 3)[0], int(where.split(" ", 3)[2]), where.split(" ", 3)[3]  # NAME seed N COL
        why = infer_schema(quality.halves(quality.load(name), seed)[0]).metadata["aieng"]["why"][col]
        if not any("infinite-mean tail" in r for r in why):
            missed.append(where)
    assert tally.planted["high"] and len(missed) <= 0.02 * (tally.planted["high"] + tally.planted["low"]), missed
