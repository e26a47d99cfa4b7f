"""`python -m helm_efficiency.cli ...` is `helm-efficiency ...`."""

from helm_efficiency.cli import main

main()
