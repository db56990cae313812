"""The shell prelude of every step that runs kubectl on the machine running Pulumi."""

KUBECTL = """\
set -eu
kubeconfig=$(mktemp)
trap 'rm -f "$kubeconfig"' EXIT
printf '%s' "$KUBECONFIG_CONTENT" > "$kubeconfig"
"""
"""kubectl talks to the cluster with the stack's kubeconfig (a Pulumi secret, in the step's
`KUBECONFIG_CONTENT`), written to a private temporary file removed on exit."""
