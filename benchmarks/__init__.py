"""`make bench`: how fast the tick is, measured on whole processes (`python -m benchmarks`)."""
