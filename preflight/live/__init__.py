"""The live Key Vault check (`preflight scan --live`).

    plan      what a template would do to a vault (offline data)
    adapter   plans from the ARM template model
    predict   the access-policy list after the deployment (vault PUT, then add/replace/remove)
    compare   live vault vs prediction -> outcomes (LIVE001...LIVE010)
    fetch     credential, azure-mgmt-keyvault clients, bounded concurrent reads (SDK imported lazily)
    provider  the engine hook: collect plans while scanning, fetch and compare at the end
    options   the CLI options
"""
