"""The ARM template engine: expression parser and evaluator, template model, parameters."""
