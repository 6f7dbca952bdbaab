"""Command-line tools run beside the Pulumi CLI (`./run ...`), outside the Pulumi program."""
