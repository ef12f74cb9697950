"""Data stage: the raw player schema, validation with quarantine, and the prepared datasets."""
