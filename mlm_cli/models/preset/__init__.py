"""Reading and writing keras_hub-format preset directories, safely."""
