"""The one analysis pipeline and what it reads and writes: uploads decoded into images, the analysis, its results as
bytes, the explanation cache."""
