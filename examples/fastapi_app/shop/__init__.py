"""A small FastAPI shop whose periodic work runs on the scheduler."""
