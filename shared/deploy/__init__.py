"""Deploying the control plane to Google Cloud (`./deploy.sh gcp`, docs/DEPLOY.md).

`inputs` validates what the operator asked for, `catalog` says what each function needs,
`plan` turns both into an ordered list of commands (pure), `render` prints it as a shell
script, `executor` runs it, and `gcp` is the command line that ties them together.
"""
