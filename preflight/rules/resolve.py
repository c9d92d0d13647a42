"""ENV020, SCR006: the environment as the image build resolves it (`preflight scan --resolve`).

These rules are emitted by the resolve provider (`preflight.resolve`), not by a per-document
check: they need the package index.
"""
from preflight.contract import declare
from preflight.findings import ERROR

_RUN = """
    Runs only with `preflight scan --resolve` (extra `resolve`: `pip install 'preflight[resolve]'`,
    which brings uv). Each environment's pip requirements are resolved by `uv pip compile` for
    the Python version its conda `python` entry pins (an environment without one is not
    resolved), on Linux x86-64, wheels only, against the index the environment names (its own
    `--index-url` / `--extra-index-url` lines, http(s) only), else `--index-url` of the command
    line, else pip's configuration. Results are cached for a day by requirements, Python and
    index; an index that cannot be reached is a notice on stderr, not a finding.
"""

declare("ENV020", "environment-unresolvable", ERROR,
        "The environment's pip requirements cannot be installed: the image build fails", f"""
    ## What it does
    Resolves the `pip:` section of every environment (with its `-r` files and `-c`
    constraints) as the image build would and reports, at the requirement the resolver names,
    why it cannot be installed: a pinned version the index does not have (with the nearest
    versions it has), two requirements that conflict (both named), a package whose
    `Requires-Python` excludes the environment's Python, a package the index does not have. A
    `-r`/`-c` file that is missing or unreadable is reported at its line.
    {_RUN}
    Option lines of the file (`--find-links`, `--trusted-host`, `-e`, ...) are never passed to
    the resolver; source archives, VCS and local references are not resolved (building them
    would run their code).

    ## Why it matters
    Azure ML builds the image only when the deployment is created: a pin that does not exist,
    or a package that needs a newer Python, fails the build after minutes, and the deployment
    with it.

    ## Example
    ```yaml
    dependencies:
      - python=3.10.14
      - pip:
          - numpy==1.26.9      # ENV020: no version 1.26.9 (nearest on the index: 1.26.4)
    ```

    ## How to fix
    Pin a version the index has, one that supports the environment's Python, and versions that
    agree with each other's requirements (`pip install` the set locally with the same Python).
    """)

declare("SCR006", "scoring-import-unprovided", ERROR,
        "A scoring script imports a module that nothing in its environment provides", f"""
    ## What it does
    For each scoring script a deployment or inference config runs, lists the top-level modules
    it imports and reports each one that neither the standard library nor a distribution of the
    environment's resolved set (transitive dependencies included) provides. What a distribution
    provides is read from its wheel (`top_level.txt`, else `RECORD`), so import names that
    differ from distribution names count (`sklearn` from scikit-learn, `yaml` from PyYAML);
    each wheel is read once and its module list kept in the cache. Not reported: imports
    guarded by `try/except ImportError`, imports under `if TYPE_CHECKING:`, relative imports,
    and modules of the script's own code (the `code` folder of a v2 deployment, the
    `sourceDirectory` of a v1 inference config). Conda packages are not resolved: each counts as
    providing the module of its name and the well-known ones (`scikit-learn` -> `sklearn`,
    `pyyaml` -> `yaml`, `pillow` -> `PIL`, `opencv` -> `cv2`, ...); a module brought only by a
    conda package's own dependencies is reported (list it explicitly). The standard library is
    that of the Python running preflight (`sys.stdlib_module_names`), an approximation of the
    environment's. An environment that does not resolve, or has requirements that are not
    resolved (a VCS or source reference), is not judged.
    {_RUN}
    ## Why it matters
    The scoring server imports the script when the container starts: a missing module is a
    `ModuleNotFoundError` and a container that never becomes ready, after the image was built.

    ## Example
    ```python
    import lightgbm        # SCR006: the environment lists only scikit-learn and numpy
    ```

    ## How to fix
    Add the distribution that provides the module to the environment's `pip:` list (pinned),
    or ship the module in the script's code folder.
    """)
