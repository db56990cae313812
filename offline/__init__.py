"""The offline preview: the stack's plan and its checks without cloud, CLI or network."""
