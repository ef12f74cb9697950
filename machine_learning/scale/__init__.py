"""Scale-out: batch scoring, drift-test sampling and training data on a Dask cluster."""
