"""The look-ups a scan makes for each file are remembered across files (a folder's configuration,
the rules a configuration enables, a parameter file parsed for its template), and a remembered
answer is never served where it would differ: another folder, another configuration, other
bytes, another way of naming the file."""
from __future__ import annotations

import os

from preflight import config as config_module
from preflight import fs
from preflight.config import Configs
from preflight.contract import REGISTRY, Options
from preflight.documents import Document, Kind
from preflight.filters import FindingFilter
from preflight.rulepacks import load_rule_packs


def write(path, text: str):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------- configuration


def test_each_folder_is_probed_once_across_the_passes_of_a_scan(tmp_path, monkeypatch):
    """The exclude pass, the rule pass and the severity pass each ask for every folder: with
    more folders than the maps held before (512 and 1,024), each folder is still probed once,
    and a folder with a configuration of its own keeps getting it."""
    write(tmp_path / ".preflight.toml", 'ignore = ["ENV005"]\n')
    write(tmp_path / "own" / ".preflight.toml", 'ignore = ["ENV004"]\n')
    folders = [tmp_path / f"f{i}" for i in range(1100)] + [tmp_path / "own" / f"g{i}" for i in range(20)]
    probed: list[str] = []
    real_config_in = config_module._config_in
    monkeypatch.setattr(config_module, "_config_in", lambda d: probed.append(d) or real_config_in(d))
    configs = Configs()
    for _ in range(3):
        found = [configs.for_file(str(f / "conda.yml")) for f in folders]
        assert {c.path for c in found[:1100]} == {str(tmp_path / ".preflight.toml")}
        assert {c.path for c in found[1100:]} == {str(tmp_path / "own" / ".preflight.toml")}
    assert sorted(probed) == sorted(set(probed))  # no folder twice
    assert str(tmp_path / "f1099") in probed and str(tmp_path / "own") in probed


# ------------------------------------------------------------------------- rule selection


def test_the_rules_of_a_kind_are_chosen_once_per_configuration_and_stay_its_own(tmp_path):
    load_rule_packs()
    write(tmp_path / "quiet" / ".preflight.toml", 'ignore = ["ENV"]\n')
    env_rules = [r for r in REGISTRY.values() if r.check is not None and Kind.CONDA in r.kinds]
    assert any(r.id.startswith("ENV") for r in env_rules)
    filt = FindingFilter(Options(configs=Configs()))

    def ids(folder: str, rules: list) -> list[str]:
        doc = Document(str(tmp_path / folder / "conda.yml"), Kind.CONDA, "yaml", text="name: e\n")
        return [r.id for r in filt.rules_for(doc, rules)]

    every = [r.id for r in env_rules]
    quiet = [r.id for r in env_rules if not r.id.startswith("ENV")]
    for _ in range(2):  # alternating folders: each answer is its configuration's, not the last one's
        assert ids("loud", env_rules) == every
        assert ids("quiet", env_rules) == quiet
    first = filt.rules_for(Document(str(tmp_path / "loud" / "x.yml"), Kind.CONDA, "yaml"), env_rules)
    first.clear()  # a caller's list is its own: the next file still gets every rule
    assert ids("loud", env_rules) == every
    # Lists made afresh for each call (as `fix` does) are answered right, and not kept without bound.
    for i in range(3 * filters_kept()):
        rules = env_rules[: 1 + i % len(env_rules)]
        assert ids("loud", rules) == [r.id for r in rules]
    assert len(filt._rule_lists) <= filters_kept()


def filters_kept() -> int:
    from preflight import filters
    return filters._RULE_LISTS_KEPT


def test_judged_by_callers_answers_for_the_path_asked_about(tmp_path):
    from preflight.definitions import file_key

    main_a, module_a, main_b, module_b = (str(tmp_path / n) for n in ("a.bicep", "ma.bicep", "b.bicep", "mb.bicep"))
    filt = FindingFilter(Options())
    filt.module_calls.calls = {file_key(main_a): {file_key(module_a)}, file_key(main_b): {file_key(module_b)}}
    filt.expect_deployed([main_a, module_a, main_b])
    for _ in range(2):
        assert filt.judged_by_callers(module_a)
        assert not filt.judged_by_callers(main_a)
    assert filt.judged_by_callers(module_a)
    filt.expect_deployed([main_b, module_b])  # module_a is not scanned now: the answer goes with the old set
    assert not filt.judged_by_callers(module_a) and filt.judged_by_callers(module_b)


# ------------------------------------------------------------------------- confinement


def test_a_folder_named_relative_or_absolute_has_one_root_recorded_by_its_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    with fs.scanning(["repo"]):
        for folder in ("repo/sub", str(tmp_path / "repo" / "sub"), "repo/sub"):
            with fs.recording() as deps:
                assert fs.confinement_root(folder) == os.path.realpath(tmp_path / "repo")
            assert list(deps) == [("root", str(tmp_path / "repo" / "sub"), None)]
