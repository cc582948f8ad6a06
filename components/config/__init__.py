"""The stack config, validated once at the edge: its value types (`types`), its
models (`models`), the target profiles (`targets`), Kubernetes quantities
(`quantity`), and reading it from Pulumi (`loading`). Nothing here imports a
component."""
