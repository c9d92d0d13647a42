"""One search rule for the files a config names: the environment rules (ENV) and the deploy
rules (DEP) find the same conda file, however deep the config sits below the repository root."""
from __future__ import annotations

import json

from preflight.engine import Options, scan
from preflight.searchpath import resolution_bases


def _deep_inference_config(root):
    (root / ".git").mkdir()
    (root / "env").mkdir()
    (root / "env" / "conda.yml").write_text(
        "name: serve\ndependencies:\n  - python=3.10.13\n  - pip=23.3.1\n  - pip:\n      - scikit-learn==1.3.2\n")
    (root / "env" / "score.py").write_text("def init():\n    pass\n\n\ndef run(data):\n    return data\n")
    config = root / "deploy" / "aks" / "prod" / "inferenceconfig.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"entryScript": "score.py", "sourceDirectory": "env", "condaFile": "conda.yml"}))
    return config


def test_a_config_three_folders_down_links_its_conda_file_for_every_rule(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    config = _deep_inference_config(repo)
    monkeypatch.chdir(tmp_path)  # the working folder is no help: the repository root is what finds env/
    found = {(f.path.replace("\\", "/"), f.rule) for f in scan(["repo"], Options(jobs=1)).findings}
    assert ("repo/env/conda.yml", "ENV001") in found, found  # azureml-defaults is missing
    assert not any(rule == "DEP021" for _, rule in found), found  # the DEP rules find it too
    assert str(repo) in resolution_bases(str(config.parent))


def test_the_search_stops_at_the_repository_root_and_ends_with_the_working_folder(tmp_path, monkeypatch):
    repo = tmp_path / "outer" / "repo"
    (repo / "a" / "b").mkdir(parents=True)
    (repo / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolution_bases(str(repo / "a" / "b")) == [str(repo / "a" / "b"), str(repo / "a"), str(repo), str(tmp_path)]
