"""PyTorch networks, batches, losses and training used by the pipelines (the torch layer, beside
:mod:`hessrmt.curvature`)."""
