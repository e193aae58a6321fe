"""The batch-normalization experiments of the source material, runnable from the command line."""
