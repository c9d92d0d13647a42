"""The live Key Vault check (`scan --live`): fetch each vault once and compare with the template."""
