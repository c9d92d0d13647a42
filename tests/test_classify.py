import csv
import time

import pytest

from preflight.documents import Kind, load_document

# MANIFEST kinds -> ours; config-other (run configurations) is a kind preflight does not read.
MANIFEST_KIND = {
    Kind.ARM_TEMPLATE: "arm", Kind.ARM_PARAMETERS: "arm-params", Kind.CONDA: "conda",
    Kind.DEPLOY_V1: "deploy-v1", Kind.INFERENCE_V1: "inference-v1",
    Kind.ONLINE_DEPLOYMENT_V2: "deploy-v2", Kind.BATCH_DEPLOYMENT_V2: "deploy-v2",
    Kind.ENDPOINT_V2: "endpoint-v2",
}
NOT_READ_YET: set[str] = set()
# Bicep files are templates and parameter files too; the manifest names them by their language.
BICEP_KIND = {Kind.ARM_TEMPLATE: "bicep", Kind.ARM_PARAMETERS: "bicepparam"}


def manifest_kind(doc):
    if doc is None:
        return None
    if doc.format in ("bicep", "bicepparam"):
        return BICEP_KIND.get(doc.kind)
    return MANIFEST_KIND.get(doc.kind)


def classify(path, text, explicit=False):
    doc = load_document(path, text.encode(), explicit=explicit)
    return doc.kind if doc else None


@pytest.mark.parametrize("path, text, kind", [
    ("t.json", '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", '
               '"resources": []}', Kind.ARM_TEMPLATE),
    ("t.json", '{"contentVersion": "1.0.0.0", "resources": []}', Kind.ARM_TEMPLATE),
    ("p.json", '{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#", '
               '"parameters": {}}', Kind.ARM_PARAMETERS),
    ("env.yml", "name: e\ndependencies:\n  - python=3.10\n", Kind.CONDA),
    ("dc.json", '{"computeType": "aks", "autoScaler": {}}', Kind.DEPLOY_V1),
    ("dc.yml", "computeType: ACI\n", Kind.DEPLOY_V1),
    ("ic.yml", "entryScript: score.py\ndependencies:\n", Kind.INFERENCE_V1),
    ("d.yml", "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json\n"
              "name: blue\nendpoint_name: e\n", Kind.ONLINE_DEPLOYMENT_V2),
    ("d.yml", "$schema: https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json\n"
              "name: b\nendpoint_name: e\n", Kind.BATCH_DEPLOYMENT_V2),
    ("e.yml", "$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineEndpoint.schema.json\n"
              "name: e\nauth_mode: key\n", Kind.ENDPOINT_V2),
    ("score.py", "def init():\n    pass\n", Kind.SCORING_SCRIPT),
    ("serve.py", "def init():\n    pass\n\ndef run(data):\n    return data\n", Kind.SCORING_SCRIPT),
    ("util.py", "def run():\n    pass\n", None),
    ("package.json", '{"name": "x", "dependencies": {"a": "1"}}', None),
    ("ci.yml", "jobs:\n  build:\n    steps: []\n", None),
    ("pipeline.yml", "dependencies:\n  - job_a\nstages: []\n", None),
    # An Azure DevOps pipeline has `resources`, `parameters` and `variables` too; Azure deploys
    # no template written in YAML, so none is read as ARM, even one naming the template schema.
    ("cd.yml", "resources:\n  pipelines:\n    - pipeline: ci\nvariables:\n  - group: g\n"
               "parameters:\n  - name: deployDev\n    type: boolean\n# stage dependencies set the order\n"
               "stages:\n  - stage: dev\n    dependsOn: []\n", None),
    ("t.yml", "$schema: https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#\n"
              "resources: []\n# no dependencies\n", None),
    # Without `$schema`, JSON is a template by its shape: `contentVersion`, or `parameters` beside
    # resources that each have a type and an apiVersion.
    ("t.json", '{"parameters": {}, "resources": [{"type": "Microsoft.Storage/storageAccounts", '
               '"apiVersion": "2023-01-01", "name": "s"}]}', Kind.ARM_TEMPLATE),
    ("t.json", '{"contentVersion": "1.0.0.0", "languageVersion": "2.0", "resources": '
               '{"s": {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01"}}}',
     Kind.ARM_TEMPLATE),
    ("k8s.json", '{"parameters": {"a": 1}, "resources": {"pipelines": [{"pipeline": "ci"}]}}', None),
    ("x.json", '{"parameters": {}, "resources": [{"name": "r"}], "dependencies": ["a"]}', None),
])
def test_classification_by_content(path, text, kind):
    assert classify(path, text) == kind


def test_broken_template_is_reported_not_skipped():
    doc = load_document("t.json", b'{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/'
                                  b'deploymentTemplate.json#", "resources": [')
    assert doc.kind == Kind.ARM_TEMPLATE and doc.error is not None


def test_unrelated_broken_json_is_skipped_silently():
    assert load_document("x.json", b'{"name": ') is None


def test_corpus_agreement_with_manifest(corpus):
    import preflight.bicep  # noqa: F401 - the Bicep front end, as a scan plugs it in

    rows = list(csv.DictReader(open(corpus / "MANIFEST.tsv"), delimiter="\t"))
    checked, disagreements = 0, []
    started = time.perf_counter()
    for row in rows:
        if row["kind"] in NOT_READ_YET:
            continue
        path = corpus / row["corpus_path"]
        doc = load_document(str(path), path.read_bytes())
        got = manifest_kind(doc)
        want = None if row["kind"] == "config-other" else row["kind"]
        checked += 1
        if got != want:
            disagreements.append(f"{row['corpus_path']}: manifest {want}, preflight {got}")
    elapsed = time.perf_counter() - started
    agreement = 1 - len(disagreements) / checked
    print(f"{checked} files classified in {elapsed:.2f}s; agreement {agreement:.4f}")
    assert checked > 4000
    assert agreement >= 0.99, "\n".join(disagreements)
