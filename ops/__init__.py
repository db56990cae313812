"""Operator tools that talk to a live platform outside Pulumi: the orphan audit
(`make orphans`) and the smoke tests (`make smoke`). Both read the stack's configuration
offline, the way the program does, so they need no stack outputs after a destroy."""
