"""Analysis: pure functions that derive answers (routing, impact, coverage) from the model."""
