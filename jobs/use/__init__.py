"""Using a trained model: try-it prompts, merged-model exports and registering an export as a base model."""
