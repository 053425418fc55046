"""Distillery engine: distil a fine-tuned BERT teacher into tiny BiLSTM / TextCNN students.

UI-free by design: the dashboard and the CLI are both clients of this package.
"""

__version__ = "0.1.0"
