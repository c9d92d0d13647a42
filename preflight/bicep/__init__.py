"""The Bicep front end: .bicep files mapped onto the ARM template model."""
