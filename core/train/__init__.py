"""The one training loop: stages are data (what to train, on which rows, with which loss), the
loop owns how (batching, optimiser and schedule, clipping, precision, progress, cancel, loss
curves, dev selection and early stopping). Generic: it knows no teacher, method or run."""
