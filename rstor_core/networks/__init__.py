"""What is trained and how it restores: the architectures, training batches, the Trainer, the checkpoint
format, the experiment store (folders, lineage, train-or-skip) and evaluation of networks and classical
anchors on test photos."""
