"""The platform's components: one module per part of the stack, plus the typed config."""
