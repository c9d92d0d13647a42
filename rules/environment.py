"""ENV: conda environments (SPEC §5): the serving package, and pinning."""
from __future__ import annotations

from typing import Iterator

from preflight.conda import CondaEnvironment, build_environment
from preflight.documents import Document, Kind
from preflight.engine import WARNING, Context, Issue, rule


def environment_of(doc: Document) -> CondaEnvironment | None:
    """The conda model of a document, built once and shared by every ENV rule."""
    if "conda" not in doc.cache:
        doc.cache["conda"] = build_environment(doc.data)
    return doc.cache["conda"]


def pin_exempt(name: str, ctx: Context) -> bool:
    exempt = ctx.options.extra.get("pin_exempt_pip", ())
    return name in exempt


@rule("ENV005", "pip-package-unpinned", WARNING, reads=Kind.CONDA,
      summary="A pip dependency without `==`, `===` or a direct reference")
def pip_package_unpinned(doc: Document, ctx: Context) -> Iterator[Issue]:
    """
    ## What it does
    Flags each requirement in the `pip:` section of a conda environment that is not pinned to
    one version: pinned means `==X.Y.Z` (no wildcard), `===X`, or a direct reference
    (`name @ https://.../name-1.2.3.whl`, or a VCS URL with a full commit hash). Templated
    versions such as `=={{latest-pypi-version}}` are left alone; pip options (`-r`,
    `--index-url`) are not requirements.

    ## Why it matters
    Azure ML builds the scoring image from this file. An unpinned package resolves to whatever
    is newest on the day of the build, so the deployed image differs from the one that was
    trained and tested, and a release of any dependency can break a deployment that worked
    yesterday.

    ## Example
    ```yaml
    dependencies:
      - pip:
          - scikit-learn>=1.0     # ENV005: admits any later version
          - numpy                 # ENV005
    ```

    ## How to fix
    Pin the version you tested: `scikit-learn==1.3.2`. `pip freeze` in the training environment
    gives the exact versions; `preflight fix --pins requirements.lock` applies them.
    """
    env = environment_of(doc)
    if env is None:
        return
    for req in env.pip:
        if req.kind != "requirement" or req.pinned or pin_exempt(req.name or "", ctx):
            continue
        spec = str(req.specifier) if req.specifier else ""
        how = f"`{spec}` admits more than one version" if spec else "no version is given"
        yield Issue(
            req.pointer,
            f"pip package '{req.name}' is not pinned: {how}",
            fix=f"pin the tested version, e.g. `{req.name}==<version>` (see `pip freeze`)",
            data={"package": req.name, "specifier": spec},
        )
