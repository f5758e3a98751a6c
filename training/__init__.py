"""Training of the blast classifier (TensorFlow); never imported by the app."""
