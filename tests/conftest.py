"""Shared test setup."""

import torch

# The CI machine has 2 cores shared with other jobs: one intra-op thread is about 3x faster
# for the small tensors of these tests than contending for both.
torch.set_num_threads(1)
