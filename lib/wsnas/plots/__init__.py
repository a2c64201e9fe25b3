"""The paper's figures, one module per chapter."""
