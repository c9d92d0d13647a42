"""`preflight scan --resolve`: will the image build, and will the scoring script import?

    requirements.py  an environment's pip lines -> requirements the resolver may see, and its indexes
    resolver.py      uv resolves them for the environment's Python on Linux x86-64 -> pinned wheels,
                     or the reason it cannot, in one line that names the package
    modules.py       the top-level modules a wheel provides (top_level.txt, else RECORD), the
                     imports a scoring script makes
    store.py         preflight's own private cache of resolutions and wheel module lists
    provider.py      collects environments and scoring scripts during the scan; ENV020 and
                     SCR006 after it

Opt-in: without `--resolve` nothing here is imported and no index is ever asked.
"""
