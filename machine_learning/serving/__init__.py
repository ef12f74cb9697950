"""Online serving: a FastAPI app scoring players with the production model, reloaded when it is promoted."""
