"""A file named alone (as pre-commit names staged files) is judged with the configs near it
that link to it; those configs are context, not reported on."""
from conftest import scan_json

UNSERVED = "name: s\ndependencies:\n  - python=3.10.12\n  - pip=23.3.1\n  - pip:\n      - numpy==1.26.4\n"


def project(tmp_path):
    (tmp_path / ".git").mkdir()  # the repository's top: the search never goes above it
    config = tmp_path / "config"
    config.mkdir()
    (config / "inference-config.json").write_text(
        '{"entryScript": "score.py", "sourceDirectory": ".", "condaFile": "env.yml", "runtime": "python"}')
    (config / "score.py").write_text("def init():\n    pass\n\ndef run(data):\n    return data\n")
    (config / "env.yml").write_text(UNSERVED)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "blue.yml").write_text(
        "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
        "name: blue\nendpoint_name: ep\nmodel: azureml:m:1\n"
        "code_configuration:\n  code: ../config\n  scoring_script: score.py\n"
        "environment:\n  image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest\n"
        "  conda_file: ../env/conda.yml\ninstance_type: Standard_DS3_v2\ninstance_count: 3\n")
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "conda.yml").write_text(UNSERVED)
    return tmp_path


def test_conda_file_named_alone_is_judged_by_the_inference_config_beside_it(tmp_path):
    report, proc = scan_json("config/env.yml", cwd=project(tmp_path))
    assert [(f["rule"], f["path"]) for f in report["findings"]] == [("ENV001", "config/env.yml")]
    assert "of inference-config.json " in report["findings"][0]["message"]  # named from the file's folder
    assert report["summary"]["files"] == 1 and proc.returncode == 1


def test_conda_file_named_alone_is_judged_by_a_v2_deployment_in_a_sibling_folder(tmp_path):
    report, _ = scan_json("env/conda.yml", cwd=project(tmp_path))
    assert [f["rule"] for f in report["findings"]] == ["ENV003"]


def test_the_search_stays_inside_the_repository(tmp_path):
    parent = tmp_path / "parent"
    (parent / "repo" / ".git").mkdir(parents=True)
    (parent / "repo" / "env.yml").write_text(UNSERVED)
    (parent / "score.py").write_text("def init():\n    pass\n\ndef run(data):\n    return data\n")
    (parent / "inference-config.json").write_text(
        '{"entryScript": "score.py", "sourceDirectory": ".", "condaFile": "repo/env.yml"}')
    report, _ = scan_json("parent/repo/env.yml", cwd=tmp_path)
    assert report["findings"] == []  # the config above the repository's top is not looked at
    (parent / "repo" / ".git").rmdir()
    report, _ = scan_json("parent/repo/env.yml", cwd=tmp_path)
    assert [f["rule"] for f in report["findings"]] == ["ENV001"]  # without a top, it is found
